// What an earlier run left unsaid, settled before a new run plans: runs that never logged their end, cells started
// and never finished, and work left `uncommitted` by a run that ended (killed, crashed, or stopped unable to write) with its transaction open.

import { attemptOf, type Output, type RunRecord, type Runbook, type SpanRecord } from '../format';
import type { RunSink } from './frontend';
import type { UnfinishedCell } from './journal';
import { cellLabel } from './cells';
import { sameTarget } from './plan';
import { baseRecord, withSpan } from './record';
import type { RunSession } from './session';
import { transactionEffect } from './spans';
import { splitStatements } from '../sql/split';

/** How long to wait for an earlier run's transaction that `txid_status()` still calls `in progress`, ms. */
const IN_PROGRESS_WAIT_MS = 3000;

/** What {@link settleEarlierRuns} found, for the person. */
export interface Settled {
  messages: string[];
}

/**
 * Settles what earlier runs of this runbook left open, recording it through the sink:
 * - a run with a `run` event and no `end` gets an `end` with status `interrupted`;
 * - a cell started and never finished (its journal `started` entry has no output) gets a record with status
 *   `unknown`: whether its statements completed on the server cannot be known from here;
 * - a cell left `uncommitted` by another run on this same target is resolved with `txid_status()` of its span's
 *   transaction id: `committed`, `rolled back`, or `unknown` when no id was recorded or it cannot be told.
 * Cells in a span the live session still has open (VS Code) are left alone.
 */
export async function settleEarlierRuns(o: { runbook: Runbook; sink: RunSink; session: RunSession; runId: string; unfinished?: UnfinishedCell[]; runs: Map<string, RunRecord> }): Promise<Settled> {
  const messages: string[] = [];
  for (const u of o.unfinished ?? []) {
    if (u.index < 0) continue;
    const old = o.runs.get(u.run);
    const cell = o.runbook.cells[u.index];
    const reason = `started at ${u.at} in run ${u.run} and never finished as far as this file knows: ${ENDED_FIRST}, so whether its statements completed on the server cannot be known from here. Check the database before running it again.`;
    // The record of the run that started it (its operator and target), as the record builder writes every record.
    const ctx = { run: u.run, operator: old?.by ?? 'unknown', target: { connection: old?.connection ?? 'unknown', environment: old?.environment ?? 'unknown', server: old?.server, database: old?.database }, redactor: o.session.redactor };
    const out: Output = { record: { ...baseRecord(ctx, 'unknown', new Date(u.at)), reason } };
    cell.outputs = [out];
    const number = o.runbook.cells.slice(0, u.index + 1).filter((x) => x.kind !== 'markdown').length;
    // The settled output and its attempt together: killed between them, the next run would find the cell settled and
    // the attempt that says so missing from the log.
    await o.sink.amend([{ handle: o.sink.handle(u.index), output: out }], { event: { e: 'attempt', attempt: attemptOf(out.record, { number, name: typeof cell.options.name === 'string' ? cell.options.name : undefined }) }, ctx: { source: cell.source } });
    messages.push(`${cellLabel({ number, name: typeof cell.options.name === 'string' ? cell.options.name : undefined })} started at ${u.at} in run ${u.run} and never finished as far as this file knows: ${ENDED_FIRST}. Its record now says its effect is unknown: check the database before running it again.`);
  }
  await resolveUncommitted(o, messages);
  await endInterruptedRuns(o, messages);
  return { messages };
}

/**
 * Why a run leaves a cell or its own end unrecorded, said without guessing: a kill, a crash and a run that stopped
 * because its records could not be written (a full disk: nothing more is journaled after a lost record) leave the
 * same file behind.
 */
const UNRECORDED_BECAUSE = 'the process was killed or crashed, or it stopped because its records could not be written';
const ENDED_FIRST = `its run ended before recording it (${UNRECORDED_BECAUSE})`;

