// A run's connection to its target: the resolved connection or the sandbox, the pinned SQL session, and cell execution into outputs.

import * as path from 'node:path';
import type { ClientConfig } from 'pg';
import { redact, resolveConnection, connectionShellEnv, writeTempPgpass, type Environment, type ResolvedConnection, type TempPgpass } from '../connections';
import type { Cell, Output, OutputRecord } from '../format';
import { confirmItems, pendingItems, type ChecklistItem } from '../engines/checklist';
import { PostgresSession, type CellResult, type StatementResult } from '../engines/postgres';
import { startSandbox, type Sandbox, type SandboxEngine } from '../engines/sandbox';
import { runShell } from '../engines/shell';
import { durationMs } from './duration';

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
  confirmChecklist?: (cell: Cell, pending: ChecklistItem[]) => Promise<ChecklistItem[] | undefined>;
  /** Safety hooks around SQL cells (findings, pre-flight, live lock view). */
  sqlHooks?: SqlCellHooks;
  /** Index of the cell in its runbook (for hooks). */
  index?: number;
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

/** A cell's execution result: the output to record and, for SQL, the statements with their kept rows. */
export interface CellExecution {
  output: Output;
  /** Set when the cell's source changed (ticked checklist items). */
  source?: string;
  results?: StatementResult[];
  /** Checklist items still unconfirmed after the run (the run must stop). */
  pending?: ChecklistItem[];
}

/**
 * One run's link to its target. Opens the sandbox or resolves the connection, pins one PostgreSQL
 * session (opened at the first SQL cell), and turns each executed cell into an {@link Output}
 * with its record. Passwords are redacted from every body.
 */
export class RunSession {
  private pg: PostgresSession | undefined;
  private pgpass: TempPgpass | undefined;
  private pgpassMade = false;
  /** Set when the sandbox was restarted (to cancel a statement): its data may be gone. */
  sandboxRestarts = 0;

  private constructor(
    readonly target: RunTarget,
    private readonly opts: OpenOptions,
  ) {}

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

  /** The pinned SQL session, connected on first use with the profile's timeouts. */
  async sql(): Promise<PostgresSession> {
    if (this.pg && !this.pg.closed) return this.pg;
    const c = this.target.connection;
    this.pg = await PostgresSession.connect(this.clientConfig(), {
      applicationName: c?.profile.applicationName ?? 'runbook',
      lockTimeout: c?.profile.lockTimeout,
      statementTimeout: c?.profile.statementTimeout,
    });
    return this.pg;
  }

  /** The current session if one is open (for status displays). */
  get session(): PostgresSession | undefined {
    return this.pg;
  }

  /** Fields every record of this run carries. */
  private baseRecord(status: string, started: Date, ms: number): OutputRecord {
    const r: OutputRecord = { status, started: started.toISOString(), ms, by: this.opts.operator, connection: this.target.name, environment: this.target.environment };
    if (this.pg) {
      r.server = this.pg.serverVersion;
      r.database = this.pg.database;
    } else if (this.target.sandbox) r.server = this.target.sandbox.serverVersion;
    return r;
  }

  private secrets(): string[] {
    const p = this.target.connection?.password;
    return p ? [p] : [];
  }

