// The one run loop, used by `runbook run` and the VS Code controller alike: plan, then cell by cell through the
// engines, following transaction spans, recording every output and log event through the front end's sink.

import { attemptOf, describeWindow, frontMatterWindow, parseEstimate, parseNotifyTargets, windowVerdict, type Cell, type NotifyTarget, type Output, type OutputRecord, type RunRecord, type Runbook, type WindowEndRecord } from '../format';
import type { AcceptRecord } from '../engines/checklist';
import type { LintCell, RunbookLint } from '../sql/lint';
import { cellLabel, type RunnableCell } from './cells';
import type { RunAsker, RunReporter, RunSink } from './frontend';
import { askPlanQuestions, makePlan, type Plan, type PlanInput } from './plan';
import { boundRehearsal } from '../rehearse/bound';
import { rehearsedRowsOf, rowsDiffer, rowsQuestion, type RehearsedRows } from './rows-check';
import { baseRecord, buildOutput, notRunOutput, withSpan, type RecordContext } from './record';
import { runEndRecord, runRecord, type Run } from './run';
import { SessionLostError, type CellRun, type RunSession, type SqlCellHooks } from './session';
import { transactionEffect, type EndedSpan, type SpanCell } from './spans';
import type { ShellGroup, UnfinishedCell } from './journal';
import { guardRun, type GuardResult } from './stale-guard';
import { releaseAdvisoryLock } from './server-sessions';
import { settleEarlierRuns } from './recovery';
import { redactingReporter, redactingSink } from './redacting';
import { describeRecord, errorText } from './summary';
import { rehearsalDurations, windowWatch, type WatchTools } from './window-watch';
import { notifier } from './notify';
import { windowWhere } from './plan';
import { backoffMs, isLockTimeout, retryPolicy, waitOrCancel, type AttemptEntry, type RetryPolicy } from './retry';
import { batchPolicy, batchStatement, estimateRows, runBatches } from './batch';
import type { CellProgress } from './frontend';
import { lostCell, RecordLostError, RecordWriteError, type RecordLostEffect } from './record-lost';

/** Safety hooks with the plan's lint of the selection (src/safety/hooks.ts). */
export interface RunHooks extends SqlCellHooks {
  /** Lints the cells for the plan; later `before()` calls use this lint instead of linting again. */
  lint?(cells: LintCell[], ctx: { session: RunSession; initialTxState: 'idle' | 'in transaction' | 'failed' }): Promise<RunbookLint>;
}

/** Everything one run needs. */
export interface LoopOptions {
  run: Run;
  runbook: Runbook;
  all: RunnableCell[];
  selected: RunnableCell[];
  /** Open (resolved or sandbox started); the SQL session is opened by the loop's first need of it. */
  session: RunSession;
  sink: RunSink;
  asker: RunAsker;
  reporter?: RunReporter;
  hooks?: RunHooks;
  /** Aborting it cancels the running cell and stops the run. */
  signal?: AbortSignal;
  maxRows?: number;
  /** Flags answering the plan's questions in advance. */
  confirmProduction?: string;
  rerun?: boolean;
  confirmChecklists?: boolean;
  confirmTarget?: string;
  /** VS Code: the session (and an open transaction) outlives the run. CLI: false — an open transaction is rolled back at the end. */
  sessionOutlivesRun: boolean;
  /** `--without-rehearsal`: a production run of content with no passing rehearsal goes on without asking (recorded in the run's flags). */
  withoutRehearsal?: boolean;
  /** VS Code: the production name was typed earlier in this session. */
  productionConfirmed?: boolean;
  /** Cell options a front end adds as defaults (VS Code settings), applied to the cell that runs. */
  effectiveCell?: (cell: Cell) => Cell;
  /** Outputs recovered from an interrupted run's journal (for the reporter). */
  recovered?: number;
  /** What folding an interrupted run's journal kept rather than dropped (records of edited or deleted cells): said and logged as warnings. */
  warnings?: string[];
  /** Cells an interrupted run started and never finished (from its journal). */
  unfinished?: UnfinishedCell[];
  /** Process groups an interrupted run's shell cells started (from its journal): survivors are reported (stale-guard.ts). */
  shellGroups?: ShellGroup[];
  /** `--cancel-stale`: cancel the server sessions and stop the process groups earlier runs left, without asking. */
  cancelStale?: boolean;
  /** Warnings the front end has for the run's log before it starts (a stale file lock taken over): `warning` events. */
  notes?: { about: string; message: string }[];
  /** Runs known to be dead (the stale lock taken over named one): said of their sessions on the server. */
  deadRuns?: string[];
  /** Watchers of the run (notifications, the monitoring sampler, the window): told of its steps, never in its way. */
  observers?: RunObserver[];
  /** Start a production run outside the runbook's window (`--outside-window`): recorded with the operator's name. */
  outsideWindow?: boolean;
  /** The runbook's file (for notifications: which runbook), as the person knows it. */
  file?: string;
  /**
   * The webhook URL of a notification target: the environment variable it names (CLI) or the secret stored under that
   * name (VS Code); undefined when unset. Absent: no notifications are sent (the front end has no way to find URLs).
   */
  webhookUrl?: (target: NotifyTarget) => Promise<string | undefined> | string | undefined;
  /** ms per notification attempt (default 3 s, src/run/notify.ts). */
  notifyTimeoutMs?: number;
}

/**
 * Something that follows a run without being its sink: notifications, the monitoring sampler, the window. Each
 * method is awaited in the run's order, so an observer must bound its own work (a slow webhook must not slow the
 * migration); a throw from an observer fails the run. `beforeCell` may stop the run before a cell starts (the window
 * would be overrun and the person said no).
 */
export interface RunObserver {
  runStarted?(run: Run, plan: Plan): Promise<void> | void;
  beforeCell?(c: RunnableCell, ctx: { run: Run; plan: Plan }): Promise<{ stop?: string } | undefined> | { stop?: string } | undefined;
  cellStarted?(c: RunnableCell, run: Run): Promise<void> | void;
  cellFinished?(c: RunnableCell, output: Output, run: Run): Promise<void> | void;
  /**
   * The run's cells are done and its end event is about to be logged: fields to add to that event (the monitoring
   * sampler's peaks under `monitor`). Not called for a refused run (it never started).
   */
  runEnding?(run: Run): Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined;
  runFinished?(run: Run, summary: RunSummary): Promise<void> | void;
}

