// The rows-affected pause: on production, when a passing rehearsal on a staging connection is bound to the runbook's
// content, a cell whose rows affected differ from the rehearsal's by more than ROWS_FACTOR is asked about before the
// COMMIT that would make it permanent (docs/rehearse.md, "Rows affected against the rehearsal").

import type { Runbook } from '../format';
import { boundRehearsal } from '../rehearse/bound';

/** Production's and the rehearsal's rows affected differ "too much" beyond this factor (either way). */
export const ROWS_FACTOR = 10;

/** Rows of each cell (summed over its statements) in the up phase of the bound staging rehearsal. */
export interface RehearsedRows {
  run: string;
  connection: string;
  rows: Map<number, number>;
}

/** The bound rehearsal's rows per cell, when it ran on a staging connection (a sandbox's fixture data says nothing of production's). */
export function rehearsedRowsOf(rb: Runbook): RehearsedRows | undefined {
  const { passing } = boundRehearsal(rb);
  if (!passing || passing.run.environment !== 'staging') return undefined;
  const up = passing.record.phases.find((p) => p.phase === 'up');
  const rows = new Map<number, number>();
  for (const c of up?.cells ?? []) if (typeof c.rows === 'number') rows.set(c.cell, c.rows);
  return { run: passing.run.id, connection: passing.run.connection, rows };
}

/** Whether two row counts differ by more than {@link ROWS_FACTOR} (with 1 added to each, so 0 against 5 does not count). */
export function rowsDiffer(production: number, rehearsal: number): boolean {
  const hi = Math.max(production, rehearsal) + 1;
  const lo = Math.min(production, rehearsal) + 1;
  return hi / lo > ROWS_FACTOR;
}

/** The question asked before the COMMIT. */
export function rowsQuestion(label: string, production: number, rehearsal: number, r: RehearsedRows): string {
  const factor = (Math.max(production, rehearsal) + 1) / (Math.min(production, rehearsal) + 1);
  return `${label} affected ${production} rows on production; its rehearsal on ${r.connection} (run ${r.run}) affected ${rehearsal} (about ${Math.round(factor)}×, more than ${ROWS_FACTOR}×). COMMIT it (no: roll back and stop)?`;
}