/** `started` (ISO 8601) plus `ms`, as ISO 8601 with ms; `started` as it is when either is not a time. */
function finishedAt(started: string, ms: number | undefined): string {
  const t = Date.parse(started);
  return typeof ms === 'number' && Number.isFinite(ms) && Number.isFinite(t) ? new Date(t + ms).toISOString() : started;
}

async function endInterruptedRuns(o: { runbook: Runbook; sink: RunSink; runId: string }, messages: string[]): Promise<void> {
  const events = o.runbook.log?.events ?? [];
  const ended = new Set(events.filter((e) => e.e === 'end').map((e) => (e.e === 'end' ? e.end.run : '')));
  const lastSeen = new Map<string, string>();
  for (const e of events) {
    if (e.e === 'run') lastSeen.set(e.run.id, e.run.started);
    // Seen until its last recorded cell finished (its start plus its duration), not only when that cell started.
    else if (e.e === 'attempt' && e.attempt.started) lastSeen.set(e.attempt.run, finishedAt(e.attempt.started, e.attempt.ms));
  }
  for (const e of [...events]) {
    if (e.e !== 'run' || ended.has(e.run.id) || e.run.id === o.runId) continue;
    const seen = lastSeen.get(e.run.id) ?? e.run.started;
    await o.sink.log({ e: 'end', end: { run: e.run.id, ended: seen, status: 'interrupted', reasons: [`the run never recorded its end: ${UNRECORDED_BECAUSE} (last seen at ${seen}); found by run ${o.runId}`] } });
    messages.push(`Run ${e.run.id} (${e.run.by}, ${e.run.connection}) never finished: recorded as interrupted.`);
  }
}

async function resolveUncommitted(o: { runbook: Runbook; sink: RunSink; session: RunSession; runId: string; unfinished?: UnfinishedCell[]; runs: Map<string, RunRecord> }, messages: string[]): Promise<void> {
  const live = new Set(o.session.tx.openCells().map((c) => c.handle));
  const target = o.session.identity();
  const bySpan = new Map<string, { index: number; out: Output }[]>();
  // What other cells of the same run say about a span (the COMMIT cell recorded before the run died marking the rest).
  const settled = new Map<string, SpanRecord>();
  o.runbook.cells.forEach((cell, index) => {
    const out = cell.outputs[cell.outputs.length - 1];
    const span = out?.record.span as SpanRecord | undefined;
    if (!out || out.record.run === o.runId) return;
    const key = `${String(out.record.run)}:${span?.from ?? '?'}`;
    if (span && span.fate !== 'open') settled.set(key, span);
    if (out.record.status !== 'uncommitted' || live.has(o.sink.handle(index))) return;
    // The same cluster and database (system_identifier), whatever the connection was called then.
    if (!sameTarget(out.record, o.runs, target)) return;
    const list = bySpan.get(key) ?? [];
    list.push({ index, out });
    bySpan.set(key, list);
  });
  for (const [key, cells] of bySpan) {
    const run = String(cells[0].out.record.run);
    const span = (cells[0].out.record.span as SpanRecord | undefined) ?? { from: 0, fate: 'open' as const };
    const xid = cells.map((c) => (c.out.record.span as SpanRecord | undefined)?.xid).filter((x): x is string => !!x).pop();
    const dying = o.unfinished?.find((u) => u.run === run);
    const known = settled.get(key);
    const { fate, reason } = known
      ? { fate: known.fate, reason: known.reason ?? `recorded by a later cell of run ${run}` }
      : await fateOfDeadRun(o.session, o.runbook, dying, xid);
    const ended: SpanRecord = { ...span, fate, reason };
    if (xid) ended.xid = xid;
    const changes = cells.map(({ index, out }) => {
      const marked = withSpan(out, ended);
      o.runbook.cells[index].outputs = [marked];
      return { handle: o.sink.handle(index), output: marked };
    });
    const numbers = cells.map((c) => o.runbook.cells.slice(0, c.index + 1).filter((x) => x.kind !== 'markdown').length);
    // The transaction was the dead run's: its span event names that run, so the log counts it among that run's issues.
    // Marked cells and the span event are recorded together.
    await o.sink.amend(changes, { event: { e: 'span', run, span: ended, cells: numbers } });
    messages.push(`The transaction of ${numbers.map((n) => cellLabel({ number: n })).join(', ')}, left open by run ${run}: ${fate} (${reason}).`);
  }
}

