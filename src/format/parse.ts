// Parses `.runbook` text into the Runbook model, keeping every byte so serialize() can write it back unchanged.

import MarkdownIt from 'markdown-it';
type Token = ReturnType<InstanceType<typeof MarkdownIt>['parse']>[number];
import type { Cell, CellKind, FrontMatter, Output, Problem, RawCell, RawOutput, Runbook } from './model';
import { frontMatterProblems, parseFrontMatterYaml } from './front-matter';
import { checkOptions, kindOfLanguage, parseInfoString } from './options';
import { isOutputMarker, isOutputSummaryLine, outputSummary, parseRecordLine } from './output-block';
import { decodeUtf8Lossless } from './utf8';
import { logMarkerOffsets, parseLogSection } from './log';
import { LOG_MARKER } from './log-render';
import { countLineBreaks as lineBreaksIn } from './lines';
import { cellSignature, outputSignature } from './signature';

// CommonMark block structure decides what is a top-level fence, list or HTML block (a fence inside a
// list item, a block quote or an unclosed HTML comment is not a cell). Only the block phase runs:
// inline parsing is not needed to find cells. `html: true` so HTML comments are HTML blocks.
const md = new MarkdownIt('commonmark', { html: true });
md.core.ruler.disable(['inline', 'text_join'], true);

/** A line of the source with its line break (`\n`, `\r\n`, `\r` or '' on the last line). */
interface Line {
  text: string;
  eol: string;
  /** UTF-16 offset of the line's first character in the document. */
  start: number;
  /** 0-based line number in the document (differs from the index when output bodies were skipped). */
  no: number;
}

/**
 * An output body whose content lines are left out of the Markdown parse: `[from, to)` is the text
 * of its content lines (between the fence lines). Output bodies are most of an executed runbook's
 * bytes and can hold nothing that changes the document's structure, so skipping them makes parsing
 * cheaper than a full Markdown parse. Whether each skipped body really is a top-level fence after a
 * top-level record line is checked on the parse result; if one is not, the document is parsed whole.
 */
interface Elision {
  from: number;
  to: number;
  /** Line breaks inside [from, to). */
  newlines: number;
  /** Index in `lines` of the fence's opening line (set by splitLines). */
  opener: number;
  /** A visible line stands between the record line and the fence. */
  summary: boolean;
}

// A record line, the visible line under it when there is one, then the body's opening fence.
const MARKER_THEN_FENCE = /^<!-- runbook:output [^\r\n]*-->[ \t]*(?:\r\n|\r|\n)(> Output[^\r\n]*(?:\r\n|\r|\n))?( {0,3})(`{3,}|~{3,})[^\r\n]*(\r\n|\r|\n)/gm;
const FENCE_CLOSE = /^ {0,3}(`{3,}|~{3,})[ \t]*(?:\r\n|\r|\n|$)/gm;

function findElisions(text: string): Elision[] {
  const out: Elision[] = [];
  if (!text.includes('<!-- runbook:output ')) return out;
  const hasCR = text.includes('\r');
  MARKER_THEN_FENCE.lastIndex = 0;
  for (let m = MARKER_THEN_FENCE.exec(text); m; m = MARKER_THEN_FENCE.exec(text)) {
    const marker = m[3];
    const from = m.index + m[0].length;
    FENCE_CLOSE.lastIndex = from;
    let to = -1;
    for (let c = FENCE_CLOSE.exec(text); c; c = FENCE_CLOSE.exec(text)) {
      if (c.index > from && text[c.index - 1] !== '\n' && text[c.index - 1] !== '\r') continue;
      if (c[1][0] === marker[0] && c[1].length >= marker.length) {
        to = c.index;
        break;
      }
      if (c[0] === '') FENCE_CLOSE.lastIndex++;
    }
    if (to < 0) break; // unclosed body: the rest of the document is inside it; let the full parse decide
    if (to > from) out.push({ from, to, newlines: countLineBreaks(text, from, to, hasCR), opener: -1, summary: m[1] !== undefined });
    MARKER_THEN_FENCE.lastIndex = to;
  }
  return out;
}

