// `runbook run` without the terminal: opens the runbook file and its target, and runs the one run loop with the file as its sink.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogPlacementError, parseRunbook, type Cell, type Output, type Runbook } from '../format';
import { OutputPathError, outputPathFor } from './output-path';
import { buildJsonReport, buildJunitReport } from './report';
import { isConnectionUri } from '../connections';
import type { SandboxEngine } from '../engines/sandbox';
import { blockingProblems, runnableCells, RunRequestError, selectCells } from './cells';
import type { LoggedEvent, RunAsker, RunReporter, RunSink } from './frontend';
import { checkRunbookWritable, RunbookStore, RunbookWriteError } from './journal';
import type { Redactor } from '../connections';
import { executeRun, type RunHooks, type RunObserver, type RunOutcome } from './loop';
import { monitoringFor, type RunMonitoring } from '../monitor/for-session';
import type { MonitorConnection } from '../safety/monitor';
import { startRun } from './run';
import { RunSession, runbookDir } from './session';
import { acquireRunLock, processStartTime, takeoverMessage, type RunLock } from './run-lock';

export { blockingProblems, findCell, isMutating, runnableCells, RunRequestError, selectCells, type RunnableCell } from './cells';
export type { RunOutcome, RunSummary } from './loop';

/** Options of {@link runRunbook}. */
export interface RunOptions {
  file: string;
  /** Profile name or URI; default: the front matter's `connection` (a profile name only), else the sandbox. */
  connection?: string;
  from?: string;
  only?: string;
  /** Run the rollback section instead of the up-steps. */
  rollback?: boolean;
  confirmChecklists?: boolean;
  /** Production guard answered in advance: must equal the connection name. */
  confirmProduction?: string;
  /** Re-run cells that already succeeded on production without asking. */
  rerun?: boolean;
  /** Run on a target whose environment differs from the front matter's `environment`: must equal the target's name. */
  confirmTarget?: string;
  /** Start a production run outside the runbook's window (recorded with the operator's name). */
  outsideWindow?: boolean;
  /** ms per notification attempt (default 3 s). */
  notifyTimeoutMs?: number;
  /** Production without a passing rehearsal of this content: go on without asking (recorded in the run's flags). */
  withoutRehearsal?: boolean;
  maxRows?: number;
  sandboxDir?: string;
  sandboxEngine?: SandboxEngine;
  env?: NodeJS.ProcessEnv;
  operator: string;
  /** `runbook run` (default) … recorded in the run. */
  command?: string;
  /** The flags as given, for the run's record (no secrets: the caller strips them). */
  flags?: string[];
  asker?: RunAsker;
  reporter?: RunReporter;
  /** Builds the safety hooks from the runbook as read for this run, on the run's monitoring connection. */
  hooksFor?: (rb: Runbook, ctx: { monitor?: MonitorConnection }) => RunHooks | undefined;
  /** Time between the monitoring sampler's samples, ms (default 1 000, docs/run.md "Monitoring"); 0: no sampler. */
  monitorIntervalMs?: number;
  /** More watchers of the run (notifications, the window). */
  observers?: RunObserver[];
  /** Aborting it cancels the running cell and stops the run. */
  signal?: AbortSignal;
  /** Journal fsync after each cell (default false: durable against kill, fsync at checkpoints). */
  fsyncEachCell?: boolean;
  checkpointMs?: number;
  /** A runbook that is a symbolic link is run and written at its target (default: refused). */
  followSymlink?: boolean;
  /** The run's redaction point (the CLI adds the --connection URI's password and PGPASSWORD to it). */
  redactor?: Redactor;
  /**
   * Run the file as a template: the executed copy goes to this path (placeholders `{connection}`, `{environment}`,
   * `{date}`, `{run}`: src/run/output-path.ts), the template stays byte-identical. An existing copy is run again
   * (a resume of that target's run).
   */
  output?: string;
  /** Write a summary of the run for a CI system (src/run/report.ts). */
  report?: { format: 'json' | 'junit'; file: string };
  /** `--cancel-stale`: cancel the server sessions and stop the shell process groups earlier (killed) runs left. */
  cancelStale?: boolean;
}

/**
 * Runs a runbook file with the run loop (loop.ts): the file is the sink (a journal beside it, atomic checkpoints),
 * the terminal (or nobody) is the asker. Never writes credentials.
 *
 * @throws RunRequestError when the request cannot be run as asked (bad file, unknown cell, a URI in the front
 *   matter): nothing ran; ConnectionConfigError for a bad profile; TargetUnreachableError when the target cannot be
 *   reached (nothing ran)
 */
