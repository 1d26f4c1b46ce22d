// Removes passwords from text (URIs, PGPASSWORD=, password=, literal secrets) before it is written anywhere.

import { splitUri } from './uri-parts';

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
  `(${PASSWORD_WORD}[ \\t]{1,16})('(?:[^'\\n]|''){0,${MAX_SECRET}}')`,
].join('|');

/** Number of capture groups in FIXED_SOURCE: literal-secret matches have none of them set. */
const FIXED_GROUPS = 8;

/**
 * Longest text (UTF-16 units) one fixed pattern can match: the `password=` forms with a quoted value of
 * MAX_SECRET escaped characters (8 + 8 + 1 + 8 + 2 + 2·1024 = 2075), above the URI form (1316). A
 * streaming redactor must hold back this much of a line that has not ended.
 */
const FIXED_SPAN = 2100;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Replaces a captured value, keeping its quotes so the surrounding syntax still reads right. */
function maskValue(value: string): string {
  const q = value[0];
  if ((q === "'" || q === '"') && value.length >= 2 && value.endsWith(q)) return q + REDACTED + q;
  return REDACTED;
}

/** The replacement for one match of a redaction pattern (groups as `exec` or `replace` give them). */
function replacement(groups: readonly (string | undefined)[]): string {
  const g = groups;
  if (g[0] !== undefined) return `${g[0]}${REDACTED}@`;
  if (g[2] !== undefined) return g[2] + maskValue(g[3] ?? '');
  if (g[4] !== undefined) return g[4] + maskValue(g[5] ?? '');
  if (g[6] !== undefined) return g[6] + maskValue(g[7] ?? '');
  return REDACTED;
}

/**
 * The forms a secret takes in text: as is; percent-encoded (put into a URI by hand); escaped inside a
 * JSON string (`"` and `\` backslashed, as a server's `row_to_json` shows it); inside a SQL literal
 * (`'` doubled); and as a password-file field (`:` and `\` backslashed, PostgreSQL docs, 32.16).
 */
