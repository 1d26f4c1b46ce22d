// Integration tests: the PostgreSQL engine's records, bodies, errors, timeouts, cancel and lost connections.

import * as assert from 'node:assert/strict';
import { Client } from 'pg';
import { ExecuteProgress, PostgresSession } from '../../src/engines/postgres';
import { cancelWithSecondConnection, sendCancelRequest } from '../../src/engines/postgres-cancel';
import { freshDatabase, FreshDatabase } from './harness';

describe('PostgreSQL engine', function () {
  this.timeout(60_000);
  let db: FreshDatabase;
  let session: PostgresSession;
  let other: Client;

  before(async () => {
    db = await freshDatabase('postgres_engine');
    other = new Client(db.clientConfig);
    await other.connect();
    await other.query('CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2))');
    await other.query("INSERT INTO accounts VALUES (1, 'ada', 10.50), (2, 'bob', NULL)");
  });

  beforeEach(async () => {
    session = await PostgresSession.connect(db.clientConfig, { applicationName: 'runbook engine test', lockTimeout: '2s', statementTimeout: 30_000 });
  });

  afterEach(async () => {
    await session.close();
  });

  after(async () => {
    await other.end();
    await db.drop();
  });

  it('connects with the session timeouts set and records server version, database and pid', async () => {
    assert.deepEqual(session.timeouts, { lockTimeout: '2s', statementTimeout: '30s' });
    assert.equal(session.database, db.name);
    assert.match(session.serverVersion, /^\d+\.\d+/);
    const seen = await other.query<{ application_name: string; lock_timeout: string }>(
      'SELECT application_name FROM pg_stat_activity WHERE pid = $1',
      [session.pid],
    );
    assert.equal(seen.rows[0].application_name, 'runbook engine test');
    const r = await session.executeCell('SHOW lock_timeout;\nSHOW statement_timeout;');
    assert.deepEqual(
      r.results.map((x) => x.rows),
      [[['2s']], [['30s']]],
    );
    assert.deepEqual(r.timeouts, { lockTimeout: '2s', statementTimeout: '30s' });
  });

  it('records a command tag, row count, line, duration and transaction state per statement', async () => {
    const cell = [
      '-- a scratch table',
      'CREATE TEMP TABLE t (id int, label text);',
      "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, NULL);",
      'UPDATE t SET label = upper(label)',
      '  WHERE id < 3;',
      'SELECT * FROM t ORDER BY id;',
      'DELETE FROM t WHERE id = 3 RETURNING id',
    ].join('\n');
    const r = await session.executeCell(cell);
    assert.equal(r.status, 'ok');
    assert.deepEqual(
      r.statements.map(({ tag, rows, kept, line, tx }) => ({ tag, rows, kept, line, tx })),
      [
        { tag: 'CREATE TABLE', rows: undefined, kept: undefined, line: 2, tx: 'idle' },
        { tag: 'INSERT 0 3', rows: 3, kept: undefined, line: 3, tx: 'idle' },
        { tag: 'UPDATE 2', rows: 2, kept: undefined, line: 4, tx: 'idle' },
        { tag: 'SELECT 3', rows: 3, kept: 3, line: 6, tx: 'idle' },
        { tag: 'DELETE 1', rows: 1, kept: 1, line: 7, tx: 'idle' },
      ],
    );
    for (const s of r.statements) assert.ok(typeof s.ms === 'number' && s.ms >= 0);
    assert.equal(
      r.body,
      [
        'CREATE TABLE',
        '',
        'INSERT 0 3',
        '',
        'UPDATE 2',
        '',
        ' id | label ',
        '----+-------',
        '  1 | ONE',
        '  2 | TWO',
        '  3 | ',
        '(3 rows)',
        '',
        ' id ',
        '----',
        '  3',
        '(1 row)',
        '',
        'DELETE 1',
      ].join('\n'),
    );
    assert.deepEqual(r.results[3].columns?.map((c) => c.name), ['id', 'label']);
  });

  it('keeps values as the text the server sent, NULL as null', async () => {
    const r = await session.executeCell(
      "SELECT 9007199254740993::bigint AS big, 1.50::numeric(4,2) AS n, '2026-11-28 02:00:00+00'::timestamptz AT TIME ZONE 'UTC' AS ts, '{\"a\": [1, 2]}'::jsonb AS j, NULL::int AS nothing, true AS yes",
    );
    assert.deepEqual(r.results[0].rows, [['9007199254740993', '1.50', '2026-11-28 02:00:00', '{"a": [1, 2]}', null, 't']]);
  });

  it('attaches notices to the statement that raised them', async () => {
    const cell = [
      "DO $$ BEGIN RAISE NOTICE 'checking %', 'accounts'; RAISE WARNING 'balance missing' USING HINT = 'backfill it'; END $$;",
      'SELECT 1 AS quiet;',
      'DROP TABLE IF EXISTS no_such_table;',
    ].join('\n');
    const r = await session.executeCell(cell);
    assert.equal(r.status, 'ok');
    assert.deepEqual(r.statements[0].notices, ['NOTICE: checking accounts', 'WARNING: balance missing']);
    assert.equal(r.statements[1].notices, undefined);
    assert.deepEqual(r.statements[2].notices, ['NOTICE: table "no_such_table" does not exist, skipping']);
    assert.match(r.results[0].body, /^NOTICE: {2}checking accounts\nWARNING: {2}balance missing\nHINT: {2}backfill it\nDO$/);
  });

  it('stops at the failing statement with its SQLSTATE and the line it points at in a multi-line cell', async () => {
    const cell = [
      'CREATE TEMP TABLE before_error (id int);',
      '',
      'SELECT id,',
      '       owner,',
      '       no_such_column',
      '  FROM accounts;',
      'CREATE TEMP TABLE after_error (id int);',
    ].join('\n');
    const r = await session.executeCell(cell);
    assert.equal(r.status, 'error');
    assert.equal(r.statements.length, 2, 'the statement after the failing one did not run');
    assert.deepEqual(
      { ...r.error },
      { message: 'column "no_such_column" does not exist', sqlstate: '42703', line: 5, statement: 1 },
    );
    assert.equal(r.statements[1].line, 3);
    assert.equal(r.statements[1].tag, undefined);
    assert.ok(r.body.endsWith(['ERROR:  column "no_such_column" does not exist', 'LINE 5:        no_such_column', '               ^'].join('\n')), r.body);
    const after = await session.executeCell("SELECT to_regclass('pg_temp.after_error') IS NULL AS missing");
    assert.deepEqual(after.results[0].rows, [['t']]);
  });

  it('reports DETAIL and HINT from the server', async () => {
    const dup = await session.executeCell("INSERT INTO accounts VALUES (1, 'again', 0);");
    assert.equal(dup.error?.sqlstate, '23505');
    assert.equal(dup.error?.detail, 'Key (id)=(1) already exists.');
    assert.match(dup.body, /\nDETAIL: {2}Key \(id\)=\(1\) already exists\.$/);

    const fn = await session.executeCell('SELECT no_such_function(1);');
    assert.equal(fn.error?.sqlstate, '42883');
    assert.match(fn.error?.hint ?? '', /No function matches/);
    assert.match(fn.body, /\nHINT: {2}No function matches/);
  });

  it('shows the failed transaction state until ROLLBACK', async () => {
    const r = await session.executeCell('BEGIN;\nSELECT 1 / 0;');
    assert.equal(r.error?.sqlstate, '22012');
    assert.deepEqual(
      r.statements.map((s) => s.tx),
      ['in transaction', 'failed'],
    );
    assert.equal(session.txState, 'failed');
    const next = await session.executeCell('SELECT 1;');
    assert.equal(next.error?.sqlstate, '25P02');
    assert.equal(next.statements[0].tx, 'failed');
    const rollback = await session.executeCell('ROLLBACK;');
    assert.equal(rollback.statements[0].tx, 'idle');
  });

  it('keeps the first rows of a large result and counts the rest', async () => {
    const r = await session.executeCell('SELECT g AS n FROM generate_series(1, 100000) g;', { maxRows: 10, fetchSize: 1000 });
    assert.equal(r.status, 'ok');
    assert.deepEqual(
      { tag: r.statements[0].tag, rows: r.statements[0].rows, kept: r.statements[0].kept },
      { tag: 'SELECT 100000', rows: 100000, kept: 10 },
    );
    assert.equal(r.results[0].rows?.length, 10);
    assert.deepEqual(r.results[0].rows?.[9], ['10']);
    assert.ok(r.body.endsWith('\n 10\n(… 99,990 more rows not kept)\n(100000 rows)'), r.body.slice(-120));
  });

  it('counts RETURNING rows beyond one fetch and prints the command tag after the table', async () => {
    const r = await session.executeCell('CREATE TEMP TABLE many (id int);\nINSERT INTO many SELECT generate_series(1, 25) RETURNING id;', { maxRows: 2, fetchSize: 10 });
    assert.equal(r.status, 'ok');
    assert.deepEqual(
      { tag: r.statements[1].tag, rows: r.statements[1].rows, kept: r.statements[1].kept },
      { tag: 'INSERT 0 25', rows: 25, kept: 2 },
    );
    assert.ok(r.body.endsWith('(… 23 more rows not kept)\n(25 rows)\n\nINSERT 0 25'), r.body);
  });

  it('shows COPY TO STDOUT data like psql, keeping the first lines', async () => {
    const r = await session.executeCell("COPY (SELECT g, 'x' FROM generate_series(1, 5) g) TO STDOUT WITH (FORMAT csv, HEADER);", { maxRows: 3 });
    assert.equal(r.status, 'ok');
    assert.deepEqual({ tag: r.statements[0].tag, rows: r.statements[0].rows, kept: r.statements[0].kept }, { tag: 'COPY 5', rows: 5, kept: 3 });
    assert.equal(r.body, 'g,?column?\n1,x\n2,x\n(… 3 more lines not kept)');
  });

  it('refuses COPY FROM STDIN without sending it, so an open transaction stays usable', async () => {
    const r = await session.executeCell('BEGIN;\nCREATE TEMP TABLE loaded (id int);\nCOPY loaded FROM STDIN;');
    assert.equal(r.status, 'error');
    assert.match(r.error?.message ?? '', /COPY … FROM STDIN is not supported in a SQL cell/);
    assert.match(r.error?.hint ?? '', /\\copy/);
    assert.equal(session.txState, 'in transaction');
    assert.equal((await session.executeCell('ROLLBACK;')).status, 'ok');
  });

  it('shows notifications received by a LISTENing session', async () => {
    const r = await session.executeCell("LISTEN deploys;\nNOTIFY deploys, 'step 3 done';\nUNLISTEN deploys;");
    assert.equal(r.status, 'ok');
    assert.match(r.results[1].body, new RegExp(`^Asynchronous notification "deploys" with payload "step 3 done" received from server process with PID ${session.pid}\\.\nNOTIFY$`));
  });

  it('fails with SQLSTATE 55P03 when lock_timeout expires behind another session', async () => {
    await other.query('BEGIN');
    await other.query('LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE');
    try {
      const r = await session.executeCell('SELECT count(*) FROM accounts;', { lockTimeout: '100ms' });
      assert.equal(r.status, 'error');
      assert.equal(r.error?.sqlstate, '55P03');
      assert.equal(r.error?.message, 'canceling statement due to lock timeout');
      assert.deepEqual(r.timeouts, { lockTimeout: '100ms', statementTimeout: '30s' });
    } finally {
      await other.query('ROLLBACK');
    }
    const show = await session.executeCell('SHOW lock_timeout;');
    assert.deepEqual(show.results[0].rows, [['2s']], 'the cell override is restored after the cell');
  });

  it('restores the session lock_timeout after a cell override, also when a transaction rolls back', async () => {
    const begin = await session.executeCell('BEGIN;', { lockTimeout: '100ms' });
    assert.equal(begin.timeouts.lockTimeout, '100ms');
    const inside = await session.executeCell('SHOW lock_timeout;');
    assert.deepEqual(inside.results[0].rows, [['2s']]);
    await session.executeCell('ROLLBACK;');
    const after = await session.executeCell('SHOW lock_timeout;');
    assert.deepEqual(after.results[0].rows, [['2s']]);
  });

  it('refuses a bad timeout value before sending anything, so an open transaction survives', async () => {
    await session.executeCell('BEGIN;');
    const r = await session.executeCell('SELECT 1;', { statementTimeout: 'soon' });
    assert.equal(r.status, 'error');
    assert.deepEqual(r.statements, []);
    assert.match(r.error?.message ?? '', /invalid statement_timeout for this cell: "soon"/);
    assert.equal(session.txState, 'in transaction');
    await session.executeCell('ROLLBACK;');
  });

  it('fails a cell with a syntax error before running any of it', async () => {
    const r = await session.executeCell('CREATE TEMP TABLE never_made (id int);\nSELEC 1;');
    assert.equal(r.status, 'error');
    assert.deepEqual(r.statements, []);
    assert.deepEqual({ ...r.error }, { message: 'syntax error at or near "SELEC"', line: 2 });
    assert.equal(r.body, ['ERROR:  syntax error at or near "SELEC"', 'LINE 2: SELEC 1;', '        ^'].join('\n'));
    const check = await session.executeCell("SELECT to_regclass('pg_temp.never_made') IS NULL AS missing");
    assert.deepEqual(check.results[0].rows, [['t']]);
  });

  it('says that psql meta-commands are not supported', async () => {
    const r = await session.executeCell('\\set id 1\nSELECT :id;');
    assert.equal(r.status, 'error');
    assert.match(r.error?.message ?? '', /psql meta-command \\set on line 1 is not supported/);
  });

  it('runs an empty or comment-only cell as nothing, successfully', async () => {
    for (const cell of ['', '-- nothing yet\n']) {
      const r = await session.executeCell(cell);
      assert.deepEqual([r.status, r.statements, r.body], ['ok', [], '']);
    }
  });

  it('reports progress while a statement streams rows', async () => {
    const seen: ExecuteProgress[] = [];
    const r = await session.executeCell('SELECT 1;\nSELECT g, pg_sleep(0.001) FROM generate_series(1, 300) g;', {
      fetchSize: 10,
      onProgress: (p) => seen.push(p),
    });
    assert.equal(r.status, 'ok');
    assert.ok(seen.length >= 2, `${seen.length} progress calls`);
    const last = seen[seen.length - 1];
    assert.equal(last.statementIndex, 1);
    assert.ok(last.rows > 0 && last.rows <= 300);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].elapsedMs >= seen[i - 1].elapsedMs + 50);
  });

  it('reports each statement as it finishes', async () => {
    const done: string[] = [];
    await session.executeCell('SELECT 1;\nSELECT 2 UNION ALL SELECT 3;', { onStatement: (s, i) => done.push(`${i}:${s.record.tag}`) });
    assert.deepEqual(done, ['0:SELECT 1', '1:SELECT 2']);
  });

  it('cancels a statement that is streaming rows and keeps the session usable', async () => {
    const abort = new AbortController();
    // generate_series in the select list streams (ProjectSet); in FROM it would be materialized first.
    const t0 = performance.now();
    const r = await session.executeCell('SELECT generate_series(1, 100000000) AS g;', {
      signal: abort.signal,
      onProgress: (p) => {
        if (p.rows > 0) abort.abort();
      },
    });
    assert.equal(r.status, 'cancelled');
    assert.equal(r.error?.sqlstate, '57014');
    assert.ok(performance.now() - t0 < 3000, 'cancelled long before the 100 million rows were sent');
    assert.equal(session.txState, 'idle');
    const next = await session.executeCell('SELECT 2 AS two;');
    assert.deepEqual(next.results[0].rows, [['2']]);
  });

  it('can cancel with pg_cancel_backend from a second connection, the fallback when a cancel request cannot be delivered', async () => {
    const running = session.executeCell('SELECT pg_sleep(30);');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await cancelWithSecondConnection(db.clientConfig, session.pid), true);
    const r = await running;
    assert.equal(r.error?.sqlstate, '57014');
    assert.equal((await session.executeCell('SELECT 1;')).status, 'ok');
    await assert.rejects(sendCancelRequest({ host: '127.0.0.1', port: 1, processID: session.pid, secretKey: 0 }, 2000));
  });

  it('does not start a cell whose signal is already aborted', async () => {
    const abort = new AbortController();
    abort.abort();
    const r = await session.executeCell('CREATE TEMP TABLE not_run (id int);', { signal: abort.signal });
    assert.equal(r.status, 'cancelled');
    assert.deepEqual(r.statements, []);
  });

  it('runs cells sent at the same time one after the other', async () => {
    const [a, b] = await Promise.all([session.executeCell('SELECT pg_sleep(0.2), 1 AS first;'), session.executeCell('SELECT 2 AS second;')]);
    assert.equal(a.status, 'ok');
    assert.equal(b.status, 'ok');
    assert.deepEqual(b.results[0].rows, [['2']]);
  });

  it('answers a tool query inside an open transaction without disturbing it, even when the query fails', async () => {
    await session.executeCell("BEGIN;\nSET LOCAL lock_timeout = '250ms';\nCREATE TEMP TABLE inside (id int);");
    const rows = await session.inspect("SELECT current_setting('lock_timeout') AS lock_timeout, to_regclass('pg_temp.inside') IS NOT NULL AS visible");
    assert.deepEqual(rows, [{ lock_timeout: '250ms', visible: 't' }]);
    await assert.rejects(session.inspect('SELECT 1 / 0'), /division by zero/);
    assert.equal(session.txState, 'in transaction');
    const still = await session.executeCell('SELECT count(*) FROM inside;');
    assert.equal(still.status, 'ok');
    assert.equal((await session.executeCell('ROLLBACK;')).statements[0].tx, 'idle');
  });

  it('records "connection lost" when the server ends the session, and reports the session closed', async () => {
    const running = session.executeCell('SELECT pg_sleep(30);');
    await new Promise((r) => setTimeout(r, 200));
    await other.query('SELECT pg_terminate_backend($1)', [session.pid]);
    const r = await running;
    assert.equal(r.status, 'error');
    assert.equal(r.error?.sqlstate, '57P01');
    assert.match(r.error?.message ?? '', /^connection lost: terminating connection due to administrator command/);
    assert.match(r.body, /^FATAL: {2}terminating connection due to administrator command\nThe connection to the server was lost/);
    assert.equal(session.closed, true);
    const next = await session.executeCell('SELECT 1;');
    assert.equal(next.status, 'error');
    assert.match(next.error?.message ?? '', /^connection lost/);
    assert.deepEqual(next.statements, []);
  });
});
