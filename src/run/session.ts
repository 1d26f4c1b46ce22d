// A run's connection to its target: the resolved connection or the sandbox, the pinned SQL session, its spans, and cell execution.

import * as path from 'node:path';
import type { ClientConfig } from 'pg';
import { Redactor, resolveConnection, connectionShellEnv, writeTempPgpass, type Environment, type ResolvedConnection, type TempPgpass } from '../connections';
import type { Cell, OutputRecord, RunTargetRecord } from '../format';
import { confirmItems, pendingItems, type ChecklistAnswer, type ChecklistItem, type ConfirmedItem } from '../engines/checklist';
import { PostgresSession, type CellResult } from '../engines/postgres';
import { startSandbox, type Sandbox, type SandboxEngine } from '../engines/sandbox';
import { runShell, type ShellResult } from '../engines/shell';
import { durationMs } from './duration';
import { checkExpectation, expectationText } from './expect';
import { TxTracker } from './spans';
import { splitStatements, type SqlStatement } from '../sql/split';
import { runApplicationName } from './server-sessions';

/** What a run executes against. */
export interface RunTarget {
  /** Profile name, password-free URI, or `sandbox`. */
  name: string;
  environment: Environment;
  /** Safe to print. */
  display: string;
  /** Present for real connections. */
  connection?: ResolvedConnection;
  /** Present when running on the embedded sandbox. */
  sandbox?: Sandbox;
}

