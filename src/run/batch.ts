// Batched backfills: a cell holding one UPDATE or DELETE, run again and again (each time its own transaction) until
// it affects 0 rows, with live progress (rows/s, ETA) and one aggregate record instead of one entry per batch.

import type { Cell, StatementRecord } from '../format';
import { groupDigits } from '../format';
import { optionDurationMs, type BatchOptionValue } from '../format/options';
import { Client, type ClientConfig } from 'pg';
import type { CellResult, PostgresSession } from '../engines/postgres';
import { rangeVarName } from '../sql/analyze';
import { splitStatements } from '../sql/split';
import type { CellProgress } from './frontend';
import { backoffMs, isLockTimeout, waitOrCancel, type RetryPolicy } from './retry';
import type { CellRun, SqlCellRun } from './session';

/** How a batch cell runs: pause between batches (ms), at most `max` batches, `rows` in all (for the ETA). */
export interface BatchPolicy {
  pauseMs: number;
  max?: number;
  rows?: number;
}

/** The batch policy of a cell, or undefined when it has no `batch` option (or `false`). Assumes a checked option. */
export function batchPolicy(cell: Cell): BatchPolicy | undefined {
  const v = cell.options.batch as true | BatchOptionValue | undefined | false;
  if (v === undefined || v === false) return undefined;
  if (v === true) return { pauseMs: 0 };
  const p: BatchPolicy = { pauseMs: optionDurationMs(v.pause) ?? 0 };
  if (typeof v.max === 'number') p.max = v.max;
  if (typeof v.rows === 'number') p.rows = v.rows;
  return p;
}

/** The one UPDATE/DELETE of a batch cell: its text and target table. */
export interface BatchStatement {
  text: string;
  kind: 'UPDATE' | 'DELETE';
  /** `schema.table` or `table`, as written. */
  table: string;
}

/**
 * The cell's one UPDATE or DELETE (parsed with libpg-query), or why the cell cannot be a batch cell: it must hold
 * exactly one statement, an UPDATE or a DELETE (a batch repeats it until it affects 0 rows, so nothing else may
 * ride along), and must not set `autocommit: false`-style wrapping of its own.
 */
export async function batchStatement(cell: Cell): Promise<{ ok: true; statement: BatchStatement } | { ok: false; why: string }> {
  const r = await splitStatements(cell.source);
  if (!r.ok) return { ok: false, why: `its SQL does not parse (${r.error.message})` };
  if (r.statements.length !== 1) return { ok: false, why: `it holds ${r.statements.length} statements; a batch cell holds one UPDATE or DELETE` };
  const st = r.statements[0];
  const node = st.stmt as { UpdateStmt?: { relation?: Parameters<typeof rangeVarName>[0] }; DeleteStmt?: { relation?: Parameters<typeof rangeVarName>[0] } };
  if (node.UpdateStmt) return { ok: true, statement: { text: st.text, kind: 'UPDATE', table: rangeVarName(node.UpdateStmt.relation) } };
  if (node.DeleteStmt) return { ok: true, statement: { text: st.text, kind: 'DELETE', table: rangeVarName(node.DeleteStmt.relation) } };
  return { ok: false, why: `its statement is ${Object.keys(st.stmt)[0]?.replace(/Stmt$/, '') ?? 'not SQL'}, not an UPDATE or DELETE` };
}

/** How many rows the backfill will touch, and where that figure came from. */
export interface RowEstimate {
  rows: number;
  /** `rows option`, `planner estimate (EXPLAIN)` or `pg_class.reltuples`. */
  source: string;
}

interface PlanNode {
  'Node Type'?: string;
  'Plan Rows'?: number;
  Plans?: PlanNode[];
}

/** The rows under the first Limit node (the batch's predicate before LIMIT), else the rows the plan feeds the UPDATE/DELETE. */
export function rowsFromPlan(root: PlanNode): number | undefined {
  const stack: PlanNode[] = [root];
  while (stack.length) {
    const n = stack.shift()!;
    if (n['Node Type'] === 'Limit') return n.Plans?.[0]?.['Plan Rows'];
    stack.push(...(n.Plans ?? []));
  }
  return root.Plans?.[0]?.['Plan Rows'] ?? root['Plan Rows'];
}