function secretForms(secret: string): string[] {
  const forms = new Set<string>([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1), secret.replace(/'/g, "''"), secret.replace(/[\\:]/g, '\\$&')]);
  return [...forms];
}

/** Every fixed pattern needs `://` or the word `password` in some letter case: text without either (nor a literal) is left alone. */
const PASSWORD_ANY_CASE = new RegExp(PASSWORD_WORD);

/**
 * Whether `text` could hold a match: a cheap test that lets the common case (a command tag, a status, a number
 * as text) skip the combined expression. It never says no where the expression would match.
 */
function mayMatch(text: string, literals: readonly string[]): boolean {
  if (text.includes('://') || PASSWORD_ANY_CASE.test(text)) return true;
  for (const l of literals) if (text.includes(l)) return true;
  return false;
}

/** The combined pattern (fixed patterns, then the literal forms longest first) and how far one match can reach. */
function compile(secrets: Iterable<string>): { re: RegExp; span: number; multiline: boolean; literals: string[] } {
  const literals = new Set<string>();
  for (const s of secrets) if (s) for (const f of secretForms(s)) literals.add(f);
  // Longest first so a secret that contains another is removed whole.
  const sorted = [...literals].sort((a, b) => b.length - a.length);
  const source = sorted.length ? `${FIXED_SOURCE}|${sorted.map(escapeRegExp).join('|')}` : FIXED_SOURCE;
  return { re: new RegExp(source, 'g'), span: Math.max(FIXED_SPAN, sorted[0]?.length ?? 0), multiline: sorted.some((l) => /[\r\n]/.test(l)), literals: sorted };
}

let cached: { key: string; re: RegExp } | undefined;

function patternFor(secrets: readonly string[]): RegExp {
  const key = secrets.join('\u0000');
  if (cached && cached.key === key) return cached.re;
  const re = compile(secrets).re;
  cached = { key, re };
  return re;
}

function replaceAll(text: string, re: RegExp): string {
  if (text.length === 0) return text;
  re.lastIndex = 0;
  return text.replace(re, (_match: string, ...groups: unknown[]) => replacement(groups.slice(0, FIXED_GROUPS) as (string | undefined)[]));
}

/**
 * Returns `text` with passwords replaced by `***`, keeping user names, hosts and the surrounding syntax:
 *
 * - `postgres://app:s3cret@db/prod` → `postgres://app:***@db/prod` (any scheme, `%40`, raw `@`, `:` in the password)
 * - `PGPASSWORD=x`, `export PGPASSWORD="a b"`, `DB_PASSWORD='x'` → `PGPASSWORD=***`, `…="***"`, `…='***'`
 * - conninfo `password=x` / `password='a b'` → `password=***` / `password='***'`
 * - JSON `"password": "x"` → `"password": "***"`; SQL `PASSWORD 'x'` → `PASSWORD '***'`
 * - every occurrence of each string in `secrets` (and its percent-encoded, JSON, SQL-literal and
 *   password-file forms), case-sensitive
 *
 * One pass of one regular expression over the text: linear in its length (20 MB of psql output in
 * well under a second), and the input string is returned unchanged when nothing matches.
 * A run should use one {@link Redactor} instead, which knows the run's secrets everywhere.
 *
 * @param text any output text (UTF-16 string, any size)
 * @param secrets literal secrets to remove wherever they appear, typically the resolved password
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  if (text.length === 0) return text;
  return replaceAll(text, patternFor(secrets));
}

/**
 * The one redaction point of a run: every string that reaches a record, a body, the journal, the
 * terminal or a VS Code message goes through it. It knows the run's own passwords verbatim (add each
 * with {@link addSecret} as it becomes known: the resolved password, `PGPASSWORD`, a URI's password,
 * the stored secret) and the fixed patterns of {@link redact}.
 *
 * Redact values, never serialized JSON: a pattern such as `PGPASSWORD=x` run over JSON text could eat
 * the closing quote of a string. Use {@link redactValue} on the object, then serialize it.
 */
export class Redactor {
  private readonly known = new Set<string>();
  private compiled: { re: RegExp; span: number; multiline: boolean; literals: string[] } | undefined;

  /** @param secrets passwords known from the start (empty and undefined ones are ignored) */
  constructor(secrets: Iterable<string | undefined> = []) {
    for (const s of secrets) this.addSecret(s);
  }

  /** Adds a literal secret (ignored when empty or undefined). Every later call redacts it, in all its forms. */
  addSecret(secret: string | undefined): void {
    if (!secret || this.known.has(secret)) return;
    this.known.add(secret);
    this.compiled = undefined;
  }

  /**
   * Adds the password a connection URI holds (as written and percent-decoded), when `text` is one;
   * does nothing for a profile name. For `--connection` values and profile URLs.
   */
  addConnectionText(text: string | undefined): void {
    const parts = text ? splitUri(text.trim()) : undefined;
    if (!parts) return;
    let password = parts.password;
    if (parts.suspect) {
      // `app:pa/ss@db`: everything between the first `:` and the last `@` may be the password.
      const body = parts.rest;
      password = body.slice(body.indexOf(':') + 1, body.lastIndexOf('@'));
    }
    if (password === undefined) return;
    this.addSecret(password);
    try {
      this.addSecret(decodeURIComponent(password));
    } catch {
      // Not percent-encoding: the text as written is the password.
    }
  }

  /** The literal secrets known, for tests and for passing on (never print them). */
  get secrets(): readonly string[] {
    return [...this.known];
  }

  private get pattern(): { re: RegExp; span: number; multiline: boolean; literals: string[] } {
    this.compiled ??= compile(this.known);
    return this.compiled;
  }

  /** `text` with every known secret and pattern match replaced by `***` (see {@link redact}). */
  redact(text: string): string {
    const p = this.pattern;
    return mayMatch(text, p.literals) ? replaceAll(text, p.re) : text;
  }

  /**
   * A deep copy of a JSON-like value with every string redacted: record fields, error messages,
   * notices, details, hints, items, object keys. Arrays and plain objects are copied (an own
   * `__proto__` key stays an own key); numbers, booleans, null and other objects are kept as they are.
   */
  redactValue<T>(value: T): T {
    return this.deep(value, 0) as T;
  }

  /** {@link redactValue} for an output record: every string field, however deep, redacted. */
  redactRecord<R extends object>(record: R): R {
    return this.redactValue(record);
  }

  /** An output (record and body) with everything redacted; the same shape it was given. */
  redactOutput<O extends { record: object; body?: string }>(output: O): O {
    return this.redactValue(output);
  }

  /** The message of a caught error, redacted (for terminals and VS Code messages). */
  errorMessage(e: unknown): string {
    return this.redact(e instanceof Error ? e.message : String(e));
  }

  /** A redactor for text that arrives in pieces (a process's output), see {@link StreamRedactor}. */
  stream(): StreamRedactor {
    return new StreamRedactor(() => this.pattern);
  }

  private deep(value: unknown, depth: number): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (value === null || typeof value !== 'object' || depth > 64) return value;
    if (Array.isArray(value)) return value.map((v) => this.deep(v, depth + 1));
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const key = this.redact(k);
      const copy = this.deep(v, depth + 1);
      // Assigning `__proto__` would set the prototype; define it as the own key it was.
      if (key === '__proto__') Object.defineProperty(out, key, { value: copy, enumerable: true, writable: true, configurable: true });
      else out[key] = copy;
    }
    return out;
  }
}