/** Options for {@link RunSession.open}. */
export interface OpenOptions {
  /** Folder of the runbook: shell cells run there; profiles are searched from there. */
  runbookDir: string;
  /** Profile name or connection URI; undefined: the embedded sandbox. */
  connection?: string;
  sandboxEngine?: SandboxEngine;
  /** Keep the sandbox's data here (`--sandbox-dir`). */
  sandboxDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Supplies a password for a profile (the extension's SecretStorage). */
  secret?: (profileName: string) => Promise<string | undefined>;
  /** Operator name recorded as `by`. */
  operator: string;
  /** The run's one redaction point; the session adds the password it resolves. Default: a new one. */
  redactor?: Redactor;
}

/** Callbacks and limits for one cell execution. */
export interface ExecuteCellOptions {
  signal?: AbortSignal;
  /** Rows kept per statement (default 200). */
  maxRows?: number;
  /** Live progress text for a status line (SQL: statement n, rows; shell: last output line). */
  onProgress?: (p: { elapsedMs: number; rows?: number; statement?: number; text?: string }) => void;
  /** Shell output as it arrives (already redacted). */
  onOutput?: (chunk: string) => void;
  /**
   * Asks the operator to confirm checklist items; resolves with the items confirmed (possibly none),
   * or undefined when nobody can answer (then the checklist stays unconfirmed).
   */
  confirmChecklist?: (cell: Cell, pending: ChecklistItem[]) => Promise<ChecklistAnswer[] | undefined>;
  /** Safety hooks around SQL cells (findings, pre-flight, live lock view). */
  sqlHooks?: SqlCellHooks;
  /** Index of the cell in its runbook (for hooks). */
  index?: number;
  /** Whether an earlier checklist record's confirmation still counts for this run and target (default: all do). */
  acceptConfirmation?: (record: OutputRecord) => boolean;
  /** The run, recorded with each item confirmed in it. */
  runId?: string;
  /** Called, synchronously, with the transaction id just before a COMMIT is sent (to journal it first). */
  onCommitXid?: (xid: string) => void;
  /**
   * SQL cells in autocommit: run from this 0-based statement on (a retry after the earlier statements committed).
   * Ignored for `autocommit: false` cells, which always run whole. Line numbers stay the cell's.
   */
  fromStatement?: number;
  /**
   * `autocommit:false` cells: asked after the cell's statements succeeded and before the runner's COMMIT; a reason
   * (string) makes the cell fail with it and rolls its transaction back (the rows-affected pause, rows-check.ts).
   */
  beforeCommit?: (result: CellResult) => Promise<string | undefined>;
  /** Shell cells: called synchronously right after bash started, with its process group id (the CLI journals it). */
  onShellStart?: (pgid: number) => void;
}

/** Context handed to SQL hooks. */
export interface SqlHookContext {
  cell: Cell;
  index: number;
  session: PostgresSession;
  target: RunTarget;
  /** A fresh client config for a second connection; undefined when the target cannot serve one (sandbox). */
  secondConnection?: ClientConfig;
  signal?: AbortSignal;
  onProgress?: (text: string) => void;
}

/** Safety checks the runner calls around each SQL cell (see src/safety). */
export interface SqlCellHooks {
  /** Before the cell: `block` stops it with that message; `record`/`body` are added to its output. */
  before?(ctx: SqlHookContext): Promise<{ block?: string; record?: Record<string, unknown>; body?: string } | undefined>;
  /** While the cell runs: a watcher whose stop() gives fields for the record and a text for the body. */
  watch?(ctx: SqlHookContext): Promise<{ stop(): Promise<{ record?: Record<string, unknown>; body?: string }> } | undefined>;
  /** Called once when the run ends (closes the monitoring connection). */
  close?(): Promise<void>;
}

/** A SQL cell as it ran: the engine's result and what the safety hooks added. */
export interface SqlCellRun {
  kind: 'sql';
  started: Date;
  result: CellResult;
  /** Fields the hooks add to the record (findings, ack, pre-flight, locks). */
  extraRecord: Record<string, unknown>;
  /** Texts the hooks add to the body, before the statements' output. */
  extraBody: string[];
  /** Set when the PGlite sandbox was restarted to cancel a statement (docs/sandbox.md). */
  sandboxRestart?: { engine: string; losesData: boolean };
  /** PGlite accepts lock_timeout/statement_timeout but never fires them. */
  timeoutsNotEnforced?: boolean;
}

/** A SQL cell stopped before its first statement: the session could not be opened, or a hook refused it. */
export interface SqlCellNotRun {
  kind: 'sql-not-run';
  started: Date;
  ms: number;
  error: { message: string; sqlstate?: string };
  extraRecord: Record<string, unknown>;
  extraBody: string[];
  /** The body's last line (what happened, for the person). */
  body: string;
}

/** A shell cell as it ran. */
export interface ShellCellRun {
  kind: 'shell';
  started: Date;
  result: ShellResult;
  /** The `timeout` option as written, for the message. */
  timeout?: unknown;
}

/** A checklist cell as it ran: every item with its confirmation (this run's or an accepted earlier one). */
export interface ChecklistCellRun {
  kind: 'checklist';
  started: Date;
  ms: number;
  items: ConfirmedItem[];
  pending: ChecklistItem[];
  /** The ticked source, when it changed. */
  source?: string;
  /** `--confirm-checklists`: the items were confirmed by the flag, not one by one. */
  confirmedWith?: string;
}

/** A cell with `{"skip":true}`. */
export interface SkippedCellRun {
  kind: 'skipped';
  started: Date;
  reason: string;
}

/** What running a cell gave: the raw material the record builder (record.ts) turns into an output. */
export type CellRun = SqlCellRun | SqlCellNotRun | ShellCellRun | ChecklistCellRun | SkippedCellRun;

/** The session was opened in this run and is gone: the run must stop, not open a new one silently. */
export class SessionLostError extends Error {
  override readonly name = 'SessionLostError';
}

/**
 * One run's link to its target. Opens the sandbox or resolves the connection, pins one PostgreSQL
 * session (opened by {@link RunSession.sql}), knows the target's identity once connected, follows its
 * transaction spans ({@link RunSession.tx}), and runs cells into {@link CellRun}s.
 *
 * A session that was opened and then lost (backend terminated, server restarted, network cut) is never
 * reopened by `sql()`: the run stops and records what was lost; a new run may `reopen()` it on purpose.
 */
export class RunSession {
  private pg: PostgresSession | undefined;
  private pgpass: TempPgpass | undefined;
  private pgpassMade = false;
  /** Set when the sandbox was restarted (to cancel a statement): its data may be gone. */
  sandboxRestarts = 0;
  /** The transaction spans of this session. */
  readonly tx = new TxTracker();
  /** The server's `system_identifier` (`pg_control_system()`), once connected and where it may be read. */
  systemIdentifier: string | undefined;
  /** Every string this session's runs write or show passes it: it knows the resolved password verbatim. */
  readonly redactor: Redactor;
  /**
   * Settings this session set at connect beyond the timeouts, as the server showed them after setting them (only
   * what is in force): `client_connection_check_interval` on PostgreSQL 14+.
   */
  readonly serverSettings: Record<string, string> = {};
  /** The run the session works for now: named in its `application_name`. */
  private runId: string | undefined;

