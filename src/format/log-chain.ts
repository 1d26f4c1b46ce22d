// The migration log's hash chain: what is hashed for each event and each cell, so `runbook verify` can find edits.
//
// What it proves: that the log, the outputs and the cells' sources are as the tool wrote them, or were
// changed by someone who recomputed every hash after the change. There is no secret: anyone with the
// file can rewrite it and rehash it. It catches hand edits, merges that dropped or reordered lines,
// and outputs pasted from another run; against a forger the anchor is git history (see docs/format.md).

import { createHash } from 'node:crypto';
import type { CellKind, Output, OutputRecord } from './model';
import type { LogEvent } from './log-model';
import { normalizeBody } from './output-block';

/**
 * Hex digits kept of each SHA-256 (64 bits). Enough that an accidental or hand edit keeping the same
 * hash has odds of 1 in 2^64; more would not help against a forger, who recomputes rather than collides.
 */
export const HASH_HEX_DIGITS = 16;

/** First {@link HASH_HEX_DIGITS} hex digits of the SHA-256 of a string's UTF-8. Callers pass JSON, whose
 *  escapes keep lone surrogates (invalid UTF-8 the format kept) distinct. */
export function shortHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, HASH_HEX_DIGITS);
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

/** Hash of an output's body and fence language as they read back (line breaks as `\n`); `null` hashed for no body. */
export function bodyHash(output: Pick<Output, 'body' | 'bodyLang'>): string {
  return shortHash(JSON.stringify(output.body === undefined ? null : [output.bodyLang ?? 'text', normalizeBody(output.body)]));
}

/** Hash of an event: its JSON without `h` (key order as stored, which JSON.parse keeps). */
export function eventHash(event: LogEvent): string {
  const { h: _h, ...rest } = event;
  void _h;
  return shortHash(JSON.stringify(rest));
}
