// The one record builder: every output record a run writes, whoever ran it (CLI or VS Code), has this shape.

import type { Redactor } from '../connections';
import type { Output, OutputRecord, RunTargetRecord, SpanRecord, StatementRecord } from '../format';
import type { CellRun } from './session';
import { statusInSpan } from './spans';

/** What every record of a run carries: who, against what, in which run. */
export interface RecordContext {
  run: string;
  operator: string;
  target: RunTargetRecord;
  /** The run's redactor (redacting.ts applies it where outputs leave the loop). */
  redactor: Redactor;
}

/** The fields every record starts with, in the order they are written. */
export function baseRecord(ctx: RecordContext, status: string, started: Date, ms?: number): OutputRecord {
  const r: OutputRecord = { status, started: started.toISOString() };
  if (ms !== undefined) r.ms = ms;
  r.by = ctx.operator;
  r.connection = ctx.target.connection;
  r.environment = ctx.target.environment;
  if (ctx.target.server) r.server = ctx.target.server;
  if (ctx.target.database) r.database = ctx.target.database;
  r.run = ctx.run;
  return r;
}

/**
 * The output of a cell run: its record (base fields, the span it took part in with the status that span gives it,
 * the kind's own fields) and its body, redacted. `source` is the new cell text when running changed it (ticked
 * checklist items).
 */
export function buildOutput(ctx: RecordContext, cell: CellRun, span?: SpanRecord): { output: Output; source?: string } {
  switch (cell.kind) {
    case 'skipped':
      return { output: finish(ctx, { record: { ...baseRecord(ctx, 'skipped', cell.started, 0), reason: cell.reason } }) };
    case 'sql-not-run': {
      const record: OutputRecord = { ...baseRecord(ctx, 'error', cell.started, cell.ms), ...cell.extraRecord, error: cell.error };
      return { output: finish(ctx, { record, body: [...cell.extraBody, cell.body].join('\n\n') }) };
    }
    case 'sql':
      return { output: finish(ctx, sqlOutput(ctx, cell, span)) };
    case 'shell':
      return { output: finish(ctx, shellOutput(ctx, cell)) };
    case 'checklist': {
      const record: OutputRecord = { ...baseRecord(ctx, cell.pending.length ? 'error' : 'ok', cell.started, cell.ms), items: cell.items };
      if (cell.confirmedWith) record.confirmed_with = cell.confirmedWith;
      if (cell.pending.length) record.error = { message: `not confirmed: ${cell.pending.map((p) => p.text).join('; ')}` };
      return { output: finish(ctx, { record }), source: cell.source };
    }
  }
}

function sqlOutput(ctx: RecordContext, cell: Extract<CellRun, { kind: 'sql' }>, span: SpanRecord | undefined): Output {
  let result = cell.result;
  let status: string = result.status;
  const extra: Record<string, unknown> = { ...cell.extraRecord };
  if (cell.sandboxRestart) {
    // The statement was stopped by restarting the sandbox: say that, not "connection lost".
    status = 'cancelled';
    const what = cell.sandboxRestart.losesData ? 'its data is gone' : 'committed data is kept, an open transaction is rolled back';
    extra.sandbox = 'restarted to cancel the statement';
    const error = { ...(result.error ?? {}), message: `cancelled: the ${cell.sandboxRestart.engine} sandbox cannot cancel a statement, so it was restarted (${what})` };
    delete (error as { sqlstate?: string }).sqlstate;
    result = { ...result, error, body: `Cancelled. The ${cell.sandboxRestart.engine} sandbox cannot cancel a running statement, so it was restarted; ${what}.` };
  }
  // A statement of its own transaction whose connection was cut mid-flight (engines/postgres.ts): not known to have
  // failed. In a span the span's fate says what became of the work instead.
  if (status === 'error' && !span && result.statements.some((st) => st.commit === 'unknown')) status = 'unknown';
  const skippedInvalid = status === 'ok' ? invalidIndexSkipped(result.statements, extra.invalidIndexes) : undefined;
  if (skippedInvalid) status = 'error';
  const record: OutputRecord = { ...baseRecord(ctx, statusInSpan(status, span), cell.started, result.ms) };
  if (span) record.span = span;
  Object.assign(record, extra);
  const settings: Record<string, string> = {};
  if (result.timeouts.lockTimeout !== undefined) settings.lock_timeout = result.timeouts.lockTimeout;
  if (result.timeouts.statementTimeout !== undefined) settings.statement_timeout = result.timeouts.statementTimeout;
  // PGlite accepts the settings but never fires them (docs/sandbox.md): say so where they are recorded.
  if (cell.timeoutsNotEnforced) settings.enforced = 'no';
  if (Object.keys(settings).length) record.settings = settings;
  record.statements = result.statements;
  if (result.error) record.error = result.error;
  if (skippedInvalid) {
    record.error = {
      message: `index ${skippedInvalid.index} exists but is INVALID (left by a failed CREATE INDEX CONCURRENTLY): IF NOT EXISTS skipped it, so the index this cell builds is not there. Drop it (${skippedInvalid.drop ?? 'DROP INDEX CONCURRENTLY'}) and run the cell again.`,
    };
  }
  return { record, body: [...cell.extraBody, result.body].filter((s) => s !== '').join('\n\n') };
}

