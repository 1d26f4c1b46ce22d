// Cases 01–09 (../shared/cases): each incident as findings before the cell runs, and as pre-flight and live lock view
// while it runs, against a real PostgreSQL; other pg clients play S1 and S3.

import { strict as assert } from 'node:assert';
import { Client, type ClientConfig, type DatabaseError } from 'pg';
import { freshDatabase, getTestDatabase, type FreshDatabase } from './harness';
import { lintRunbook, type Finding, type LintCell } from '../../src/sql/lint';
import { loadParser, splitCell } from '../../src/sql/analyze-statements';
import { preflight, strongLocksOfCell } from '../../src/safety/preflight';
import { start as startLockWatch, type LockSample, type LockSummary } from '../../src/safety/lockwatch';
import { PostgresSession } from '../../src/engines/postgres';

const sqlCells = (...sources: string[]): LintCell[] => sources.map((source) => ({ kind: 'sql', source, options: {} }));
const rules = (fs: Finding[]): string[] => fs.map((f) => f.rule);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a cell the way the runner does: statement by statement (never one multi-statement string). */
async function runCell(session: Client, sql: string): Promise<{ error?: { code?: string; statement: number; message: string } }> {
  await loadParser();
  const statements = splitCell(sql);
  for (let i = 0; i < statements.length; i++) {
    try {
      await session.query(statements[i].text);
    } catch (e) {
      const err = e as DatabaseError;
      return { error: { code: err.code, statement: i, message: err.message } };
    }
  }
  return {};
}

/** Polls until `check` is true (a session started waiting, a query became active), at most `ms`. */
async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached in time');
    await sleep(20);
  }
}

