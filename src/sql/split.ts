// Splits a SQL cell into statements with the real PostgreSQL parser (libpg-query), with offsets and lines.

import { loadModule, parseSync, scanSync, SqlError } from 'libpg-query';
import type { Node } from 'libpg-query';

/**
 * One statement of a SQL cell.
 *
 * Offsets are UTF-16 code unit indexes into the cell text (what `String.prototype.slice` takes),
 * `[start, end)`. Lines are 1-based; a line break is `\n` (a CRLF counts once).
 */
export interface SqlStatement {
  /** The statement as it is sent to the server: first token to last token, without the closing `;`. */
  text: string;
  start: number;
  end: number;
  /** Line of the statement's first token. */
  line: number;
  /** Line of its last token. */
  endLine: number;
  /**
   * Comments written just before the statement (after the previous statement's `;`, or at the top of the
   * cell): they belong to this statement. Absent when there are none.
   */
  leading?: { text: string; start: number; line: number };
  /** The parse tree node (`{ SelectStmt: {…} }`, `{ IndexStmt: {…} }` …), as libpg-query v18 returns it. */
  stmt: Node;
}

/** Why a cell could not be split: the parser's message and where it points. */
export interface SqlSplitError {
  /** Written for the operator, e.g. `syntax error at or near "frm"`. */
  message: string;
  /** UTF-16 offset into the cell where the parser stopped; undefined when it did not say. */
  position?: number;
  /** 1-based line of `position` (1 when unknown). */
  line: number;
  /** Set when the cell holds a psql meta-command (`\set`, `\gset` …), which is not SQL. */
  metaCommand?: string;
}

/** Result of splitting a cell: the statements (possibly none, for an empty or comment-only cell) or the error. */
export type SplitResult = { ok: true; statements: SqlStatement[] } | { ok: false; error: SqlSplitError };

let loaded: Promise<void> | undefined;
let ready = false;

/** Loads the parser's WASM module once; later calls return the same promise. Call before `splitStatementsSync`. */
export function initSqlParser(): Promise<void> {
  loaded ??= loadModule().then(() => {
    ready = true;
  });
  return loaded;
}

/** Splits a SQL cell into statements (loads the parser on first use). See `splitStatementsSync`. */
export async function splitStatements(sql: string): Promise<SplitResult> {
  await initSqlParser();
  return splitStatementsSync(sql);
}

/**
 * Splits a SQL cell into statements with PostgreSQL's own grammar (libpg-query, PostgreSQL 18), so dollar
 * quotes, `E''` strings, comments and `BEGIN ATOMIC` bodies are handled exactly as the server does.
 *
 * Never throws on bad SQL: a syntax error comes back as `{ ok: false, error }` with the parser's message
 * and line. An empty or comment-only cell gives `{ ok: true, statements: [] }`; so does the comment-only
 * text after the last statement (it is not a statement).
 *
 * The last few results are remembered and returned again for the same text: treat them as read-only.
 *
 * @throws Error when `initSqlParser()` has not finished.
 */
export function splitStatementsSync(sql: string): SplitResult {
  if (!ready) throw new Error('SQL parser not loaded: await initSqlParser() first');
  // The runner, the safety analysis and the engine each split the same cell in turn: parse it once.
  const cached = recent.get(sql);
  if (cached !== undefined) return cached;
  const result = split(sql);
  if (sql.length <= RECENT_TEXT_MAX) {
    // Oldest first out, until the texts kept fit the budget.
    while (recent.size > 0 && (recent.size >= RECENT_MAX || recentChars + sql.length > RECENT_TEXT_MAX)) {
      const oldest = recent.keys().next().value as string;
      recent.delete(oldest);
      recentChars -= oldest.length;
    }
    recent.set(sql, result);
    recentChars += sql.length;
  }
  return result;
}

// Results are shared between callers, so they are read-only by contract. The safety analysis splits
// every cell of a runbook before the run and the engine splits each again when it runs, so the
// cache holds a whole runbook of ordinary size; it is bounded by the SQL text it keeps (parse trees
// are a few times larger), so one huge cell never piles up.
const RECENT_MAX = 5000;
const RECENT_TEXT_MAX = 512 * 1024; // UTF-16 code units
const recent = new Map<string, SplitResult>();
let recentChars = 0;

function split(sql: string): SplitResult {
  if (sql.trim() === '') return { ok: true, statements: [] };
  const map = new TextMap(sql);
  let raw;
  try {
    raw = parseSync(sql).stmts ?? [];
  } catch (e) {
    return { ok: false, error: splitError(e, sql, map) };
  }
  const statements: SqlStatement[] = [];
  let previousEnd = 0; // UTF-16 offset just after the previous statement's `;`
  for (const r of raw) {
    // stmt_location/stmt_len are BYTE offsets into the UTF-8 text; stmt_len is absent for the last
    // statement without a `;` (it runs to the end of the input). PostgreSQL 18 starts stmt_location at
    // the statement's first token, so leading comments lie between previousEnd and start.
    const byteStart = r.stmt_location ?? 0;
    const start = map.indexOfByte(byteStart);
    let end = r.stmt_len !== undefined && r.stmt_len > 0 ? map.indexOfByte(byteStart + r.stmt_len) : sql.length;
    end = trimTrailing(sql, start, end);
    if (r.stmt === undefined) continue;
    const stmt: SqlStatement = {
      text: sql.slice(start, end),
      start,
      end,
      line: map.lineAt(start),
      endLine: map.lineAt(Math.max(start, end - 1)),
      stmt: r.stmt,
    };
    // What lies between the previous `;` and this statement: whitespace, stray `;` and comments.
    const leading = sql.slice(previousEnd, start);
    const comment = leading.replace(/^[\s;]+/, '').trimEnd();
    if (comment !== '') {
      const at = previousEnd + leading.indexOf(comment);
      stmt.leading = { text: comment, start: at, line: map.lineAt(at) };
    }
    statements.push(stmt);
    previousEnd = afterSemicolon(sql, end);
  }
  return { ok: true, statements };
}