/** What a run did, for the front end's summary. */
export interface RunSummary {
  target: string;
  environment: string;
  selected: number;
  ran: number;
  /** Cells by the status their record ends with. */
  counts: Record<string, number>;
  /** Why the run stopped before the end, if it did. */
  stopped?: { cell: RunnableCell; reason: string };
  /** Every reason a refused run was refused. */
  refused?: string[];
  /** Cells that failed with `{"on_error":"continue"}` and let the run go on, each with its error, in words. */
  allowed: string[];
  /** Spans rolled back (not by the runbook's own ROLLBACK) or left unknown, in words. */
  lost: string[];
  recovered: number;
  ms: number;
}

/** How a run ended. */
export interface RunOutcome {
  run: Run;
  plan?: Plan;
  summary: RunSummary;
  /** The production name was typed (VS Code keeps it for the session). */
  productionConfirmed: boolean;
  /** The file the run wrote (the CLI; an executed copy with --output). */
  file?: string;
  /** The monitoring sampler's peaks, as written on the run's end event (absent: no sampler, or the run was refused). */
  monitor?: import('../monitor/sampler').MonitorPeaks;
}

/** Statuses that count as the cell having done what it was asked. */
const DONE = new Set(['ok', 'uncommitted', 'skipped']);

/**
 * Runs the selected cells: reaches the target, plans (and refuses, recording the refused run, when anything would
 * be refused), asks the plan's questions, then runs cell by cell. Each output is recorded through the sink before
 * the next cell starts; when a span ends, every cell in it is marked with its fate; a lost session is never reopened
 * mid-run. At the end (CLI), an open transaction is rolled back and its cells marked. Never throws for what cells do:
 * it is all in the outcome; throws only when the sink cannot record (after stopping).
 */
export async function executeRun(options: LoopOptions): Promise<RunOutcome> {
  const t0 = Date.now();
  // Everything the run records or shows passes the session's redactor on its way to the front end.
  const o: LoopOptions = { ...options, sink: redactingSink(options.sink, options.session.redactor), reporter: redactingReporter(options.reporter, options.session.redactor) };
  const { run, session } = o;
  const summary: RunSummary = { target: session.target.name, environment: session.target.environment, selected: o.selected.length, ran: 0, counts: {}, allowed: [], lost: [], recovered: o.recovered ?? 0, ms: 0 };
  const outcome: RunOutcome = { run, summary, productionConfirmed: o.productionConfirmed ?? false };
  const ctx = new LoopContext(o, summary);
  let guard: GuardResult | undefined;
  try {
    await session.beginRun(run.id);
    await ctx.reachTarget();
    o.reporter?.target?.(session.target.display, summary.recovered);
    // Before anything is recorded: the runbook's advisory lock, and what earlier runs left on the server (stale-guard.ts).
    guard = await ctx.guard();
    if (guard.lock) run.lock = { identity: guard.lock.identity, key: guard.lock.key };
    run.settings = { ...session.serverSettings };
    run.target = session.identity();
    await o.sink.log({ e: 'run', run: runRecord(run) });
    const wasLost = !!session.lost;
    await ctx.settleLostSession();
    // A session reopened in this run (VS Code): the lock is taken on the new one (not in the run's record, logged before).
    if (wasLost && !guard.lock && !guard.refusals.length) guard = await ctx.guard();
    const settled = await settleEarlierRuns({ runbook: o.runbook, sink: o.sink, session, runId: run.id, unfinished: o.unfinished, runs: runsOf(o.runbook) });
    for (const m of settled.messages) o.reporter?.message?.(m);
    // After what earlier runs left is settled (the log shows that first, under its own heading).
    // Records of edited or deleted cells the journal's fold kept, a stale lock taken over, the server's leftovers.
    const journal = (o.warnings ?? []).map((message) => ({ about: 'journal', message }));
    for (const w of [...journal, ...(o.notes ?? []), ...guard.warnings]) await ctx.warn(w.about, w.message);
    if (guard.refusals.length) return await ctx.refuse(outcome, guard.refusals);
    const plan = await ctx.plan();
    outcome.plan = plan;
    const refusals = plan.refusals.length ? plan.refusals : await askPlanQuestions(plan, o.asker);
    if (refusals.length) return await ctx.refuse(outcome, refusals);
    if (plan.questions.some((q) => q.kind === 'production') || o.confirmProduction !== undefined) outcome.productionConfirmed = true;
    await ctx.recordWindowOverride(plan);
    o.observers = [...ctx.builtInObservers(), ...(options.observers ?? [])];
    for (const obs of o.observers) await obs.runStarted?.(run, plan);
    await ctx.runCells(plan);
    await ctx.endOpenTransaction();
    await ctx.markNotRun();
    await ctx.finish(outcome);
  } catch (err) {
    // Read before abandon() rolls the span back: what the cell's effect was when its record failed.
    const lost = ctx.recordLost(err);
    await ctx.abandon(err);
    throw lost ?? err;
  } finally {
    if (guard?.lock) await releaseAdvisoryLock(session.session, guard.lock.key);
    summary.ms = Date.now() - t0;
  }
  return outcome;
}

/** One run's state while it goes: the record context, the sink's handles, the stop. */
class LoopContext {
  readonly handles = new Map<number, unknown>();
  private records!: RecordContext;
  private stop: { cell: RunnableCell; reason: string; status: 'failed' | 'stopped' | 'cancelled' } | undefined;
  private endLogged = false;
  /** The cells this run ran, in order (their final statuses are counted at the end, after spans marked them). */
  private readonly ran: RunnableCell[] = [];
  /** How the run stands against the runbook's window, for its end record. */
  private window: WindowEndRecord | undefined;
  /** Failed tries so far, by retry scope (`cell:INDEX` in autocommit, `span:NUMBER` for a span replayed from its first cell). */
  private readonly retryHistory = new Map<string, AttemptEntry[]>();
  /** The cell the run is at, what it ran, and whether its own record was written (for a record that fails). */
  private current: { c: RunnableCell; ran?: CellRun; recorded: boolean; ended?: { fate: string; cells: number[] } } | undefined;
  /** The bound staging rehearsal's rows per cell: null until looked up. */
  private rehearsed: RehearsedRows | undefined | null = null;
  /** Cells whose rows differed from the rehearsal's, by index (recorded as `rows_vs_rehearsal`). */
  private readonly rowsNote = new Map<number, { production: number; rehearsal: number; run: string; connection: string }>();

