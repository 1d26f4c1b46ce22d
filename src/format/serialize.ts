// Writes the Runbook model back to text: unedited parts byte for byte, edited cells in canonical form.

import { stringify as stringifyYaml } from 'yaml';
import type { Cell, Runbook } from './model';
import { renderInfoString } from './options';
import { fenceFor, renderOutput } from './output-block';
import { cellSignature, outputSignature, outputUnchanged } from './signature';
import { encodeUtf8Lossless } from './utf8';
import { serializeLogSection } from './log';

/**
 * Serializes a runbook to text. For a model straight from `parseRunbook`, the result equals the
 * parsed text exactly. A cell whose kind, language, options or source changed is rewritten alone;
 * an output that changed (or was added) is rewritten alone; everything else keeps its bytes.
 */
export function serializeRunbook(rb: Runbook, opts: SerializeOptions = {}): string {
  const eol = rb.eol;
  const parts: string[] = [];
  if (rb.frontMatter) {
    parts.push(rb.frontMatter.dirty ? renderFrontMatter(rb.frontMatter.data ?? {}, eol) : rb.frontMatter.raw);
  }
  for (let i = 0; i < rb.cells.length; i++) {
    const cell = rb.cells[i];
    const raw = cell.raw;
    const first = i === 0 && !rb.frontMatter;
    // A cell follows on a new line: if the text so far ends without a line break (the file's last
    // line had none and a cell was added after it), add one.
    if (parts.length > 0 && !endsWithEol(parts[parts.length - 1])) parts.push(eol);
    parts.push(raw ? raw.leading : first ? '' : eol);
    const sig = raw ? cellSignature(cell) : '';
    if (raw && raw.sig === sig) parts.push(raw.source);
    else {
      const text = renderCellSource(cell, eol);
      parts.push(text);
      // What was written is what the next serialization compares with: an unchanged cell is not rendered again.
      if (opts.adopt && raw) {
        raw.source = text;
        raw.sig = sig;
      }
    }
    for (let k = 0; k < cell.outputs.length; k++) {
      const out = cell.outputs[k];
      const rawOut = raw?.outputs[k];
      if (rawOut && outputUnchanged(out, rawOut)) parts.push(rawOut.text);
      else {
        const sep = parts.length > 0 && !endsWithEol(parts[parts.length - 1]) ? eol : '';
        const text = renderOutput(out, eol);
        parts.push(sep, text);
        if (opts.adopt && raw) raw.outputs[k] = { text: sep + text, ...outputSignature(out) };
      }
    }
    if (opts.adopt && raw && raw.outputs.length > cell.outputs.length) raw.outputs.length = cell.outputs.length;
  }
  parts.push(rb.trailing);
  const text = parts.join('');
  if (!rb.log) return text;
  const log = serializeLogSection(rb.log, eol);
  return rb.log.raw === undefined ? text + logSeparator(text, eol) + log : text + log;
}

/**
 * What goes between the cells and a new log section: the marker must start a line and follow a blank
 * line, so that it starts a block of its own (and closes an HTML block of kinds 6 and 7 before it).
 */
export function logSeparator(text: string, eol: string): string {
  if (text === '') return '';
  // A `\n` after a final lone CR joins it into one CRLF line break: it completes that break, it adds none.
  const joined = text.endsWith('\r') && eol === '\n' ? '\n' : '';
  const sep = joined + (endsWithEol(text) ? '' : eol);
  const body = (text + sep).replace(/(?:\r\n|\r|\n)$/, '');
  const last = body.slice(Math.max(body.lastIndexOf('\n'), body.lastIndexOf('\r')) + 1);
  return /^[ \t]*$/.test(last) ? sep : sep + eol;
}

/** Options of {@link serializeRunbook}. */
export interface SerializeOptions {
  /**
   * Remember what was written as the cells' and outputs' raw text (in `cell.raw`), so that serializing the same
   * model again renders only what changed since: a run's checkpoints stay linear in what they add, not quadratic.
   */
  adopt?: boolean;
}

/** {@link serializeRunbook} as UTF-8 bytes, restoring any invalid bytes the parser kept. */
export function serializeRunbookBytes(rb: Runbook, opts: SerializeOptions = {}): Uint8Array {
  return encodeUtf8Lossless(serializeRunbook(rb, opts));
}

function endsWithEol(s: string): boolean {
  return s === '' ? true : s.endsWith('\n') || s.endsWith('\r');
}

function renderFrontMatter(data: Record<string, unknown>, eol: string): string {
  const yaml = stringifyYaml(data).replace(/\n$/, '');
  return ['---', ...yaml.split('\n'), '---', ''].join(eol);
}

/** Canonical text of a cell (no leading separator, with its final line break). */
export function renderCellSource(cell: Cell, eol: string): string {
  if (cell.kind === 'markdown' || cell.kind === 'checklist') {
    return cell.source.replace(/\r\n?/g, '\n').split('\n').join(eol) + eol;
  }
  const source = cell.source.replace(/\r\n?/g, '\n');
  const language = cell.language ?? (cell.kind === 'sql' ? 'sql' : 'sh');
  // Keep the original fence lines when only the code changed and they still fence it safely.
  const raw = cell.raw;
  if (raw) {
    const open = /^(`{3,}|~{3,})([^\r\n]*)(\r\n|\r|\n)/.exec(raw.source);
    const lastLine = /(?:^|\n|\r)((`{3,}|~{3,})[ \t]*)(\r\n|\r|\n)?$/.exec(raw.source);
    if (open && lastLine && sameHeader(cell, raw.sig) && fenceStillSafe(open[1], source)) {
      const body = source === '' ? '' : source.split('\n').join(eol) + eol;
      return `${open[1]}${open[2]}${eol}${body}${lastLine[1]}${eol}`;
    }
  }
  const fence = fenceFor(source);
  const body = source === '' ? '' : source.split('\n').join(eol) + eol;
  return `${fence}${renderInfoString(language, cell.options)}${eol}${body}${fence}${eol}`;
}

function sameHeader(cell: Cell, sig: string): boolean {
  try {
    const [kind, language, options] = JSON.parse(sig) as [string, string | null, unknown, string];
    return kind === cell.kind && language === (cell.language ?? null) && JSON.stringify(options) === JSON.stringify(cell.options);
  } catch {
    return false;
  }
}

/** A fence still delimits the code when no line of the code could close it. */
function fenceStillSafe(fence: string, source: string): boolean {
  const ch = fence[0] === '`' ? '`' : '~';
  const re = ch === '`' ? /^ {0,3}(`{3,})[ \t]*$/gm : /^ {0,3}(~{3,})[ \t]*$/gm;
  for (let m = re.exec(source); m; m = re.exec(source)) if (m[1].length >= fence.length) return false;
  return true;
}