export async function runRunbook(opts: RunOptions): Promise<RunOutcome> {
  const run = startRun(opts.command ?? 'runbook run', opts.flags ?? [], opts.operator);
  let early: RunSession | undefined;
  let file = opts.file;
  if (opts.output !== undefined) {
    // The copy's name needs the target: resolve it (without connecting) before anything is written.
    early = await openSession(opts, parseRunbook(fs.readFileSync(opts.file)));
    file = executedCopy(opts.file, opts.output, { connection: early.target.name, environment: early.target.environment, run: run.id, started: run.started.toISOString() });
  }
  // Before anything: the runbook and its folder must take the run's records (a symlink only on purpose).
  try {
    file = checkRunbookWritable(file, { followSymlink: opts.followSymlink }).path;
  } catch (e) {
    await early?.close();
    if (e instanceof RunbookWriteError) throw new RunRequestError(`${e.message} (nothing was run)`);
    throw e;
  }
  // One run of a file at a time on this machine: the lock beside the file (the executed copy's, with --output) is
  // taken before anything is written, journal folding included (src/run/run-lock.ts).
  let lock: RunLock;
  try {
    lock = acquireRunLock(file, { run: run.id, operator: opts.operator });
  } catch (e) {
    await early?.close();
    throw e;
  }
  let opened: ReturnType<typeof RunbookStore.open>;
  try {
    opened = RunbookStore.open(file, {
      fsyncEachCell: opts.fsyncEachCell,
      checkpointMs: opts.checkpointMs,
      // Another program edited the file during the run: a record kept rather than dropped is said and logged.
      onWarning: (message) => {
        opts.reporter?.message?.(message);
        opened.store.logEvent({ e: 'warning', warning: { run: run.id, at: new Date().toISOString(), about: 'edit', message } });
      },
    });
  } catch (e) {
    lock.release();
    await early?.close();
    if (e instanceof RunbookWriteError) throw new RunRequestError(e.message);
    throw e;
  }
  const { store, recovered, unfinished, warnings, groups } = opened;
  // Said as a `warning` event of the run (and on the terminal) once the run is logged.
  const takeover = takeoverMessage(lock);
  const rb = store.runbook;
  let session: RunSession | undefined = early;
  let hooks: RunHooks | undefined;
  let monitoring: RunMonitoring | undefined;
  let result!: RunOutcome;
  let closing: unknown;
  try {
    const all = runnableCells(rb.cells);
    const selected = selectCells(all, opts);
    const blocking = blockingProblems(rb, selected);
    if (blocking.length) {
      throw new RunRequestError(`${opts.file} has problems to fix before it runs (nothing was run):\n${blocking.map((p) => `  line ${p.line}: ${p.message}`).join('\n')}\n(runbook check ${opts.file} lists them all)`);
    }
    session ??= await openSession(opts, rb);
    monitoring = monitoringFor(session, { intervalMs: opts.monitorIntervalMs, onView: opts.reporter?.monitor && ((v) => opts.reporter!.monitor!(v)) });
    hooks = opts.hooksFor?.(rb, { monitor: monitoring.connection });
    const sink = new FileSink(store);
    const outcome = await executeRun({
      run,
      runbook: rb, all, selected, session, sink,
      asker: opts.asker ?? {},
      reporter: opts.reporter,
      hooks,
      signal: opts.signal,
      maxRows: opts.maxRows,
      confirmProduction: opts.confirmProduction,
      rerun: opts.rerun,
      confirmChecklists: opts.confirmChecklists,
      confirmTarget: opts.confirmTarget,
      outsideWindow: opts.outsideWindow,
      file: opts.file,
      // Notification URLs come from the environment only (docs/run.md, "Notifications").
      webhookUrl: (t) => (opts.env ?? process.env)[t.url_env],
      notifyTimeoutMs: opts.notifyTimeoutMs,
      withoutRehearsal: opts.withoutRehearsal,
      sessionOutlivesRun: false,
      recovered,
      unfinished,
      warnings,
      shellGroups: groups,
      cancelStale: opts.cancelStale,
      notes: takeover ? [{ about: 'lock', message: takeover }] : [],
      deadRuns: lock.tookOver?.holder && lock.tookOver.holder.host === lock.holder.host ? [lock.tookOver.holder.run] : [],
      observers: [...(opts.observers ?? []), ...(monitoring.sampler ? [monitoring.sampler] : [])],
    });
    if (monitoring.sampler && !outcome.summary.refused) outcome.monitor = monitoring.sampler.peaks;
    if (opts.report) writeReport(opts.report, rb, opts.output !== undefined ? file : opts.file, run.id);
    outcome.file = file;
    result = outcome;
  } catch (e) {
    // The log cannot follow the runbook's text (an unclosed fence at its end): nothing ran; say what to fix.
    if (e instanceof LogPlacementError) throw new RunRequestError(`${e.message} (nothing was run)`);
    throw e;
  } finally {
    // Every connection is closed whatever the file does: a full disk must not leave the process hanging on its
    // session (and whatever lock it held). A failed final checkpoint is thrown only when nothing else was.
    closing = closeStore(store);
    await hooks?.close?.().catch(() => undefined);
    await monitoring?.close().catch(() => undefined);
    await session?.close();
    lock.release();
  }
  if (closing) throw closing;
  return result;
}

