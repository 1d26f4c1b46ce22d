// The content a rehearsal is bound to: a hash of what the runbook's cells run, so that a rehearsal of other text
// never counts for this one.

import { createHash } from 'node:crypto';
import type { Cell } from '../format';

/**
 * Options that change what a cell does when it runs. Left out: `name` (a label), `estimate` (a figure for the log),
 * `ack` (acknowledges a finding, runs nothing different), `max_rows` (how much output is kept).
 */
export const EXECUTION_OPTIONS: readonly string[] = ['timeout', 'lock_timeout', 'autocommit', 'rollback', 'skip', 'expect', 'on_error', 'rehearsal'];

/** Checklist ticks (`- [x]`) are who confirmed what, not content. */
const TICK = /^([ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+)\[[ xX]\]/gm;

/**
 * SHA-256 (first 16 hex digits) of the runnable cells in order: each cell's kind, its execution options (sorted by
 * key) and its source with line breaks as `\n` and checklist ticks left out. Markdown between cells does not count.
 */
export function contentHash(cells: readonly Cell[]): string {
  const parts = cells.filter((c) => c.kind !== 'markdown').map((c) => {
    const options: Record<string, unknown> = {};
    for (const k of [...EXECUTION_OPTIONS].sort()) if (c.options[k] !== undefined) options[k] = c.options[k];
    let source = c.source.replace(/\r\n?/g, '\n');
    if (c.kind === 'checklist') source = source.replace(TICK, '$1[ ]');
    return [c.kind, options, source];
  });
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}