  private constructor(
    readonly target: RunTarget,
    private readonly opts: OpenOptions,
  ) {
    this.redactor = opts.redactor ?? new Redactor();
    this.redactor.addSecret(target.connection?.password);
    this.redactor.addConnectionText(opts.connection);
  }

  /**
   * Resolves the connection (profile name or URI) or starts the sandbox when none is given.
   * @throws ConnectionConfigError for unknown profiles or bad files; Error when the sandbox cannot start
   */
  static async open(opts: OpenOptions): Promise<RunSession> {
    if (!opts.connection || opts.connection === 'sandbox') {
      const sandbox = await startSandbox({ engine: opts.sandboxEngine, dir: opts.sandboxDir });
      const display = `sandbox (${sandbox.engine} ${sandbox.serverVersion}${sandbox.dir ? `, ${sandbox.dir}` : ', ephemeral'})`;
      return new RunSession({ name: 'sandbox', environment: 'sandbox', display, sandbox }, opts);
    }
    const connection = await resolveConnection(opts.connection, { startDir: opts.runbookDir, env: opts.env, secret: opts.secret });
    return new RunSession({ name: connection.profile.name, environment: connection.profile.environment, display: connection.display, connection }, opts);
  }

  /** pg client config for the target (a new object each call). */
  clientConfig(): ClientConfig {
    return this.target.sandbox ? this.target.sandbox.clientConfig() : { ...this.target.connection!.clientConfig };
  }

  /** A client config for a second connection (monitoring), or undefined where the target serves one connection at a time. */
  secondConnection(): ClientConfig | undefined {
    return this.target.sandbox && !this.target.sandbox.supportsSecondConnection ? undefined : this.clientConfig();
  }

  /**
   * The pinned SQL session, connected on first use with the profile's timeouts.
   * @throws SessionLostError when the session this run opened is gone (never reopened silently)
   * @throws the connection error when it cannot be opened
   */
  async sql(): Promise<PostgresSession> {
    if (this.pg && !this.pg.closed) return this.pg;
    if (this.pg) throw new SessionLostError(`the session to ${this.target.name} was lost: ${this.pg.closedReason ?? 'connection closed'}`);
    return this.connect();
  }

  /** Why the session opened earlier is gone, or undefined while it is open (or was never opened). */
  get lost(): string | undefined {
    return this.pg?.closed ? (this.pg.closedReason ?? 'connection closed') : undefined;
  }

  /**
   * Opens a new session after a lost one, on purpose (a new run in VS Code). SET and temporary tables of the lost
   * session are gone; its open transaction was rolled back by the server.
   */
  async reopen(): Promise<PostgresSession> {
    await this.pg?.close().catch(() => undefined);
    this.pg = undefined;
    return this.connect();
  }

  private async connect(): Promise<PostgresSession> {
    const c = this.target.connection;
    this.pg = await PostgresSession.connect(this.clientConfig(), {
      applicationName: this.applicationName(),
      lockTimeout: c?.profile.lockTimeout,
      statementTimeout: c?.profile.statementTimeout,
    });
    this.systemIdentifier ??= await readSystemIdentifier(this.pg);
    if (c) await this.setConnectionCheck(this.pg, c.profile.connectionCheckInterval ?? DEFAULT_CONNECTION_CHECK);
    return this.pg;
  }

  private applicationName(): string {
    const own = this.target.connection?.profile.applicationName;
    return this.runId ? runApplicationName(own, this.runId) : (own ?? 'runbook');
  }

  /**
   * A run starts on this session: its `application_name` becomes `runbook <run id>` (set now when the session is
   * already open, as in VS Code, where one session serves many runs; else at connect).
   */
  async beginRun(runId: string): Promise<void> {
    this.runId = runId;
    const pg = this.pg;
    if (!pg || pg.closed) return;
    await pg.inspect("SELECT set_config('application_name', $1, false) AS v", [this.applicationName()]).catch(() => undefined);
  }

