// `runbook rehearse`: the up-steps, data an application would write, the rollback, a schema comparison and the
// up-steps again, in one session on the sandbox or a non-production connection — each phase through the one run loop.

import type { Cell, LogEvent, Output } from '../format';
import type { Redactor } from '../connections';
import type { SandboxEngine } from '../engines/sandbox';
import { runnableCells, RunRequestError, cellLabel, isRehearsalCell, blockingProblems, type RunnableCell } from '../run/cells';
import type { RunReporter, RunSink } from '../run/frontend';
import { checkRunbookWritable, RunbookStore, RunbookWriteError } from '../run/journal';
import { executeRun } from '../run/loop';
import { acquireRunLock } from '../run/run-lock';
import { runEndRecord, runRecord, startRun, type Run } from '../run/run';
import { RunSession, runbookDir } from '../run/session';
import { errorText } from '../run/summary';
import { compareSnapshots, takeSnapshot, type SchemaSnapshot, type SnapshotComparison } from './snapshot';
import { contentHash } from './content-hash';
import { loadSchemaFrom } from './schema-load';

/** The phases of a rehearsal, in order (docs/rehearse.md). */
export type PhaseName = 'setup' | 'snapshot' | 'up' | 'rehearsal' | 'rollback' | 'compare' | 'up again';

/** One cell as a phase ran it: the figures `runbook log` shows beside production's. */
export interface RehearsedCell {
  cell: number;
  name?: string;
  status: string;
  ms?: number;
  /** Rows returned or affected, summed over the cell's statements. */
  rows?: number;
  error?: string;
}

/** What one phase did. `not run`: an earlier phase failed. */
export interface PhaseResult {
  phase: PhaseName;
  status: 'ok' | 'failed' | 'not run';
  ms?: number;
  cells?: RehearsedCell[];
  /** The failed cell and why, or what failed (the snapshot query, the comparison). */
  failed?: { cell?: number; name?: string; reason: string };
}

/** The rehearsal's record, kept in the log on the run's `end` event (`rehearsal` field). */
export interface RehearsalRecord {
  /** contentHash() of the runbook's cells when the rehearsal ran: it counts for this content only. */
  hash: string;
  passed: boolean;
  phases: PhaseResult[];
  /** Whether the schema came back after the rollback. */
  schema: 'same' | 'differs' | 'not compared';
  /** The unified diff when it differs. */
  diff?: string;
  /** `--schema-from NAME`: the schema the sandbox was loaded with first. */
  schemaFrom?: string;
}

/** Options of {@link rehearseRunbook}. */
export interface RehearseOptions {
  file: string;
  /** Profile name or URI (never production); default the embedded sandbox. */
  connection?: string;
  /** Load the schema (not the data) of this connection into the sandbox first. */
  schemaFrom?: string;
  sandboxEngine?: SandboxEngine;
  env?: NodeJS.ProcessEnv;
  operator: string;
  flags?: string[];
  reporter?: RunReporter & { phase?(phase: PhaseName, status: 'started' | PhaseResult['status'], detail?: string): void };
  redactor?: Redactor;
  maxRows?: number;
  signal?: AbortSignal;
  /** Supplies a password for a profile (the extension's SecretStorage). */
  secret?: (profileName: string) => Promise<string | undefined>;
}

/** How a rehearsal ended. */
export interface RehearsalOutcome {
  run: Run;
  record: RehearsalRecord;
  /** 0: every phase passed and the schema came back; 1 otherwise. */
  exit: number;
  target: string;
  ms: number;
}

/**
 * Rehearses a runbook: in one session on the sandbox (default) or a non-production connection, takes a schema
 * snapshot, runs the up-steps, the `{"rehearsal":true}` cells, the rollback section, takes a snapshot again and
 * compares, then runs the up-steps again. Checklist cells are not rehearsed (they are confirmed on the night). The
 * cells' outputs stay out of the file (they are not production's); the file's log gets the rehearsal run, each cell's
 * attempt (with its phase) and, on its end event, each phase's result and the schema verdict, bound to the content
 * hash. Stops at the first phase that fails.
 * @throws RunRequestError for a production connection, a bad file, --schema-from without the sandbox; ConnectionConfigError
 */