/**
 * The fate of a transaction a dead run left open. A transaction commits only by a COMMIT reaching the server: when
 * the cell running as the run died held no committing statement (or none was running), none was sent, and the server
 * rolled the transaction back when the session ended. When it did hold one, only `txid_status()` of its transaction
 * id can tell (PostgreSQL docs, 9.27.5 "Transaction ID and Snapshot Information Functions").
 */
async function fateOfDeadRun(session: RunSession, rb: Runbook, dying: UnfinishedCell | undefined, xid: string | undefined): Promise<{ fate: SpanRecord['fate']; reason: string }> {
  const cell = dying && dying.index >= 0 ? rb.cells[dying.index] : undefined;
  const commits = cell?.kind === 'sql' && (await holdsCommit(cell.source));
  if (!commits) {
    const when = dying ? `with cell ${dying.number} started and not recorded (it holds no COMMIT)` : 'between cells';
    return { fate: 'rolled back', reason: `the run ended ${when}, before any COMMIT: PostgreSQL rolls back the transaction of a session whose client is gone` };
  }
  const id = dying?.xid ?? xid;
  if (!id) return { fate: 'unknown', reason: `the run ended with cell ${dying!.number}, which commits, started and not recorded, and no transaction id was recorded: whether its COMMIT reached the server cannot be known from here` };
  return resolveFate(session, id);
}

async function holdsCommit(source: string): Promise<boolean> {
  const split = await splitStatements(source);
  if (!split.ok) return true; // cannot tell: say unknown rather than guess
  return split.statements.some((s) => {
    const e = transactionEffect(s.stmt);
    return e === 'commit' || e === 'commit-and-chain' || e === 'prepare';
  });
}

/** The fate of an earlier run's transaction, from `txid_status()` on this run's session (PostgreSQL docs, 9.27.5). */
async function resolveFate(session: RunSession, xid: string | undefined): Promise<{ fate: SpanRecord['fate']; reason: string }> {
  if (!xid) return { fate: 'unknown', reason: 'the run ended with the transaction open and no transaction id was recorded (it had written nothing by its last recorded cell); whether later work in it committed cannot be told' };
  const pg = await session.sql().catch(() => undefined);
  if (!pg) return { fate: 'unknown', reason: `transaction ${xid}: no session to ask txid_status()` };
  const deadline = Date.now() + IN_PROGRESS_WAIT_MS;
  for (;;) {
    // On this run's own session (the sandbox serves one connection at a time): pg_xact_status on 13+, txid_status on 10–12.
    const query = Number(/^\d+/.exec(pg.serverVersion)?.[0] ?? 0) >= 13 ? 'SELECT pg_xact_status($1::xid8) AS s' : 'SELECT txid_status($1::bigint) AS s';
    const status = await pg.inspect(query, [xid]).then((r) => r[0]?.s ?? null, (e: Error) => `error: ${e.message}`);
    if (status === 'committed') return { fate: 'committed', reason: `the run ended before it recorded its COMMIT; transaction ${xid} committed (checked by a later run)` };
    if (status === 'aborted') return { fate: 'rolled back', reason: `the run ended before it recorded its COMMIT; transaction ${xid} aborted (checked by a later run)` };
    if (status !== 'in progress' || Date.now() > deadline) {
      return { fate: 'unknown', reason: `transaction ${xid}: txid_status() says ${status ?? 'nothing (too old to tell)'}` };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