describe('migration-safety cases 01–09 on a real server', function () {
  this.timeout(60_000);
  let db: FreshDatabase;
  let serverVersion: string;
  const open: Client[] = [];
  let session: Client;
  let watcher: Client;
  let sessionPid: number;

  async function connect(config: ClientConfig): Promise<Client> {
    const c = new Client({ ...config, application_name: 'case-test' });
    await c.connect();
    // A failing background query must not crash the test process.
    c.on('error', () => undefined);
    open.push(c);
    return c;
  }

  before(async () => {
    serverVersion = (await getTestDatabase()).serverVersion;
    db = await freshDatabase('safety_cases');
  });
  beforeEach(async () => {
    session = await connect(db.clientConfig);
    watcher = await connect(db.clientConfig);
    sessionPid = (await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  });
  afterEach(async () => {
    // The session stays usable after every case: a plain query works and no transaction is left open.
    const r = await session.query<{ one: number }>('SELECT 1 AS one');
    assert.equal(r.rows[0].one, 1);
    await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
  });
  after(async () => { await db.drop(); });

  async function setup(sql: string): Promise<void> {
    const admin = await connect(db.clientConfig);
    await admin.query(sql);
  }
  const isWaiting = async (pid: number): Promise<boolean> =>
    (await watcher.query<{ w: boolean }>(`SELECT coalesce(wait_event_type = 'Lock', false) AS w FROM pg_stat_activity WHERE pid = $1`, [pid])).rows[0]?.w ?? false;
  const pidOf = async (c: Client): Promise<number> => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

  describe('01 foreign key added while a long transaction uses the parent', () => {
    const cell = 'ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent(id);';
    before(async () => {
      const c = new Client(db.clientConfig);
      await c.connect();
      await c.query('CREATE TABLE parent(id bigint PRIMARY KEY); CREATE TABLE child(id bigint PRIMARY KEY, parent_id bigint)');
      await c.end();
    });

    it('flags the validation under lock and the missing lock_timeout before running', async () => {
      const fs = await lintRunbook(sqlCells(cell), { serverVersion, client: session });
      assert.ok(rules(fs).includes('adding-foreign-key-constraint'), rules(fs).join());
      assert.ok(rules(fs).includes('constraint-missing-not-valid'));
      const lt = fs.find((f) => f.rule === 'require-lock-timeout');
      assert.ok(lt, 'require-lock-timeout expected');
      assert.equal(lt.table?.name, 'child');
      assert.equal(typeof lt.table?.bytes, 'number');
      // With the profile's default lock_timeout the finding goes away.
      const withDefault = await lintRunbook(sqlCells(cell), { serverVersion, client: session, lockTimeoutDefault: '5s' });
      assert.ok(!rules(withDefault).includes('require-lock-timeout'));
    });

    it('fails fast with 55P03 under the profile\'s lock_timeout, recorded as such, and the session stays usable', async () => {
      const s1 = await connect(db.clientConfig);
      await s1.query('BEGIN');
      await s1.query('INSERT INTO parent VALUES (100)');
      // The engine's session applies the profile's default lock_timeout at connect.
      const pgSession = await PostgresSession.connect(db.clientConfig, { lockTimeout: '300ms' });
      try {
        const t0 = Date.now();
        const r = await pgSession.executeCell(cell);
        assert.equal(r.status, 'error');
        assert.equal(r.error?.sqlstate, '55P03');
        assert.equal(r.error?.statement, 0);
        assert.ok(Date.now() - t0 < 5000);
        assert.equal(pgSession.txState, 'idle');
        assert.equal((await pgSession.executeCell('SELECT 1')).status, 'ok');
      } finally {
        await pgSession.close();
        await s1.query('ROLLBACK');
      }
    });

    it('shows whom the cell waits for and who queues behind it', async () => {
      // ADD FOREIGN KEY takes SHARE ROW EXCLUSIVE on parent (PostgreSQL 9.5+), which a plain read does not block:
      // S1 must hold a write lock for the cell to wait (see the report's "cases needing judgement").
      const s1 = await connect(db.clientConfig);
      const s1pid = await pidOf(s1);
      await s1.query('BEGIN');
      await s1.query('INSERT INTO parent VALUES (1)');
      const s1long = s1.query('SELECT count(*) FROM parent, pg_sleep(1.5)');
      const locks = await strongLocksOfCell(cell);
      assert.deepEqual(locks.map((l) => `${l.table} ${l.mode}`).sort(), ['child SHARE ROW EXCLUSIVE', 'parent SHARE ROW EXCLUSIVE']);
      const pre = await preflight(watcher, locks, { excludePids: [sessionPid] });
      const s1seen = pre.lockers.find((s) => s.pid === s1pid);
      assert.ok(s1seen?.wouldBlockCell, pre.text);
      assert.match(pre.text, new RegExp(`pid ${s1pid}`));

      await session.query("SET lock_timeout = '20s'");
      const samples: LockSample[] = [];
      const watch = startLockWatch(watcher, sessionPid, { intervalMs: 50, onSample: (s) => samples.push(s) });
      const running = runCell(session, cell);
      await until(() => isWaiting(sessionPid));
      const s3 = await connect(db.clientConfig);
      const s3pid = await pidOf(s3);
      const s3write = s3.query('INSERT INTO parent VALUES (2)');
      await until(async () => samples.some((s) => s.blocked.some((b) => b.pid === s3pid)));
      await s1long;
      await s1.query('COMMIT');
      const r = await running;
      assert.equal(r.error, undefined);
      await s3write;
      const summary: LockSummary = await watch.stop();
      assert.ok(summary.available);
      const blocker = summary.blockersSeen.find((b) => b.pid === s1pid);
      assert.ok(blocker, JSON.stringify(summary.blockersSeen));
      assert.match(blocker.query ?? '', /pg_sleep|INSERT INTO parent/);
      assert.equal(typeof blocker.xactAgeMs, 'number');
      assert.ok(summary.blockedSeen.includes(s3pid));
      assert.ok(summary.peakBlocked >= 1);
      assert.ok(summary.longestWaitMs > 0);
      assert.ok(summary.cellWaitedMs > 0);
      await session.query('RESET lock_timeout');
    });

    it('knows a plain read on the parent does not block ADD FOREIGN KEY', async () => {
      const s1 = await connect(db.clientConfig);
      const s1pid = await pidOf(s1);
      await s1.query('BEGIN');
      await s1.query('SELECT count(*) FROM parent');
      const pre = await preflight(watcher, await strongLocksOfCell(cell), { excludePids: [sessionPid] });
      const seen = pre.lockers.find((s) => s.pid === s1pid);
      assert.ok(seen && !seen.wouldBlockCell, pre.text);
      await s1.query('ROLLBACK');
    });
  });

  describe('02 an idle-in-transaction session blocks a harmless ADD COLUMN', () => {
    const cell = 'ALTER TABLE catalogs ADD COLUMN IF NOT EXISTS checklist jsonb;';
    it('lists the idle session in pre-flight, fails on lock_timeout, and records the blocker', async () => {
      await setup('CREATE TABLE catalogs(id int PRIMARY KEY); INSERT INTO catalogs VALUES (1)');
      const s1 = await connect(db.clientConfig);
      const s1pid = await pidOf(s1);
      await s1.query('BEGIN');
      await s1.query('SELECT * FROM catalogs WHERE id = 1');
      await sleep(100);
      const pre = await preflight(watcher, await strongLocksOfCell(cell), { excludePids: [sessionPid], longTransactionMs: 50 });
      const locker = pre.lockers.find((s) => s.pid === s1pid);
      assert.ok(locker, pre.text);
      assert.equal(locker.state, 'idle in transaction');
      assert.ok(locker.wouldBlockCell);
      assert.ok((locker.stateAgeMs ?? 0) >= 50);
      assert.ok(pre.idleInTransaction.some((s) => s.pid === s1pid));
      assert.ok(pre.longTransactions.some((s) => s.pid === s1pid));
      assert.match(pre.text, /idle in transaction/);
      assert.match(pre.text, /SELECT \* FROM catalogs WHERE id = 1/);

      const fs = await lintRunbook(sqlCells(cell), { serverVersion, client: session, lockTimeoutDefault: '0' });
      assert.ok(rules(fs).includes('require-lock-timeout'));

      await session.query("SET lock_timeout = '700ms'");
      const watch = startLockWatch(watcher, sessionPid, { intervalMs: 100 });
      const r = await runCell(session, cell);
      const summary = await watch.stop();
      assert.equal(r.error?.code, '55P03');
      assert.deepEqual(summary.blockersSeen.map((b) => [b.pid, b.state]), [[s1pid, 'idle in transaction']]);
      assert.ok(summary.cellWaitedMs >= 300, String(summary.cellWaitedMs));
      await s1.query('ROLLBACK');
      await session.query('RESET lock_timeout');
    });
  });

  describe('03 SET NOT NULL', () => {
    before(() => setup('CREATE TABLE foo(bar int)'));
    it('flags the bare form as a scan under ACCESS EXCLUSIVE', async () => {
      const fs = await lintRunbook(sqlCells('ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;'), { serverVersion, client: session });
      const f = fs.find((x) => x.rule === 'adding-not-nullable-field');
      assert.ok(f);
      assert.equal(f.severity, 'error');
      assert.equal(f.table?.name, 'foo');
    });
    it('does not flag the safe four-step form, in one cell or one step per cell', async () => {
      const steps = [
        "SET lock_timeout = '2s';",
        'ALTER TABLE foo ADD CONSTRAINT foo_bar_nn CHECK (bar IS NOT NULL) NOT VALID;',
        'ALTER TABLE foo VALIDATE CONSTRAINT foo_bar_nn;',
        'ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;',
        'ALTER TABLE foo DROP CONSTRAINT foo_bar_nn;',
      ];
      for (const cells of [sqlCells(steps.join('\n')), sqlCells(...steps)]) {
        const fs = await lintRunbook(cells, { serverVersion, client: session });
        assert.ok(!rules(fs).includes('adding-not-nullable-field'), rules(fs).join());
        assert.ok(!fs.some((f) => f.severity === 'error'), JSON.stringify(fs.filter((f) => f.severity === 'error')));
      }
    });
    it('does not flag SET NOT NULL when a validated CHECK already exists on the connection', async () => {
      await setup('ALTER TABLE foo ADD CONSTRAINT foo_bar_nn CHECK (bar IS NOT NULL)');
      const fs = await lintRunbook(sqlCells('ALTER TABLE foo ALTER COLUMN bar SET NOT NULL;'), { serverVersion, client: session });
      assert.ok(!rules(fs).includes('adding-not-nullable-field'), rules(fs).join());
      const r = await runCell(session, "SET lock_timeout = '2s'; ALTER TABLE foo ALTER COLUMN bar SET NOT NULL; ALTER TABLE foo DROP CONSTRAINT foo_bar_nn; RESET lock_timeout;");
      assert.equal(r.error, undefined);
    });
  });

  describe('04 index on a table created in the same cell', () => {
    it('does not ask for CONCURRENTLY on a new table, and does on an existing one', async () => {
      const fresh = await lintRunbook(sqlCells('CREATE TABLE customer(email text);\nCREATE UNIQUE INDEX customer_email_idx ON customer(email);'), { serverVersion, client: session });
      assert.ok(!rules(fresh).includes('require-concurrent-index-creation'), rules(fresh).join());
      assert.ok(!rules(fresh).includes('require-lock-timeout'));
      assert.equal(fresh.filter((f) => f.severity !== 'info').length, 0, JSON.stringify(fresh));
      const r = await runCell(session, 'CREATE TABLE customer(email text);\nINSERT INTO customer SELECT g::text FROM generate_series(1, 1000) g;\nANALYZE customer;');
      assert.equal(r.error, undefined);
      const existing = await lintRunbook(sqlCells('CREATE UNIQUE INDEX customer_email_idx ON customer(email);'), { serverVersion, client: session });
      const f = existing.find((x) => x.rule === 'require-concurrent-index-creation');
      assert.ok(f);
      assert.equal(f.table?.name, 'customer');
      assert.equal(f.table?.rows, 1000);
    });
  });

  describe('04 with CREATE TABLE IF NOT EXISTS (a rehearsal fixture)', () => {
    it('counts the table as new only when the connection shows it missing', async () => {
      const cells = (t: string): LintCell[] => sqlCells(`CREATE TABLE IF NOT EXISTS ${t}(email text);`, `CREATE UNIQUE INDEX ${t}_email_idx ON ${t}(email);`);
      await setup('CREATE TABLE accounts04(email text); INSERT INTO accounts04 SELECT g::text FROM generate_series(1, 500) g; ANALYZE accounts04');
      const existing = await lintRunbook(cells('accounts04'), { serverVersion, client: session });
      const f = existing.find((x) => x.rule === 'require-concurrent-index-creation');
      assert.ok(f, rules(existing).join());
      assert.deepEqual([f.cell, f.table?.name, f.table?.rows], [1, 'accounts04', 500]);
      assert.ok(rules(existing).includes('require-lock-timeout'), rules(existing).join());
      const missing = await lintRunbook(cells('fresh04'), { serverVersion, client: session });
      assert.deepEqual(missing.filter((x) => x.severity !== 'info').map((x) => x.rule), []);
      // A CREATE TABLE IF NOT EXISTS of a table that is there does nothing: its foreign key locks no other table.
      const fk = (t: string): LintCell[] => sqlCells(`CREATE TABLE IF NOT EXISTS ${t}(account text REFERENCES accounts04(email));`);
      await setup('ALTER TABLE accounts04 ADD PRIMARY KEY (email); CREATE TABLE settings04(account text REFERENCES accounts04(email))');
      assert.deepEqual(rules(await lintRunbook(fk('settings04'), { serverVersion, client: session })).filter((r) => r === 'require-lock-timeout'), []);
      const created = await lintRunbook(fk('other04'), { serverVersion, client: session });
      assert.match(created.find((x) => x.rule === 'require-lock-timeout')?.message ?? '', /CREATE TABLE IF NOT EXISTS takes a SHARE ROW EXCLUSIVE lock on accounts04/);
    });
  });

  describe('05 CREATE INDEX CONCURRENTLY inside a transaction', () => {
    before(() => setup('CREATE TABLE blobs(id bigint, digest text)'));
    it('flags it in one cell, after BEGIN in an earlier cell, and when the session is already in a transaction', async () => {
      const one = await lintRunbook(sqlCells('CREATE TABLE blobs2(id bigint, digest text);\nBEGIN;\nCREATE INDEX CONCURRENTLY idx_blobs ON blobs(digest, id);\nCOMMIT;'), { serverVersion });
      assert.deepEqual(one.filter((f) => f.rule === 'cannot-run-in-transaction').map((f) => [f.cell, f.statement, f.line]), [[0, 2, 3]]);
      const two = await lintRunbook(sqlCells('BEGIN;', 'CREATE INDEX CONCURRENTLY idx_blobs ON blobs(digest, id);'), { serverVersion });
      assert.deepEqual(two.filter((f) => f.rule === 'cannot-run-in-transaction').map((f) => f.cell), [1]);
      const ctx = await lintRunbook(sqlCells('CREATE INDEX CONCURRENTLY idx_blobs ON blobs(digest, id);'), { serverVersion, initialTxState: 'in transaction' });
      assert.ok(rules(ctx).includes('cannot-run-in-transaction'));
      const alone = await lintRunbook(sqlCells('CREATE INDEX CONCURRENTLY idx_blobs ON blobs(digest, id);'), { serverVersion });
      assert.ok(!rules(alone).includes('cannot-run-in-transaction'));
      assert.ok(!rules(alone).includes('ban-concurrent-index-creation-in-transaction'));
    });
    it('fails with 25001 inside a transaction and runs alone in a cell', async () => {
      await session.query('BEGIN');
      const bad = await runCell(session, 'CREATE INDEX CONCURRENTLY idx_blobs ON blobs(digest, id);');
      assert.equal(bad.error?.code, '25001');
      await session.query('ROLLBACK');
      const ok = await runCell(session, 'CREATE INDEX CONCURRENTLY idx_blobs ON blobs(digest, id);');
      assert.equal(ok.error, undefined);
    });
  });

  describe('06 enum value added and used in the same transaction', () => {
    const cell = "BEGIN;\nALTER TYPE state ADD VALUE 'cancelled';\nSELECT 'cancelled'::state;\nCOMMIT;";
    it('is flagged before running, fails with 55P04, and the session recovers after ROLLBACK', async () => {
      await setup("CREATE TYPE state AS ENUM ('new', 'done')");
      const fs = await lintRunbook(sqlCells(cell), { serverVersion });
      const f = fs.find((x) => x.rule === 'enum-value-used-in-same-transaction');
      assert.ok(f);
      assert.deepEqual([f.severity, f.statement, f.line], ['error', 2, 3]);
      const pgSession = await PostgresSession.connect(db.clientConfig);
      try {
        const r = await pgSession.executeCell(cell);
        assert.deepEqual([r.status, r.error?.sqlstate, r.error?.statement, r.error?.line], ['error', '55P04', 2, 3]);
        // The session is now in a failed transaction until ROLLBACK, and the state says so.
        assert.equal(pgSession.txState, 'failed');
        const next = await pgSession.executeCell('SELECT 1');
        assert.equal(next.error?.sqlstate, '25P02');
        const after = await lintRunbook(sqlCells('SELECT 1;'), { serverVersion, initialTxState: pgSession.txState });
        assert.ok(rules(after).includes('failed-transaction'));
        assert.equal((await pgSession.executeCell('ROLLBACK')).status, 'ok');
        assert.equal(pgSession.txState, 'idle');
        assert.equal((await pgSession.executeCell('SELECT 1')).status, 'ok');
      } finally {
        await pgSession.close();
      }
    });
  });

  describe('07 int to bigint rewrites the table', () => {
    it('is flagged as a rewrite with the table size from the catalog, and the rewrite shows in the catalog', async () => {
      await setup('CREATE TABLE rollups(id bigserial PRIMARY KEY, tokens int); INSERT INTO rollups(tokens) SELECT g FROM generate_series(1, 200000) g; ANALYZE rollups');
      const fs = await lintRunbook(sqlCells('ALTER TABLE rollups ALTER COLUMN tokens TYPE bigint;'), { serverVersion, client: session, lockTimeoutDefault: '5s' });
      const f = fs.find((x) => x.rule === 'changing-column-type');
      assert.ok(f);
      assert.equal(f.severity, 'error');
      assert.equal(f.table?.name, 'rollups');
      assert.ok(Math.abs((f.table?.rows ?? 0) - 200000) < 2000, String(f.table?.rows));
      assert.ok((f.table?.bytes ?? 0) > 4_000_000);
      assert.match(f.message, /about 200,000 rows, [\d.]+ MB on this connection/);
      const before = (await session.query<{ n: string }>(`SELECT pg_relation_filenode('rollups')::text AS n`)).rows[0].n;
      assert.equal((await runCell(session, 'ALTER TABLE rollups ALTER COLUMN tokens TYPE bigint;')).error, undefined);
      const after = (await session.query<{ n: string }>(`SELECT pg_relation_filenode('rollups')::text AS n`)).rows[0].n;
      assert.notEqual(after, before, 'a rewrite gives the table a new relfilenode');
    });
  });

  describe('08 backfill while holding ACCESS EXCLUSIVE', () => {
    const cell = "BEGIN;\nSET LOCAL lock_timeout = '3s';\nALTER TABLE profiles ADD COLUMN tier text;\nUPDATE profiles SET tier = 'free';\nCOMMIT;";
    it('flags the UPDATE and records how long the lock was held', async () => {
      await setup('CREATE TABLE profiles(id bigint PRIMARY KEY); INSERT INTO profiles SELECT generate_series(1, 100000); ANALYZE profiles');
      const fs = await lintRunbook(sqlCells(cell), { serverVersion, client: session });
      const f = fs.find((x) => x.rule === 'work-under-access-exclusive');
      assert.ok(f);
      assert.deepEqual([f.severity, f.statement, f.line, f.table?.name], ['error', 3, 4, 'profiles']);
      assert.ok(!rules(fs).includes('require-lock-timeout'), 'SET LOCAL lock_timeout is in force');
      const watch = startLockWatch(watcher, sessionPid, { intervalMs: 25 });
      const r = await runCell(session, cell);
      const summary = await watch.stop();
      assert.equal(r.error, undefined);
      const held = summary.strongLocks.find((l) => l.table === 'profiles' && l.mode === 'AccessExclusiveLock');
      assert.ok(held, JSON.stringify(summary.strongLocks));
      assert.ok(held.heldMs >= 25, String(held.heldMs));
      assert.equal(held.stillHeld, false);
    });
  });

  describe('09 two tables locked in one transaction', () => {
    const cell = 'BEGIN;\nALTER TABLE tasks DROP COLUMN legacy;\nALTER TABLE artifacts DROP COLUMN legacy;\nCOMMIT;';
    it('flags the second lock and both dropped columns, and shows tasks held while waiting for artifacts', async () => {
      await setup('CREATE TABLE tasks(id int, legacy text); CREATE TABLE artifacts(id int, legacy text)');
      const fs = await lintRunbook(sqlCells(cell), { serverVersion, client: session, lockTimeoutDefault: '5s' });
      assert.deepEqual(fs.filter((f) => f.rule === 'multiple-tables-access-exclusive').map((f) => [f.line, f.table?.name]), [[3, 'artifacts']]);
      assert.deepEqual(fs.filter((f) => f.rule === 'ban-drop-column').map((f) => f.line), [2, 3]);

      const s1 = await connect(db.clientConfig);
      const s1pid = await pidOf(s1);
      await s1.query('BEGIN');
      await s1.query('SELECT * FROM artifacts');
      const samples: LockSample[] = [];
      const watch = startLockWatch(watcher, sessionPid, { intervalMs: 50, onSample: (s) => samples.push(s) });
      const running = runCell(session, cell);
      await until(async () => samples.some((s) => s.cellWaitMs !== null && s.strongLocks.some((l) => l.table === 'tasks')));
      await sleep(200); // S1 keeps artifacts a little longer: tasks stays locked all that time
      await s1.query('COMMIT');
      assert.equal((await running).error, undefined);
      const summary = await watch.stop();
      const waiting = samples.find((s) => s.cellWaitMs !== null);
      assert.ok(waiting);
      assert.deepEqual(waiting.waitingFor.map((b) => b.pid), [s1pid]);
      assert.ok(waiting.strongLocks.some((l) => l.table === 'tasks' && l.mode === 'AccessExclusiveLock'));
      assert.ok((summary.strongLocks.find((l) => l.table === 'tasks')?.heldMs ?? 0) >= 150);
      assert.ok(summary.cellWaitedMs >= 150);
    });
  });
});
