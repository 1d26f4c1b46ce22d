// The `expect` cell option: a validation query's result checked against what the runbook expects, so that a check
// returning 3 where 0 was expected fails the cell instead of being recorded `ok`.

import type { StatementResult } from '../engines/postgres';
import { expectationProblem } from '../format/options';

/**
 * An expectation as written on a SQL cell's fence (docs/format.md, "Expectations"); exactly one key:
 * - `{"rows": N}`: the cell's last statement returned (or affected) exactly N rows;
 * - `{"max": N}`: at most N rows;
 * - `{"empty": true}`: no rows (the same as `{"rows": 0}`, said as intent);
 * - `{"value": V}`: the last statement returned one row of one column whose value, as text, is `String(V)`
 *   (`null` expects SQL NULL).
 */
export type Expectation = { rows: number } | { max: number } | { empty: true } | { value: string | number | boolean | null };

/** What was checked, for the cell's record (`expect` field): the expectation, what the result was, and the verdict. */
export interface ExpectationRecord {
  expected: Expectation;
  /** The row count (`rows`, `max`, `empty`) or the single value as text (`value`; `null` for SQL NULL), or a description when the result has no such thing. */
  actual: number | string | null;
  met: boolean;
}

/**
 * Checks an expectation against the statements a cell ran (the engine's results, in order). The last statement that
 * is not a transaction-control statement the runner added is the one checked. Its row count is the record's `rows`
 * (rows returned for SELECT, affected for INSERT/UPDATE/DELETE/MERGE, from the command tag; PostgreSQL docs, 55.2.3
 * CommandComplete); its single value is the text form PostgreSQL sent.
 * @returns undefined when the cell has no (valid) expectation or ran no statement
 */
export function checkExpectation(expect: unknown, results: readonly StatementResult[]): ExpectationRecord | undefined {
  if (expect === undefined || expectationProblem(expect) !== undefined) return undefined;
  const e = expect as Expectation;
  const last = [...results].reverse().find((r) => r.record.implicit !== true);
  if (!last) return undefined;
  const rows = typeof last.record.rows === 'number' ? last.record.rows : (last.rows?.length ?? 0);
  if ('rows' in e) return { expected: e, actual: rows, met: rows === e.rows };
  if ('max' in e) return { expected: e, actual: rows, met: rows <= e.max };
  if ('empty' in e) return { expected: e, actual: rows, met: rows === 0 };
  const width = last.columns?.length ?? 0;
  if (rows !== 1 || width !== 1 || !last.rows || last.rows.length !== 1) {
    return { expected: e, actual: `${rows} row${rows === 1 ? '' : 's'} of ${width} column${width === 1 ? '' : 's'}, not one value`, met: false };
  }
  const got = last.rows[0][0];
  const want = e.value === null ? null : String(e.value);
  return { expected: e, actual: got, met: got === want };
}

/** `expected rows = 0, got 3` / `expected value "t", got "f"`: the unmet expectation in words, for the error and the body. */
export function expectationText(r: ExpectationRecord): string {
  const e = r.expected;
  const shown = (v: unknown): string => (v === null ? 'NULL' : JSON.stringify(v));
  if ('rows' in e) return `expected ${e.rows} row${e.rows === 1 ? '' : 's'}, got ${String(r.actual)}`;
  if ('max' in e) return `expected at most ${e.max} row${e.max === 1 ? '' : 's'}, got ${String(r.actual)}`;
  if ('empty' in e) return `expected no rows, got ${String(r.actual)}`;
  return `expected value ${shown(e.value === null ? null : String(e.value))}, got ${typeof r.actual === 'string' && r.actual.includes(' not one value') ? r.actual : shown(r.actual)}`;
}