function countLineBreaks(text: string, from: number, to: number, hasCR: boolean): number {
  if (hasCR) return (text.slice(from, to).match(/\r\n|\r|\n/g) ?? []).length;
  let n = 0;
  for (let i = text.indexOf('\n', from); i >= 0 && i < to; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function splitLines(text: string, elisions: Elision[]): Line[] {
  const lines: Line[] = [];
  // CommonMark line endings: LF, CR LF, or a lone CR (spec 2.1). markdown-it numbers lines the same way.
  const re = /\r\n|\r|\n/g;
  let start = 0;
  let no = 0;
  let k = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    lines.push({ text: text.slice(start, m.index), eol: m[0], start, no: no++ });
    start = m.index + m[0].length;
    if (k < elisions.length && elisions[k].from === start) {
      const e = elisions[k++];
      e.opener = lines.length - 1;
      no += e.newlines;
      start = e.to;
      re.lastIndex = e.to;
    }
  }
  if (start < text.length || lines.length === 0) lines.push({ text: text.slice(start), eol: '', start, no });
  return lines;
}

const isBlank = (l: Line): boolean => /^[ \t]*$/.test(l.text);

/** A top-level block: its token(s) and its line range [start, end) in document lines. */
interface Block {
  type: 'fence' | 'html' | 'list' | 'other';
  start: number;
  end: number;
  token: Token;
  /** For lists: whether every item is a GFM task item. */
  taskList?: boolean;
}

function topLevelBlocks(tokens: Token[], lineOffset: number): Block[] {
  const blocks: Block[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.level !== 0 || !t.map) continue;
    const start = t.map[0] + lineOffset;
    const end = t.map[1] + lineOffset;
    if (t.type === 'fence') blocks.push({ type: 'fence', start, end, token: t });
    else if (t.type === 'html_block') blocks.push({ type: 'html', start, end, token: t });
    else if (t.type === 'bullet_list_open' || t.type === 'ordered_list_open') {
      let taskList = true;
      let j = i + 1;
      for (; j < tokens.length && !(tokens[j].level === 0 && tokens[j].type.endsWith('_list_close')); j++) {
        const u = tokens[j];
        // An item's first block must be a paragraph opening with [ ], [x] or [X] (GFM spec, 5.3 Task list items).
        if (u.type === 'list_item_open' && u.level === 1) {
          const p = tokens[j + 1];
          const inline = tokens[j + 2];
          if (!p || p.type !== 'paragraph_open' || !inline || !/^\[[ xX]\](?:[ \t]|$)/.test(inline.content)) taskList = false;
        }
      }
      blocks.push({ type: 'list', start, end, token: t, taskList });
      i = j;
    } else if (t.nesting !== -1) {
      blocks.push({ type: 'other', start, end, token: t });
    }
  }
  return blocks;
}

/** A one-line block quote: the shape of an output's visible line (the caller checks its text). */
function isSummaryBlock(b: Block): boolean {
  return b.type === 'other' && b.token.type === 'blockquote_open' && b.end === b.start + 1;
}

