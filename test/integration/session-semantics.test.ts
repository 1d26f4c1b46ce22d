// Integration tests: what an operator relies on across cells of one session (cases 10 and 05, real PostgreSQL).

import * as assert from 'node:assert/strict';
import { Client } from 'pg';
import { PostgresSession } from '../../src/engines/postgres';
import { freshDatabase, FreshDatabase } from './harness';

describe('session semantics across cells', function () {
  this.timeout(60_000);
  let db: FreshDatabase;
  let session: PostgresSession;
  let monitor: Client;

  before(async () => {
    db = await freshDatabase('session_semantics');
    monitor = new Client(db.clientConfig);
    await monitor.connect();
  });

  beforeEach(async () => {
    session = await PostgresSession.connect(db.clientConfig, { applicationName: 'runbook test' });
  });

  afterEach(async () => {
    await session.close();
  });

  after(async () => {
    await monitor.end();
    await db.drop();
  });

  it('keeps a transaction open across cells: BEGIN, UPDATE, SELECT sees it, ROLLBACK undoes it', async () => {
    const setup = await session.executeCell(
      "CREATE TABLE orders (id int PRIMARY KEY, status text);\nINSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'paid' END FROM generate_series(1, 10) g;",
    );
    assert.equal(setup.status, 'ok');

    const begin = await session.executeCell('BEGIN;');
    assert.equal(begin.status, 'ok');
    assert.equal(begin.statements[0].tx, 'in transaction');
    assert.equal(session.txState, 'in transaction');

    const update = await session.executeCell("UPDATE orders SET status = 'pending' WHERE status IS NULL;");
    assert.deepEqual([update.statements[0].tag, update.statements[0].rows, update.statements[0].tx], ['UPDATE 5', 5, 'in transaction']);

    const seen = await session.executeCell('SELECT count(*) FROM orders WHERE status IS NULL;');
    assert.deepEqual(seen.results[0].rows, [['0']]);

    // Another session does not see the uncommitted update: it is really one open transaction.
    const outside = await monitor.query<{ n: string }>('SELECT count(*) AS n FROM orders WHERE status IS NULL');
    assert.equal(outside.rows[0].n, '5');

    const rollback = await session.executeCell('ROLLBACK;');
    assert.deepEqual([rollback.statements[0].tag, rollback.statements[0].tx], ['ROLLBACK', 'idle']);

    const after = await session.executeCell('SELECT count(*) FROM orders WHERE status IS NULL;');
    assert.deepEqual(after.results[0].rows, [['5']]);
  });

  it('applies SET statement_timeout from one cell to the next', async () => {
    assert.equal((await session.executeCell("SET statement_timeout = '1s';")).status, 'ok');
    const show = await session.executeCell('SHOW statement_timeout;');
    assert.deepEqual(show.results[0].rows, [['1s']]);
    const slow = await session.executeCell('SELECT pg_sleep(3);');
    assert.equal(slow.status, 'error', 'a statement timeout is an error, not an operator cancel');
    assert.equal(slow.error?.sqlstate, '57014');
    assert.equal(slow.error?.message, 'canceling statement due to statement timeout');
  });

  it('keeps a temp table from one cell for the next', async () => {
    assert.equal((await session.executeCell('CREATE TEMP TABLE scratch AS SELECT 42 AS answer;')).status, 'ok');
    const r = await session.executeCell('SELECT answer FROM scratch;');
    assert.equal(r.status, 'ok');
    assert.deepEqual(r.results[0].rows, [['42']]);
  });

  it('cancels pg_sleep(60) on the server: the backend goes idle and the next cell runs on the same session', async () => {
    const pid = session.pid;
    const abort = new AbortController();
    const running = session.executeCell('SELECT pg_sleep(60);', { signal: abort.signal });
    await waitFor(async () => (await activity(monitor, pid)).state === 'active', 5000);

    const t0 = performance.now();
    abort.abort();
    await waitFor(async () => (await activity(monitor, pid)).state === 'idle', 2000);
    const idleMs = performance.now() - t0;
    const result = await running;

    assert.equal(result.status, 'cancelled');
    assert.equal(result.error?.sqlstate, '57014');
    assert.match(result.body, /ERROR: {2}canceling statement due to user request/);
    assert.ok(idleMs < 1000, `backend idle ${idleMs.toFixed(0)} ms after cancel`);

    const next = await session.executeCell('SELECT pg_backend_pid();');
    assert.equal(next.status, 'ok');
    assert.deepEqual(next.results[0].rows, [[String(pid)]]);
  });

  it('runs a cell holding only CREATE INDEX CONCURRENTLY (no implicit transaction around it)', async () => {
    await session.executeCell('CREATE TABLE blobs (id bigint, digest text);');
    const r = await session.executeCell('CREATE INDEX CONCURRENTLY idx_blobs ON blobs (digest, id);');
    assert.equal(r.status, 'ok', r.body);
    assert.equal(r.statements[0].tag, 'CREATE INDEX');
    const valid = await monitor.query<{ indisvalid: boolean }>("SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_blobs'::regclass");
    assert.equal(valid.rows[0].indisvalid, true);
  });

  it('runs CREATE INDEX CONCURRENTLY after other statements of the same cell, each on its own', async () => {
    const r = await session.executeCell('CREATE TABLE blobs2 (id bigint, digest text);\nCREATE INDEX CONCURRENTLY idx_blobs2 ON blobs2 (digest);\nDROP INDEX CONCURRENTLY idx_blobs2;');
    assert.equal(r.status, 'ok', r.body);
    assert.deepEqual(
      r.statements.map((s) => s.tag),
      ['CREATE TABLE', 'CREATE INDEX', 'DROP INDEX'],
    );
  });

  it('fails CREATE INDEX CONCURRENTLY when an earlier cell left a transaction open (SQLSTATE 25001)', async () => {
    await session.executeCell('CREATE TABLE blobs3 (id bigint);\nBEGIN;');
    const r = await session.executeCell('CREATE INDEX CONCURRENTLY idx_blobs3 ON blobs3 (id);');
    assert.equal(r.status, 'error');
    assert.equal(r.error?.sqlstate, '25001');
    assert.equal(session.txState, 'failed');
    await session.executeCell('ROLLBACK;');
    assert.equal(session.txState, 'idle');
  });
});

async function activity(monitor: Client, pid: number): Promise<{ state: string; query: string }> {
  const r = await monitor.query<{ state: string; query: string }>('SELECT state, query FROM pg_stat_activity WHERE pid = $1', [pid]);
  return r.rows[0];
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
