// The PostgreSQL engine: one pinned session per run and connection, running SQL cells statement by statement.

import { Client, ClientConfig, FieldDef, QueryResult } from 'pg';
import type { ErrorRecord, StatementRecord, TransactionState } from '../format/model';
import { initSqlParser, lineOfOffset, splitStatementsSync, statementPositionToOffset, SqlStatement } from '../sql/split';
import { cancelWithSecondConnection, sendCancelRequest } from './postgres-cancel';
import { CommitKind, commitKind, describeLostCommit, resolveTransactionStatus, TransactionStatus, xidQuery } from './postgres-commit';
import { formatNotice, formatServerError, positionExcerpt, ServerMessageFields } from './postgres-messages';
import { RowCountingCursor, TEXT_TYPES } from './postgres-row-cursor';
import { SessionSettings, SettingName, SettingsTracker, takesSnapshot } from './postgres-settings';
import { isCopyFromStdin, isCopyToStdout, returnsRows } from './postgres-statement';
import { formatTable, ResultColumn, ResultRow } from './result-table';

/** Session settings applied once at connect. */
export interface SessionOptions {
  /** `application_name`, shown in pg_stat_activity (default `runbook`). */
  applicationName?: string;
  /** `lock_timeout` for the session: a PostgreSQL interval text (`'5s'`) or ms. Unset: the server's. */
  lockTimeout?: string | number;
  /** `statement_timeout` for the session: interval text or ms. Unset: the server's. */
  statementTimeout?: string | number;
}

/** Progress of a running cell, for a live status line. */
export interface ExecuteProgress {
  /** 0-based index of the statement running. */
  statementIndex: number;
  /** Rows received so far by that statement. */
  rows: number;
  /** ms since the cell started. */
  elapsedMs: number;
}

/** Options of one `executeCell` call. */
export interface ExecuteOptions {
  /** Rows kept per statement (default 200); further rows are counted, not kept. */
  maxRows?: number;
  /** Rows fetched per round trip from a row-returning statement's portal (default 5000). */
  fetchSize?: number;
  /** Aborting it cancels the running statement on the server and stops the cell. */
  signal?: AbortSignal;
  /** Called about every 100 ms while the cell runs. */
  onProgress?: (progress: ExecuteProgress) => void;
  /** Called when each statement has finished (ok or not), before the next one starts. */
  onStatement?: (result: StatementResult, index: number) => void;
  /**
   * Called with the transaction id just before a committing statement is sent (when one was assigned), so a caller
   * can record it durably first: if the process dies with the COMMIT in flight, `txid_status()` of it tells later.
   */
  onCommitXid?: (xid: string) => void;
  /**
   * `lock_timeout` for this cell only: interval text or ms. Afterwards the value in force before the
   * cell is put back, unless the cell's own SQL set another one.
   */
  lockTimeout?: string | number;
  /** `statement_timeout` for this cell only, like `lockTimeout`. */
  statementTimeout?: string | number;
  /**
   * The cell already split by `splitStatements(sql)` (e.g. for the safety analysis), so it is not
   * parsed twice. Must come from this same `sql`.
   */
  statements?: SqlStatement[];
}

/** One executed statement: its record, its human-readable body and the rows kept. */
export interface StatementResult {
  record: StatementRecord & StatementRecordFields;
  statement: SqlStatement;
  /** Columns, when the statement returned rows. */
  columns?: ResultColumn[];
  /** The first `maxRows` rows, as text (`null` for NULL), when the statement returned rows. */
  rows?: ResultRow[];
  /** psql-like text: notices, then the table or the command tag, or the error. */
  body: string;
}

/** Outcome of a SQL cell. `statements` holds a record for every statement that ran, the failing one included. */
export interface CellResult {
  status: 'ok' | 'error' | 'cancelled';
  statements: Array<StatementRecord & StatementRecordFields>;
  /** The same statements with their rows and bodies, for renderers (not written to the record). */
  results: StatementResult[];
  error?: ErrorRecord;
  /** psql-like text of the whole cell: the statements' bodies separated by a blank line. */
  body: string;
  /** Wall time of the cell, ms. */
  ms: number;
  /**
   * `lock_timeout` and `statement_timeout` in force when the cell's first statement ran (the cell's
   * options applied), as the server shows them. A statement that ran under other values carries them
   * in its record's `settings`.
   */
  timeouts: { lockTimeout?: string; statementTimeout?: string };
}

/**
 * Fields the engine adds to a `StatementRecord` (model.ts keeps unknown fields, so they need no
 * change there):
 * - `settings`: `{lock_timeout, statement_timeout}` in force while the statement ran, present only
 *   when they differ from the previous statement's in the same cell (the first statement's are the
 *   cell's `timeouts`).
 * - `xid`: on a COMMIT/END sent inside a transaction that had been given a transaction id, that id
 *   (text, epoch-qualified as `pg_current_xact_id()` shows it).
 * - `commit`, `commit_detail`: on a COMMIT (or PREPARE TRANSACTION / COMMIT PREPARED) whose connection
 *   was lost before the answer came: what became of the transaction, asked on a new connection, and
 *   how that was found or why it is unknown; `unknown` also on a statement sent outside a transaction block
 *   whose connection was cut while it ran (it commits by itself if the server finishes it: see
 *   `tellLostAutocommit`).
 */