/** Fence facts read from its raw lines: indentation, marker, whether it is closed. */
function fenceFacts(lines: Line[], b: Block): { indent: number; marker: string; closed: boolean } {
  const open = lines[b.start].text;
  const m = /^( {0,3})(`{3,}|~{3,})/.exec(open);
  const indent = m ? m[1].length : 0;
  const marker = m ? m[2] : '```';
  let closed = false;
  if (b.end - b.start >= 2) {
    const last = lines[b.end - 1].text;
    const c = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(last);
    closed = !!c && c[1][0] === marker[0] && c[1].length >= marker.length;
  }
  return { indent, marker, closed };
}

/** Content of a fence from the raw lines (not markdown-it's normalized copy: NUL and CR stay as written). */
function fenceContent(lines: Line[], b: Block, indent: number, closed: boolean): string {
  const last = closed ? b.end - 1 : b.end;
  const out: string[] = [];
  for (let i = b.start + 1; i < last; i++) {
    let t = lines[i].text;
    // CommonMark 4.5: content lines lose up to the opening fence's indentation.
    let k = 0;
    while (k < indent && t[k] === ' ') k++;
    t = t.slice(k);
    out.push(t);
  }
  return out.join('\n');
}

/** The document text of lines [from, to), line breaks included. */
/** Content of a skipped output body, as fenceContent would give it. */
function elidedContent(text: string, e: Elision, indent: number): string {
  let s = text.slice(e.from, e.to).replace(/(?:\r\n|\r|\n)$/, '');
  if (s.includes('\r')) s = s.replace(/\r\n?/g, '\n');
  if (indent > 0) s = s.split('\n').map((l) => l.replace(new RegExp(`^ {0,${indent}}`), '')).join('\n');
  return s;
}

function textOf(lines: Line[], from: number, to: number): string {
  if (from >= to) return '';
  const endLine = lines[to - 1];
  return currentDoc.slice(lines[from].start, endLine.start + endLine.text.length + endLine.eol.length);
}

// The text being parsed, for textOf(); set for the duration of one parseRunbook() call (synchronous).
let currentDoc = '';

/** Options for {@link parseRunbook}. */
export interface ParseOptions {
  /** Skip the per-cell option checks (faster; used when only the structure is needed). */
  skipOptionChecks?: boolean;
}

/**
 * Parses a `.runbook` document. Never throws: problems (malformed output record, unterminated
 * fence, invalid options, NUL bytes, invalid UTF-8, bad front matter) are listed in `problems` with
 * 1-based line numbers, and the text they concern is kept so `serializeRunbook` returns it unchanged.
 *
 * @param input the file's text, or its bytes (invalid UTF-8 is kept; see utf8.ts)
 */
export function parseRunbook(input: string | Uint8Array, options: ParseOptions = {}): Runbook {
  const problems: Problem[] = [];
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    const d = decodeUtf8Lossless(input);
    text = d.text;
    if (d.invalidOffsets.length > 0) {
      const lineOf = (byte: number): number => {
        let n = 1;
        for (let i = 0; i < byte; i++) if (input[i] === 0x0a) n++;
        return n;
      };
      problems.push({ line: lineOf(d.invalidOffsets[0]), severity: 'warning', code: 'invalid-utf8', message: `${d.invalidOffsets.length} byte(s) of invalid UTF-8 (kept as they are)` });
    }
  }
  try {
    return parseWithLog(text, problems, options);
  } finally {
    currentDoc = '';
  }
}

/**
 * Finds the log section — the first `<!-- runbook:log -->` line that is a top-level block, after the
 * front matter — and parses the text before it as cells and the rest as the log. Whether a line is a
 * top-level block depends only on the text before it (an unclosed fence or HTML block swallows it), so
 * each candidate is tried by parsing the text before it with the marker line appended as a probe.
 */
function parseWithLog(text: string, problems: Problem[], options: ParseOptions): Runbook {
  const fmEnd = frontMatterEnd(text);
  for (const at of logMarkerOffsets(text)) {
    if (at < fmEnd) continue;
    const prefix = text.slice(0, at);
    const before = problems.length;
    currentDoc = prefix;
    const rb = at === 0 ? { cells: [], trailing: '', eol: '\n' as const, problems } : parseText(prefix, problems, options, true, true);
    if (rb) {
      if (!/\r|\n/.test(prefix)) rb.eol = /\r\n|\r|\n/.exec(text)?.[0] === '\r\n' ? '\r\n' : '\n';
      const firstLine = lineBreaksIn(prefix) + 1;
      const logText = text.slice(at);
      const nul = logText.indexOf('\0');
      if (nul >= 0 && !text.slice(0, at).includes('\0')) problems.push({ line: firstLine + lineBreaksIn(logText.slice(0, nul)), severity: 'warning', code: 'nul-byte', message: 'NUL byte in the file (kept as is)' });
      rb.log = parseLogSection(logText, firstLine, rb.eol, problems);
      return rb;
    }
    problems.length = before;
  }
  currentDoc = text;
  return parseText(text, problems, options) as Runbook;
}

/** Offset just after the front matter's closing line (0 when the text has none). */
function frontMatterEnd(text: string): number {
  const open = /^---[ \t]*(\r\n|\r|\n)/.exec(text);
  if (!open) return 0;
  const close = /^(?:---|\.\.\.)[ \t]*$/m.exec(text.slice(open[0].length));
  return close ? open[0].length + close.index + close[0].length : 0;
}

