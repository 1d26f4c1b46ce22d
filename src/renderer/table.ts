// Result tables for the renderer: reading psql-aligned text back into rows, and writing rows as CSV or Markdown.

/** A result table: column names and rows of text, `null` for SQL NULL. */
export interface Table {
  columns: string[];
  rows: (string | null)[][];
  /** Rows the statement returned in all (more than `rows.length` when some were not kept). */
  total?: number;
  /** False when the table was read back from saved text, where NULL and '' look the same. */
  nullsKnown: boolean;
  /** Per column: numbers, shown right-aligned as psql does. */
  numeric?: boolean[];
}

/**
 * Reads the psql "aligned" tables (border 1) in an output body: a header line, a rule of dashes and
 * `+`, rows, an optional `(… N more rows not kept)` line and the `(N rows)` footer. Column bounds come
 * from the rule's `+` positions, so a `|` inside a value does not split it. Values continued on the
 * next line (psql's `+` wrap marker at the column's end) are joined with a line break.
 * Text around the tables (command tags, notices) is returned as `text` parts in order.
 */
export function parseAlignedBody(body: string): ({ kind: 'text'; text: string } | { kind: 'table'; table: Table })[] {
  const lines = body.split('\n');
  const parts: ({ kind: 'text'; text: string } | { kind: 'table'; table: Table })[] = [];
  let text: string[] = [];
  const flushText = (): void => {
    if (text.length) parts.push({ kind: 'text', text: text.join('\n') });
    text = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const rule = lines[i + 1];
    if (rule !== undefined && /^-+(\+-+)*$/.test(rule) && lines[i].length > 0) {
      const parsed = readTable(lines, i);
      if (parsed) {
        flushText();
        parts.push({ kind: 'table', table: parsed.table });
        i = parsed.next - 1;
        continue;
      }
    }
    text.push(lines[i]);
  }
  flushText();
  return parts;
}

/** Terminal columns of one code point, as psql counts them (wide East Asian and emoji 2, combining marks 0). */
function charWidth(c: number): number {
  if (c < 0x300) return 1;
  const ch = String.fromCodePoint(c);
  if (/^[\p{Mn}\p{Me}\p{Cf}]$/u.test(ch)) return 0;
  const wide =
    (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0x303e) || (c >= 0x3041 && c <= 0x33ff) ||
    (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xa000 && c <= 0xa4cf) ||
    (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x20000 && c <= 0x3fffd) ||
    /^\p{Emoji_Presentation}$/u.test(ch);
  return wide ? 2 : 1;
}

/** Cuts a line at display columns (psql pads by terminal width, not by UTF-16 length). */
function cutAtColumns(line: string, bounds: [number, number][]): { text: string; full: boolean }[] {
  const cells = bounds.map(() => ({ text: '', full: false }));
  let col = 0;
  let k = 0;
  for (const ch of line) {
    while (k < bounds.length && col >= bounds[k][1]) k++;
    if (k >= bounds.length) break;
    if (col >= bounds[k][0]) cells[k].text += ch;
    col += charWidth(ch.codePointAt(0) as number);
    if (col >= bounds[k][1]) cells[k].full = true;
  }
  return cells;
}

function readTable(lines: string[], headerAt: number): { table: Table; next: number } | undefined {
  const rule = lines[headerAt + 1];
  const bounds: [number, number][] = [];
  let start = 0;
  for (const seg of rule.split('+')) {
    bounds.push([start, start + seg.length]);
    start += seg.length + 1;
  }
  const columns = cutAtColumns(lines[headerAt], bounds).map((c) => c.text.trim());
  const rows: (string | null)[][] = [];
  let total: number | undefined;
  let i = headerAt + 2;
  let wrapped: boolean[] = [];
  for (; i < lines.length; i++) {
    const line = lines[i];
    const footer = /^\((\d+) rows?\)$/.exec(line);
    if (footer) {
      total = Number(footer[1]);
      i++;
      break;
    }
    if (/^\(… [\d,]+ more rows? not kept\)$/.test(line)) continue;
    const cells = cutAtColumns(line, bounds);
    // psql marks a value continued on the next line with `+` in the last position of its column,
    // and pads such a line to the full width; a value merely ending in `+` never reaches that position.
    const wraps = cells.map((c) => c.full && c.text.endsWith('+'));
    const values = cells.map((c, k) => (wraps[k] ? c.text.slice(0, -1) : c.text).trim());
    if (wrapped.some(Boolean) && rows.length) {
      const last = rows[rows.length - 1];
      values.forEach((v, k) => {
        if (wrapped[k]) last[k] = `${last[k] ?? ''}\n${v}`;
      });
    } else {
      rows.push(values);
    }
    wrapped = wraps;
  }
  if (total === undefined) return undefined;
  // The saved text no longer says the column types: a column whose every value is a number is shown as one.
  const numeric = columns.map((_, k) => rows.some((r) => r[k]) && rows.every((r) => !r[k] || /^-?\d+(\.\d+)?$/.test(r[k] ?? '')));
  return { table: { columns, rows, total, nullsKnown: false, numeric }, next: i };
}

function csvField(v: string | null): string {
  if (v === null) return '';
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** RFC 4180 CSV with a header row and CRLF line breaks; NULL is an empty field. */
export function toCsv(t: Table): string {
  return [t.columns, ...t.rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

function mdField(v: string | null): string {
  if (v === null) return '*NULL*';
  return v.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

/** A GFM table; NULL written as `*NULL*` so it stays distinct from an empty string. */
export function toMarkdown(t: Table): string {
  const head = `| ${t.columns.map(mdField).join(' | ')} |`;
  const rule = `|${t.columns.map(() => ' --- ').join('|')}|`;
  const rows = t.rows.map((r) => `| ${r.map(mdField).join(' | ')} |`);
  return [head, rule, ...rows].join('\n') + '\n';
}
