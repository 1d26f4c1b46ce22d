// Integration tests: transaction ids before COMMIT, and what the engine records when the connection is cut during a COMMIT (real PostgreSQL, fault proxy).

import * as assert from 'node:assert/strict';
import { Client } from 'pg';
import { PostgresSession } from '../../src/engines/postgres';
import { resolveTransactionStatus } from '../../src/engines/postgres-commit';
import { startSandbox } from '../../src/engines/sandbox';
import { FaultProxy } from './fault-proxy';
import { freshDatabase, FreshDatabase } from './harness';

const COMMIT = FaultProxy.query(/^(COMMIT|END)$/i);

describe('transaction ids and a COMMIT with the connection cut', function () {
  this.timeout(30_000);
  let db: FreshDatabase;
  let other: Client;
  let proxy: FaultProxy;
  let session: PostgresSession;

  before(async () => {
    db = await freshDatabase('postgres_commit');
    other = new Client(db.clientConfig);
    await other.connect();
    await other.query('CREATE TABLE transfers (id int PRIMARY KEY, note text)');
    // A COMMIT that takes a while: a deferred constraint trigger sleeps when the transaction commits.
    await other.query('CREATE TABLE slow_commit (id int)');
    await other.query('CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(5); RETURN NULL; END $$');
    await other.query('CREATE CONSTRAINT TRIGGER slow_at_commit AFTER INSERT ON slow_commit DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow()');
  });

  beforeEach(async () => {
    proxy = await FaultProxy.forConfig(db.clientConfig);
    session = await PostgresSession.connect(proxy.clientConfig(db.clientConfig), { applicationName: 'runbook commit test' });
  });

  afterEach(async () => {
    await session.close();
    await proxy.close();
    // A backend a test left open behind the proxy (server: 'keep') must not hold locks for the next test.
    await other.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'runbook commit test'");
  });

  after(async () => {
    await other.end();
    await db.drop();
  });

  const exists = async (id: number): Promise<boolean> => (await other.query('SELECT 1 FROM transfers WHERE id = $1', [id])).rowCount === 1;

  it('gives the transaction id only once one is assigned, without asking before', async () => {
    assert.equal(await session.currentXid(), undefined, 'idle');
    const sent: string[] = [];
    const stop = proxy.observe((m) => m.query !== undefined && sent.push(m.query));
    await session.executeCell('BEGIN;\nSELECT 1;');
    assert.equal(await session.currentXid(), undefined, 'a read-only transaction has no id');
    await session.executeCell("INSERT INTO transfers VALUES (1, 'a');");
    const xid = await session.currentXid();
    stop();
    assert.match(xid ?? '', /^\d+$/);
    assert.equal(sent.filter((q) => /xact_id|txid/.test(q)).length, 2, 'asked after the SELECT and after the INSERT only');
    const seen = await session.executeCell('SELECT pg_current_xact_id()::text;');
    assert.deepEqual(seen.results[0].rows, [[xid]]);
    await session.executeCell('ROLLBACK;');
  });

  it('does not ask right after BEGIN, so SET TRANSACTION ISOLATION LEVEL still works', async () => {
    await session.executeCell('BEGIN;');
    assert.equal(await session.currentXid(), undefined);
    const r = await session.executeCell('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSHOW transaction_isolation;');
    assert.equal(r.status, 'ok', r.body);
    await session.executeCell('ROLLBACK;');
  });

  it('does not ask in a failed transaction', async () => {
    await session.executeCell("BEGIN;\nINSERT INTO transfers VALUES (2, 'b');");
    await session.executeCell('SELECT 1 / 0;');
    assert.equal(session.txState, 'failed');
    assert.equal(await session.currentXid(), undefined);
    assert.equal((await session.executeCell('ROLLBACK;')).statements[0].tx, 'idle');
  });

  it('records the transaction id on the COMMIT that ends a transaction that wrote', async () => {
    await session.executeCell('BEGIN;');
    await session.executeCell("INSERT INTO transfers VALUES (3, 'c');");
    const r = await session.executeCell('COMMIT;');
    assert.equal(r.status, 'ok');
    const xid = r.statements[0].xid as string;
    assert.match(xid, /^\d+$/);
    const status = await other.query<{ s: string }>('SELECT pg_xact_status($1::xid8) AS s', [xid]);
    assert.equal(status.rows[0].s, 'committed');
    assert.equal((await session.executeCell('BEGIN;\nSELECT 1;\nCOMMIT;')).statements[2].xid, undefined, 'no id: nothing to record');
  });

  it('cut after the COMMIT reached the server: records committed, and the row is there', async () => {
    await session.executeCell("BEGIN;\nINSERT INTO transfers VALUES (10, 'cut after');");
    const cut = proxy.cutAfterForwarding(COMMIT);
    const r = await session.executeCell('COMMIT;');
    await cut;
    assert.equal(r.status, 'error');
    const st = r.statements[0];
    assert.match(String(st.xid), /^\d+$/);
    assert.equal(st.commit, 'committed', String(st.commit_detail));
    assert.match(String(st.commit_detail), /^pg_xact_status\('\d+'\) on a new connection: committed$/);
    assert.match(r.error?.message ?? '', new RegExp(`^connection lost during COMMIT \\(.+\\); on a new connection transaction ${st.xid} is committed$`));
    assert.match(r.body, new RegExp(`On a new connection, transaction ${st.xid} is committed: its changes are kept\\.`));
    assert.equal(session.closed, true);
    assert.equal(await exists(10), true);
  });

  it('COMMIT dropped before the server saw it: records aborted, and the row is not there', async () => {
    await session.executeCell("BEGIN;\nINSERT INTO transfers VALUES (11, 'dropped');");
    const dropped = proxy.dropThenCut(COMMIT);
    const r = await session.executeCell('END;');
    await dropped;
    const st = r.statements[0];
    assert.equal(st.commit, 'aborted', String(st.commit_detail));
    assert.match(r.error?.message ?? '', new RegExp(`^connection lost during END \\(.+\\); on a new connection transaction ${st.xid} is rolled back`));
    assert.match(r.body, /none of its changes were kept/);
    assert.equal(await exists(11), false);
  });

  it('says unknown when no new connection can be made', async () => {
    await session.executeCell("BEGIN;\nINSERT INTO transfers VALUES (12, 'unreachable');");
    proxy.refuseNew(true);
    const dropped = proxy.dropThenCut(COMMIT);
    const r = await session.executeCell('COMMIT;');
    await dropped;
    const st = r.statements[0];
    assert.equal(st.commit, 'unknown');
    assert.match(String(st.commit_detail), new RegExp(`^a new connection to ask whether transaction ${st.xid} committed could not be opened: `));
    assert.match(r.error?.message ?? '', new RegExp(`whether transaction ${st.xid} committed is unknown`));
    assert.match(r.body, new RegExp(`Check on the server before running anything again: SELECT pg_xact_status\\('${st.xid}'\\)\\.`));
  });

  it('says unknown, naming the old session, when the transaction is still in progress after the bound', async () => {
    await session.executeCell("BEGIN;\nINSERT INTO transfers VALUES (13, 'still open');");
    const pid = session.pid;
    // The server side stays open: the backend sits idle in transaction, as when a client host vanishes.
    const dropped = proxy.dropThenCut(COMMIT, { server: 'keep' });
    const t0 = performance.now();
    const r = await session.executeCell('COMMIT;');
    await dropped;
    const st = r.statements[0];
    assert.equal(st.commit, 'unknown');
    assert.match(String(st.commit_detail), new RegExp(`still in progress after 5 s; the old session \\(pid ${pid}\\) is still open \\(idle in transaction\\)`));
    assert.ok(performance.now() - t0 < 10_000, 'bounded');
    await other.query('SELECT pg_terminate_backend($1)', [pid]);
  });

  it('backend terminated while COMMIT runs: the FATAL is a lost connection, and the outcome is looked up (aborted)', async () => {
    await session.executeCell('BEGIN;\nINSERT INTO slow_commit VALUES (1);');
    const running = session.executeCell('COMMIT;');
    const deadline = Date.now() + 5000;
    for (;;) {
      const r = await other.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query = 'COMMIT'", [session.pid]);
      if (r.rows[0].n === '1') break;
      if (Date.now() > deadline) assert.fail('the COMMIT never showed as active');
      await new Promise((res) => setTimeout(res, 20));
    }
    await other.query('SELECT pg_terminate_backend($1)', [session.pid]);
    const r = await running;
    assert.equal(r.error?.sqlstate, '57P01');
    assert.equal(r.statements[0].commit, 'aborted', String(r.statements[0].commit_detail));
    assert.match(r.error?.message ?? '', /^connection lost during COMMIT \(terminating connection due to administrator command\); on a new connection transaction \d+ is rolled back/);
    assert.equal((await other.query('SELECT 1 FROM slow_commit')).rowCount, 0);
  });

  it('records aborted without asking when the transaction had failed before the COMMIT', async () => {
    await session.executeCell('BEGIN;');
    await session.executeCell('SELECT 1 / 0;');
    const cut = proxy.cutAfterForwarding(COMMIT);
    const r = await session.executeCell('COMMIT;');
    await cut;
    assert.equal(r.statements[0].commit, 'aborted');
    assert.equal(r.statements[0].xid, undefined);
    assert.match(String(r.statements[0].commit_detail), /had failed/);
  });

  it('a cancel during a COMMIT that gets no answer cuts the connection after 5 s and asks on a new one', async () => {
    await session.executeCell("BEGIN;\nINSERT INTO transfers VALUES (14, 'black hole');");
    const held = proxy.holdRepliesAfter(COMMIT);
    const abort = new AbortController();
    const running = session.executeCell('COMMIT;', { signal: abort.signal });
    await held;
    abort.abort();
    const t0 = performance.now();
    const r = await running;
    const waited = performance.now() - t0;
    assert.ok(waited >= 4500 && waited < 15_000, `cut after the grace period (${Math.round(waited)} ms)`);
    assert.equal(r.statements[0].commit, 'committed', String(r.statements[0].commit_detail));
    assert.equal(await exists(14), true);
  });

  it('resolveTransactionStatus gives up, unknown, when the new connection stops answering', async () => {
    void proxy.holdRepliesAfter(FaultProxy.query(/server_version_num/));
    const t0 = performance.now();
    const r = await resolveTransactionStatus(proxy.clientConfig(db.clientConfig), '1234', { waitMs: 500, connectTimeoutMs: 1000 });
    const took = performance.now() - t0;
    assert.deepEqual(r, { commit: 'unknown', detail: 'no answer about transaction 1234 on a new connection within 4 s' });
    assert.ok(took >= 3000 && took < 6000, `gave up at the limit (${Math.round(took)} ms)`);
  });

  it('resolveTransactionStatus answers for a committed and an aborted transaction, and unknown for an id from the future', async () => {
    const c = new Client(db.clientConfig);
    await c.connect();
    try {
      await c.query('BEGIN');
      await c.query("INSERT INTO transfers VALUES (20, 'kept')");
      const committed = (await c.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0].x;
      await c.query('COMMIT');
      await c.query('BEGIN');
      await c.query("INSERT INTO transfers VALUES (21, 'undone')");
      const aborted = (await c.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0].x;
      await c.query('ROLLBACK');
      assert.deepEqual(await resolveTransactionStatus(db.clientConfig, committed), { commit: 'committed', detail: `pg_xact_status('${committed}') on a new connection: committed` });
      assert.equal((await resolveTransactionStatus(db.clientConfig, aborted)).commit, 'aborted');
      const future = await resolveTransactionStatus(db.clientConfig, String(BigInt(committed) + 1_000_000n));
      assert.equal(future.commit, 'unknown');
      assert.match(future.detail, /in the future/);
      assert.equal((await resolveTransactionStatus(db.clientConfig, 'abc')).commit, 'unknown');
    } finally {
      await c.end();
    }
  });
});

describe('resolveTransactionStatus on the PGlite sandbox', function () {
  this.timeout(60_000);

  it('answers once the session that committed has closed (PGlite serves one connection at a time)', async () => {
    const sandbox = await startSandbox({ engine: 'pglite' });
    try {
      const session = await PostgresSession.connect(sandbox.clientConfig());
      await session.executeCell('CREATE TABLE t (id int);\nBEGIN;\nINSERT INTO t VALUES (1);');
      const xid = await session.currentXid();
      assert.match(xid ?? '', /^\d+$/);
      const commit = await session.executeCell('COMMIT;');
      assert.equal(commit.statements[0].xid, xid);
      await session.close();
      assert.equal((await resolveTransactionStatus(sandbox.clientConfig(), xid!)).commit, 'committed');
    } finally {
      await sandbox.stop();
    }
  });
});