/**
 * The planner's estimate of the rows the whole backfill touches: `EXPLAIN (FORMAT JSON)` of the statement (not
 * ANALYZE: nothing runs), taking the rows estimated under its first Limit node (in `WHERE id IN (SELECT … LIMIT n)`
 * that is the rows matching the predicate), else the rows the plan feeds the UPDATE/DELETE; when EXPLAIN fails,
 * `pg_class.reltuples` of the target table (-1, never analyzed, gives none). `second`: a config for a second
 * connection, where the EXPLAIN runs (none on a one-connection sandbox: the catalog only). Undefined when neither is known.
 * Sources: PostgreSQL docs, EXPLAIN; 14.2 "Statistics Used by the Planner"; 52.11 pg_class.
 */
export async function estimateRows(pg: PostgresSession, st: BatchStatement, second?: ClientConfig): Promise<RowEstimate | undefined> {
  const n = second ? await explainRows(second, st.text) : undefined;
  if (n !== undefined) return { rows: n, source: 'planner estimate (EXPLAIN)' };
  try {
    const quoted = st.table.split('.').map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
    // Reading pg_class takes no lock on the table: it cannot queue behind a lock holder.
    const rows = await pg.inspect('SELECT reltuples::bigint::text AS n FROM pg_class WHERE oid = to_regclass($1)', [quoted]);
    const r = Number(rows[0]?.n);
    if (Number.isFinite(r) && r >= 0) return { rows: r, source: 'pg_class.reltuples' };
  } catch {
    // No estimate.
  }
  return undefined;
}

/** Longest the EXPLAIN of a batch's statement may wait for a lock or run, ms: it must never hold the backfill up. */
const EXPLAIN_LOCK_TIMEOUT_MS = 1000;
const EXPLAIN_STATEMENT_TIMEOUT_MS = 5000;

/**
 * Rows the planner expects the backfill to touch, by `EXPLAIN (FORMAT JSON)` on a second connection with a short
 * lock_timeout (planning an UPDATE takes ROW EXCLUSIVE on its table, so on the run's own session it could queue behind
 * the lock holder a retry is waiting out). Undefined when it cannot tell.
 */
