// The text of output blocks: the `<!-- runbook:output {...} -->` record line and the fenced body after it.

import type { Output, OutputRecord } from './model';
import { mdCode, mdEnvironment, mdText, utcTime } from './md-text';
import { formatDuration } from './estimate';

/** Prefix of a record line. The record is one line of JSON inside an HTML comment (invisible when rendered). */
export const OUTPUT_MARKER = '<!-- runbook:output ';
// `s`: the JSON may hold U+2028/U+2029 as written by older versions; `.` alone stops at them (they are
// JavaScript line terminators, though not CommonMark ones, so they do not end the record's line).
const MARKER_LINE = /^<!-- runbook:output (.*) -->[ \t]*$/s;

// Characters JSON.stringify leaves raw that an editor, a terminal or a diff viewer may take for a line
// break or use to reorder text: DEL and the C1 controls (U+0085 NEL among them), U+2028/U+2029 (VS Code
// offers to remove them as "unusual line terminators"), and the bidirectional embeddings, overrides and
// isolates (CVE-2021-42574, "Trojan Source"). Written as \uXXXX escapes, the value read back is the same.
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` (JSON) with {@link JSON_UNSAFE} characters written as `\uXXXX`: same value, safe on one line. */
export function escapeJsonUnsafe(text: string): string {
  return text.replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * True when `value` (e.g. parsed from a journal line) is an {@link Output} that can be written back:
 * a record that is a plain object with a string `status`, a string body or none, and a body language
 * that cannot end the fence line (no line break, no backtick). Anything else would be written as a
 * record the parser then refuses, or crash the serializer.
 */
export function isOutput(value: unknown): value is Output {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const o = value as Record<string, unknown>;
  const r = o.record;
  if (r === null || typeof r !== 'object' || Array.isArray(r) || typeof (r as Record<string, unknown>).status !== 'string') return false;
  if (o.body !== undefined && typeof o.body !== 'string') return false;
  if (o.bodyLang !== undefined && (typeof o.bodyLang !== 'string' || /[\r\n`]/.test(o.bodyLang))) return false;
  return true;
}

/** Result of reading a record line. */
export type RecordParse = { ok: true; record: OutputRecord; json: string } | { ok: false; error: string };

/** True when a line starts an output record (well-formed or not). */
export function isOutputMarker(line: string): boolean {
  return line.startsWith(OUTPUT_MARKER) || line.startsWith('<!-- runbook:output');
}

/** Reads one record line (without its line break). Never throws. */
export function parseRecordLine(line: string): RecordParse {
  const m = MARKER_LINE.exec(line);
  if (!m) return { ok: false, error: 'output record must be one line: <!-- runbook:output {JSON} -->' };
  try {
    const value: unknown = JSON.parse(m[1]);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: 'output record is not a JSON object' };
    const record = value as OutputRecord;
    if (typeof record.status !== 'string') return { ok: false, error: 'output record has no "status"' };
    return { ok: true, record, json: JSON.stringify(record) };
  } catch (e) {
    return { ok: false, error: `output record is not valid JSON (${(e as Error).message})` };
  }
}

/**
 * JSON of a record for the record line. `-->` never appears in it (it would end the HTML comment
 * early, CommonMark spec 4.6 HTML blocks, condition 2): the second `-` of `-->` is written `\u002d`.
 * JSON.stringify escapes CR, LF and the other C0 controls; U+2028, U+2029, NEL, DEL, the C1 controls
 * and bidi controls are escaped too ({@link escapeJsonUnsafe}), so the record stays one line in every
 * editor and reads back to the same value.
 */
export function recordJson(record: OutputRecord): string {
  return commentJson(record);
}

/** JSON of any value for a one-line HTML comment (records, log events), escaped as {@link recordJson} says. */
export function commentJson(value: unknown, json = JSON.stringify(value)): string {
  if (json.includes('-->')) json = json.replace(/--(?=>)/g, '-\\u002d');
  return escapeJsonUnsafe(json);
}

