// Which rehearsal counts for a runbook as it is now: a passing one, recorded in its log, of the same content hash.

import type { RunRecord, Runbook } from '../format';
import { contentHash } from './content-hash';
import type { RehearsalRecord } from './rehearse';

/** A rehearsal found in the log. */
export interface BoundRehearsal {
  run: RunRecord;
  record: RehearsalRecord;
  /** When it ended, UTC ISO 8601. */
  ended: string;
}

/** The runbook's content hash now and the latest passing rehearsal of exactly that content, if any. */
export function boundRehearsal(rb: Runbook): { hash: string; passing?: BoundRehearsal } {
  const hash = contentHash(rb.cells);
  const runs = new Map<string, RunRecord>();
  let passing: BoundRehearsal | undefined;
  for (const e of rb.log?.events ?? []) {
    if (e.e === 'run') runs.set(e.run.id, e.run);
    else if (e.e === 'end') {
      const r = e.end.rehearsal as RehearsalRecord | undefined;
      const run = runs.get(e.end.run);
      if (r && r.passed === true && r.hash === hash && run && run.command === 'runbook rehearse' && run.environment !== 'production') passing = { run, record: r, ended: e.end.ended };
    }
  }
  return { hash, passing };
}