export interface StatementRecordFields {
  settings?: { lock_timeout: string; statement_timeout: string };
  xid?: string;
  commit?: 'committed' | 'aborted' | 'unknown';
  commit_detail?: string;
}

const DEFAULT_MAX_ROWS = 200;
const DEFAULT_FETCH_SIZE = 5000;
const PROGRESS_INTERVAL_MS = 100;
/**
 * After a cancel asked while a COMMIT is in flight, how long to wait for its answer before cutting the
 * connection (ms): a COMMIT cannot be cancelled once it is committing, so no answer means the network
 * or the server is gone; the outcome is then asked on a new connection.
 */
const COMMIT_CANCEL_GRACE_MS = 5000;

/** COPY TO STDOUT data of the running statement: the first `max` lines kept, all counted. */
interface CopyCapture {
  lines: string[];
  counted: number;
  max: number;
  /** Text after the last line break so far. */
  partial: string;
}

/** A statement refused before it was sent, with advice for the operator. */
class NotSentError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

const TX_STATES: Record<string, TransactionState> = { I: 'idle', T: 'in transaction', E: 'failed' };

// SQLSTATE class 57P (operator intervention: admin shutdown, crash shutdown…) and 08 (connection
// exception) mean the session is gone. Source: PostgreSQL docs, Appendix A.
const CONNECTION_LOST = /^(57P0[1-4]|08)/;

/**
 * A statement sent outside a transaction block is its own transaction: it commits by itself when it completes
 * (PostgreSQL docs, "Transactions": without BEGIN every statement runs in its own transaction). When the connection
 * is cut while it runs and the server said nothing (no SQLSTATE: a network cut or a dead proxy, not a terminated
 * backend, whose FATAL 57P01 says the statement was stopped), the server may finish and commit it after the client
 * is gone, so its fate is unknown: the statement's record says `commit: "unknown"` with why, the error message and
 * the body say to check the database, and the cell's record takes the status `unknown` (record.ts).
 */
function tellLostAutocommit(result: StatementResult, error: ErrorRecord): void {
  result.record.commit = 'unknown';
  result.record.commit_detail = 'the connection was cut while the statement ran outside a transaction block, and the server said nothing: it commits by itself if it completes, which the server may do after the client is gone';
  error.message = `${error.message}: whether the statement completed (and committed) is unknown`;
  const advice = 'The connection was cut while this statement ran in autocommit: the server may have finished and committed it after the client lost it. Check the database before running it again.';
  result.body = result.body.endsWith(LOST_ADVICE) ? result.body.slice(0, -LOST_ADVICE.length) + advice : `${result.body}\n${advice}`;
}

/** The last line of a lost connection's body; a lost COMMIT replaces it with what became of the transaction. */
const LOST_ADVICE = 'The connection to the server was lost: this session and any transaction it had open are gone. Reconnect to continue.';

/**
 * One pinned PostgreSQL session (`pg.Client`): `BEGIN` in one cell and `COMMIT` in a later one work,
 * `SET` and temp tables persist, and the transaction state is known after every statement.
 *
 * Create with `PostgresSession.connect`. Cells run one at a time; a second `executeCell` call waits for
 * the first. The session reports `closed` once the server ends it or `close()` is called.
 */
export class PostgresSession {
  /** Server version from the `server_version` parameter status, e.g. `18.4` (distribution suffix cut). */
  serverVersion = '';
  /** Database the session is connected to (`current_database()`). */
  database = '';
  /** Backend process id (`pg_backend_pid()`). */
  pid = 0;
  /** Transaction state after the last statement, from ReadyForQuery. */
  txState: TransactionState = 'idle';
  /**
   * `lock_timeout` and `statement_timeout` set at connect, as the server shows them (`5s`, `0`). What
   * is in force later (after SET, RESET, a cell's options…): `settingsInForce()`.
   */
  timeouts: { lockTimeout?: string; statementTimeout?: string } = {};
  /** Set once the connection is gone; `closedReason` says why. */
  closed = false;
  closedReason?: string;

  private queue: Promise<unknown> = Promise.resolve();
  private notices: ServerMessageFields[] = [];
  private notifications: string[] = [];
  private tag: string | undefined;
  private fields: FieldDef[] | undefined;
  private settings: SettingsTracker = new SettingsTracker({ lockTimeout: '', statementTimeout: '' }, (sets) => this.exchangeSettings(sets));
  /**
   * Whether the open transaction has run a statement that takes a snapshot: before that it cannot
   * have a transaction id, and a query of ours would take its first snapshot (see `takesSnapshot`).
   */
  private txSnapshot = false;
  /** Set while a COMMIT is in flight and a cancel was asked: cuts the connection if no answer comes. */
  private commitCutTimer: NodeJS.Timeout | undefined;
  /** Lines of COPY TO STDOUT data kept (the first `max`) and counted, while such a statement runs. */
  private copyOut: CopyCapture | undefined;
  /** The server's FATAL message, once one arrived (the session is ending). */
  private fatal: string | undefined;

