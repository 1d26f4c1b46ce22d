// Small pieces of generated Markdown (code spans, escaped text, UTC times) that read the same in plain text and rendered.

/** Replaces line breaks (CR, LF, U+2028, U+2029) and other control characters with spaces: generated lines stay one line. */
export function oneLine(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
  return text.replace(/[\r\n\u2028\u2029\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]+/g, ' ');
}

/**
 * Text escaped for Markdown inline content: every ASCII punctuation character that could start
 * emphasis, a link, HTML, an entity or code gets a backslash (CommonMark spec 2.4, "Backslash escapes").
 */
export function mdText(text: unknown): string {
  return oneLine(text).replace(/[\\`*_[\]<>&#|~!]/g, '\\$&');
}

/**
 * A code span holding `text` verbatim: delimited by a backtick run longer than any inside it, padded with
 * a space when it starts or ends with a backtick or a space (CommonMark spec 6.1, "Code spans").
 */
export function mdCode(text: unknown): string {
  const t = oneLine(text);
  let longest = 0;
  for (const m of t.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  const fence = '`'.repeat(longest + 1);
  const pad = /^[` ]|[` ]$/.test(t) ? ' ' : '';
  return `${fence}${pad}${t}${pad}${fence}`;
}

const ISO_UTC = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,3})?Z$/;

/** `2026-11-28T02:00:41.120Z` → `2026-11-28 02:00:41 UTC`; text that is not such a time is returned through `escape`. */
export function utcTime(iso: string, escape: (s: string) => string = mdText): string {
  // What the tool writes (`toISOString()`): cut, not parsed.
  if (typeof iso === 'string' && ISO_UTC.test(iso)) return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  const ms = typeof iso === 'string' ? Date.parse(iso) : NaN;
  if (!Number.isFinite(ms) || !/Z$|[+-]\d\d:?\d\d$/.test(iso)) return escape(String(iso));
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** An environment name, in bold when it is `production` so it cannot be missed. */
export function mdEnvironment(environment: string | undefined): string {
  if (environment === undefined || environment === '') return 'environment not recorded';
  return environment === 'production' ? '**production**' : mdText(environment);
}