/** The fence for a body: backticks, one longer than the longest backtick run opening a line of the body (min 3). */
export function fenceFor(body: string): string {
  let longest = 0;
  const re = /^ {0,3}(`{3,})/gm;
  for (let m = re.exec(body); m; m = re.exec(body)) longest = Math.max(longest, m[1].length);
  return '`'.repeat(Math.max(3, longest + 1));
}

/**
 * Normalizes a body for writing inside a fence: line breaks become `\n` (a lone CR, as in progress
 * bars, would otherwise end a line on reading). Engines drop the final line break of their text
 * themselves: a body is the fence's lines joined by `\n`.
 */
export function normalizeBody(body: string): string {
  return body.replace(/\r\n?/g, '\n');
}

/** How the visible line under a record starts (docs/format.md, "The visible line"). */
export const OUTPUT_SUMMARY_PREFIX = '> Output';

/** True when a line is (or was, before a hand edit) the visible line of an output. */
export function isOutputSummaryLine(line: string): boolean {
  return line.startsWith(OUTPUT_SUMMARY_PREFIX);
}

/**
 * The visible line of an output, derived from its record alone: status, start (UTC), target and
 * environment, duration, run. A Markdown viewer shows it (the record is an HTML comment), so a
 * sandbox output never reads like a production one:
 * `> Output: **ok** · 2026-11-28 02:08:03 UTC · `prod-main` · **production** · 1.8 s · run `20261128T020041Z-7f3a``.
 * Whatever the record holds, the line is one line and starts with {@link OUTPUT_SUMMARY_PREFIX}.
 */
export function outputSummary(record: OutputRecord): string {
  const parts = [`**${mdText(String(record.status))}**`];
  const span = record.span as { fate?: unknown } | undefined;
  if (record.status === 'ok' && span && typeof span.fate === 'string' && span.fate !== 'open') parts[0] += ` (${mdText(span.fate)})`;
  const error = record.error;
  if (error && typeof error.sqlstate === 'string') parts[0] += ` (SQLSTATE ${mdText(error.sqlstate)})`;
  else if (typeof record.exit === 'number' && record.exit !== 0) parts[0] += ` (exit status ${record.exit})`;
  const expect = record.expect as { met?: unknown } | undefined;
  if (expect && expect.met === false) parts[0] += ' (expectation not met)';
  if (record.on_error === 'continue' && record.status === 'error') parts[0] += ' (allowed to fail)';
  if (typeof record.started === 'string') parts.push(utcTime(record.started));
  parts.push(typeof record.connection === 'string' && record.connection !== '' ? mdCode(record.connection) : 'target not recorded');
  parts.push(mdEnvironment(typeof record.environment === 'string' ? record.environment : undefined));
  if (typeof record.ms === 'number' && Number.isFinite(record.ms)) parts.push(formatDuration(record.ms));
  if (typeof record.run === 'string' && record.run !== '') parts.push(`run ${mdCode(record.run)}`);
  // The cell was edited after this ran (docs/run.md, "Disk, permissions and edits"): the reader is told.
  if (typeof record.recorded_for === 'string') parts.push('recorded for an earlier text of this cell');
  return `${OUTPUT_SUMMARY_PREFIX}: ${parts.join(' · ')}`;
}

/**
 * Text of one output block, starting with the blank line that separates it from what precedes it:
 * `eol + record line + eol + visible line + eol [+ fence lang eol body eol fence eol]`.
 */
export function renderOutput(output: Output, eol: string): string {
  let s = `${eol}${OUTPUT_MARKER}${recordJson(output.record)} -->${eol}${outputSummary(output.record)}${eol}`;
  if (output.body !== undefined) {
    const body = normalizeBody(output.body);
    const fence = fenceFor(body);
    const lines = body === '' ? '' : body.split('\n').join(eol) + eol;
    s += `${fence}${output.bodyLang ?? 'text'}${eol}${lines}${fence}${eol}`;
  }
  return s;
}

/**
 * `1234567` → `1,234,567`. Used instead of `toLocaleString('en-US')`, whose first call loads ICU
 * locale data (about 10 ms of a short CLI run), and so that records never depend on the locale.
 */
export function groupDigits(n: number): string {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