  constructor(
    private readonly o: LoopOptions,
    private readonly summary: RunSummary,
  ) {
    for (const c of o.selected) this.handles.set(c.index, o.sink.handle(c.index));
  }

  private get session(): RunSession {
    return this.o.session;
  }

  /** Connects before anything is asked: a checklist must not be confirmed against a server nobody reached. */
  async reachTarget(): Promise<void> {
    const needsSql = this.o.selected.some((c) => c.cell.kind === 'sql' || c.cell.kind === 'shell');
    if (needsSql && !this.session.lost) {
      try {
        await this.session.sql();
      } catch (e) {
        if (!(e instanceof SessionLostError)) throw new TargetUnreachableError(`could not connect to ${this.session.target.display}: ${(e as Error).message} (nothing was run)`, { cause: e });
      }
    }
    this.records = { run: this.o.run.id, operator: this.o.run.operator, target: this.session.identity(), redactor: this.session.redactor };
  }

  /** A session lost since the last run (VS Code): its open span rolled back with it; a new session is opened on purpose. */
  async settleLostSession(): Promise<void> {
    const lost = this.session.lost;
    if (!lost) return;
    const ended = this.session.tx.end('rolled back', `the session was lost: ${lost}; PostgreSQL rolls back an open transaction when its session ends`);
    if (ended) await this.applySpanEnd(ended);
    this.o.reporter?.message?.(`The earlier session to ${this.session.target.name} was lost (${lost}). A new session is opened: SET and temporary tables of the old one are gone${ended ? `, and its transaction (${ended.cells.map((c) => cellLabel(c)).join(', ')}) was rolled back` : ''}.`);
    await this.session.reopen();
    this.records.target = this.session.identity();
  }

  async plan(): Promise<Plan> {
    const o = this.o;
    const pg = this.session.session;
    const txState = pg && !pg.closed ? pg.txState : 'idle';
    const hooks = o.hooks;
    return makePlan({
      runbook: o.runbook, all: o.all, selected: o.selected, target: this.records.target, txState,
      sessionEndsWithRun: !o.sessionOutlivesRun,
      acceptConfirmation: this.acceptConfirmation(),
      lint: hooks?.lint ? (cells, initialTxState) => hooks.lint!(cells, { session: this.session, initialTxState }) : undefined,
      runs: runsOf(o.runbook),
      rehearsal: this.rehearsal(),
      answers: { confirmProduction: o.confirmProduction, rerun: o.rerun, confirmChecklists: o.confirmChecklists, confirmTarget: o.confirmTarget, productionConfirmed: o.productionConfirmed, outsideWindow: o.outsideWindow, withoutRehearsal: o.withoutRehearsal },
      canAsk: { typeName: !!o.asker.typeName, confirm: !!o.asker.confirm, checklist: !!o.asker.confirmChecklist || !!o.confirmChecklists },
    });
  }

  /** The content hash, the passing rehearsal bound to it, and whether the profile requires one (production runs only). */
  private rehearsal(): PlanInput['rehearsal'] {
    if (this.session.target.environment !== 'production') return undefined;
    const { hash, passing } = boundRehearsal(this.o.runbook);
    return {
      hash,
      required: this.session.target.connection?.profile.requireRehearsal === true,
      passing: passing && { run: passing.run.id, environment: passing.run.environment, connection: passing.run.connection, ended: passing.ended },
    };
  }

  /**
   * A checklist confirmation counts in the run it was given in, and in a later run on the same non-production
   * target; every production run, and a run on another target, asks again.
   */
  acceptConfirmation(): AcceptRecord {
    const t = this.records.target;
    return (r: OutputRecord) =>
      r.run === this.o.run.id ||
      (t.environment !== 'production' && r.environment === t.environment && r.connection === t.connection && (r.database === undefined || t.database === undefined || r.database === t.database));
  }

  /** The runbook's advisory lock and earlier runs' leftovers, before the first statement (stale-guard.ts). */
  guard(): Promise<GuardResult> {
    const o = this.o;
    return guardRun({
      session: this.session, runbook: o.runbook, file: o.file, runId: o.run.id, unfinished: o.unfinished, groups: o.shellGroups, cancelStale: o.cancelStale, deadRuns: o.deadRuns,
      confirm: o.asker.confirm ? (q) => o.asker.confirm!(q) : undefined,
      say: (m) => o.reporter?.message?.(m),
    });
  }

  /** A `warning` log event of this run, and the same message for the person. */
  warn(about: string, message: string): Promise<void> {
    return this.tools().warn(about, message);
  }

  /** What the run's watchers use: a warning is a log event (through the redacting sink) and a message to the person. */
  private tools(): WatchTools {
    const o = this.o;
    return {
      warn: async (about, message, at) => {
        await o.sink.log({ e: 'warning', warning: { run: o.run.id, at: (at ?? new Date()).toISOString(), about, message } });
        o.reporter?.message?.(message);
      },
      say: (message) => o.reporter?.message?.(message),
      confirm: o.asker.confirm ? (q) => o.asker.confirm!(q) : undefined,
    };
  }

  /** A production run allowed outside its window: a warning event names who allowed it and how; the end record keeps it. */
  async recordWindowOverride(plan: Plan): Promise<void> {
    const w = plan.window;
    if (!w) return;
    this.window = { interval: w.window.iso, verdict: 'within' };
    const asked = plan.questions.some((q) => q.kind === 'window');
    if (!w.override && !asked) return;
    const how = w.override?.with ?? 'asked';
    this.window.override = { by: this.o.run.operator, with: how };
    await this.tools().warn('window', `production run started outside its window ${describeWindow(w.window)} (${windowWhere(w.position)}): allowed by ${this.o.run.operator} (${how === 'asked' ? 'answered yes when asked' : how})`);
  }

  /** The watchers every run has: the window and estimate watch, and notifications when there are targets and a way to find their URLs. */
  builtInObservers(): RunObserver[] {
    const o = this.o;
    const data = o.runbook.frontMatter?.data;
    const est = data?.estimate !== undefined ? parseEstimate(data.estimate) : undefined;
    const window = frontMatterWindow(data);
    const tools = this.tools();
    const out: RunObserver[] = [];
    if (window || est?.ok) out.push(windowWatch({ estimateMs: est?.ok ? est.ms : undefined, window, production: this.records.target.environment === 'production', selected: o.selected, rehearsed: rehearsalDurations(o.runbook.log?.events ?? [], o.all), tools }));
    const targets = notifyTargetsOf(o);
    if (targets.length && o.webhookUrl) {
      const title = typeof data?.title === 'string' ? data.title : undefined;
      out.push(notifier({
        targets, url: o.webhookUrl, redactor: this.session.redactor, runbook: { ...(title ? { title } : {}), ...(o.file ? { file: o.file } : {}) },
        target: { connection: this.records.target.connection, environment: this.records.target.environment },
        estimate: est?.ok ? String(data?.estimate) : undefined, window, warn: tools.warn, timeoutMs: o.notifyTimeoutMs,
      }));
    }
    return out;
  }

