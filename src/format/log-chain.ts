// The migration log's hash chain: what is hashed for each event and each cell, so `runbook verify` can find edits.
//
// What it proves: that the log, the outputs and the cells' sources are as the tool wrote them, or were
// changed by someone who recomputed every hash after the change. There is no secret: anyone with the
// file can rewrite it and rehash it. It catches hand edits, merges that dropped or reordered lines,
// and outputs pasted from another run; against a forger the anchor is git history (see docs/format.md).

import { createHash, hash } from 'node:crypto';
import type { CellKind, Output, OutputRecord } from './model';
import type { LogEvent } from './log-model';
import { normalizeBody } from './output-block';
import { encodeUtf8Lossless } from './utf8';

/**
 * Hex digits kept of each SHA-256 (64 bits). Enough that an accidental or hand edit keeping the same
 * hash has odds of 1 in 2^64; more would not help against a forger, who recomputes rather than collides.
 */
export const HASH_HEX_DIGITS = 16;

/** First {@link HASH_HEX_DIGITS} hex digits of the SHA-256 of a string's UTF-8. Callers pass JSON, whose
 *  escapes keep lone surrogates (invalid UTF-8 the format kept) distinct. */
export function shortHash(text: string): string {
  // crypto.hash: the one-shot form, several times faster than createHash for short inputs (Node 20.12+).
  return hash('sha256', text, 'hex').slice(0, HASH_HEX_DIGITS);
}

/** A runnable cell as the chain sees it. */
export interface HashedCell {
  kind: CellKind;
  options: Record<string, unknown>;
  source: string;
}

// A checklist's ticks are written into its source as a run confirms it; what was confirmed, by whom and
// when is in the record (`items`), which is hashed. Leaving the ticks out keeps the source hash from
// depending on whether the run loop ticked the source before or after it logged the attempt.
const TICK = /^([ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+)\[[ xX]\]/gm;

/** Hash of what a cell runs: kind, options (as written) and source, line breaks as `\n`, checklist ticks left out. */
export function sourceHash(cell: HashedCell): string {
  let source = cell.source.replace(/\r\n?/g, '\n');
  if (cell.kind === 'checklist') source = source.replace(TICK, '$1[ ]');
  return shortHash(JSON.stringify([cell.kind, cell.options, source]));
}

/** Hash of an output record: its JSON as the file holds it (JSON.parse keeps key order, so it reads back the same). */
export function recordHash(record: OutputRecord): string {
  return shortHash(JSON.stringify(record));
}

/** A UTF-16 surrogate without its pair: how the format keeps a byte of invalid UTF-8 (src/format/utf8.ts). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Hash of an output's body and fence language as they read back: the language as JSON, a line break,
 * then the body's bytes (line breaks as `\n`, invalid UTF-8 the format kept as the bytes it stands for);
 * `null` for no body. Bodies are most of a file's bytes, so they are hashed as bytes, not escaped as JSON.
 */
export function bodyHash(output: Pick<Output, 'body' | 'bodyLang'>): string {
  if (output.body === undefined) return shortHash('null');
  const body = output.body.includes('\r') ? normalizeBody(output.body) : output.body;
  const head = JSON.stringify(output.bodyLang ?? 'text') + '\n';
  // The same bytes, hashed in one call, when the body holds no invalid UTF-8 kept as lone surrogates (the usual case).
  if (!LONE_SURROGATE.test(body)) return hash('sha256', head + body, 'hex').slice(0, HASH_HEX_DIGITS);
  return createHash('sha256').update(JSON.stringify(output.bodyLang ?? 'text') + '\n', 'utf8').update(encodeUtf8Lossless(body)).digest('hex').slice(0, HASH_HEX_DIGITS);
}

/** Hash of an event: its JSON without `h` (key order as stored, which JSON.parse keeps). */
export function eventHash(event: LogEvent): string {
  const { h: _h, ...rest } = event;
  void _h;
  return shortHash(JSON.stringify(rest));
}

// The JSON of events `sealEvent` hashed, so writing them does not stringify them again.
const sealed = new WeakMap<LogEvent, string>();

/**
 * Sets `event.h` (the event must not have one yet, and `h` becomes its last key) and remembers the
 * event's JSON, which {@link eventJson} then returns without stringifying it again.
 */
export function sealEvent(event: LogEvent): void {
  const json = JSON.stringify(event);
  const h = shortHash(json);
  event.h = h;
  sealed.set(event, `${json.slice(0, -1)},"h":"${h}"}`);
}

/** `JSON.stringify(event)`, from the copy {@link sealEvent} kept when the event is unchanged since. */
export function eventJson(event: LogEvent): string {
  const json = sealed.get(event);
  return json !== undefined && event.h !== undefined && json.endsWith(`"h":"${event.h}"}`) ? json : JSON.stringify(event);
}