export async function rehearseRunbook(opts: RehearseOptions): Promise<RehearsalOutcome> {
  const t0 = Date.now();
  let file: string;
  try {
    file = checkRunbookWritable(opts.file).path;
  } catch (e) {
    if (e instanceof RunbookWriteError) throw new RunRequestError(`${e.message} (nothing was run)`);
    throw e;
  }
  if (opts.schemaFrom && opts.connection && opts.connection !== 'sandbox') throw new RunRequestError('--schema-from loads a schema into the sandbox: it does not go with --connection (nothing was run)');
  // A rehearsal writes the file too: one run of it at a time (src/run/run-lock.ts), before the journal is folded.
  const run = startRun('runbook rehearse', opts.flags ?? [], opts.operator);
  const lock = acquireRunLock(file, { run: run.id, operator: opts.operator });
  let store: RunbookStore;
  try {
    store = RunbookStore.open(file).store;
  } catch (e) {
    lock.release();
    throw e;
  }
  let session: RunSession | undefined;
  try {
    const rb = store.runbook;
    // The loop runs on a copy of the cells without their outputs: a rehearsal's outputs are not the file's.
    const copy = structuredClone(rb.cells).map((c) => ({ ...c, outputs: [] }));
    const all = runnableCells(copy);
    const blocking = blockingProblems(rb, all);
    if (blocking.length) throw new RunRequestError(`${opts.file} has problems to fix before it is rehearsed (nothing was run):\n${blocking.map((p) => `  line ${p.line}: ${p.message}`).join('\n')}`);
    if (!all.some((c) => c.cell.options.rollback === true)) throw new RunRequestError(`${opts.file} has no rollback section (cells with {"rollback":true}): there is nothing to rehearse (nothing was run)`);
    session = await RunSession.open({ runbookDir: runbookDir(file), connection: opts.connection, sandboxEngine: opts.sandboxEngine, env: opts.env, operator: opts.operator, redactor: opts.redactor, secret: opts.secret });
    if (session.target.environment === 'production') {
      throw new RunRequestError(`${session.target.name} is a production connection: a rehearsal runs the rollback and the up-steps twice, so it runs on the sandbox or a staging/development connection only (nothing was run)`);
    }
    const record: RehearsalRecord = { hash: contentHash(rb.cells), passed: false, phases: [], schema: 'not compared' };
    if (opts.schemaFrom) record.schemaFrom = opts.schemaFrom;
    const r = new Rehearsal(opts, store, session, run, record, all, copy);
    await r.start();
    await r.phases();
    await r.end();
    return { run, record, exit: record.passed ? 0 : 1, target: session.target.display, ms: Date.now() - t0 };
  } finally {
    // The session is closed whatever the file does: a full disk must not leave the process hanging on it.
    try {
      store.close();
    } finally {
      await session?.close();
      lock.release();
    }
  }
}

/** The state of one rehearsal between its phases. */
class Rehearsal {
  private readonly sink: RehearsalSink;
  private phase: PhaseName = 'snapshot';

  constructor(
    private readonly opts: RehearseOptions,
    private readonly store: RunbookStore,
    private readonly session: RunSession,
    private readonly run: Run,
    private readonly record: RehearsalRecord,
    private readonly all: RunnableCell[],
    private readonly copy: Cell[],
  ) {
    this.sink = new RehearsalSink(store, all, () => this.phase);
  }

  async start(): Promise<void> {
    if (this.opts.schemaFrom) {
      this.opts.reporter?.message?.(`Loading the schema (not the data) of ${this.opts.schemaFrom} into the sandbox …`);
      await loadSchemaFrom(this.opts.schemaFrom, this.session, { runbookDir: runbookDir(this.opts.file), env: this.opts.env, redactor: this.session.redactor });
    }
    await this.session.sql();
    this.run.target = this.session.identity();
    this.opts.reporter?.target?.(this.session.target.display, 0);
    this.store.logEvent({ e: 'run', run: runRecord(this.run) });
  }