/**
 * Redacts text that arrives in chunks, so a secret split across two chunks is still removed whole.
 * `write()` returns what is safe to show now: up to the last line break (no pattern or secret spans a
 * line break, unless a secret holds one), and of a line still open everything but the last
 * `span` characters a match could still need; a match that could go on in the next chunk is held back
 * whole. `end()` returns the rest. Held text is at most about twice the longest match (≈ 4 KB).
 * Concatenating every returned piece gives the same text as redacting the whole output at once,
 * except that a held piece is searched again without the text before it (which can only redact more).
 */
export class StreamRedactor {
  private held = '';

  constructor(private readonly pattern: () => { re: RegExp; span: number; multiline: boolean }) {}

  /** Takes the next chunk; returns the redacted text that is safe to show now (possibly ''). */
  write(chunk: string): string {
    if (chunk === '') return '';
    const text = this.held + chunk;
    const { re, span, multiline } = this.pattern();
    const nl = multiline ? -1 : text.lastIndexOf('\n');
    // Without a line break, wait for twice the span: each scan then moves on by at least `span`.
    let cut = nl >= 0 ? Math.max(nl + 1, text.length - span) : text.length >= 2 * span ? text.length - span : 0;
    if (cut <= 0) {
      this.held = text;
      return '';
    }
    const parts: string[] = [];
    let from = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      if (m.index >= cut) break;
      if (m.index + m[0].length > cut) {
        // Reaches past what is shown now, and may go on: hold it back whole.
        cut = m.index;
        break;
      }
      parts.push(text.slice(from, m.index), replacement(m.slice(1, FIXED_GROUPS + 1)));
      from = m.index + m[0].length;
    }
    parts.push(text.slice(from, cut));
    this.held = text.slice(cut);
    return parts.join('');
  }

  /** Ends the stream: the held text, redacted. */
  end(): string {
    const text = this.held;
    this.held = '';
    return replaceAll(text, this.pattern().re);
  }
}

/**
 * Removes the password from a connection URI, keeping everything else (the form used as a display name).
 * `postgresql://app:pw@db:5432/prod?sslmode=require` → `postgresql://app@db:5432/prod?sslmode=require`.
 * The user info is found as libpq finds it (see uri-parts.ts), so a password holding spaces, `?`, `#`
 * or a raw `@` goes whole; one that seems to hold a raw `/` goes with everything up to the last `@`.
 * Also drops a `password=` query parameter. Text that is not a URI comes back unchanged.
 */
export function stripUriPassword(uri: string): string {
  const p = splitUri(uri);
  if (!p) return uri;
  let out = uri;
  if (p.userinfo !== undefined) out = `${p.scheme}${p.user ?? ''}@${p.rest}`;
  else if (p.suspect) {
    const body = p.rest;
    out = `${p.scheme}${body.slice(0, body.indexOf(':'))}@${body.slice(body.lastIndexOf('@') + 1)}`;
  }
  return out.replace(/([?&])password=[^&#]*(&?)/gi, (_m, sep: string, amp: string) => (amp ? sep : '')).replace(/[?&]$/, '');
}
