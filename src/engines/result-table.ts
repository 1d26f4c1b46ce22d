// Formats query results as psql's default "aligned" table text, so output bodies read like psql.

/** A result column: its name and the type OID the server sent in RowDescription. */
export interface ResultColumn {
  name: string;
  /** `pg_type.oid` of the column, e.g. 23 for int4; decides right alignment as psql does. */
  typeOid: number;
}

/** A row as text, exactly as the server sent it; `null` for SQL NULL. */
export type ResultRow = (string | null)[];

/** Options for `formatTable`. */
export interface TableOptions {
  /** Rows the statement returned in all, when more than `rows.length` were returned but not kept. */
  totalRows?: number;
}

// Types psql right-aligns (column_type_alignment() in src/bin/psql/print.c): integers, floats, numeric,
// oid, xid, xid8, cid, money.
const RIGHT_ALIGNED = new Set([20, 21, 23, 700, 701, 1700, 26, 28, 5069, 29, 790]);

/** Whether psql right-aligns values of this type OID (numbers). */
export function isRightAligned(typeOid: number): boolean {
  return RIGHT_ALIGNED.has(typeOid);
}

/**
 * psql-style aligned table (border 1, NULL shown as empty, `\pset format aligned`):
 *
 * ```
 *  id | name
 * ----+-------
 *   1 | alice
 * (1 row)
 * ```
 *
 * Headers are centred, numbers right-aligned, multi-line values continue with `+` like psql, tabs and
 * control characters are shown as psql shows them. When `totalRows` exceeds the rows given, a line
 * `(… N more rows not kept)` follows the rows and the footer counts all rows.
 */
export function formatTable(columns: ResultColumn[], rows: ResultRow[], options: TableOptions = {}): string {
  const total = Math.max(options.totalRows ?? rows.length, rows.length);
  const out: string[] = [];
  if (columns.length === 0) {
    // psql prints a bare `--` rule for a result without columns (`SELECT;`).
    out.push('--');
  } else {
    const right = columns.map((c) => isRightAligned(c.typeOid));
    const header = columns.map((c) => cellLines(c.name));
    const body = rows.map((r) => columns.map((_, i) => cellLines(r[i] ?? '')));
    // Loops, not Math.max(...): a spread passes every row (and every line of a value) as an argument,
    // and past about 125,000 of them V8 throws "Maximum call stack size exceeded".
    const widths = columns.map((_, i) => {
      let w = maxWidth(header[i]);
      for (const r of body) w = Math.max(w, maxWidth(r[i]));
      return w;
    });
    pushRecord(out, header, widths, columns.map(() => 'center'));
    out.push(widths.map((w) => '-'.repeat(w + 2)).join('+'));
    const aligns = right.map((r) => (r ? 'right' : 'left'));
    for (const r of body) pushRecord(out, r, widths, aligns);
  }
  if (total > rows.length) out.push(`(… ${(total - rows.length).toLocaleString('en-US')} more rows not kept)`);
  out.push(total === 1 ? '(1 row)' : `(${total} rows)`);
  return out.join('\n');
}

type Align = 'left' | 'right' | 'center';

/** Widest of a cell's lines (0 for none). */
function maxWidth(lines: readonly string[]): number {
  let w = 0;
  for (const l of lines) w = Math.max(w, displayWidth(l));
  return w;
}

/** Appends the text lines of one record (header or row), whose cells may span several lines. */
function pushRecord(out: string[], cells: string[][], widths: number[], aligns: Align[]): void {
  let height = 0;
  for (const c of cells) height = Math.max(height, c.length);
  const last = cells.length - 1;
  for (let l = 0; l < height; l++) {
    let line = '';
    for (let i = 0; i <= last; i++) {
      const text = cells[i][l] ?? '';
      const more = l < cells[i].length - 1;
      if (i > 0) line += '|';
      line += ' ';
      const pad = widths[i] - displayWidth(text);
      if (aligns[i] === 'right') line += ' '.repeat(pad) + text;
      else if (aligns[i] === 'center') line += ' '.repeat(pad >> 1) + text + ' '.repeat(pad - (pad >> 1));
      else if (i < last || more) line += text + ' '.repeat(pad);
      else line += text; // psql leaves no trailing blanks after a left-aligned last column
      if (more) line += '+';
      else if (i < last || aligns[i] === 'center') line += ' ';
    }
    out.push(line);
  }
}

/**
 * A value as the lines psql shows (pg_wcsformat in src/common/wchar.c): split at `\n`, tabs expanded to
 * the next multiple of 8, `\r` shown as `\r`, other control characters as `\xNN`.
 */
function cellLines(value: string): string[] {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we look for
  if (!/[\u0000-\u001f\u007f]/.test(value)) return [value];
  return value.split('\n').map((line) => {
    let s = '';
    let width = 0;
    for (const ch of line) {
      const c = ch.codePointAt(0) as number;
      if (ch === '\t') {
        const n = 8 - (width % 8);
        s += ' '.repeat(n);
        width += n;
      } else if (ch === '\r') {
        s += '\\r';
        width += 2;
      } else if (c < 0x20 || c === 0x7f) {
        s += `\\x${c.toString(16).toUpperCase().padStart(2, '0')}`;
        width += 4;
      } else {
        s += ch;
        width += charWidth(c);
      }
    }
    return s;
  });
}

/** Terminal columns a string takes: wide East Asian characters and emoji count 2, combining marks 0. */
export function displayWidth(s: string): number {
  // Printable ASCII is the common case: skip the per-character walk.
  if (/^[\u0020-\u007e]*$/.test(s)) return s.length;
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0) as number);
  return w;
}

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]$/u;
const EMOJI = /^\p{Emoji_Presentation}$/u;

function charWidth(c: number): number {
  if (c < 0x300) return 1;
  const ch = String.fromCodePoint(c);
  if (ZERO_WIDTH.test(ch)) return 0;
  if (
    (c >= 0x1100 && c <= 0x115f) ||
    (c >= 0x2e80 && c <= 0x303e) ||
    (c >= 0x3041 && c <= 0x33ff) ||
    (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0xa000 && c <= 0xa4cf) ||
    (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0x20000 && c <= 0x3fffd) ||
    EMOJI.test(ch)
  ) {
    return 2;
  }
  return 1;
}