  async phases(): Promise<void> {
    const rehearsable = this.all.filter((c) => c.cell.kind !== 'checklist');
    const forward = rehearsable.filter((c) => c.cell.options.rollback !== true);
    const setup = forward.filter((c) => c.cell.options.rehearsal === 'setup');
    const up = forward.filter((c) => c.cell.options.rehearsal !== 'setup' && !isRehearsalCell(c));
    const data = forward.filter((c) => isRehearsalCell(c));
    const down = rehearsable.filter((c) => c.cell.options.rollback === true);
    // Setup cells give the sandbox what the real database already has: before the snapshot, once.
    if (setup.length && !(await this.cells('setup', setup))) return this.notRun(['snapshot', 'up', 'rehearsal', 'rollback', 'compare', 'up again']);
    const before = await this.snapshot('snapshot');
    if (!before) return this.notRun(['up', 'rehearsal', 'rollback', 'compare', 'up again']);
    if (!(await this.cells('up', up))) return this.notRun(['rehearsal', 'rollback', 'compare', 'up again']);
    if (!(await this.cells('rehearsal', data))) return this.notRun(['rollback', 'compare', 'up again']);
    if (!(await this.cells('rollback', down))) return this.notRun(['compare', 'up again']);
    const after = await this.snapshot('compare');
    if (!after) return this.notRun(['up again']);
    const cmp = compareSnapshots(before, after);
    this.compared(cmp, after.ms);
    if (!cmp.equal) return this.notRun(['up again']);
    if (!(await this.cells('up again', up))) return;
    this.record.passed = true;
  }

  private notRun(phases: PhaseName[]): void {
    for (const phase of phases) {
      this.record.phases.push({ phase, status: 'not run' });
      this.opts.reporter?.phase?.(phase, 'not run');
    }
  }

  /** Takes a snapshot (the first phase, or the first half of `compare`); undefined when it could not be taken. */
  private async snapshot(phase: 'snapshot' | 'compare'): Promise<SchemaSnapshot | undefined> {
    this.phase = phase;
    this.opts.reporter?.phase?.(phase, 'started');
    const pg = await this.session.sql();
    try {
      const s = await takeSnapshot((q) => pg.inspect(q));
      if (phase === 'snapshot') this.push({ phase, status: 'ok', ms: s.ms });
      return s;
    } catch (e) {
      this.push({ phase, status: 'failed', failed: { reason: `the schema snapshot failed: ${this.session.redactor.errorMessage(e)}` } });
      return undefined;
    }
  }

  private compared(cmp: SnapshotComparison, ms: number): void {
    this.record.schema = cmp.equal ? 'same' : 'differs';
    if (!cmp.equal) this.record.diff = this.session.redactor.redact(cmp.diff);
    const reason = cmp.equal ? undefined : `the schema did not come back after the rollback: ${cmp.removed.length} line${cmp.removed.length === 1 ? '' : 's'} gone, ${cmp.added.length} left behind:\n${this.record.diff}`;
    this.push({ phase: 'compare', status: cmp.equal ? 'ok' : 'failed', ms, ...(reason ? { failed: { reason } } : {}) });
  }

  private push(p: PhaseResult): void {
    this.record.phases.push(p);
    this.opts.reporter?.phase?.(p.phase, p.status, p.failed ? `${p.failed.cell !== undefined ? `${cellLabel({ number: p.failed.cell, name: p.failed.name })}: ` : ''}${p.failed.reason}` : undefined);
  }