  private constructor(
    private readonly client: Client,
    private readonly config: ClientConfig,
  ) {}

  /**
   * Connects, applies the timeouts with `set_config()` (the function form of `SET`) and reads the
   * session's pid and database, in one round trip after the startup.
   *
   * @throws the connection error (auth, network, bad timeout value) with pg's message; nothing is left open.
   */
  static async connect(config: ClientConfig, options: SessionOptions = {}): Promise<PostgresSession> {
    await initSqlParser();
    const client = new Client({ ...config, application_name: options.applicationName ?? config.application_name ?? 'runbook' });
    const session = new PostgresSession(client, config);
    session.listen();
    try {
      await client.connect();
      const params: string[] = [];
      const setting = (name: string, value: string | number | undefined): string => {
        if (value === undefined) return `current_setting('${name}')`;
        params.push(String(value));
        return `set_config('${name}', $${params.length}, false)`;
      };
      const sql =
        `SELECT ${setting('lock_timeout', options.lockTimeout)} AS lock_timeout, ` +
        `${setting('statement_timeout', options.statementTimeout)} AS statement_timeout, ` +
        'pg_backend_pid() AS pid, current_database() AS database';
      const r = await client.query<{ lock_timeout: string; statement_timeout: string; pid: number; database: string }>(sql, params);
      const row = r.rows[0];
      session.timeouts = { lockTimeout: row.lock_timeout, statementTimeout: row.statement_timeout };
      session.settings = new SettingsTracker({ lockTimeout: row.lock_timeout, statementTimeout: row.statement_timeout }, (sets) => session.exchangeSettings(sets));
      session.pid = Number(row.pid);
      session.database = row.database;
      session.txState = session.readTxState();
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
    return session;
  }

  /**
   * Runs a tool's own read-only query on this session (catalog lookups such as a setting in force or
   * a table's size, where no second connection is available), between cells, never recorded.
   * Inside an open transaction it runs under a savepoint so that its failure cannot abort the
   * operator's transaction; values come back as text.
   *
   * @throws Error when the transaction has failed (nothing can run until ROLLBACK), the session is
   *   closed, or the query fails (the operator's transaction is left as it was).
   */
  inspect(text: string, values: unknown[] = []): Promise<Record<string, string | null>[]> {
    const run = this.queue.then(async () => {
      if (this.closed) throw new Error(`session closed: ${this.closedReason ?? ''}`);
      const tx = this.readTxState();
      if (tx === 'failed') throw new Error('the transaction has failed: nothing runs on this session until ROLLBACK');
      const query = { text, values, types: TEXT_TYPES };
      if (tx === 'idle') return (await this.client.query<Record<string, string | null>>(query)).rows;
      await this.client.query('SAVEPOINT runbook_inspect');
      this.txSnapshot = true;
      try {
        const r = await this.client.query<Record<string, string | null>>(query);
        await this.client.query('RELEASE SAVEPOINT runbook_inspect');
        return r.rows;
      } catch (e) {
        await this.client.query('ROLLBACK TO SAVEPOINT runbook_inspect; RELEASE SAVEPOINT runbook_inspect').catch(() => undefined);
        throw e;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * `lock_timeout` and `statement_timeout` in force on the session now, as the server shows them
   * (`5s`, `0`), without a round trip: re-read after every statement that can change them (see
   * `mayChangeSettings`). In a failed transaction these are the values last read (nothing can run
   * until ROLLBACK, after which they are read again).
   */
  settingsInForce(): SessionSettings {
    return { ...this.settings.inForce };
  }

  /**
   * The transaction id of the open transaction, if it has been given one (text, epoch-qualified:
   * what `pg_xact_status()` takes): `pg_current_xact_id_if_assigned()` on PostgreSQL 13+,
   * `txid_current_if_assigned()` on 10–12. Never assigns one.
   *
   * Undefined, without a round trip, when the session is idle, when the transaction has run nothing
   * that takes a snapshot (it cannot have an id yet; asking would take its first snapshot), when the
   * transaction has failed (it can only roll back: any query would be refused) and before PostgreSQL 10.
   * Waits for a running cell to finish, like `executeCell`.
   *
   * @throws Error when the session is closed or the query fails (connection lost).
   */
  currentXid(): Promise<string | undefined> {
    const run = this.queue.then(() => {
      if (this.closed) throw new Error(`session closed: ${this.closedReason ?? ''}`);
      return this.readXid();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Ends the session (a transaction still open is rolled back by the server). */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.closedReason = 'closed by the runner';
    }
    await this.client.end().catch(() => undefined);
  }

  /**
   * Cancels the statement running on this session, on the server: a protocol CancelRequest, or
   * `pg_cancel_backend` from a second connection when that cannot be delivered. Resolves once the
   * server has taken the request; the statement then fails with SQLSTATE 57014 and the session stays usable.
   */
  async cancel(): Promise<void> {
    const c = this.client as unknown as { processID: number | null; secretKey: number | null; host: string; port: number };
    try {
      if (c.processID === null || c.secretKey === null) throw new Error('no BackendKeyData received');
      await sendCancelRequest({ host: c.host, port: c.port, processID: c.processID, secretKey: c.secretKey });
    } catch {
      await cancelWithSecondConnection(this.config, this.pid);
    }
  }

  /**
   * Runs a SQL cell: splits it with the PostgreSQL parser, then sends each statement on its own (never
   * as one multi-statement string, which would run in an implicit transaction). Stops at the first
   * failing statement. Never throws for SQL errors, cancels or a lost connection: they come back as the
   * result's `status` and `error` (a cell sent to a closed session fails at once with `connection lost`).
   */
  executeCell(sql: string, options: ExecuteOptions = {}): Promise<CellResult> {
    const run = this.queue.then(() => this.run(sql, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(sql: string, options: ExecuteOptions): Promise<CellResult> {
    const started = performance.now();
    const results: StatementResult[] = [];
    let cellSettings: Readonly<SessionSettings> | undefined;
    const finish = (status: CellResult['status'], error?: ErrorRecord, extraBody?: string): CellResult => {
      const s = cellSettings ?? this.settings.inForce;
      return {
        status,
        statements: results.map((r) => r.record),
        results,
        error,
        body: [...results.map((r) => r.body), ...(extraBody ? [extraBody] : [])].filter((b) => b !== '').join('\n\n'),
        ms: Math.round(performance.now() - started),
        timeouts: { lockTimeout: s.lockTimeout, statementTimeout: s.statementTimeout },
      };
    };

    if (this.closed) {
      const message = `connection lost: ${this.closedReason ?? 'the session is closed'}`;
      return finish('error', { message }, `${message}\nNothing was run. Reconnect to continue.`);
    }
    const split = options.statements ? { ok: true as const, statements: options.statements } : splitStatementsSync(sql);
    if (!split.ok) {
      const e = split.error;
      const excerpt = e.position === undefined ? [] : positionExcerpt(sql, e.position);
      return finish('error', { message: e.message, line: e.line }, [`ERROR:  ${e.message}`, ...excerpt].join('\n'));
    }
    const signal = options.signal;
    if (signal?.aborted) return finish('cancelled', { message: 'cancelled before the cell ran' });

    const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
    const fetchSize = options.fetchSize ?? DEFAULT_FETCH_SIZE;
    const live = { index: 0, rows: 0, committing: false };
    const ticker = options.onProgress
      ? setInterval(() => options.onProgress?.({ statementIndex: live.index, rows: live.rows, elapsedMs: performance.now() - started }), PROGRESS_INTERVAL_MS)
      : undefined;
    ticker?.unref();
    let cancelling: Promise<void> | undefined;
    const onAbort = (): void => {
      cancelling ??= this.cancel().catch(() => undefined);
      if (live.committing) this.armCommitCut();
    };
    signal?.addEventListener('abort', onAbort);

    try {
      try {
        await this.settings.beginCell(cellOverrides(options), this.readTxState());
      } catch (e) {
        const error: ErrorRecord = { message: (e as Error).message };
        if (e instanceof NotSentError) error.hint = e.hint;
        return finish('error', error, formatServerError({ message: error.message, hint: error.hint }));
      }
      cellSettings = this.settings.inForce;
      let previous = cellSettings;
      for (let i = 0; i < split.statements.length; i++) {
        const statement = split.statements[i];
        if (signal?.aborted) {
          return finish('cancelled', { message: `cancelled before statement ${i + 1} (line ${statement.line}) ran`, statement: i, line: statement.line });
        }
        live.index = i;
        live.rows = 0;
        const inForce = this.settings.inForce;
        const txBefore = this.readTxState();
        const commit = commitKind(statement.stmt);
        const xid = commit === 'commit' && txBefore === 'in transaction' ? await this.xidBeforeCommit() : undefined;
        if (xid?.xid !== undefined) options.onCommitXid?.(xid.xid);
        if (signal?.aborted) {
          return finish('cancelled', { message: `cancelled before statement ${i + 1} (line ${statement.line}) ran`, statement: i, line: statement.line });
        }
        const sentOpen = !this.closed;
        live.committing = commit !== undefined;
        const outcome = await this.runStatement(sql, statement, { maxRows, fetchSize, signal, live });
        live.committing = false;
        this.disarmCommitCut();
        const record = outcome.result.record;
        if (inForce !== previous && (inForce.lockTimeout !== previous.lockTimeout || inForce.statementTimeout !== previous.statementTimeout)) {
          record.settings = { lock_timeout: inForce.lockTimeout, statement_timeout: inForce.statementTimeout };
        }
        previous = inForce;
        if (xid?.xid !== undefined) record.xid = xid.xid;
        this.trackSnapshot(statement);
        if (commit && outcome.error && this.closed) {
          const status = await this.lostCommitStatus(statement, commit, txBefore, sentOpen, xid);
          if (status) this.tellLostCommit(outcome.result, outcome.error, status, commit, xid?.xid);
        } else if (outcome.error && this.closed && sentOpen && txBefore === 'idle' && outcome.error.sqlstate === undefined) {
          tellLostAutocommit(outcome.result, outcome.error);
        }
        results.push(outcome.result);
        options.onStatement?.(outcome.result, i);
        const effect = { txBefore, txAfter: this.txState, tag: record.tag, failed: outcome.error !== undefined };
        if (this.closed) this.settings.invalidate();
        else if (this.settings.wantsRead(statement, effect)) await this.settings.afterStatement(statement, effect);
        if (outcome.error) {
          const cancelled = signal?.aborted === true && (outcome.error.sqlstate === '57014' || outcome.stoppedEarly === true);
          return finish(cancelled ? 'cancelled' : 'error', { ...outcome.error, statement: i });
        }
      }
      return finish(signal?.aborted ? 'cancelled' : 'ok', signal?.aborted ? { message: 'cancelled after the last statement finished' } : undefined);
    } finally {
      if (ticker) clearInterval(ticker);
      signal?.removeEventListener('abort', onAbort);
      this.disarmCommitCut();
      // The next statement must not start before the server has taken the cancel request: it could be
      // the one cancelled otherwise.
      if (cancelling) await cancelling;
      if (!this.closed) await this.settings.endCell(this.readTxState()).catch(() => this.settings.invalidate());
    }
  }

  /**
   * The transaction id before a COMMIT, for the record and to ask about the outcome if the connection
   * is lost during it: `{ xid }`, or `{ note }` saying why there is none.
   */
  private async xidBeforeCommit(): Promise<{ xid?: string; note?: string }> {
    try {
      const xid = await this.readXid();
      if (xid !== undefined) return { xid };
      if (xidQuery(this.serverVersion) === undefined) return { note: `the transaction id cannot be read without assigning one on PostgreSQL ${this.serverVersion || '(version unknown)'}` };
      return { note: 'no transaction id had been assigned before COMMIT (the transaction had not written anything that needs one), so there is nothing to look up' };
    } catch (e) {
      return { note: `the transaction id could not be read before COMMIT: ${(e as Error).message}` };
    }
  }

  /** See `currentXid`; runs at once (the caller holds the queue). */
  private async readXid(): Promise<string | undefined> {
    if (this.readTxState() !== 'in transaction' || !this.txSnapshot) return undefined;
    const text = xidQuery(this.serverVersion);
    if (text === undefined) return undefined;
    const r = await this.client.query<{ xid: string | null }>({ text, types: TEXT_TYPES });
    return r.rows[0]?.xid ?? undefined;
  }

  /** Keeps `txSnapshot` in step with the statement just run. */
  private trackSnapshot(statement: SqlStatement): void {
    const kind = (statement.stmt as { TransactionStmt?: { kind?: string } }).TransactionStmt?.kind;
    // COMMIT/ROLLBACK AND CHAIN start a new transaction that has taken no snapshot yet.
    if (this.txState === 'idle' || kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_ROLLBACK' || kind === 'TRANS_STMT_PREPARE') this.txSnapshot = false;
    else if (takesSnapshot(statement.stmt)) this.txSnapshot = true;
  }

  /**
   * What became of the transaction when the connection was lost while `statement` (a COMMIT, PREPARE
   * TRANSACTION or COMMIT PREPARED) was in flight; undefined when there was no transaction at stake.
   * PREPARE TRANSACTION and COMMIT PREPARED are not looked up (their outcome is a row of
   * pg_prepared_xacts, not a transaction status): they are `unknown`, with where to look.
   */
  private async lostCommitStatus(
    statement: SqlStatement,
    commit: CommitKind,
    txBefore: TransactionState,
    sentOpen: boolean,
    xid: { xid?: string; note?: string } | undefined,
  ): Promise<TransactionStatus | undefined> {
    const gid = (statement.stmt as { TransactionStmt?: { gid?: string } }).TransactionStmt?.gid ?? '';
    const where = `SELECT * FROM pg_prepared_xacts WHERE gid = ${this.client.escapeLiteral(gid)}`;
    if (commit === 'commit-prepared') return { commit: 'unknown', detail: `whether COMMIT PREPARED took effect is not checked: the transaction is still prepared if it did not (${where})` };
    if (txBefore === 'idle') return undefined;
    if (txBefore === 'failed') return { commit: 'aborted', detail: 'the transaction had failed before it: a failed transaction can only roll back' };
    if (!sentOpen) return { commit: 'aborted', detail: 'the connection was lost before it was sent: the server rolls back the open transaction of a session it loses' };
    if (commit === 'prepare') return { commit: 'unknown', detail: `whether PREPARE TRANSACTION took effect is not checked: the transaction is prepared if it did (${where})` };
    if (xid?.xid === undefined) return { commit: 'unknown', detail: xid?.note ?? 'the transaction id is unknown' };
    return resolveTransactionStatus(this.config, xid.xid, { pid: this.pid });
  }

  /** Puts what became of the transaction into the statement's record, the cell's error message and the body. */
  private tellLostCommit(result: StatementResult, error: ErrorRecord, status: TransactionStatus, commit: CommitKind, xid: string | undefined): void {
    const first = (result.statement.text.split(/\s/)[0] ?? 'COMMIT').toUpperCase();
    const verb = commit === 'commit' ? first : commit === 'prepare' ? 'PREPARE TRANSACTION' : 'COMMIT PREPARED';
    const told = describeLostCommit(verb, error.message.replace(/^connection lost: /, ''), xid, status, this.serverVersion);
    result.record.commit = status.commit;
    result.record.commit_detail = status.detail;
    error.message = told.message;
    const body = result.body;
    result.body = body.endsWith(LOST_ADVICE) ? body.slice(0, -LOST_ADVICE.length) + told.advice : `${body}\n${told.advice}`;
  }

  /** Once a cancel was asked during a COMMIT: cut the connection if no answer comes within the grace period. */
  private armCommitCut(): void {
    if (this.commitCutTimer) return;
    this.commitCutTimer = setTimeout(() => {
      (this.client.connection as unknown as { stream: { destroy(): void } }).stream.destroy();
    }, COMMIT_CANCEL_GRACE_MS);
  }

  private disarmCommitCut(): void {
    if (this.commitCutTimer) clearTimeout(this.commitCutTimer);
    this.commitCutTimer = undefined;
  }

  private async runStatement(
    cell: string,
    statement: SqlStatement,
    ctx: { maxRows: number; fetchSize: number; signal?: AbortSignal; live: { rows: number } },
  ): Promise<{ result: StatementResult; error?: ErrorRecord; stoppedEarly?: boolean }> {
    this.notices = [];
    this.notifications = [];
    this.tag = undefined;
    this.fields = undefined;
    const t0 = performance.now();
    let kept: ResultRow[] | undefined;
    let counted = 0;
    let failure: unknown;
    let stoppedEarly = false;
    const viaCursor = returnsRows(statement.stmt);
    const copyOut: CopyCapture | undefined = isCopyToStdout(statement.stmt) ? { lines: [], counted: 0, max: ctx.maxRows, partial: '' } : undefined;
    this.copyOut = copyOut;
    try {
      if (isCopyFromStdin(statement.stmt)) {
        // Not sent: the server would wait for data we do not have, and fail an open transaction.
        throw new NotSentError(
          'COPY … FROM STDIN is not supported in a SQL cell: there is no data to send with it',
          "Load the data with psql in a shell cell (\\copy … FROM 'file'), or COPY FROM a file on the database server.",
        );
      } else if (viaCursor) {
        const cursor = this.client.query(new RowCountingCursor(statement.text, ctx.maxRows));
        kept = [];
        while (!cursor.done) {
          for (const row of await cursor.read(ctx.fetchSize)) kept.push(row); // no push(...batch): a spread of a large batch overflows the stack
          counted = cursor.seen;
          ctx.live.rows = counted;
          if (!cursor.done && ctx.signal?.aborted) {
            // Between two fetches the backend is idle and a cancel request has nothing to cancel:
            // close the portal instead.
            stoppedEarly = true;
            await cursor.close();
          }
        }
      } else {
        const r = await this.client.query<ResultRow>({ text: statement.text, rowMode: 'array', types: TEXT_TYPES });
        if (this.fields !== undefined) {
          kept = r.rows.slice(0, ctx.maxRows);
          counted = r.rows.length;
        }
      }
    } catch (e) {
      failure = e;
      // pg reports an ErrorResponse before the ReadyForQuery that carries the transaction state.
      await this.waitReady();
    } finally {
      this.copyOut = undefined;
    }
    const ms = Math.round(performance.now() - t0);
    this.txState = this.readTxState();
    let tag = this.tag as string | undefined; // set by the CommandComplete listener
    if (viaCursor && tag !== undefined && failure === undefined) {
      // A portal run in several Execute messages reports only the last batch's count (`SELECT 0` when
      // the rows divide evenly): the count is the rows we received.
      const m = /^(SELECT|FETCH|INSERT \d+|UPDATE|DELETE|MERGE) \d+$/.exec(tag);
      if (m) tag = `${m[1]} ${counted}`;
    }
    const record: StatementRecord = { line: statement.line, ms };
    if (tag !== undefined) record.tag = tag;
    // A statement that failed part way shows only its error, as psql does.
    if (failure !== undefined) kept = undefined;
    const rows = rowsFromTag(tag) ?? (kept !== undefined ? counted : undefined);
    if (rows !== undefined) record.rows = rows;
    if (kept !== undefined) record.kept = kept.length;
    if (this.notices.length > 0) record.notices = this.notices.map((n) => `${n.severity ?? 'NOTICE'}: ${n.message ?? ''}`);
    record.tx = this.txState;

    const parts = [...this.notices.map(formatNotice), ...this.notifications];
    // Set by the RowDescription listener while the statement ran (TypeScript cannot see that).
    const fields = this.fields as FieldDef[] | undefined;
    const columns = fields?.map((f) => ({ name: f.name, typeOid: f.dataTypeID }));
    if (columns && kept) parts.push(formatTable(columns, kept, { totalRows: rows ?? counted }));
    if (copyOut && failure === undefined) {
      // psql prints COPY TO STDOUT data as it comes, without the command tag. (Filled by the CopyData listener.)
      const c = copyOut as CopyCapture;
      if (c.partial !== '' && c.lines.length < c.max) c.lines.push(c.partial);
      record.kept = c.lines.length;
      const more = c.counted + (c.partial !== '' ? 1 : 0) - c.lines.length;
      parts.push(c.lines.join('\n'));
      if (more > 0) parts.push(`(… ${more.toLocaleString('en-US')} more lines not kept)`);
    } else if (tag && !columns) {
      parts.push(tag);
    } else if (tag && /^(INSERT|UPDATE|DELETE|MERGE) /.test(tag)) {
      // psql prints the tag of a data-changing RETURNING statement after its rows, past a blank line.
      parts.push(`\n${tag}`);
    }
    let error: ErrorRecord | undefined;
    if (failure !== undefined) {
      error = this.errorRecord(failure, cell, statement, parts);
    } else if (stoppedEarly) {
      error = { message: `canceling statement due to user request (after ${counted} rows)`, sqlstate: '57014', line: statement.line };
      parts.push(`ERROR:  canceling statement due to user request`);
    }
    const result: StatementResult = { record, statement, body: parts.join('\n') };
    if (columns && kept) {
      result.columns = columns;
      result.rows = kept;
    }
    return { result, error, stoppedEarly };
  }

  /** Builds the error record and appends its psql-like text to `parts`; marks the session closed when it is gone. */
  private errorRecord(failure: unknown, cell: string, statement: SqlStatement, parts: string[]): ErrorRecord {
    const e = (failure ?? {}) as ServerMessageFields & { code?: string; position?: string; message?: string };
    const sqlstate = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
    const lost =
      this.closed ||
      (sqlstate === undefined && !(failure instanceof NotSentError)) ||
      CONNECTION_LOST.test(sqlstate ?? '') ||
      e.severity === 'FATAL' ||
      e.severity === 'PANIC';
    const error: ErrorRecord = { message: e.message ?? String(failure), line: statement.line };
    if (sqlstate) error.sqlstate = sqlstate;
    if (e.detail) error.detail = e.detail;
    if (e.hint) error.hint = e.hint;
    let at: { text: string; offset: number } | undefined;
    if (e.position) {
      const offset = statementPositionToOffset(statement, Number(e.position));
      at = { text: cell, offset };
      error.line = lineOfOffset(cell, offset);
    }
    if (lost) {
      this.markClosed(e.message ?? 'connection lost');
      // The server's own words (`terminating connection due to administrator command`) say more than
      // the socket error that may have been seen first.
      if (sqlstate !== undefined && e.message) this.closedReason = e.message;
      error.message = `connection lost: ${error.message}`;
      parts.push(
        sqlstate ? formatServerError(e, at) : `ERROR:  ${e.message ?? String(failure)}`,
        LOST_ADVICE,
      );
    } else {
      parts.push(formatServerError(e, at));
    }
    return error;
  }

  /**
   * Runs `SET name = 'value'` for each pair, then reads both settings, in one simple-query message.
   * SET and SHOW take no snapshot, so a `SET TRANSACTION ISOLATION LEVEL` after them still works.
   * The values come from the server's own SHOW output or from `isTimeSetting`-checked options.
   */
  private async exchangeSettings(sets: ReadonlyArray<readonly [SettingName, string]>): Promise<SessionSettings> {
    const sql = [...sets.map(([name, value]) => `SET ${name} = ${this.client.escapeLiteral(value)}`), 'SHOW lock_timeout', 'SHOW statement_timeout'].join('; ');
    // A simple query of several statements gives one result per statement (pg's typing says one).
    const results = (await this.client.query(sql)) as unknown as QueryResult<Record<string, string>>[];
    const n = results.length;
    return { lockTimeout: results[n - 2].rows[0].lock_timeout, statementTimeout: results[n - 1].rows[0].statement_timeout };
  }

  private listen(): void {
    const con = this.client.connection;
    con.on('parameterStatus', (msg: { parameterName: string; parameterValue: string }) => {
      if (msg.parameterName === 'server_version') this.serverVersion = msg.parameterValue.split(' ')[0];
    });
    // The raw command tag (`INSERT 0 5`) and the column types, straight from CommandComplete and
    // RowDescription: pg's Result keeps only a parsed form of the tag.
    con.on('commandComplete', (msg: { text: string }) => {
      this.tag = msg.text;
    });
    con.on('rowDescription', (msg: { fields: FieldDef[] }) => {
      this.fields = msg.fields;
    });
    con.on('copyData', (msg: { chunk: Buffer }) => {
      const c = this.copyOut;
      if (!c) return;
      // Text and CSV COPY data: one CopyData message per row as the server sends it (binary is shown raw).
      const lines = (c.partial + msg.chunk.toString('utf8')).split('\n');
      c.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (c.lines.length < c.max) c.lines.push(line);
        c.counted++;
      }
    });
    // LISTEN/NOTIFY on this session: shown in the body the way psql reports them.
    this.client.on('notification', (n) => {
      const payload = n.payload ? ` with payload "${n.payload}"` : '';
      this.notifications.push(`Asynchronous notification "${n.channel}"${payload} received from server process with PID ${n.processId}.`);
    });
    this.client.on('notice', (n) => {
      this.notices.push(n);
    });
    // A FATAL or PANIC from the server (e.g. 57P01 after pg_terminate_backend) is why the session ends, also when it
    // arrives during a query whose error is handled elsewhere; pg's own "Connection terminated unexpectedly" follows it.
    con.on('errorMessage', (msg: { severity?: string; message?: string }) => {
      if ((msg.severity === 'FATAL' || msg.severity === 'PANIC') && msg.message) this.fatal ??= msg.message;
    });
    this.client.on('error', (err) => this.markClosed(err.message));
    this.client.on('end', () => this.markClosed('the server closed the connection'));
  }

  /** Resolves at the next ReadyForQuery (or when the connection ends), at once if the client is idle. */
  private waitReady(): Promise<void> {
    // `readyForQuery` is pg's own flag: false from a query's submit until its ReadyForQuery.
    if ((this.client as unknown as { readyForQuery: boolean }).readyForQuery || this.closed) return Promise.resolve();
    const con = this.client.connection;
    return new Promise((resolve) => {
      const done = (): void => {
        con.removeListener('readyForQuery', done);
        con.removeListener('end', done);
        resolve();
      };
      con.on('readyForQuery', done);
      con.on('end', done);
    });
  }

  private markClosed(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closedReason = this.fatal ?? reason;
  }

  private readTxState(): TransactionState {
    return TX_STATES[this.client.getTransactionStatus() ?? 'I'] ?? this.txState;
  }
}

/** Row count carried by a command tag (`SELECT 3`, `INSERT 0 5`, `UPDATE 2`, `COPY 10`…), if any. */
export function rowsFromTag(tag: string | undefined): number | undefined {
  const m = tag && /^(SELECT|INSERT \d+|UPDATE|DELETE|MERGE|COPY|FETCH|MOVE) (\d+)$/.exec(tag);
  return m ? Number(m[2]) : undefined;
}

/** ms per unit of a time setting (PostgreSQL docs, 20.1.1 "Parameter Names and Values"). */
const TIME_UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Whether PostgreSQL takes `v` as `lock_timeout`/`statement_timeout`: ms as a number, or a number with a
 * unit (`500ms`, `5s`, `2min`), at most INT_MAX ms (both are int settings in ms). Checked before
 * anything is sent: a value the server refuses inside an open transaction would abort it.
 */
function isTimeSetting(v: string | number): boolean {
  const m = typeof v === 'number' ? [String(v), String(v), ''] : /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(v);
  if (!m) return false;
  const ms = Number(m[1]) * TIME_UNITS_MS[m[2] || 'ms'];
  return Number.isFinite(ms) && ms >= 0 && ms <= 2_147_483_647;
}

/**
 * The cell's `lock_timeout`/`timeout` options as values to SET.
 * @throws NotSentError for a value PostgreSQL would not take as a time setting.
 */
function cellOverrides(options: ExecuteOptions): Partial<Record<SettingName, string>> {
  const out: Partial<Record<SettingName, string>> = {};
  for (const [name, value] of [
    ['lock_timeout', options.lockTimeout],
    ['statement_timeout', options.statementTimeout],
  ] as const) {
    if (value === undefined) continue;
    if (!isTimeSetting(value)) {
      throw new NotSentError(`invalid ${name} for this cell: ${JSON.stringify(value)}`, "Give a number of ms, or a number with a unit: '500ms', '5s', '2min', '1h'.");
    }
    out[name] = String(value);
  }
  return out;
}