  async refuse(outcome: RunOutcome, reasons: string[]): Promise<RunOutcome> {
    const run = this.o.run;
    run.status = 'refused';
    run.exit = 1;
    run.ended = new Date();
    this.summary.refused = reasons;
    await this.o.sink.log({ e: 'end', end: runEndRecord(run, { reasons }) });
    this.endLogged = true;
    await this.o.sink.flush();
    for (const obs of this.o.observers ?? []) await obs.runFinished?.(run, this.summary);
    return outcome;
  }

  async runCells(plan: Plan): Promise<void> {
    const o = this.o;
    for (let i = 0; i < o.selected.length; i++) {
      const c = o.selected[i];
      if (o.signal?.aborted) {
        this.stop = { cell: c, reason: 'cancelled', status: 'cancelled' };
        break;
      }
      const handle = this.handles.get(c.index);
      const now = o.sink.cellNow(handle);
      if (!now || now.source !== c.cell.source || JSON.stringify(now.options) !== JSON.stringify(c.cell.options)) {
        this.stop = { cell: c, reason: `${cellLabel(c)} was ${now ? 'edited' : 'deleted'} after the run was planned: run it again to run the new text`, status: 'stopped' };
        break;
      }
      if (c.cell.kind === 'sql' && this.session.lost) {
        await this.sessionLost(c, this.session.lost);
        break;
      }
      const next = await this.runCell(c, handle, i + 1, plan);
      if (next === false) break;
      // A span rolled back to be tried again: go back to the cell that opens it.
      if (typeof next === 'number') i = next - 1;
    }
  }

  /** Runs one cell (again, while it retries in autocommit); false when the run must stop, a selection index to replay a span from. */
  private async runCell(c: RunnableCell, handle: unknown, position: number, plan: Plan): Promise<boolean | number> {
    const o = this.o;
    for (const obs of o.observers ?? []) {
      const r = await obs.beforeCell?.(c, { run: o.run, plan });
      if (r?.stop) {
        this.stop = { cell: c, reason: r.stop, status: 'stopped' };
        return false;
      }
    }
    let fromStatement = 0;
    let done: CellRun | undefined;
    for (;;) {
      o.reporter?.cellStart?.(c, position, o.selected.length);
      this.current = { c, recorded: false };
      await o.sink.cellStarted(c, handle, o.run.id);
      for (const obs of o.observers ?? []) await obs.cellStarted?.(c, o.run);
      let cellRun: CellRun;
      try {
        cellRun = await this.execute(c, fromStatement);
      } catch (e) {
        if (!(e instanceof SessionLostError)) throw e;
        o.sink.cellEnded(handle, false);
        await this.sessionLost(c, this.session.lost ?? e.message);
        return false;
      }
      if (done) cellRun = continuedRun(done, cellRun);
      this.current = { c, ran: cellRun, recorded: false };
      if (cellRun.kind === 'checklist' && o.confirmChecklists && cellRun.source !== undefined) cellRun.confirmedWith = '--confirm-checklists';
      const retry = this.retryFor(c, cellRun);
      const { ended, span } = await this.follow(c, handle, cellRun);
      // A span this cell ended: its cells share the fate a lost record must name.
      const closed = ended.find((e) => e.cells.length > 1);
      if (closed) this.current.ended = { fate: closed.span.fate, cells: closed.cells.map((x) => x.number) };
      // A cell that is its own committed transaction (autocommit:false, BEGIN … COMMIT in one cell) needs no span: its
      // statements say it all.
      const ownCommitted = span && span.fate === 'committed' && span.from === c.number && span.to === c.number;
      const { output, source } = buildOutput(this.records, cellRun, ownCommitted ? undefined : span);
      if (cellRun.kind === 'sql' && this.rowsNote.has(c.index)) output.record.rows_vs_rehearsal = this.rowsNote.get(c.index);
      if (allowedToFail(c, output)) output.record.on_error = 'continue';
      const scope = retry?.scope ?? this.scopeOf(c);
      const history = this.retryHistory.get(scope) ?? [];
      const wait = retry ? backoffMs(retry.policy, history.length + 1) : undefined;
      const failed = String(output.record.status) !== 'ok' && String(output.record.status) !== 'uncommitted';
      if (retry || (history.length && (failed || history.some((h) => h.cell === undefined || h.cell === c.number)))) addAttempts(output.record, history, c, cellRun, wait, scope.startsWith('span:'));
      if (source !== undefined) c.cell.source = source;
      c.cell.outputs = [output];
      await o.sink.cellOutput(c, handle, output, source, cellRun, { event: { e: 'attempt', attempt: attemptOf(output.record, c) }, ctx: { source: c.cell.source, body: output.body } });
      this.current.recorded = true;
      const status = String(output.record.status);
      // A try to be retried keeps its execution open through the wait (VS Code: its stop button cancels the wait).
      if (!retry) o.sink.cellEnded(handle, DONE.has(status));
      // A cell that was a whole committed transaction by itself says so in its statements; other spans are marked and logged.
      for (const e of ended) if (!(ownCommitted && e.span.from === c.number)) await this.applySpanEnd(e);
      for (const st of output.record.statements ?? []) for (const n of st.notices ?? []) o.reporter?.notice?.(c, n);
      if (retry && wait !== undefined) {
        const next = await this.retryAfter(c, handle, cellRun, output, retry, wait);
        o.sink.cellEnded(handle, false);
        if (next === 'cancelled') return false;
        if (retry.span) return next as number;
        // Autocommit: the statements before the failed one committed; the cell goes on from the failed one.
        if (cellRun.kind === 'sql' && c.cell.options.autocommit !== false) {
          fromStatement = Math.max(0, cellRun.result.statements.length - 1);
          done = committedPart(cellRun);
        }
        continue;
      }
      // A span's tries are counted until the run ends (each cell of a replay must see them); a cell's end with it.
      if (scope.startsWith('cell:')) this.retryHistory.delete(scope);
      this.markRan(c);
      o.reporter?.cellEnd?.(c, status, typeof output.record.ms === 'number' ? output.record.ms : 0, describeRecord(output.record));
      for (const obs of o.observers ?? []) await obs.cellFinished?.(c, output, o.run);
      if (!this.decide(c, cellRun, output, ended)) return false;
      // Work still open in a transaction is not permanent yet: a count far from the rehearsal's is asked about first.
      if (cellRun.kind === 'sql' && cellRun.result.status === 'ok' && this.session.tx.inTransaction) {
        const reason = await this.rowsCheck(c, cellRun.result.statements);
        if (reason) {
          this.stop = { cell: c, reason, status: 'stopped' };
          return false;
        }
      }
      return true;
    }
  }

