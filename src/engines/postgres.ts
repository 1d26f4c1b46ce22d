// The PostgreSQL engine: one pinned session per run and connection, running SQL cells statement by statement.

import { Client, ClientConfig, FieldDef } from 'pg';
import type { ErrorRecord, StatementRecord, TransactionState } from '../format/model';
import { initSqlParser, lineOfOffset, splitStatementsSync, statementPositionToOffset, SqlStatement } from '../sql/split';
import { cancelWithSecondConnection, sendCancelRequest } from './postgres-cancel';
import { formatNotice, formatServerError, positionExcerpt, ServerMessageFields } from './postgres-messages';
import { RowCountingCursor, TEXT_TYPES } from './postgres-row-cursor';
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
  /** `lock_timeout` for this cell only (restored afterwards): interval text or ms. */
  lockTimeout?: string | number;
  /** `statement_timeout` for this cell only (restored afterwards): interval text or ms. */
  statementTimeout?: string | number;
  /**
   * The cell already split by `splitStatements(sql)` (e.g. for the safety analysis), so it is not
   * parsed twice. Must come from this same `sql`.
   */
  statements?: SqlStatement[];
}

/** One executed statement: its record, its human-readable body and the rows kept. */
export interface StatementResult {
  record: StatementRecord;
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
  statements: StatementRecord[];
  /** The same statements with their rows and bodies, for renderers (not written to the record). */
  results: StatementResult[];
  error?: ErrorRecord;
  /** psql-like text of the whole cell: the statements' bodies separated by a blank line. */
  body: string;
  /** Wall time of the cell, ms. */
  ms: number;
  /** `lock_timeout` and `statement_timeout` in effect for the cell, as the server shows them. */
  timeouts: { lockTimeout?: string; statementTimeout?: string };
}