/** Closes the store; the error of its final checkpoint is returned, not thrown (the caller closes the session first). */
function closeStore(store: RunbookStore): unknown {
  try {
    store.close();
    return undefined;
  } catch (e) {
    return e;
  }
}

/** Resolves the target (or starts the sandbox): the runbook's folder is where profiles are found and shell cells run. */
function openSession(opts: RunOptions, rb: Runbook): Promise<RunSession> {
  return RunSession.open({
    redactor: opts.redactor,
    runbookDir: runbookDir(opts.file),
    connection: opts.connection ?? frontMatterConnection(rb),
    sandboxDir: opts.sandboxDir,
    sandboxEngine: opts.sandboxEngine,
    env: opts.env,
    operator: opts.operator,
  });
}

/**
 * The executed copy of a template for this run: created from the template's bytes when it does not exist yet
 * (exclusively: never over a file that appeared meanwhile), run again as it is when it does.
 * @throws RunRequestError for a bad path (unknown placeholder, the template itself)
 */
function executedCopy(template: string, output: string, values: Parameters<typeof outputPathFor>[2]): string {
  let target: string;
  try {
    target = outputPathFor(template, output, values);
  } catch (e) {
    if (e instanceof OutputPathError) throw new RunRequestError(`${e.message} (nothing was run)`);
    throw e;
  }
  if (!fs.existsSync(target)) {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    try {
      fs.copyFileSync(template, target, fs.constants.COPYFILE_EXCL);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  return target;
}

/** Writes the run's report for a CI system (`--report json|junit FILE`), from the log's events. */
function writeReport(report: NonNullable<RunOptions['report']>, rb: Runbook, file: string, runId: string): void {
  const events = rb.log?.events ?? [];
  const text = report.format === 'json' ? `${JSON.stringify(buildJsonReport(events, { file, run: runId }), null, 2)}\n` : buildJunitReport(events, { file, run: runId });
  fs.mkdirSync(path.dirname(path.resolve(report.file)), { recursive: true });
  fs.writeFileSync(report.file, text);
}

/**
 * The front matter's `connection`, when it names a profile. A URI there is refused: a runbook from a repository must
 * not choose the server that receives your password (pass the URI with --connection if you mean it).
 * @throws RunRequestError for a URI
 */
export function frontMatterConnection(rb: Runbook): string | undefined {
  const c = rb.frontMatter?.data?.connection;
  if (typeof c !== 'string' || c.trim() === '') return undefined;
  if (isConnectionUri(c.trim())) {
    throw new RunRequestError('the front matter names a connection URI, not a profile: a runbook from a repository must not choose the server that receives your password. ' +
      'Name a connection profile there (docs/connections.md), or pass the URI on the command line with --connection if you mean it (nothing was run).');
  }
  return c;
}

/** The runbook file as a run's sink: outputs and log events through the journal, the file rewritten at checkpoints. */
export class FileSink implements RunSink {
  constructor(private readonly store: RunbookStore) {}

  private cell(handle: unknown): Cell | undefined {
    return this.store.runbook.cells[handle as number];
  }

  handle(index: number): unknown {
    return index;
  }

  /** The cell as the file on disk has it: another program's edit during the run stops the run before the edited cell. */
  cellNow(handle: unknown): Cell | undefined {
    return this.store.cellOnDisk(handle as number);
  }

  outputOf(handle: unknown): Output | undefined {
    const c = this.cell(handle);
    return c?.outputs[c.outputs.length - 1];
  }

  async cellStarted(c: { number: number }, handle: unknown, runId: string): Promise<void> {
    this.store.started(handle as number, c.number, runId);
  }

  commitXid(c: { number: number }, handle: unknown, runId: string, xid: string): void {
    this.store.commitXid(handle as number, c.number, runId, xid);
  }

  shellGroup(c: { number: number }, handle: unknown, runId: string, pgid: number): void {
    this.store.shellGroup(handle as number, c.number, runId, { pgid, start: processStartTime(pgid), host: os.hostname() });
  }

  async cellOutput(_c: unknown, handle: unknown, output: Output, source?: string, _ran?: unknown, attempt?: LoggedEvent): Promise<void> {
    const cell = this.cell(handle)!;
    if (source !== undefined) cell.source = source;
    cell.outputs = [output];
    // The output and the attempt that records it go into the journal in one write(2).
    this.store.record(handle as number, source !== undefined, attempt);
  }

  cellEnded(): void {}

  async amend(changes: readonly { handle: unknown; output: Output }[], event: LoggedEvent): Promise<void> {
    for (const c of changes) this.cell(c.handle)!.outputs = [c.output];
    // Every changed output and the event that records why, in one write(2).
    this.store.recordMany(changes.map((c) => ({ index: c.handle as number })), event);
  }

  async log(event: Parameters<RunSink['log']>[0], ctx?: { source?: string; body?: string }): Promise<void> {
    this.store.logEvent(event, ctx);
  }

  async flush(): Promise<void> {
    this.store.checkpoint();
  }
}