  /** The bound staging rehearsal's rows per cell (production only); computed once. */
  private rehearsedRows(): RehearsedRows | undefined {
    if (this.rehearsed === null) this.rehearsed = this.session.target.environment === 'production' ? rehearsedRowsOf(this.o.runbook) : undefined;
    return this.rehearsed;
  }

  /**
   * The rows-affected pause (rows-check.ts): when the cell's rows differ from the bound staging rehearsal's by more
   * than ROWS_FACTOR, asks before the COMMIT. Returns why the run must stop (answered no, or nobody can be asked).
   */
  private async rowsCheck(c: RunnableCell, statements: readonly { rows?: number; implicit?: unknown }[]): Promise<string | undefined> {
    const r = this.rehearsedRows();
    const rehearsal = r?.rows.get(c.number);
    if (!r || rehearsal === undefined) return undefined;
    const rows = statements.filter((st) => st.implicit !== true).reduce((n, st) => n + (typeof st.rows === 'number' ? st.rows : 0), 0);
    if (!rowsDiffer(rows, rehearsal)) return undefined;
    const q = rowsQuestion(cellLabel(c), rows, rehearsal, r);
    this.rowsNote.set(c.index, { production: rows, rehearsal, run: r.run, connection: r.connection });
    if (!this.o.asker.confirm) return `${q.replace(/ COMMIT it.*$/, '')} Nobody can be asked here, so it is not committed: check the data, then run it at a terminal.`;
    if (await this.o.asker.confirm(q)) {
      this.o.reporter?.message?.(`${cellLabel(c)}: committing although its rows differ from the rehearsal's (answered yes).`);
      return undefined;
    }
    return `${q.replace(/ COMMIT it.*$/, '')} Answered no: not committed.`;
  }

  /** Counts a cell as run once, however often it was tried. */
  private markRan(c: RunnableCell): void {
    if (!this.ran.includes(c)) this.ran.push(c);
    this.summary.ran = this.ran.length;
  }

  /** Where a cell's tries are counted: the span it runs in (replayed as a whole), else the cell itself. */
  private scopeOf(c: RunnableCell): string {
    const open = this.session.tx.openCells()[0];
    return open && open.run === this.o.run.id ? `span:${open.number}` : `cell:${c.index}`;
  }

  /**
   * Whether a cell that just ran is to be tried again: it failed with lock_timeout (55P03), its policy (cell option,
   * else the profile's `retry`) allows another try, and — inside a transaction — the span began in this run, with its
   * opener selected and only SQL cells from there (the plan refuses an explicit option otherwise). Batch cells retry
   * their batches themselves.
   */
  private retryFor(c: RunnableCell, cellRun: CellRun): { policy: RetryPolicy; scope: string; span?: { opener: RunnableCell; index: number } } | undefined {
    if (cellRun.kind !== 'sql' || cellRun.result.status !== 'error' || !isLockTimeout(cellRun.result.error)) return undefined;
    if (batchPolicy(c.cell)) return undefined;
    const policy = retryPolicy(c.cell, this.session.target.connection?.profile.retry);
    if (!policy) return undefined;
    const pg = this.session.session;
    if (!pg || pg.closed) return undefined;
    let span: { opener: RunnableCell; index: number } | undefined;
    let scope = `cell:${c.index}`;
    if (pg.txState !== 'idle') {
      const first = this.session.tx.openCells()[0] ?? { number: c.number, run: this.o.run.id };
      if (first.run !== this.o.run.id) return undefined;
      const index = this.o.selected.findIndex((x) => x.number === first.number);
      if (index < 0) return undefined;
      const cells = this.o.selected.slice(index, this.o.selected.indexOf(c) + 1);
      if (cells.some((x) => x.cell.kind !== 'sql')) return undefined;
      span = { opener: this.o.selected[index], index };
      scope = `span:${first.number}`;
    }
    const tries = (this.retryHistory.get(scope)?.length ?? 0) + 1;
    if (tries >= policy.attempts) return undefined;
    return { policy, scope, span };
  }

  /**
   * After a try that will be retried: rolls the span back (its cells are marked with why), waits the backoff (a cancel
   * ends the wait and the run, recorded as cancelled), and says what happens next. Resolves the selection index to
   * replay from (span), true (the cell again), or 'cancelled'.
   */
  private async retryAfter(c: RunnableCell, handle: unknown, cellRun: CellRun, output: Output, retry: NonNullable<ReturnType<LoopContext['retryFor']>>, wait: number): Promise<number | true | 'cancelled'> {
    const o = this.o;
    const history = this.retryHistory.get(retry.scope) ?? [];
    const entry = (output.record.attempts as AttemptEntry[])[(output.record.attempts as AttemptEntry[]).length - 1];
    history.push(entry);
    this.retryHistory.set(retry.scope, history);
    const tries = `try ${history.length} of ${retry.policy.attempts}`;
    const error = cellRun.kind === 'sql' ? cellRun.result.error?.message ?? 'lock_timeout' : 'lock_timeout';
    if (retry.span) {
      const pg = this.session.session!;
      await pg.executeCell('ROLLBACK').catch(() => undefined);
      const me: SpanCell = this.session.tx.openCells().find((x) => x.number === c.number) ?? { number: c.number, name: c.name, index: c.index, run: o.run.id, handle };
      // Rolled back on purpose, to be run again: not a loss for the run's summary (each try is in the record).
      const ended = this.session.tx.end('rolled back', `${cellLabel(c)} failed: ${error} (SQLSTATE 55P03, ${tries}): the runner rolled the transaction back to run it again from ${cellLabel(retry.span.opener)}`, { by: me, intended: true });
      if (ended) await this.applySpanEnd(ended);
    }
    o.reporter?.message?.(`${cellLabel(c)}: ${error} (${tries}); ${retry.span ? `transaction rolled back, running it again from ${cellLabel(retry.span.opener)}` : 'trying it again'} in ${wait} ms`);
    o.reporter?.progress?.(c, { elapsedMs: 0, text: `lock_timeout (${tries}): next try in ${(wait / 1000).toFixed(1)} s` });
    const w = await waitOrCancel(wait, o.signal);
    if (!w.cancelled) return retry.span ? retry.span.index : true;
    // Cancelled during the backoff: the record says so, with every try and the wait that was cut short.
    entry.wait_ms = w.waitedMs;
    const record: OutputRecord = { ...baseRecord(this.records, 'cancelled', new Date(), 0), attempts: [...history], retries: history.length - 1, error: { message: `cancelled while waiting ${w.waitedMs} of ${wait} ms to try again after ${tries} failed: ${error}` } };
    const out: Output = { record, body: `Cancelled during the wait before the next try (${tries} failed with lock_timeout). Nothing of the next try ran.` };
    c.cell.outputs = [out];
    await o.sink.cellOutput(c, handle, out, undefined, undefined, { event: { e: 'attempt', attempt: attemptOf(record, c) }, ctx: { source: c.cell.source, body: out.body } });
    this.markRan(c);
    o.reporter?.cellEnd?.(c, 'cancelled', 0, describeRecord(record));
    for (const obs of o.observers ?? []) await obs.cellFinished?.(c, out, o.run);
    this.stop = { cell: c, reason: 'cancelled', status: 'cancelled' };
    return 'cancelled';
  }