const DEFAULT_MAX_ROWS = 200;
const DEFAULT_FETCH_SIZE = 5000;
const PROGRESS_INTERVAL_MS = 100;

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
  /** `lock_timeout` and `statement_timeout` set at connect, as the server shows them (`5s`, `0`). */
  timeouts: { lockTimeout?: string; statementTimeout?: string } = {};
  /** Set once the connection is gone; `closedReason` says why. */
  closed = false;
  closedReason?: string;

  private queue: Promise<unknown> = Promise.resolve();
  private notices: ServerMessageFields[] = [];
  private notifications: string[] = [];
  private tag: string | undefined;
  private fields: FieldDef[] | undefined;
  /** Set while a cell's timeout override may still be in effect on the server. */
  private timeoutsOverridden = false;
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
    let effective: { lockTimeout?: string; statementTimeout?: string } = {};
    const finish = (status: CellResult['status'], error?: ErrorRecord, extraBody?: string): CellResult => ({
      status,
      statements: results.map((r) => r.record),
      results,
      error,
      body: [...results.map((r) => r.body), ...(extraBody ? [extraBody] : [])].filter((b) => b !== '').join('\n\n'),
      ms: Math.round(performance.now() - started),
      timeouts: { ...this.timeouts, ...effective },
    });

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
    const live = { index: 0, rows: 0 };
    const ticker = options.onProgress
      ? setInterval(() => options.onProgress?.({ statementIndex: live.index, rows: live.rows, elapsedMs: performance.now() - started }), PROGRESS_INTERVAL_MS)
      : undefined;
    ticker?.unref();
    let cancelling: Promise<void> | undefined;
    const onAbort = (): void => {
      cancelling ??= this.cancel().catch(() => undefined);
    };
    signal?.addEventListener('abort', onAbort);

    try {
      try {
        effective = await this.applyCellTimeouts(options);
      } catch (e) {
        const error: ErrorRecord = { message: (e as Error).message };
        if (e instanceof NotSentError) error.hint = e.hint;
        return finish('error', error, formatServerError({ message: error.message, hint: error.hint }));
      }
      for (let i = 0; i < split.statements.length; i++) {
        const statement = split.statements[i];
        if (signal?.aborted) {
          return finish('cancelled', { message: `cancelled before statement ${i + 1} (line ${statement.line}) ran`, statement: i, line: statement.line });
        }
        live.index = i;
        live.rows = 0;
        const outcome = await this.runStatement(sql, statement, { maxRows, fetchSize, signal, live });
        results.push(outcome.result);
        options.onStatement?.(outcome.result, i);
        if (outcome.error) {
          const cancelled = signal?.aborted === true && (outcome.error.sqlstate === '57014' || outcome.stoppedEarly === true);
          return finish(cancelled ? 'cancelled' : 'error', { ...outcome.error, statement: i });
        }
      }
      return finish(signal?.aborted ? 'cancelled' : 'ok', signal?.aborted ? { message: 'cancelled after the last statement finished' } : undefined);
    } finally {
      if (ticker) clearInterval(ticker);
      signal?.removeEventListener('abort', onAbort);
      // The next statement must not start before the server has taken the cancel request: it could be
      // the one cancelled otherwise.
      if (cancelling) await cancelling;
      await this.restoreCellTimeouts().catch(() => undefined);
    }
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
        'The connection to the server was lost: this session and any transaction it had open are gone. Reconnect to continue.',
      );
    } else {
      parts.push(formatServerError(e, at));
    }
    return error;
  }

  /**
   * Sets the cell's own `lock_timeout`/`statement_timeout`, if it has any, after putting back the
   * session's after an earlier override. Values are checked here first: a bad one sent to the server
   * inside an open transaction would abort that transaction.
   *
   * @throws NotSentError for a value PostgreSQL would not take as a time setting.
   */
  private async applyCellTimeouts(options: ExecuteOptions): Promise<{ lockTimeout?: string; statementTimeout?: string }> {
    await this.restoreCellTimeouts();
    if (options.lockTimeout === undefined && options.statementTimeout === undefined) return {};
    for (const [name, value] of [
      ['lock_timeout', options.lockTimeout],
      ['statement_timeout', options.statementTimeout],
    ] as const) {
      if (value !== undefined && !isTimeSetting(value)) {
        throw new NotSentError(`invalid ${name} for this cell: ${JSON.stringify(value)}`, "Give a number of ms, or a number with a unit: '500ms', '5s', '2min', '1h'.");
      }
    }
    if (this.txState === 'failed') return {}; // set_config would fail in an aborted transaction; the cell's statements will say so
    const r = await this.client.query<{ lock_timeout: string; statement_timeout: string }>(
      'SELECT set_config($1, coalesce($2, current_setting($1)), false) AS lock_timeout, set_config($3, coalesce($4, current_setting($3)), false) AS statement_timeout',
      ['lock_timeout', optionalText(options.lockTimeout), 'statement_timeout', optionalText(options.statementTimeout)],
    );
    this.timeoutsOverridden = true;
    return { lockTimeout: r.rows[0].lock_timeout, statementTimeout: r.rows[0].statement_timeout };
  }

  /**
   * Puts the session's timeouts back after a cell that overrode them. A `set_config` made inside a
   * transaction is undone by its ROLLBACK, so the override counts as undone only once restored while
   * idle; until then it is restored again before and after every cell (not at all while the
   * transaction has failed, where set_config cannot run).
   */
  private async restoreCellTimeouts(): Promise<void> {
    if (!this.timeoutsOverridden || this.closed) return;
    const tx = this.readTxState();
    if (tx === 'failed') return;
    await this.client.query("SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)", [
      this.timeouts.lockTimeout ?? '0',
      this.timeouts.statementTimeout ?? '0',
    ]);
    if (tx === 'idle') this.timeoutsOverridden = false;
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

/** Whether PostgreSQL takes `v` as a time setting: ms as a number, or a number with a unit (`500ms`, `5s`, `2min`). */
function isTimeSetting(v: string | number): boolean {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0;
  // Units of time settings: PostgreSQL docs, 20.1.1 "Parameter Names and Values".
  return /^\s*\d+(\.\d+)?\s*(us|ms|s|min|h|d)?\s*$/.test(v);
}

function optionalText(v: string | number | undefined): string | null {
  return v === undefined ? null : String(v);
}