/**
 * Cell offset (UTF-16) of a server error `position` inside a statement. PostgreSQL's ErrorResponse
 * `P` field is 1-based and counts characters (code points) of the query string it received.
 * Source: PostgreSQL docs, 55.8 "Error and Notice Message Fields".
 */
export function statementPositionToOffset(statement: Pick<SqlStatement, 'text' | 'start'>, position: number): number {
  return statement.start + codePointsToIndex(statement.text, position - 1);
}

/** 1-based line of a UTF-16 offset in `text` (`\n` ends a line). */
export function lineOfOffset(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** UTF-16 index of the `count`-th code point of `text` (clamped to its length). */
export function codePointsToIndex(text: string, count: number): number {
  let index = 0;
  for (let n = 0; n < count && index < text.length; n++) {
    const c = text.charCodeAt(index);
    index += c >= 0xd800 && c <= 0xdbff && index + 1 < text.length ? 2 : 1;
  }
  return index;
}

function splitError(e: unknown, sql: string, map: TextMap): SqlSplitError {
  if (!(e instanceof SqlError)) {
    return { message: e instanceof Error ? e.message : String(e), line: 1 };
  }
  // libpg-query reports the cursor as a 0-based count of characters (the server's pg_mbstrlen), 0 when
  // unknown: map it through code points, not bytes.
  const cursor = e.sqlDetails?.cursorPosition;
  const position = cursor === undefined ? undefined : codePointsToIndex(sql, cursor);
  const line = position === undefined ? 1 : map.lineAt(position);
  const error: SqlSplitError = { message: e.message, position, line };
  const meta = metaCommandAt(sql, position);
  if (meta !== undefined) {
    error.metaCommand = meta;
    error.message =
      `psql meta-command ${meta} on line ${line} is not supported: SQL cells are sent to the server as SQL, ` +
      'not through psql. Write it as SQL (e.g. a literal instead of a \\set variable), or run psql in a shell cell.';
  }
  return error;
}

/** The meta-command (`\set`) the parser stopped at, if the error points at a backslash. */
function metaCommandAt(sql: string, position: number | undefined): string | undefined {
  if (position === undefined || sql[position] !== '\\') return undefined;
  const m = /^\\[A-Za-z_!?+]*/.exec(sql.slice(position));
  return m?.[0];
}

/** End of the statement once trailing whitespace and comments before its `;` (or the cell's end) are cut. */
function trimTrailing(sql: string, start: number, end: number): number {
  while (end > start && /\s/.test(sql[end - 1])) end--;
  const text = sql.slice(start, end);
  if (!text.includes('--') && !text.includes('/*')) return end;
  // Only here is a lexer pass worth its cost: find the last token that is not a comment.
  const tokens = scanSync(text).tokens;
  const local = new TextMap(text);
  for (let i = tokens.length - 1; i >= 0; i--) {
    const t = tokens[i];
    if (t.tokenName !== 'SQL_COMMENT' && t.tokenName !== 'C_COMMENT') return start + local.indexOfByte(t.end);
  }
  return end;
}

/** Offset just past the `;` that closes a statement ending at `end` (or `end` when there is none). */
function afterSemicolon(sql: string, end: number): number {
  // Between the statement's last token and its `;` there can only be whitespace and comments; the parser
  // already proved the `;` is there, so skip to the first one outside a comment.
  let i = end;
  while (i < sql.length) {
    if (sql[i] === ';') return i + 1;
    if (sql.startsWith('--', i)) {
      const nl = sql.indexOf('\n', i);
      i = nl === -1 ? sql.length : nl + 1;
    } else if (sql.startsWith('/*', i)) {
      const close = sql.indexOf('*/', i + 2);
      i = close === -1 ? sql.length : close + 2;
    } else if (/\s/.test(sql[i])) {
      i++;
    } else {
      return end;
    }
  }
  return end;
}

/** Byte offset → UTF-16 index and offset → line lookups for one text, built once per cell. */
class TextMap {
  private readonly byteToIndex?: Int32Array;
  private readonly lineStarts: number[] = [0];

  constructor(private readonly text: string) {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.lineStarts.push(i + 1);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes === text.length) return; // ASCII: bytes and UTF-16 indexes coincide
    const map = new Int32Array(bytes + 1);
    let b = 0;
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i) as number;
      const units = cp > 0xffff ? 2 : 1;
      const width = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      // Every byte of a multi-byte character maps to the character's start.
      for (let k = 0; k < width; k++) map[b + k] = i;
      b += width;
      i += units;
    }
    map[bytes] = text.length;
    this.byteToIndex = map;
  }

  indexOfByte(byte: number): number {
    if (this.byteToIndex === undefined) return Math.min(byte, this.text.length);
    return this.byteToIndex[Math.min(byte, this.byteToIndex.length - 1)];
  }

  lineAt(offset: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}