  /** Runs the cell on the session: once, or batch after batch for a `batch` cell. */
  private execute(c: RunnableCell, fromStatement = 0): Promise<CellRun> {
    const o = this.o;
    const cell = o.effectiveCell ? o.effectiveCell(c.cell) : c.cell;
    const batch = cell.kind === 'sql' ? batchPolicy(cell) : undefined;
    if (!batch) return this.executeOnce(c, cell, (p) => o.reporter?.progress?.(c, p), fromStatement);
    return runBatches({
      policy: batch,
      retry: retryPolicy(cell, this.session.target.connection?.profile.retry),
      signal: o.signal,
      once: (onProgress) => this.executeOnce(c, cell, onProgress, 0),
      estimate: async () => {
        const st = await batchStatement(cell);
        const pg = this.session.session;
        return st.ok && pg && !pg.closed ? estimateRows(pg, st.statement, this.session.secondConnection()) : undefined;
      },
      progress: (p) => o.reporter?.progress?.(c, p),
      message: (m) => o.reporter?.message?.(`${cellLabel(c)}: ${m}`),
    });
  }

  private executeOnce(c: RunnableCell, cell: Cell, onProgress: (p: CellProgress) => void, fromStatement: number): Promise<CellRun> {
    const o = this.o;
    const handle = this.handles.get(c.index);
    return this.session.execute(cell, {
      onCommitXid: (xid) => o.sink.commitXid?.(c, handle, o.run.id, xid),
      signal: o.signal,
      maxRows: o.maxRows,
      index: c.index,
      sqlHooks: o.hooks,
      runId: o.run.id,
      fromStatement,
      beforeCommit: c.cell.options.autocommit === false ? (r) => this.rowsCheck(c, r.statements) : undefined,
      acceptConfirmation: this.acceptConfirmation(),
      onProgress,
      onOutput: (chunk) => o.reporter?.output?.(c, chunk),
      onShellStart: (pgid) => o.sink.shellGroup?.(c, handle, o.run.id, pgid),
      confirmChecklist: async (x, pending) => {
        if (o.confirmChecklists) return pending.map((item) => ({ item, at: new Date() }));
        return o.asker.confirmChecklist ? o.asker.confirmChecklist(x, pending) : undefined;
      },
    });
  }

  /** Follows the cell's statements through the session's spans; a connection lost in the cell ends its span. */
  private async follow(c: RunnableCell, handle: unknown, cellRun: CellRun): Promise<{ ended: EndedSpan[]; span?: ReturnType<RunSession['tx']['current']> }> {
    if (cellRun.kind !== 'sql') return { ended: [] };
    const tx = this.session.tx;
    const me: SpanCell = { number: c.number, name: c.name, index: c.index, run: this.o.run.id, handle };
    const error = cellRun.result.error?.message;
    const obs = tx.observe(me, cellRun.result.results.map((r) => ({ record: r.record, effect: transactionEffect(r.statement.stmt) })), error);
    const ended = [...obs.ended];
    let span = obs.span;
    const lost = this.session.lost;
    if (lost && tx.inTransaction) {
      const last = cellRun.result.statements[cellRun.result.statements.length - 1];
      const commit = typeof last?.commit === 'string' ? last.commit : undefined;
      const fate = commit === 'committed' ? 'committed' : commit === 'aborted' ? 'rolled back' : commit ? 'unknown' : 'rolled back';
      const reason = commit
        ? `the connection was lost during COMMIT in ${cellLabel(c)}; on a new connection the transaction ${commit === 'unknown' ? 'could not be resolved' : `is ${commit}`}`
        : `the connection was lost in ${cellLabel(c)} (${lost}); PostgreSQL rolls back an open transaction when its session ends`;
      const e = tx.end(fate, reason, { by: me });
      if (e) {
        ended.push(e);
        span = e.span;
      }
    }
    return { ended, span };
  }

  /** Marks every earlier cell of an ended span with its fate, and logs the span. */
  private async applySpanEnd(e: EndedSpan): Promise<void> {
    const changes: { handle: unknown; output: Output }[] = [];
    for (const sc of e.cells) {
      const out = this.o.sink.outputOf(sc.handle);
      // An output replaced since (a re-run, an edit) is not this span's to mark: the log keeps the fate.
      if (!out || out.record.run !== sc.run) continue;
      if (out.record.span && (out.record.span as { fate?: string }).fate === e.span.fate && (out.record.span as { to?: number }).to === e.span.to) continue;
      const marked = withSpan(out, e.span);
      changes.push({ handle: sc.handle, output: marked });
      const model = this.o.all.find((x) => this.o.sink.handle(x.index) === sc.handle);
      if (model) model.cell.outputs = [marked];
    }
    if (!e.intended && e.span.fate !== 'committed') this.summary.lost.push(`${e.span.fate}: the transaction of ${e.cells.map((c) => cellLabel(c)).join(', ')} (${e.span.reason ?? 'no reason recorded'})`);
    // The cells marked with the span's fate and the span event, recorded together.
    await this.o.sink.amend(changes, { event: { e: 'span', run: this.o.run.id, span: e.span, cells: e.cells.map((c) => c.number) } });
    if (!e.intended && e.span.fate !== 'committed') this.o.reporter?.message?.(`Transaction ${e.span.fate}: ${e.cells.map((c) => cellLabel(c)).join(', ')} — ${e.span.reason ?? ''}`);
  }