  /** Runs one phase's cells through the run loop on the rehearsal's session; false when the phase failed. */
  private async cells(phase: PhaseName, cells: RunnableCell[]): Promise<boolean> {
    this.phase = phase;
    this.opts.reporter?.phase?.(phase, 'started');
    const t0 = Date.now();
    if (cells.length === 0) {
      this.push({ phase, status: 'ok', ms: 0, cells: [] });
      return true;
    }
    const outcome = await executeRun({
      run: this.run,
      // The loop's runbook: the cells as read, without the log (earlier runs are settled by `runbook run`, not here).
      runbook: { ...this.store.runbook, cells: this.copy, log: undefined },
      all: cells, selected: cells, session: this.session, sink: this.sink,
      asker: {}, reporter: this.opts.reporter && { ...this.opts.reporter, target: undefined }, signal: this.opts.signal, maxRows: this.opts.maxRows,
      sessionOutlivesRun: false,
    });
    const figures = cells.filter((c) => this.sink.outputs.has(c.index)).map((c) => figuresOf(c, this.sink.outputs.get(c.index)!));
    const s = outcome.summary;
    const failed = s.refused ? { reason: `refused: ${s.refused.join('; ')}` }
      : s.stopped ? { cell: s.stopped.cell.number, name: s.stopped.cell.name, reason: s.stopped.reason }
      : s.lost.length ? { reason: s.lost.join('; ') } : undefined;
    this.push({ phase, status: failed ? 'failed' : 'ok', ms: Date.now() - t0, cells: figures, ...(failed ? { failed } : {}) });
    return !failed;
  }

  async end(): Promise<void> {
    const run = this.run;
    run.status = this.record.passed ? 'ok' : 'failed';
    run.exit = this.record.passed ? 0 : 1;
    run.ended = new Date();
    const failed = this.record.phases.find((p) => p.status === 'failed');
    const reasons = failed ? [`the ${failed.phase} phase failed${failed.failed?.cell !== undefined ? ` at ${cellLabel({ number: failed.failed.cell, name: failed.failed.name })}` : ''}: ${failed.failed?.reason ?? ''}`] : [];
    const end = { ...runEndRecord(run, { reasons }), rehearsal: this.record };
    this.store.logEvent({ e: 'end', end });
    this.store.checkpoint();
  }
}

function figuresOf(c: RunnableCell, out: Output): RehearsedCell {
  const r = out.record;
  const f: RehearsedCell = { cell: c.number, status: String(r.status) };
  if (c.name) f.name = c.name;
  if (typeof r.ms === 'number') f.ms = r.ms;
  if (Array.isArray(r.statements)) f.rows = r.statements.reduce((n, s) => n + (typeof s.rows === 'number' ? s.rows : 0), 0);
  if (r.error) f.error = errorText(r);
  return f;
}

/**
 * The rehearsal's sink: outputs are kept in memory (a rehearsal's outputs are not production's and stay out of the
 * file's cells); cell attempts and span events go to the file's log with the phase they belong to; the phases'
 * own run/end events are dropped (the rehearsal writes one run and one end for all of them).
 */
class RehearsalSink implements RunSink {
  /** The latest output of each cell, by runbook index. */
  readonly outputs = new Map<number, Output>();

  constructor(
    private readonly store: RunbookStore,
    private readonly cells: RunnableCell[],
    private readonly phase: () => PhaseName,
  ) {}

  handle(index: number): unknown {
    return index;
  }
  cellNow(handle: unknown): Cell | undefined {
    return this.cells.find((c) => c.index === handle)?.cell;
  }
  outputOf(handle: unknown): Output | undefined {
    return this.outputs.get(handle as number);
  }
  async cellStarted(): Promise<void> {}
  async cellOutput(_c: RunnableCell, handle: unknown, output: Output, _source?: string, _ran?: unknown, attempt?: { event: LogEvent; ctx?: { source?: string; body?: string } }): Promise<void> {
    this.outputs.set(handle as number, output);
    if (attempt) await this.log(attempt.event, attempt.ctx);
  }
  cellEnded(): void {}
  async amend(changes: readonly { handle: unknown; output: Output }[], ev: { event: LogEvent; ctx?: { source?: string; body?: string } }): Promise<void> {
    for (const c of changes) this.outputs.set(c.handle as number, c.output);
    await this.log(ev.event, ev.ctx);
  }
  async log(event: LogEvent, ctx?: { source?: string; body?: string }): Promise<void> {
    if (event.e === 'run' || event.e === 'end') return;
    if (event.e === 'attempt') this.store.logEvent({ ...event, attempt: { ...event.attempt, phase: this.phase() } }, ctx);
    else this.store.logEvent(event, ctx);
  }
  async flush(): Promise<void> {}
}