/**
 * Parses `text` into cells. With `probe`, the text is the part before a candidate log marker: the marker
 * line is parsed after it, and the result is undefined unless that line is a top-level block.
 */
function parseText(text: string, problems: Problem[], options: ParseOptions, skipBodies?: boolean, probe?: false): Runbook;
function parseText(text: string, problems: Problem[], options: ParseOptions, skipBodies: boolean, probe: true): Runbook | undefined;
function parseText(text: string, problems: Problem[], options: ParseOptions, skipBodies = true, probe = false): Runbook | undefined {
  const problemsBefore = problems.length;
  const elisions = skipBodies ? findElisions(text) : [];
  const lines = splitLines(text, elisions);
  const lineNo = (i: number): number => (lines[Math.min(i, lines.length - 1)]?.no ?? 0) + 1;
  const firstEol = lines.find((l) => l.eol !== '')?.eol;
  const eol: '\n' | '\r\n' = firstEol === '\r\n' ? '\r\n' : '\n';
  const nul = text.indexOf('\0');
  if (nul >= 0) problems.push({ line: lineNo(lineAt(lines, nul)), severity: 'warning', code: 'nul-byte', message: 'NUL byte in the file (kept as is)' });

  // Front matter: `---` on the first line, closed by `---` or `...` (the YAML document markers).
  let frontMatter: FrontMatter | undefined;
  let bodyStart = 0;
  if (lines.length > 1 && /^---[ \t]*$/.test(lines[0].text) && lines[0].eol !== '') {
    let close = -1;
    for (let i = 1; i < lines.length; i++) {
      if (/^(---|\.\.\.)[ \t]*$/.test(lines[i].text)) {
        close = i;
        break;
      }
    }
    if (close > 0) {
      const raw = textOf(lines, 0, close + 1);
      const yamlText = lines.slice(1, close).map((l) => l.text).join('\n');
      frontMatter = { raw };
      const y = yamlText.trim() === '' ? { ok: true as const, data: {} } : parseFrontMatterYaml(yamlText);
      if (!y.ok) problems.push({ line: 2 + y.line, severity: 'error', code: 'front-matter', message: `front matter is not valid YAML: ${y.message}` });
      else if (y.data !== null && typeof y.data === 'object' && !Array.isArray(y.data)) {
        frontMatter.data = y.data as Record<string, unknown>;
        checkFrontMatter(frontMatter.data, lines, close, problems);
      } else problems.push({ line: 2, severity: 'error', code: 'front-matter', message: 'front matter is not a YAML mapping (kept as is)' });
      bodyStart = close + 1;
    } else {
      problems.push({ line: 1, severity: 'warning', code: 'front-matter', message: 'a `---` first line without a closing `---`: read as Markdown' });
    }
  }

  let bodyText = '';
  if (bodyStart < lines.length) {
    const parts: string[] = [];
    let pos = lines[bodyStart].start;
    for (const e of elisions) {
      if (e.from < pos) continue;
      parts.push(text.slice(pos, e.from));
      pos = e.to;
    }
    parts.push(text.slice(pos));
    bodyText = parts.join('');
  }
  const tokens = md.parse(probe ? bodyText + LOG_MARKER + '\n' : bodyText, {});
  let blocks = topLevelBlocks(tokens, bodyStart);
  if (probe) {
    // Lines of the body the Markdown parser saw (skipped output bodies are not among them).
    const probeLine = lines.length;
    const b = blocks.find((x) => x.start <= probeLine && x.end > probeLine);
    if (!b || b.type !== 'html' || b.start !== probeLine || b.end !== probeLine + 1) return undefined;
    blocks = blocks.filter((x) => x.start < probeLine);
  }
  const elided = new Map<number, Elision>();
  if (elisions.length > 0) {
    const html = new Set<number>();
    const summaries = new Set<number>();
    const fences = new Set<string>();
    for (const b of blocks) {
      if (b.type === 'html' && b.end === b.start + 1) html.add(b.start);
      else if (b.type === 'fence') fences.add(`${b.start}:${b.end}`);
      else if (isSummaryBlock(b)) summaries.add(b.start);
    }
    for (const e of elisions) {
      const recordLine = e.summary ? e.opener - 2 : e.opener - 1;
      if (e.opener < bodyStart || !html.has(recordLine) || (e.summary && !summaries.has(e.opener - 1)) || !fences.has(`${e.opener}:${e.opener + 2}`)) {
        problems.length = problemsBefore;
        return probe ? parseText(text, problems, options, false, true) : parseText(text, problems, options, false);
      }
      elided.set(e.opener, e);
    }
  }

  const cells: Cell[] = [];
  const reported = new Set<number>();
  // `cursor` is the first line not yet assigned to a cell; `pendingFrom` starts a Markdown run.
  let cursor = bodyStart;
  let mdFrom = bodyStart;

  const flushMarkdown = (upTo: number): void => {
    // Lines [mdFrom, upTo) are Markdown. Leading/trailing blank lines are separators, not content.
    let a = mdFrom;
    let z = upTo;
    while (a < z && isBlank(lines[a])) a++;
    while (z > a && isBlank(lines[z - 1])) z--;
    if (a < z) {
      const leading = textOf(lines, mdFrom, a);
      const src = textOf(lines, a, z);
      cells.push(makeCell('markdown', lines, a, z, src, leading, undefined, {}));
      mdFrom = z;
    }
  };

  for (let bi = 0; bi < blocks.length; bi++) {
    const b = blocks[bi];
    if (b.start < cursor) continue;
    let kind: CellKind | undefined;
    let language: string | undefined;
    let cellOptions: Record<string, unknown> = {};
    let source = '';
    if (b.type === 'fence') {
      const info = parseInfoString(b.token.info);
      const k = kindOfLanguage(info.language);
      if (k !== 'markdown') {
        const f = fenceFacts(lines, b);
        if (!f.closed) {
          problems.push({ line: lineNo(b.start), severity: 'error', code: 'unterminated-fence', message: `${k} fence opened here is never closed: kept as Markdown, not run` });
          continue;
        }
        if (info.error) problems.push({ line: lineNo(b.start), severity: 'error', code: 'invalid-cell-options', message: info.error });
        kind = k;
        language = info.language;
        cellOptions = info.options;
        source = fenceContent(lines, b, f.indent, true);
      }
    } else if (b.type === 'list' && b.taskList) {
      kind = 'checklist';
    } else if (b.type === 'html' && isOutputMarker(lines[b.start].text) && !reported.has(b.start)) {
      problems.push({ line: lineNo(b.start), severity: 'warning', code: 'orphan-output', message: 'output record not directly after a cell (only blank lines may separate them): kept as Markdown' });
    }
    if (!kind) continue;
    // markdown-it's list range includes the blank lines after the list: they separate, not belong.
    let blockEnd = b.end;
    while (blockEnd > b.start + 1 && isBlank(lines[blockEnd - 1])) blockEnd--;

    // Everything between the previous cell and this one is Markdown; the blank lines just before
    // this cell are its leading separator.
    let lead = b.start;
    while (lead > cursor && isBlank(lines[lead - 1])) lead--;
    flushMarkdown(lead);
    const leading = textOf(lines, mdFrom, b.start);
    if (kind === 'checklist') source = textOf(lines, b.start, blockEnd).replace(/\r\n?/g, '\n').replace(/\n$/, '');
    const cell = makeCell(kind, lines, b.start, blockEnd, undefined, leading, language, cellOptions, source);
    if (!options.skipOptionChecks && Object.keys(cellOptions).length > 0) {
      for (const p of checkOptions(kind, cellOptions)) problems.push({ line: lineNo(b.start), severity: 'warning', code: p.code, message: p.message });
    }
    cursor = blockEnd;

    // Output blocks: a record line (an HTML block of one line) after only blank lines, each optionally
    // followed at once by a fenced body.
    const rawOutputs: RawOutput[] = [];
    let bj = bi + 1;
    while (bj < blocks.length) {
      const ob = blocks[bj];
      if (ob.type !== 'html' || !isOutputMarker(lines[ob.start].text)) break;
      let gapOk = true;
      for (let i = cursor; i < ob.start; i++) if (!isBlank(lines[i])) gapOk = false;
      if (!gapOk) break;
      const rec = ob.end - ob.start === 1 ? parseRecordLine(lines[ob.start].text) : ({ ok: false, error: 'output record must be one line: <!-- runbook:output {JSON} -->' } as const);
      if (!rec.ok) {
        problems.push({ line: lineNo(ob.start), severity: 'error', code: 'malformed-output-record', message: `${rec.error}: kept as Markdown` });
        reported.add(ob.start);
        break;
      }
      const output: Output = { record: rec.record };
      let end = ob.end;
      const sum = blocks[bj + 1];
      if (sum && sum.start === ob.end && isSummaryBlock(sum) && isOutputSummaryLine(lines[sum.start].text)) {
        // The visible line is derived from the record; one that says something else was edited by hand.
        if (lines[sum.start].text.replace(/[ \t]+$/, '') !== outputSummary(rec.record)) {
          problems.push({ line: lineNo(sum.start), severity: 'warning', code: 'output-summary-edited', message: 'the visible line under this output record does not say what the record says (edited by hand?); it is rewritten when the output is' });
        }
        end = sum.end;
        bj++;
      }
      const next = blocks[bj + 1];
      if (next && next.type === 'fence' && next.start === end) {
        const f = fenceFacts(lines, next);
        if (f.closed) {
          const e = elided.get(next.start);
          output.body = e ? elidedContent(text, e, f.indent) : fenceContent(lines, next, f.indent, true);
          const lang = next.token.info.trim();
          if (lang !== 'text') output.bodyLang = lang;
          end = next.end;
          bj++;
        } else {
          problems.push({ line: lineNo(next.start), severity: 'error', code: 'unterminated-fence', message: 'output body fence is never closed: kept as Markdown' });
        }
      }
      if (typeof rec.record.recorded_for === 'string') {
        problems.push({ line: lineNo(ob.start), severity: 'warning', code: 'recorded-for-earlier-text', message: `this output was recorded for an earlier text of its cell (recorded_for ${rec.record.recorded_for}): the cell was edited after it ran; run it again to record the text as it is` });
      }
      cell.outputs.push(output);
      rawOutputs.push({ text: textOf(lines, cursor, end), ...outputSignature(output) });
      cursor = end;
      bj++;
    }
    bi = bj - 1;
    if (cell.raw) cell.raw.outputs = rawOutputs;
    cells.push(cell);
    mdFrom = cursor;
  }
  // Markdown after the last cell, then the trailing blank lines.
  let z = lines.length;
  while (z > mdFrom && isBlank(lines[z - 1])) z--;
  flushMarkdown(z);
  const trailing = textOf(lines, mdFrom, lines.length);
  // A file ending without a line break: the last line has eol ''. Nothing else to do: text is kept.
  return { frontMatter, cells, trailing, eol, problems };
}