  private decide(c: RunnableCell, cellRun: CellRun, output: Output, ended: EndedSpan[]): boolean {
    const status = String(output.record.status);
    if (DONE.has(status) && !(cellRun.kind === 'checklist' && cellRun.pending.length)) return true;
    if (output.record.on_error === 'continue') {
      this.summary.allowed.push(`${cellLabel(c)}: ${errorText(output.record)}`);
      this.o.reporter?.message?.(`${cellLabel(c)} failed and is allowed to fail ({"on_error":"continue"}): the run goes on.`);
      return true;
    }
    // The runbook's own ROLLBACK of a healthy transaction is a step like any other: the run goes on.
    if (status === 'rolled back' && cellRun.kind === 'sql' && cellRun.result.status === 'ok' && ended.length > 0 && ended.every((e) => e.intended)) return true;
    if (status === 'cancelled') this.stop = { cell: c, reason: 'cancelled', status: 'cancelled' };
    else if (cellRun.kind === 'checklist' && cellRun.pending.length) {
      this.stop = { cell: c, reason: `checklist not confirmed: ${cellRun.pending.map((p) => p.text).join('; ')} (confirm interactively, or pass --confirm-checklists)`, status: 'stopped' };
    } else this.stop = { cell: c, reason: errorText(output.record), status: 'failed' };
    return false;
  }

  /** The session opened in this run is gone: stop, end its span, say what was lost. */
  private async sessionLost(c: RunnableCell, reason: string): Promise<void> {
    const ended = this.session.tx.end('rolled back', `the session was lost before ${cellLabel(c)}: ${reason}; PostgreSQL rolls back an open transaction when its session ends`);
    if (ended) await this.applySpanEnd(ended);
    this.stop = { cell: c, reason: `the session to ${this.session.target.name} was lost (${reason}); it is not reopened in the middle of a run${ended ? `, and the transaction of ${ended.cells.map((x) => cellLabel(x)).join(', ')} was rolled back with it` : ''}. Resume with --from ${ended ? ended.span.from : c.number}.`, status: 'failed' };
  }

  /**
   * An open transaction when the run is over: rolled back when the run stopped, when it failed (PostgreSQL can only
   * roll it back), or when the session ends with the run (CLI). VS Code keeps a healthy one open for the next cell.
   */
  async endOpenTransaction(): Promise<void> {
    const tx = this.session.tx;
    const pg = this.session.session;
    if (!tx.inTransaction || !pg || pg.closed) return;
    if (this.o.sessionOutlivesRun && !this.stop && !tx.failure) return;
    const r = await pg.executeCell('ROLLBACK').catch(() => undefined);
    const why = tx.failure ? `${tx.failure}: the runner rolled it back`
      : this.stop ? `the run stopped at ${cellLabel(this.stop.cell)} with the transaction open: the runner rolled it back`
      : 'the run ended with the transaction open (no COMMIT): the runner rolled it back when its session ended';
    const ended = tx.end(r?.status === 'ok' ? 'rolled back' : 'rolled back', why);
    if (ended) await this.applySpanEnd(ended);
  }

  /** Cells after the stop keep no output of an earlier run: read under this run's failure, an old `ok` would mislead. */
  async markNotRun(): Promise<void> {
    if (!this.stop) return;
    const stopAt = this.stop.cell.number;
    const reason = `not run: the run stopped at ${cellLabel(this.stop.cell)}`;
    for (const c of this.o.selected) {
      if (c.number <= stopAt || c.cell.outputs.length === 0) continue;
      const out = notRunOutput(this.records, reason);
      c.cell.outputs = [out];
      // The log keeps every output a cell was given: this one replaces an earlier run's (both recorded together).
      await this.o.sink.amend([{ handle: this.handles.get(c.index), output: out }], { event: { e: 'attempt', attempt: attemptOf(out.record, c) }, ctx: { source: c.cell.source, body: out.body } });
    }
  }

  async finish(outcome: RunOutcome): Promise<void> {
    const run = this.o.run;
    const s = this.summary;
    for (const c of this.ran) {
      const status = String(c.cell.outputs[0]?.record.status);
      s.counts[status] = (s.counts[status] ?? 0) + 1;
    }
    if (this.stop) s.stopped = { cell: this.stop.cell, reason: this.stop.reason };
    run.status = this.stop ? this.stop.status : s.lost.length ? 'failed' : 'ok';
    run.exit = run.status === 'cancelled' ? 130 : run.status === 'ok' ? 0 : 1;
    run.ended = new Date();
    // Allowed failures do not fail the run (exit 0 when nothing else did), but the end of the run names each one.
    const reasons = [...(this.stop ? [`stopped at ${cellLabel(this.stop.cell)}: ${this.stop.reason}`] : []), ...s.lost, ...s.allowed.map((a) => `allowed to fail: ${a}`)];
    s.ms = run.ended.getTime() - run.started.getTime();
    // The watchers hear of the end before it is logged, so what they record (an undelivered notification) is part of the run.
    for (const obs of this.o.observers ?? []) await obs.runFinished?.(run, s);
    if (this.window) {
      const w = frontMatterWindow(this.o.runbook.frontMatter?.data);
      if (w) this.window.verdict = windowVerdict(w, run.started.getTime(), run.ended.getTime());
    }
    const fields: Record<string, unknown> = {};
    for (const obs of this.o.observers ?? []) Object.assign(fields, await obs.runEnding?.(run));
    const end = runEndRecord(run, { reasons, cells: s.counts, window: this.window });
    // An observer adds fields; it never replaces the run's own.
    for (const [k, v] of Object.entries(fields)) if (!(k in end)) end[k] = v;
    await this.o.sink.log({ e: 'end', end });
    this.endLogged = true;
    await this.o.sink.flush();
    void outcome;
  }

