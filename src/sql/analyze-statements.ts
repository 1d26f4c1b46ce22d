// Splits a SQL cell into statements for the linter: split.ts (the runner's splitter) when the cell parses, else
// statement by statement at top-level semicolons so one syntax error costs only its own statement.

import { parseSync, scanSync, type Node } from 'libpg-query';
import { initSqlParser, splitStatementsSync } from './split';

/** One statement of a cell. Offsets are UTF-16 indexes into the cell text (not libpg-query's bytes). */
export interface CellStatement {
  /** The statement's text, from its first token to its end (without the `;`). */
  text: string;
  /** Offset of the first token. */
  start: number;
  /** Offset just past the last token. */
  end: number;
  /** 1-based line of the first token, in the cell. */
  line: number;
  /** 1-based line of the last character, in the cell. */
  endLine: number;
  /** The parse tree of the statement; undefined when this statement alone does not parse. */
  stmt?: Node;
  /** The parser's message when `stmt` is undefined. */
  parseError?: string;
}

/** Loads libpg-query's WASM module once (split.ts's loader); call before {@link splitCell}. */
export function loadParser(): Promise<void> {
  return initSqlParser();
}

/** Maps libpg-query's UTF-8 byte offsets to UTF-16 offsets of `text`. */
function byteToCharMapper(text: string): (byte: number) => number {
  // eslint-disable-next-line no-control-regex -- plain ASCII text: bytes and UTF-16 units coincide
  if (/^[\x00-\x7f]*$/.test(text)) return (b) => b;
  const map: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const cp = text.codePointAt(i) ?? 0;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (let k = 0; k < n; k++) map.push(i);
    if (cp >= 0x10000) i++;
  }
  map.push(text.length);
  return (b) => (b >= map.length ? text.length : map[b]);
}

/** Offset of the first character of `text[from, to)` that is not whitespace or a comment. */
function skipBlanks(text: string, from: number, to: number): number {
  let i = from;
  while (i < to) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') i++;
    else if (c === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i);
      i = nl < 0 || nl > to ? to : nl + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      // Block comments nest in PostgreSQL (docs 4.1.5 "Comments").
      let depth = 1;
      i += 2;
      while (i < to && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') { depth++; i += 2; } else if (text[i] === '*' && text[i + 1] === '/') { depth--; i += 2; } else i++;
      }
    } else break;
  }
  return i;
}

/** Line starts of `text` (offsets), for offset → line lookups. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** 1-based line of `offset`, by binary search in `starts`. */
export function lineAt(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid; else hi = mid - 1;
  }
  return lo + 1;
}

/** Trims a raw [from, to) range to its tokens and builds the statement; undefined when it holds none. */
function makeStatement(text: string, starts: number[], from: number, to: number, stmt?: Node, parseError?: string): CellStatement | undefined {
  const start = skipBlanks(text, from, to);
  let end = to;
  while (end > start && /\s/.test(text[end - 1])) end--;
  if (end > start && text[end - 1] === ';') end--;
  while (end > start && /\s/.test(text[end - 1])) end--;
  if (end <= start) return undefined;
  return { text: text.slice(start, end), start, end, line: lineAt(starts, start), endLine: lineAt(starts, Math.max(start, end - 1)), stmt, parseError };
}

/**
 * Splits a cell into statements with the real PostgreSQL grammar: the same statements, offsets and lines as
 * the runner sends (split.ts). When the whole cell does not parse, it is split at top-level `;` tokens (from
 * the scanner, so `;` inside strings, dollar quotes and comments is left alone) and each piece is parsed
 * alone: a syntax error then costs only its own statement. Never throws; {@link loadParser} must have resolved.
 */
export function splitCell(text: string): CellStatement[] {
  if (skipBlanks(text, 0, text.length) >= text.length) return [];
  const r = splitStatementsSync(text);
  if (r.ok) return r.statements.map((s) => ({ text: s.text, start: s.start, end: s.end, line: s.line, endLine: s.endLine, stmt: s.stmt }));
  return splitByScanner(text, lineStarts(text), byteToCharMapper(text), r.error.message);
}

function splitByScanner(text: string, starts: number[], toChar: (b: number) => number, wholeError: string): CellStatement[] {
  let tokens: { start: number; end: number; tokenName: string }[];
  try {
    tokens = scanSync(text).tokens;
  } catch {
    const s = makeStatement(text, starts, 0, text.length, undefined, wholeError);
    return s ? [s] : [];
  }
  const out: CellStatement[] = [];
  let from = 0;
  const cut = (to: number): void => {
    const s = makeStatement(text, starts, from, to);
    if (s) {
      try {
        const r = parseSync(s.text);
        s.stmt = r.stmts?.[0]?.stmt;
        if (!s.stmt) s.parseError = 'empty statement';
      } catch (e) {
        s.parseError = e instanceof Error ? e.message : String(e);
      }
      out.push(s);
    }
  };
  for (const t of tokens) {
    if (t.tokenName === 'ASCII_59') {
      const at = toChar(t.end);
      cut(at);
      from = at;
    }
  }
  cut(text.length);
  return out;
}