async function explainRows(config: ClientConfig, text: string): Promise<number | undefined> {
  const client = new Client({ ...config, connectionTimeoutMillis: 5000, application_name: 'runbook estimate' });
  try {
    await client.connect();
    await client.query(`SET lock_timeout = ${EXPLAIN_LOCK_TIMEOUT_MS}; SET statement_timeout = ${EXPLAIN_STATEMENT_TIMEOUT_MS}`);
    const r = await client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${text}`);
    const raw = r.rows[0]?.['QUERY PLAN'];
    const doc = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan?: PlanNode }[];
    const n = doc[0]?.Plan ? rowsFromPlan(doc[0].Plan) : undefined;
    return typeof n === 'number' && Number.isFinite(n) ? Math.round(n) : undefined;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The aggregate a batch cell's record keeps (`batch` in the record). ms are wall times. */
export interface BatchRecord {
  /** Batches run to their end (committed), the last one affecting 0 rows when `done`. */
  batches: number;
  /** Rows affected by the committed batches. */
  rows: number;
  ms: number;
  longest_batch_ms: number;
  /** Longest wait for a lock seen by one batch (the lock view's wait, or a lock_timeout that expired), ms. */
  longest_lock_wait_ms: number;
  /** The last batch affected 0 rows: nothing is left for the predicate. */
  done: boolean;
  /** Stopped by the `max` option before a batch affected 0 rows. */
  max_reached?: boolean;
  /** The estimate the ETA used and where it came from. */
  estimate?: RowEstimate;
  /** lock_timeout retries of single batches: which batch, its try, the error and the wait after it. */
  retries?: { batch: number; attempt: number; error: { message: string; sqlstate?: string }; wait_ms: number }[];
  /** A pause or backoff between batches cut short by a cancel. */
  cancelled_while?: 'between batches' | 'in a batch';
}

/** What {@link runBatches} needs from the loop. */
export interface BatchRunInput {
  policy: BatchPolicy;
  /** lock_timeout retries of one batch (the cell's retry policy), if any. */
  retry?: RetryPolicy;
  signal?: AbortSignal;
  /** Runs the cell once (one batch), with progress of that batch. */
  once(onProgress: (p: CellProgress) => void): Promise<CellRun>;
  estimate(): Promise<RowEstimate | undefined>;
  progress(p: CellProgress): void;
  /** A note for the person (a batch retried). */
  message?(text: string): void;
}

/** Rows an ok batch affected: the statements' counts (UPDATE n / DELETE n). */
function affected(result: CellResult): number {
  return result.statements.reduce((n, s) => n + (typeof s.rows === 'number' ? s.rows : 0), 0);
}

function lockWaitOf(run: SqlCellRun): number {
  const w = (run.extraRecord.locks as { cellWaitedMs?: unknown } | undefined)?.cellWaitedMs;
  return typeof w === 'number' ? w : 0;
}

/** The progress line of a running backfill: batch, rows done (of the estimate), rows/s, ETA. */
export function batchProgressText(batch: number, rows: number, elapsedMs: number, estimate: RowEstimate | undefined): string {
  const rate = elapsedMs > 0 ? (rows * 1000) / elapsedMs : 0;
  const parts = [`batch ${batch}`];
  if (estimate && estimate.rows > 0) {
    parts.push(`${groupDigits(rows)} of ~${groupDigits(estimate.rows)} rows (${Math.min(100, Math.floor((rows * 100) / estimate.rows))}%)`);
  } else parts.push(`${groupDigits(rows)} rows`);
  parts.push(`${groupDigits(Math.round(rate))} rows/s`);
  if (estimate && rate > 0) {
    const left = estimate.rows - rows;
    parts.push(left > 0 ? `ETA ${formatSeconds((left / rate) * 1000)}` : 'ETA: past the estimate, until a batch affects 0 rows');
  } else if (!estimate) parts.push('no estimate for an ETA');
  return parts.join(' · ');
}

function formatSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * Runs a batch cell: one batch after another (each in its own transaction: the cell's one statement in autocommit),
 * until a batch affects 0 rows, `max` batches ran, a batch fails, or `signal` aborts. A batch that fails with
 * lock_timeout (55P03) is retried under `retry` (same backoff as cells). Committed batches stay committed whatever
 * happens after them. Returns one SQL cell run whose record is the aggregate (`batch`: {@link BatchRecord}) with the
 * last batch's statement record, or the first batch's run unchanged when it never reached the server (a hook
 * refused it, no connection).
 */
export async function runBatches(input: BatchRunInput): Promise<CellRun> {
  const started = new Date();
  const t0 = Date.now();
  const { policy, signal } = input;
  const agg: BatchRecord = { batches: 0, rows: 0, ms: 0, longest_batch_ms: 0, longest_lock_wait_ms: 0, done: false };
  const estimate = policy.rows !== undefined ? { rows: policy.rows, source: 'rows option' } : await input.estimate();
  if (estimate) agg.estimate = estimate;
  let first: SqlCellRun | undefined;
  let last: SqlCellRun | undefined;
  let tries = 0;
  let status: CellResult['status'] = 'ok';
  let error: CellResult['error'];
  const show = (extra?: CellProgress): void => input.progress({ ...extra, rows: undefined, elapsedMs: Date.now() - t0, text: batchProgressText(agg.batches + 1, agg.rows, Date.now() - t0, estimate) });
  for (;;) {
    if (signal?.aborted) {
      status = 'cancelled';
      agg.cancelled_while = 'between batches';
      break;
    }
    if (policy.max !== undefined && agg.batches >= policy.max) {
      agg.max_reached = true;
      break;
    }
    show();
    const run = await input.once((p) => show(p));
    if (run.kind !== 'sql') {
      if (!first) return run;
      status = 'error';
      error = 'error' in run ? run.error : { message: 'the batch did not run' };
      break;
    }
    first ??= run;
    last = run;
    const res = run.result;
    agg.longest_lock_wait_ms = Math.max(agg.longest_lock_wait_ms, lockWaitOf(run));
    if (res.status === 'ok') {
      tries = 0;
      const n = affected(res);
      agg.batches++;
      agg.rows += n;
      agg.longest_batch_ms = Math.max(agg.longest_batch_ms, res.ms);
      if (n === 0) {
        agg.done = true;
        break;
      }
      if (policy.pauseMs > 0 && (await waitOrCancel(policy.pauseMs, signal)).cancelled) {
        status = 'cancelled';
        agg.cancelled_while = 'between batches';
        break;
      }
      continue;
    }
    if (res.status === 'cancelled') {
      status = 'cancelled';
      agg.cancelled_while = 'in a batch';
      break;
    }
    tries++;
    if (isLockTimeout(res.error)) agg.longest_lock_wait_ms = Math.max(agg.longest_lock_wait_ms, res.ms);
    if (isLockTimeout(res.error) && input.retry && tries < input.retry.attempts) {
      const wait = backoffMs(input.retry, tries);
      (agg.retries ??= []).push({ batch: agg.batches + 1, attempt: tries, error: { message: res.error!.message, sqlstate: res.error!.sqlstate }, wait_ms: wait });
      input.message?.(`batch ${agg.batches + 1}: ${res.error!.message} (try ${tries} of ${input.retry.attempts}); trying it again in ${wait} ms`);
      if ((await waitOrCancel(wait, signal)).cancelled) {
        status = 'cancelled';
        agg.cancelled_while = 'between batches';
        break;
      }
      continue;
    }
    if (isLockTimeout(res.error) && input.retry) (agg.retries ??= []).push({ batch: agg.batches + 1, attempt: tries, error: { message: res.error!.message, sqlstate: res.error!.sqlstate }, wait_ms: 0 });
    status = 'error';
    error = res.error;
    break;
  }
  agg.ms = Date.now() - t0;
  return aggregateRun(started, agg, status, error, first!, last!);
}

function aggregateRun(started: Date, agg: BatchRecord, status: CellResult['status'], error: CellResult['error'], first: SqlCellRun, last: SqlCellRun): SqlCellRun {
  const lastSt = last.result.statements[last.result.statements.length - 1];
  // One statement record for all batches: the rows they committed, the time they took; the last batch's error, if any.
  const st: StatementRecord = { ...lastSt, ms: agg.ms, rows: agg.rows, batches: agg.batches };
  delete st.tag;
  if (status === 'cancelled') {
    const message = `cancelled ${agg.cancelled_while === 'in a batch' ? 'during' : 'before'} batch ${agg.batches + 1}: ${groupDigits(agg.batches)} batch${agg.batches === 1 ? '' : 'es'} committed (${groupDigits(agg.rows)} rows)${agg.cancelled_while === 'in a batch' ? '; the batch running was rolled back' : ''}. Run the cell again to continue: its predicate leaves out the rows done.`;
    error = { ...(error ?? {}), message };
  }
  const result: CellResult = {
    status,
    statements: [st],
    results: last.result.results,
    body: batchBody(agg, status, error, last),
    ms: agg.ms,
    timeouts: first.result.timeouts,
  };
  if (error) result.error = error;
  return { kind: 'sql', started, result, extraRecord: { ...first.extraRecord, batch: agg }, extraBody: first.extraBody, ...(first.timeoutsNotEnforced ? { timeoutsNotEnforced: true } : {}) };
}

function batchBody(agg: BatchRecord, status: string, error: CellResult['error'], last: SqlCellRun): string {
  const rate = agg.ms > 0 ? Math.round((agg.rows * 1000) / agg.ms) : 0;
  const lines = [`Batches: ${groupDigits(agg.batches)} committed, ${groupDigits(agg.rows)} rows in ${(agg.ms / 1000).toFixed(1)} s (${groupDigits(rate)} rows/s); longest batch ${groupDigits(agg.longest_batch_ms)} ms; longest lock wait ${groupDigits(agg.longest_lock_wait_ms)} ms.`];
  if (agg.done) lines.push('The last batch affected 0 rows: done.');
  else if (agg.max_reached) lines.push(`Stopped after the maximum of ${groupDigits(agg.batches)} batches: rows may remain; run the cell again to continue.`);
  if (agg.retries?.length) lines.push(`Retried on lock_timeout: ${agg.retries.map((r) => `batch ${r.batch} try ${r.attempt} (waited ${r.wait_ms} ms)`).join(', ')}.`);
  if (status !== 'ok' && error) lines.push(status === 'cancelled' ? `Cancelled: ${error.message}` : `The last batch failed:\n${last.result.body}`);
  return lines.join('\n');
}