  /** Runs one cell and returns its output. Never throws for cell failures (they are recorded). */
  async execute(cell: Cell, options: ExecuteCellOptions = {}): Promise<CellExecution> {
    const started = new Date();
    if (cell.options.skip === true) return { output: { record: { ...this.baseRecord('skipped', started, 0), reason: 'cell option skip' } } };
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

  private async executeSql(cell: Cell, started: Date, options: ExecuteCellOptions): Promise<CellExecution> {
    let session: PostgresSession;
    try {
      session = await this.sql();
    } catch (e) {
      const message = redact((e as Error).message, this.secrets());
      const code = (e as { code?: string }).code;
      const error: { message: string; sqlstate?: string } = { message: `could not connect to ${this.target.display}: ${message}` };
      // Only a five-character PostgreSQL code is a SQLSTATE; ECONNREFUSED and friends are Node's.
      if (code && /^[0-9A-Z]{5}$/.test(code)) error.sqlstate = code;
      return { output: { record: { ...this.baseRecord('error', started, Date.now() - started.getTime()), error }, body: `could not connect: ${message}` } };
    }
    const hookCtx: SqlHookContext = {
      cell,
      index: options.index ?? 0,
      session,
      target: this.target,
      secondConnection: this.target.sandbox && !this.target.sandbox.supportsSecondConnection ? undefined : this.clientConfig(),
      signal: options.signal,
      onProgress: (text) => options.onProgress?.({ elapsedMs: Date.now() - started.getTime(), text }),
    };
    const extraRecord: Record<string, unknown> = {};
    const extraBody: string[] = [];
    const before = await options.sqlHooks?.before?.(hookCtx);
    if (before?.record) Object.assign(extraRecord, before.record);
    if (before?.body) extraBody.push(before.body);
    if (before?.block) {
      const record = { ...this.baseRecord('error', started, Date.now() - started.getTime()), ...extraRecord, error: { message: before.block } };
      return { output: { record, body: redact([...extraBody, before.block].join('\n\n'), this.secrets()) } };
    }

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
      const exec = (sql: string): Promise<CellResult> =>
        session.executeCell(sql, {
          signal: controller.signal,
          maxRows,
          statementTimeout: timeout === undefined ? undefined : typeof timeout === 'number' ? timeout : String(timeout),
          lockTimeout: lockTimeout === undefined ? undefined : typeof lockTimeout === 'number' ? lockTimeout : String(lockTimeout),
          onProgress: (p) => options.onProgress?.({ elapsedMs: p.elapsedMs, rows: p.rows, statement: p.statementIndex }),
        });
      if (autocommitOff && session.txState === 'idle') {
        const begin = implicit(await exec('BEGIN'));
        result = await exec(cell.source);
        const end = implicit(await exec(result.status === 'ok' ? 'COMMIT' : 'ROLLBACK'));
        result = mergeResults([begin, result, end], result.status, result.error);
      } else {
        result = await exec(cell.source);
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    if (watcher) {
      const w = await watcher.stop().catch(() => undefined);
      if (w?.record) Object.assign(extraRecord, w.record);
      if (w?.body) extraBody.push(w.body);
    }
    let status: string = result.status;
    if (restarted) {
      // The statement was stopped by restarting the sandbox: say that, not "connection lost".
      status = 'cancelled';
      const what = sandbox!.losesDataOnRestart ? 'its data is gone' : 'committed data is kept, an open transaction is rolled back';
      const message = `cancelled: the ${sandbox!.engine} sandbox cannot cancel a statement, so it was restarted (${what})`;
      extraRecord.sandbox = 'restarted to cancel the statement';
      result = { ...result, error: { ...(result.error ?? {}), message }, body: `Cancelled. The ${sandbox!.engine} sandbox cannot cancel a running statement, so it was restarted; ${what}.` };
      delete (result.error as { sqlstate?: string }).sqlstate;
      this.pg = undefined;
    }
    const record: OutputRecord = { ...this.baseRecord(status, started, result.ms), ...extraRecord };
    const settings: Record<string, string> = {};
    if (result.timeouts.lockTimeout !== undefined) settings.lock_timeout = result.timeouts.lockTimeout;
    if (result.timeouts.statementTimeout !== undefined) settings.statement_timeout = result.timeouts.statementTimeout;
    // PGlite accepts the settings but never fires them (docs/sandbox.md): say so where they are recorded.
    if (sandbox && !sandbox.supportsTimeouts) settings.enforced = 'no';
    if (Object.keys(settings).length) record.settings = settings;
    record.statements = result.statements;
    if (result.error) record.error = result.error;
    if (Array.isArray(cell.options.ack)) record.ack = cell.options.ack;
    const body = [...extraBody, result.body].filter((s) => s !== '').join('\n\n');
    return { output: { record, body: redact(body, this.secrets()) }, results: result.results };
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

  private async executeShell(cell: Cell, started: Date, options: ExecuteCellOptions): Promise<CellExecution> {
    const secrets = this.secrets();
    const timeout = cell.options.timeout;
    const r = await runShell(cell.source, {
      cwd: this.opts.runbookDir,
      env: await this.shellEnv(),
      timeoutMs: timeout === undefined ? undefined : durationMs(timeout),
      signal: options.signal,
      onOutput: (chunk) => {
        const safe = redact(chunk, secrets);
        options.onOutput?.(safe);
        const last = safe.trimEnd().split('\n').pop();
        if (last) options.onProgress?.({ elapsedMs: Date.now() - started.getTime(), text: last });
      },
    });
    const record = this.baseRecord(r.status, started, r.ms);
    delete record.server;
    if (r.exit !== undefined) record.exit = r.exit;
    if (r.signal) record.signal = r.signal;
    if (r.reason === 'timeout') record.error = { message: `timed out after ${timeout} (process group killed)` };
    else if (r.reason && r.reason !== 'cancelled') record.error = { message: r.reason };
    else if (r.status === 'error') record.error = { message: r.exit !== undefined ? `exit code ${r.exit}` : `ended by ${r.signal}` };
    if (r.omittedBytes) record.omitted_bytes = r.omittedBytes;
    return { output: { record, body: redact(r.output, secrets) } };
  }

  private async executeChecklist(cell: Cell, started: Date, options: ExecuteCellOptions): Promise<CellExecution> {
    const pending = pendingItems(cell.source, cell.outputs);
    if (pending.length === 0) {
      // Already confirmed in an earlier run: keep the record as it is.
      const prev = cell.outputs.find((o) => o.record.status === 'ok');
      if (prev) return { output: prev, pending: [] };
    }
    const answer = pending.length ? await options.confirmChecklist?.(cell, pending) : [];
    const confirmed = answer ?? [];
    const r = confirmItems(cell.source, cell.outputs, confirmed, this.opts.operator, new Date());
    const status = r.pending.length === 0 ? 'ok' : 'error';
    const record: OutputRecord = { status, started: started.toISOString(), ms: Date.now() - started.getTime(), by: this.opts.operator, items: r.items };
    if (r.pending.length) record.error = { message: `not confirmed: ${r.pending.map((p) => p.text).join('; ')}` };
    const exec: CellExecution = { output: { record }, pending: r.pending };
    if (r.source !== cell.source) exec.source = r.source;
    return exec;
  }

  /** Closes the session, removes the temporary password file, stops the sandbox. */
  async close(): Promise<void> {
    await this.pg?.close().catch(() => undefined);
    this.pg = undefined;
    await this.pgpass?.dispose().catch(() => undefined);
    await this.target.sandbox?.stop().catch(() => undefined);
  }
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
