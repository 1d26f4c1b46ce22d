// Where each cell starts in its file, from the raw text the parser kept (for messages with line numbers).

import type { Runbook } from './model';

/** Line breaks in `text`, counted as CommonMark does (LF, CR LF, lone CR: spec 2.1). */
export function countLineBreaks(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) n++;
    else if (c === 13) {
      n++;
      if (text.charCodeAt(i + 1) === 10) i++;
    }
  }
  return n;
}

/**
 * The 1-based line on which each cell's own text starts (after its leading blank lines), in the
 * file the runbook was parsed from: `[i]` is cell `i`'s fence or first Markdown line. Cells made in
 * memory (no raw text) count as zero lines.
 */
export function cellStartLines(rb: Runbook): number[] {
  let line = 1 + countLineBreaks(rb.frontMatter?.raw ?? '');
  return rb.cells.map((c) => {
    const raw = c.raw;
    if (!raw) return line;
    line += countLineBreaks(raw.leading);
    const start = line;
    line += countLineBreaks(raw.source) + raw.outputs.reduce((n, o) => n + countLineBreaks(o.text), 0);
    return start;
  });
}