  /**
   * `client_connection_check_interval` (PostgreSQL 14+, docs 20.11.2): the server checks, this often while a statement
   * runs, that the client is still there, and ends the statement of a client that died. Set only where the server
   * has it (`server_version_num` >= 140000) and not '0'; recorded in {@link serverSettings} only as the server then
   * shows it (a platform without the check refuses a non-zero value: nothing is recorded).
   */
  private async setConnectionCheck(pg: PostgresSession, value: string): Promise<void> {
    delete this.serverSettings.client_connection_check_interval;
    if (value === '0') return;
    const rows = await pg
      .inspect("SELECT CASE WHEN current_setting('server_version_num')::int >= 140000 THEN set_config('client_connection_check_interval', $1, false) END AS v", [value])
      .catch(() => undefined);
    const v = rows?.[0]?.v;
    if (v && v !== '0') this.serverSettings.client_connection_check_interval = v;
  }

  /** The current session if one is open (for status displays). */
  get session(): PostgresSession | undefined {
    return this.pg;
  }

  /** What the run runs against, as records name it (never credentials). */
  identity(): RunTargetRecord {
    const r: RunTargetRecord = { connection: this.target.name, environment: this.target.environment };
    const server = this.pg?.serverVersion || this.target.sandbox?.serverVersion;
    if (server) r.server = server;
    if (this.pg?.database) r.database = this.pg.database;
    if (this.systemIdentifier) r.system = this.systemIdentifier;
    return r;
  }

  /** Runs one cell. Never throws for cell failures (they are in the result); throws SessionLostError (see sql()). */
  async execute(cell: Cell, options: ExecuteCellOptions = {}): Promise<CellRun> {
    const started = new Date();
    if (cell.options.skip === true) return { kind: 'skipped', started, reason: 'cell option skip' };
    switch (cell.kind) {
      case 'sql':
        return this.executeSql(cell, started, options);
      case 'shell':
        return this.executeShell(cell, started, options);
      case 'checklist':
        return this.executeChecklist(cell, started, options);
      default:
        throw new Error('Markdown cells do not run');
    }
  }