/**
 * The invalid index an `IF NOT EXISTS` index build skipped, if the cell did that: its `NOTICE: relation "x" already
 * exists, skipping` names an index the safety hooks found invalid after the cell (PostgreSQL docs, CREATE INDEX,
 * "Building Indexes Concurrently": a failed build leaves an invalid index behind).
 */
function invalidIndexSkipped(statements: readonly StatementRecord[], invalid: unknown): { index: string; drop?: string } | undefined {
  if (!Array.isArray(invalid) || invalid.length === 0) return undefined;
  const skipped = new Set<string>();
  for (const st of statements) {
    for (const n of st.notices ?? []) {
      const m = /relation "([^"]+)" already exists, skipping/.exec(n);
      if (m) skipped.add(m[1]);
    }
  }
  for (const i of invalid as { index?: unknown; drop?: unknown }[]) {
    const name = typeof i.index === 'string' ? i.index.split('.').pop()!.replace(/^"|"$/g, '') : '';
    if (skipped.has(name)) return { index: String(i.index), drop: typeof i.drop === 'string' ? i.drop : undefined };
  }
  return undefined;
}

function shellOutput(ctx: RecordContext, cell: Extract<CellRun, { kind: 'shell' }>): Output {
  const r = cell.result;
  const record = baseRecord(ctx, r.status, cell.started, r.ms);
  // A shell cell talks to no server of its own: the server version would say more than it knows.
  delete record.server;
  if (r.exit !== undefined) record.exit = r.exit;
  if (r.signal) record.signal = r.signal;
  if (r.reason === 'timeout') record.error = { message: `timed out after ${String(cell.timeout)} (process group killed)` };
  else if (r.reason && r.reason !== 'cancelled') record.error = { message: r.reason };
  else if (r.status === 'error') record.error = { message: r.exit !== undefined ? `exit code ${r.exit}` : `ended by ${r.signal}` };
  if (r.omittedBytes) record.omitted_bytes = r.omittedBytes;
  return { record, body: r.output };
}

/** A record for a cell the run did not reach, replacing an earlier run's output (so no old `ok` reads as this run's). */
export function notRunOutput(ctx: RecordContext, reason: string, at: Date = new Date()): Output {
  return finish(ctx, { record: { ...baseRecord(ctx, 'skipped', at), reason } });
}

/**
 * The output of a cell whose span has now ended: the status the span gives it, and the span's record. The body is
 * left as it was (it shows what the statements returned, which stays true).
 */
export function withSpan(output: Output, span: SpanRecord): Output {
  const record: OutputRecord = { ...output.record, status: statusInSpan(String(output.record.status), span), span };
  // The last try of a retried cell is this record: it takes the span's fate too (earlier tries keep theirs).
  const tries = output.record.attempts;
  if (Array.isArray(tries) && tries.length > 0) {
    const last = tries[tries.length - 1] as { status?: unknown };
    record.attempts = [...tries.slice(0, -1), { ...last, status: statusInSpan(String(last.status), span) }];
  }
  return { ...output, record };
}

/**
 * The output as built. Redaction is not done here but where outputs leave the run loop (redacting.ts), so that
 * what arrives later (span reasons marked onto earlier outputs) passes the same point.
 */
function finish(_ctx: RecordContext, output: Output): Output {
  return output;
}