/** Checks the front matter keys the tool reads (`estimate`, `window`, `notify`), reporting the line of the key. */
function checkFrontMatter(data: Record<string, unknown>, lines: Line[], close: number, problems: Problem[]): void {
  const lineOf = (key: string): number => {
    let line = 2;
    const re = new RegExp(`^${key}[ \\t]*:`);
    for (let i = 1; i < close; i++) if (re.test(lines[i].text)) line = lines[i].no + 1;
    return line;
  };
  for (const { key, ...p } of frontMatterProblems(data)) problems.push({ ...p, line: lineOf(key) });
}

function lineAt(lines: Line[], offset: number): number {
  let lo = 0;
  let hi = lines.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lines[mid].start <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function makeCell(kind: CellKind, lines: Line[], start: number, end: number, markdownText: string | undefined, leading: string, language: string | undefined, options: Record<string, unknown>, codeSource?: string): Cell {
  const rawSource = textOf(lines, start, end);
  let source: string;
  if (kind === 'markdown') {
    // The Markdown source is the text without its last line break, line breaks as `\n`.
    source = (markdownText ?? rawSource).replace(/\r\n?/g, '\n').replace(/\n$/, '');
  } else {
    source = codeSource ?? '';
  }
  const cell: Cell = { kind, source, options, outputs: [] };
  if (language !== undefined) cell.language = language;
  const raw: RawCell = { leading, source: rawSource, outputs: [], sig: cellSignature(cell) };
  cell.raw = raw;
  return cell;
}