  /**
   * A record that could not be written (a {@link RecordWriteError} from the sink) as a {@link RecordLostError}: the cell
   * the run was at and what happened to its effect. Called before {@link abandon} rolls an open span back (which it then
   * reports as rolled back). Undefined for any other error.
   */
  recordLost(err: unknown): RecordLostError | undefined {
    if (!(err instanceof RecordWriteError)) return undefined;
    const cur = this.current;
    const c = cur?.c ?? this.ran[this.ran.length - 1] ?? this.o.selected[0];
    if (!c) return undefined;
    const open = this.session.tx.inTransaction;
    const effect: RecordLostEffect = !cur ? 'not run' : cur.recorded ? 'recorded' : !cur.ran ? 'not run' : effectOf(cur.ran, open);
    const span = effect === 'rolled back' ? this.session.tx.openCells().map((x) => x.number) : effect === 'committed' && cur?.ended?.fate === 'committed' ? cur.ended.cells : undefined;
    const cause = err.cause as NodeJS.ErrnoException | undefined;
    const detail = (cause?.message ?? err.message).replace(/^[A-Z]+: /, '').replace(/, [a-z]+( '.*')?$/, '');
    return new RecordLostError({ cell: lostCell(c), effect, code: err.code, detail, target: this.session.target.name, stage: err.stage, journal: err.journal, ...(span?.length ? { span } : {}) }, { cause: err });
  }

  /** The sink failed (or something unexpected): roll back what is open, and try to log the end. */
  async abandon(err: unknown): Promise<void> {
    const pg = this.session.session;
    if (this.session.tx.inTransaction && pg && !pg.closed) {
      await pg.executeCell('ROLLBACK').catch(() => undefined);
      this.session.tx.end('rolled back', `the run failed (${err instanceof Error ? err.message : String(err)}): the runner rolled the transaction back`);
    }
    if (this.endLogged || !this.o.run.target) return;
    const run = this.o.run;
    run.status = 'failed';
    run.exit = 1;
    run.ended = new Date();
    await this.o.sink.log({ e: 'end', end: runEndRecord(run, { reasons: [err instanceof Error ? err.message : String(err)] }) }).catch(() => undefined);
    await this.o.sink.flush().catch(() => undefined);
  }
}

/**
 * Adds the tries to a record: `attempts`, every try so far (the earlier ones from `history`, then this one with its
 * status, error and — when another follows — the wait before it, ms), and `retries`, how many tries came after the
 * first. In a span (`inSpan`) each try names the cell it failed or ended in.
 */
function addAttempts(record: OutputRecord, history: AttemptEntry[], c: RunnableCell, cellRun: CellRun, wait: number | undefined, inSpan: boolean): void {
  const e: AttemptEntry = { attempt: history.length + 1, started: String(record.started), ms: typeof record.ms === 'number' ? record.ms : 0, status: String(record.status) };
  if (inSpan) e.cell = c.number;
  const err = cellRun.kind === 'sql' ? cellRun.result.error : record.error;
  if (err) e.error = { message: err.message, ...(err.sqlstate ? { sqlstate: err.sqlstate } : {}) };
  if (wait !== undefined) e.wait_ms = wait;
  record.attempts = [...history, e];
  record.retries = history.length;
}

/** The statements of a failed autocommit try that committed (all but the failed last one), for the next try to continue. */
function committedPart(run: Extract<CellRun, { kind: 'sql' }>): Extract<CellRun, { kind: 'sql' }> {
  const results = run.result.results.slice(0, -1);
  return { ...run, result: { ...run.result, statements: run.result.statements.slice(0, -1), results, body: results.map((r) => r.body).filter(Boolean).join('\n\n') } };
}

/** A try that went on from the failed statement, joined to the statements earlier tries committed. */
function continuedRun(done: CellRun, next: CellRun): CellRun {
  if (done.kind !== 'sql' || next.kind !== 'sql') return next;
  const d = done.result;
  const n = next.result;
  const result = { ...n, statements: [...d.statements, ...n.statements], results: [...d.results, ...n.results], body: [d.body, n.body].filter(Boolean).join('\n\n'), ms: d.ms + n.ms, timeouts: d.timeouts };
  return { ...next, result };
}

/**
 * What the database has of a cell that ran, for a record that could not be written: a SQL cell still in an open span
 * is rolled back with it (by the runner, or by PostgreSQL when the session ends); one outside a span committed what
 * ran without error (autocommit: each statement is its own transaction); a failed one with nothing run has no effect.
 */
function effectOf(ran: CellRun, inTransaction: boolean): RecordLostEffect {
  if (ran.kind === 'skipped') return 'not run';
  if (ran.kind !== 'sql') return 'ran';
  if (inTransaction) return 'rolled back';
  const statements = ran.result.statements;
  if (statements.some((st) => st.commit === 'unknown')) return 'unknown';
  const stayed = statements.filter((st) => !st.error && typeof st.tag === 'string' && st.tag !== 'ROLLBACK');
  if (!stayed.length) return 'failed';
  return stayed.some((st) => !/^(SELECT|SHOW|EXPLAIN|VALUES|TABLE|FETCH|SET|RESET)\b/.test(String(st.tag))) ? 'committed' : 'ran';
}

/** The target could not be reached: nothing ran (the CLI exits 1 and records nothing). */
export class TargetUnreachableError extends Error {
  override readonly name = 'TargetUnreachableError';
}

/** The notification targets of a run: the connection profile's, then the front matter's (one per variable and format). */
function notifyTargetsOf(o: LoopOptions): NotifyTarget[] {
  const fromProfile = o.session.target.connection?.profile.notify ?? [];
  const fm = parseNotifyTargets(o.runbook.frontMatter?.data?.notify);
  const all = [...fromProfile, ...(fm.ok ? fm.targets : [])];
  const seen = new Set<string>();
  return all.filter((t) => {
    const k = `${t.url_env}\u0000${t.format}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Whether a cell's failure lets the run go on: `{"on_error":"continue"}` on a cell that failed (status `error`). A
 * cancelled cell, a lost session and an unconfirmed checklist still stop the run.
 */
export function allowedToFail(c: RunnableCell, output: Output): boolean {
  return c.cell.options.on_error === 'continue' && output.record.status === 'error';
}

/** The runs in a runbook's log, by id. */
export function runsOf(rb: Runbook): Map<string, RunRecord> {
  const map = new Map<string, RunRecord>();
  for (const e of rb.log?.events ?? []) if (e.e === 'run') map.set(e.run.id, e.run);
  return map;
}