  private async executeSql(cell: Cell, started: Date, options: ExecuteCellOptions): Promise<SqlCellRun | SqlCellNotRun> {
    let session: PostgresSession;
    try {
      session = await this.sql();
    } catch (e) {
      if (e instanceof SessionLostError) throw e;
      const message = this.redactor.errorMessage(e);
      const code = (e as { code?: string }).code;
      const error: { message: string; sqlstate?: string } = { message: `could not connect to ${this.target.display}: ${message}` };
      // Only a five-character PostgreSQL code is a SQLSTATE; ECONNREFUSED and friends are Node's.
      if (code && /^[0-9A-Z]{5}$/.test(code)) error.sqlstate = code;
      return { kind: 'sql-not-run', started, ms: Date.now() - started.getTime(), error, extraRecord: {}, extraBody: [], body: `could not connect: ${message}` };
    }
    const hookCtx: SqlHookContext = {
      cell,
      index: options.index ?? 0,
      session,
      target: this.target,
      secondConnection: this.secondConnection(),
      signal: options.signal,
      onProgress: (text) => options.onProgress?.({ elapsedMs: Date.now() - started.getTime(), text }),
    };
    const extraRecord: Record<string, unknown> = {};
    const extraBody: string[] = [];
    const before = await options.sqlHooks?.before?.(hookCtx);
    if (before?.record) Object.assign(extraRecord, before.record);
    if (before?.body) extraBody.push(before.body);
    if (before?.block) return { kind: 'sql-not-run', started, ms: Date.now() - started.getTime(), error: { message: before.block }, extraRecord, extraBody, body: before.block };

    // On a sandbox that cannot cancel a statement, cancel restarts it (docs/sandbox.md).
    const sandbox = this.target.sandbox;
    const controller = new AbortController();
    let restarted = false;
    const onAbort = (): void => {
      if (sandbox && !sandbox.supportsCancel) {
        restarted = true;
        this.sandboxRestarts++;
        void sandbox.restart().catch(() => undefined);
      } else controller.abort();
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    const watcher = await options.sqlHooks?.watch?.(hookCtx).catch(() => undefined);
    const timeout = cell.options.timeout;
    const lockTimeout = cell.options.lock_timeout;
    const maxRows = typeof cell.options.max_rows === 'number' ? cell.options.max_rows : options.maxRows;
    const autocommitOff = cell.options.autocommit === false;
    let result: CellResult;
    try {
      const exec = (sql: string, statements?: SqlStatement[]): Promise<CellResult> =>
        session.executeCell(sql, {
          statements,
          signal: controller.signal,
          maxRows,
          statementTimeout: timeout === undefined ? undefined : typeof timeout === 'number' ? timeout : String(timeout),
          lockTimeout: lockTimeout === undefined ? undefined : typeof lockTimeout === 'number' ? lockTimeout : String(lockTimeout),
          onProgress: (p) => options.onProgress?.({ elapsedMs: p.elapsedMs, rows: p.rows, statement: p.statementIndex }),
          onCommitXid: options.onCommitXid,
        });
      // The expectation is checked before the runner's own COMMIT or RELEASE, so an unmet one rolls its work back.
      const checked = async (): Promise<CellResult> => withExpectation(await exec(cell.source), cell.options.expect, extraRecord);
      if (autocommitOff && session.txState === 'idle') {
        const begin = implicit(await exec('BEGIN'));
        result = await checked();
        const stop = result.status === 'ok' && options.beforeCommit ? await options.beforeCommit(result) : undefined;
        if (stop) result = { ...result, status: 'error', error: { message: stop }, body: [result.body, stop].filter(Boolean).join('\n\n') };
        const end = session.closed ? undefined : implicit(await exec(result.status === 'ok' ? 'COMMIT' : 'ROLLBACK'));
        result = mergeResults(end ? [begin, result, end] : [begin, result], end && end.status !== 'ok' ? end.status : result.status, result.error ?? end?.error);
      } else if (options.fromStatement) {
        const split = await splitStatements(cell.source);
        result = withExpectation(split.ok ? await exec(cell.source, split.statements.slice(options.fromStatement)) : await exec(cell.source), cell.options.expect, extraRecord);
      } else if (cell.options.on_error === 'continue' && session.txState === 'in transaction') {
        // psql's ON_ERROR_ROLLBACK: a failure allowed inside a transaction must not abort the transaction.
        const sp = implicit(await exec(`SAVEPOINT ${ON_ERROR_SAVEPOINT}`));
        result = sp.status === 'ok' ? await checked() : sp;
        const end = sp.status !== 'ok' || session.closed ? undefined : implicit(await exec(`${result.status === 'ok' ? 'RELEASE' : 'ROLLBACK TO'} SAVEPOINT ${ON_ERROR_SAVEPOINT}`));
        if (sp.status === 'ok') result = mergeResults(end ? [sp, result, end] : [sp, result], result.status, result.error ?? end?.error);
        if (end && end.status === 'ok' && result.status !== 'ok') extraRecord.savepoint = 'rolled back to the savepoint: the transaction goes on without this cell\'s work';
      } else {
        result = await checked();
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    if (watcher) {
      const w = await watcher.stop().catch(() => undefined);
      if (w?.record) Object.assign(extraRecord, w.record);
      if (w?.body) extraBody.push(w.body);
    }
    const run: SqlCellRun = { kind: 'sql', started, result, extraRecord, extraBody };
    if (restarted) {
      run.sandboxRestart = { engine: sandbox!.engine, losesData: sandbox!.losesDataOnRestart };
      this.pg = undefined;
    }
    if (sandbox && !sandbox.supportsTimeouts) run.timeoutsNotEnforced = true;
    return run;
  }

  private async shellEnv(): Promise<NodeJS.ProcessEnv> {
    // Shell cells can tell where they run (e.g. skip a psql check on the one-connection sandbox).
    const base = { ...(this.opts.env ?? process.env), RUNBOOK_CONNECTION: this.target.name, RUNBOOK_ENVIRONMENT: this.target.environment };
    if (this.target.sandbox) {
      const c = this.target.sandbox.clientConfig();
      const env: NodeJS.ProcessEnv = { ...base, PGHOST: String(c.host), PGPORT: String(c.port), PGDATABASE: String(c.database), PGUSER: String(c.user) };
      delete env.PGPASSWORD;
      delete env.PGSERVICE;
      return env;
    }
    const conn = this.target.connection!;
    if (!this.pgpassMade) {
      this.pgpassMade = true;
      this.pgpass = await writeTempPgpass(conn);
    }
    return connectionShellEnv(conn, base, this.pgpass?.path);
  }

  private async executeShell(cell: Cell, started: Date, options: ExecuteCellOptions): Promise<ShellCellRun> {
    const timeout = cell.options.timeout;
    const result = await runShell(cell.source, {
      cwd: this.opts.runbookDir,
      env: await this.shellEnv(),
      timeoutMs: timeout === undefined ? undefined : durationMs(timeout),
      signal: options.signal,
      // Redacted as a stream by the engine (a password split across two chunks is still caught), then cut.
      redactor: this.redactor,
      onStart: options.onShellStart,
      onOutput: (safe) => {
        options.onOutput?.(safe);
        const last = safe.trimEnd().split('\n').pop();
        if (last) options.onProgress?.({ elapsedMs: Date.now() - started.getTime(), text: last });
      },
    });
    return { kind: 'shell', started, result, timeout };
  }

  private async executeChecklist(cell: Cell, started: Date, options: ExecuteCellOptions): Promise<ChecklistCellRun> {
    const accept = options.acceptConfirmation ?? (() => true);
    const pending = pendingItems(cell.source, cell.outputs, accept);
    const answers = pending.length ? ((await options.confirmChecklist?.(cell, pending)) ?? []) : [];
    const r = confirmItems(cell.source, cell.outputs, answers, this.opts.operator, { accept, run: options.runId });
    const run: ChecklistCellRun = { kind: 'checklist', started, ms: Date.now() - started.getTime(), items: r.items, pending: r.pending };
    if (r.source !== cell.source) run.source = r.source;
    return run;
  }

  /** Closes the session, removes the temporary password file, stops the sandbox. */
  async close(): Promise<void> {
    await this.pg?.close().catch(() => undefined);
    await this.pgpass?.dispose().catch(() => undefined);
    await this.target.sandbox?.stop().catch(() => undefined);
  }
}

/**
 * The cluster's `system_identifier` (PostgreSQL docs, 9.27 "System Information Functions", `pg_control_system()`):
 * the same for every database of one cluster and its physical replicas, different for another cluster with the same
 * host name. Undefined where it cannot be read (permissions, an old server).
 */
async function readSystemIdentifier(pg: PostgresSession): Promise<string | undefined> {
  try {
    const rows = await pg.inspect('SELECT system_identifier::text AS id FROM pg_control_system()');
    return rows[0]?.id ?? undefined;
  } catch {
    return undefined;
  }
}

/** `client_connection_check_interval` when the profile sets none. */
export const DEFAULT_CONNECTION_CHECK = '10s';

/** The savepoint a cell with `{"on_error":"continue"}` runs under inside a transaction (docs/format.md). */
export const ON_ERROR_SAVEPOINT = 'runbook_on_error';

/**
 * The result with the cell's expectation checked: recorded in `extra.expect` either way; an unmet one turns an `ok`
 * result into an error whose message gives expected and actual, and adds that line to the body.
 */
function withExpectation(result: CellResult, expect: unknown, extra: Record<string, unknown>): CellResult {
  if (result.status !== 'ok') return result;
  const r = checkExpectation(expect, result.results);
  if (!r) return result;
  extra.expect = r;
  if (r.met) return result;
  const last = result.statements[result.statements.length - 1];
  const changed = result.statements.some((st) => typeof st.tag === 'string' && !/^(SELECT|SHOW|EXPLAIN|VALUES|TABLE|FETCH)\b/.test(st.tag));
  const stays = changed && last?.tx === 'idle' ? ' (its statements ran outside a transaction: what they changed stays)' : '';
  const message = `expectation not met: ${expectationText(r)}${stays}`;
  return { ...result, status: 'error', error: { message }, body: [result.body, message].filter(Boolean).join('\n\n') };
}

/** Marks the BEGIN/COMMIT the runner added for `autocommit: false` as not written in the cell. */
function implicit(r: CellResult): CellResult {
  for (const st of r.statements) {
    delete st.line;
    st.implicit = true;
  }
  return r;
}

function mergeResults(parts: CellResult[], status: CellResult['status'], error: CellResult['error']): CellResult {
  const merged: CellResult = {
    status,
    statements: parts.flatMap((p) => p.statements),
    results: parts.flatMap((p) => p.results),
    body: parts.map((p) => p.body).filter(Boolean).join('\n\n'),
    ms: parts.reduce((a, p) => a + p.ms, 0),
    timeouts: parts[1].timeouts,
  };
  if (error) merged.error = error;
  return merged;
}

/** The folder of a runbook file (for shell cells and profile lookup). */
export function runbookDir(file: string): string {
  return path.dirname(path.resolve(file));
}
