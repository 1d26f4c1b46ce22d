// Safety checks, second round (issue 12), on a real server: the misses now caught (invalid indexes left by a failed
// CREATE INDEX CONCURRENTLY, batches that scan, unbatched writes over large tables, CALL of a committing procedure in a
// transaction) and the false alarms now gone (binary-coercible type changes, NOT VALID for UNIQUE, lock_timeout for a
// lock already held, the front matter's profile ignored, "make sure lock_timeout is set", squawk's wording).

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, type DatabaseError } from 'pg';
import { freshDatabase, getTestDatabase, type FreshDatabase } from './harness';
import { PostgresSession } from '../../src/engines/postgres';
import { lintRunbook, type Finding, type LintCell } from '../../src/sql/lint';
import { createSafetyHooks as makeHooks, type SafetyHookOptions, type SafetyHooks } from '../../src/safety/hooks';
import { MonitorConnection } from '../../src/safety/monitor';
import { preflight } from '../../src/safety/preflight';
import { lintDefaultsFor, runLint } from '../../src/cli/lint';
import { resolveConnection } from '../../src/connections';
import type { RunTarget, SqlHookContext } from '../../src/run/session';
import type { Cell } from '../../src/format';

const sqlCell = (source: string, options: Record<string, unknown> = {}): Cell => ({ kind: 'sql', language: 'sql', source, options, outputs: [] });
const lintCells = (...sources: (string | [string, Record<string, unknown>])[]): LintCell[] =>
  sources.map((s) => (typeof s === 'string' ? { kind: 'sql', source: s, options: {} } : { kind: 'sql', source: s[0], options: s[1] }));
const rules = (fs: Finding[]): string[] => fs.map((f) => f.rule);
const ofRule = (fs: Finding[], rule: string): Finding[] => fs.filter((f) => f.rule === rule);

describe('safety checks, second round, on a real server', function () {
  this.timeout(120_000);
  let db: FreshDatabase;
  let serverVersion: string;
  let admin: Client;
  let session: PostgresSession;
  const staging: RunTarget = { name: 'staging', environment: 'staging', display: 'staging (staging)' };
  const prod: RunTarget = { name: 'prod-main', environment: 'production', display: 'prod-main (production)' };
  const made: SafetyHooks[] = [];
  const createSafetyHooks = (opts: SafetyHookOptions): SafetyHooks => { const h = makeHooks(opts); made.push(h); return h; };
  const ctxFor = (cells: Cell[], index: number, target: RunTarget): SqlHookContext => ({ cell: cells[index], index, session, target, secondConnection: db.clientConfig });
  /** Lints with the connection for catalog reads, as `runbook lint --connection` does. */
  const lint = (cells: LintCell[], extra: Record<string, unknown> = {}): Promise<Finding[]> => lintRunbook(cells, { serverVersion, client: admin, ...extra });
  const filenode = async (rel: string): Promise<string> => (await admin.query<{ n: string }>('SELECT pg_relation_filenode($1::regclass)::text AS n', [rel])).rows[0].n;

  before(async () => {
    serverVersion = (await getTestDatabase()).serverVersion;
    db = await freshDatabase('safety_round2');
    admin = new Client(db.clientConfig);
    await admin.connect();
    admin.on('error', () => undefined);
    // Above LARGE_TABLE_ROWS (100,000) once analyzed.
    await admin.query(`CREATE TABLE big(id bigint PRIMARY KEY, note text, b int);
      INSERT INTO big SELECT g, NULL, g FROM generate_series(1, 150000) g; ANALYZE big`);
    session = await PostgresSession.connect(db.clientConfig, { lockTimeout: '0' });
  });
  afterEach(async () => { await Promise.all(made.splice(0).map((h) => h.close())); });
  after(async () => {
    await session.close();
    await admin.end();
    await db.drop();
  });

  describe('miss: an invalid index left by a failed CREATE UNIQUE INDEX CONCURRENTLY', () => {
    const build = 'CREATE UNIQUE INDEX CONCURRENTLY dupes_email_key ON dupes (email);';
    const rebuild = 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS dupes_email_key ON dupes (email);';
    before(async () => { await admin.query("CREATE TABLE dupes(id int, email text); INSERT INTO dupes VALUES (1, 'a@x'), (2, 'a@x'), (3, 'b@x')"); });
    after(async () => { await admin.query('DROP TABLE dupes'); });

    it('is recorded after the cell that failed, with the DROP INDEX CONCURRENTLY to retry', async () => {
      const cells = [sqlCell(build)];
      const hooks = createSafetyHooks({ cells, intervalMs: 50 });
      const ctx = ctxFor(cells, 0, staging);
      await hooks.before?.(ctx);
      const w = await hooks.watch?.(ctx);
      const r = await session.executeCell(build);
      assert.equal(r.error?.sqlstate, '23505');
      const stopped = await w?.stop();
      assert.deepEqual(stopped?.record?.invalidIndexes, [{ index: 'dupes_email_key', table: 'dupes', ready: false, drop: 'DROP INDEX CONCURRENTLY IF EXISTS dupes_email_key;' }]);
      assert.match(stopped?.body ?? '', /dupes_email_key on dupes: queries do not use it\. To retry: DROP INDEX CONCURRENTLY IF EXISTS dupes_email_key; in a cell of its own/);
    });

    it('flags the re-run with IF NOT EXISTS as an error, which PostgreSQL skips with a NOTICE and reports as success', async () => {
      const found = ofRule(await lint(lintCells(rebuild)), 'invalid-index-exists');
      assert.equal(found.length, 1);
      assert.equal(found[0].severity, 'error');
      assert.match(found[0].message, /already exists on dupes on this connection but is INVALID \(pg_index\.indisvalid = false\)/);
      assert.match(found[0].message, /NOTICE: relation "dupes_email_key" already exists, skipping/);
      assert.match(found[0].help, /^DROP INDEX CONCURRENTLY IF EXISTS dupes_email_key; in a cell of its own/);
      // On production the cell is stopped before it runs.
      const cells = [sqlCell(rebuild)];
      assert.match((await createSafetyHooks({ cells }).before?.(ctxFor(cells, 0, prod)))?.block ?? '', /invalid-index-exists/);
      // What the server does with it elsewhere: a NOTICE, an ok cell, and the index still invalid — said after the cell.
      const hooks = createSafetyHooks({ cells, intervalMs: 50 });
      const ctx = ctxFor(cells, 0, staging);
      const before = await hooks.before?.(ctx);
      assert.ok((before?.record?.findings as { rule: string }[]).some((f) => f.rule === 'invalid-index-exists'));
      const w = await hooks.watch?.(ctx);
      const r = await session.executeCell(rebuild);
      assert.equal(r.status, 'ok');
      assert.deepEqual(r.statements[0].notices, ['NOTICE: relation "dupes_email_key" already exists, skipping']);
      const stopped = await w?.stop();
      assert.equal((stopped?.record?.invalidIndexes as unknown[]).length, 1);
    });

    it('does not flag the rebuild when an earlier cell drops the invalid index', async () => {
      const fs1 = await lint(lintCells('DROP INDEX CONCURRENTLY IF EXISTS dupes_email_key;', rebuild));
      assert.deepEqual(ofRule(fs1, 'invalid-index-exists'), []);
    });

    it('lists the invalid indexes of the tables a cell locks or indexes in the pre-flight', async () => {
      const cells = [sqlCell("SET lock_timeout = '2s';\nALTER TABLE dupes ADD COLUMN IF NOT EXISTS note text;"), sqlCell('CREATE INDEX CONCURRENTLY IF NOT EXISTS dupes_id_idx ON dupes (id);')];
      const hooks = createSafetyHooks({ cells });
      for (const i of [0, 1]) {
        const r = await hooks.before?.(ctxFor(cells, i, staging));
        const pre = r?.record?.preflight as { invalidIndexes?: { index: string }[] } | undefined;
        assert.deepEqual(pre?.invalidIndexes?.map((x) => x.index), ['dupes_email_key'], `cell ${i}`);
        assert.match(r?.body ?? '', /Invalid indexes \(pg_index\.indisvalid = false; queries do not use them\):\n {2}dupes_email_key on dupes: left by a failed or cancelled CREATE INDEX CONCURRENTLY\. To retry: DROP INDEX CONCURRENTLY IF EXISTS dupes_email_key;/);
      }
    });
  });

  describe('miss: a batched UPDATE whose batch scans a large table', () => {
    const batch = "UPDATE big SET note = 'x' WHERE id IN (SELECT id FROM big WHERE note IS NULL LIMIT 1000);";

    it('is a warning from the planner (EXPLAIN, never run), with the table size and an index or key ranges as the fix', async () => {
      const f = ofRule(await lint(lintCells(batch)), 'batch-seq-scan');
      assert.equal(f.length, 1, 'one finding');
      assert.equal(f[0].severity, 'warning');
      assert.match(f[0].message, /sequential scan of a large table \(Seq Scan on big with Filter: \(big_1\.note IS NULL\)\)/);
      assert.match(f[0].message, /\(big: about 150,000 rows, [\d.]+ MB on this connection\.\)$/);
      assert.match(f[0].help, /partial index/);
      // EXPLAIN planned the UPDATE and did not run it.
      assert.equal((await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM big WHERE note IS NOT NULL')).rows[0].n, 0);
    });

    it('says nothing once an index serves the batch\'s predicate', async () => {
      const selective = "UPDATE big SET note = 'x' WHERE id IN (SELECT id FROM big WHERE b > 149000 LIMIT 1000);";
      assert.equal(ofRule(await lint(lintCells(selective)), 'batch-seq-scan').length, 1, 'no index yet: a scan');
      await admin.query('CREATE INDEX big_b_idx ON big (b); ANALYZE big');
      try {
        assert.deepEqual(ofRule(await lint(lintCells(selective)), 'batch-seq-scan'), []);
      } finally {
        await admin.query('DROP INDEX big_b_idx');
      }
    });

    it('skips a batch on a table created earlier in the runbook: it does not exist for EXPLAIN yet, and nobody uses it', async () => {
      const fs1 = await lint(lintCells('CREATE TABLE fresh(id bigint PRIMARY KEY, note text);', "UPDATE fresh SET note = 'x' WHERE id IN (SELECT id FROM fresh WHERE note IS NULL LIMIT 1000);"));
      assert.deepEqual(fs1.filter((f) => ['batch-seq-scan', 'unbatched-dml', 'plan-unchecked'].includes(f.rule)), []);
    });

    it('says when it could not check a batch on a column added earlier, and checks it just before the cell runs', async () => {
      const cells = [sqlCell("SET lock_timeout = '2s';\nALTER TABLE big ADD COLUMN IF NOT EXISTS tier text;"), sqlCell("UPDATE big SET tier = 'free' WHERE id IN (SELECT id FROM big WHERE tier IS NULL LIMIT 1000);")];
      try {
        const unchecked = ofRule(await lint(cells.map((c) => ({ kind: 'sql', source: c.source, options: c.options }))), 'plan-unchecked');
        assert.equal(unchecked.length, 1);
        assert.equal(unchecked[0].severity, 'info');
        assert.match(unchecked[0].message, /EXPLAIN failed: column "tier" does not exist/);
        const hooks = createSafetyHooks({ cells });
        await hooks.before?.(ctxFor(cells, 0, staging));
        assert.equal((await session.executeCell(cells[0].source)).status, 'ok');
        const r = await hooks.before?.(ctxFor(cells, 1, staging));
        assert.deepEqual((r?.record?.findings as { rule: string }[]).map((f) => f.rule), ['batch-seq-scan']);
      } finally {
        await admin.query('ALTER TABLE big DROP COLUMN IF EXISTS tier');
      }
    });

    it('gives up on EXPLAIN within seconds when another session holds a lock on the table, instead of queueing', async () => {
      const holder = new Client(db.clientConfig);
      await holder.connect();
      const monitor = new MonitorConnection(db.clientConfig);
      try {
        await holder.query('BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE');
        const t0 = Date.now();
        const fs1 = await lintRunbook(lintCells(batch), { serverVersion, client: (fn) => monitor.use(fn) });
        const ms = Date.now() - t0;
        assert.ok(ms < 10_000, `${ms} ms`);
        // EXPLAIN fails at its 1 s lock_timeout; the size query (which opens the table) at the catalog connection's 2 s,
        // and the findings come without sizes rather than not at all.
        const f = ofRule(fs1, 'plan-unchecked');
        assert.match(f[0]?.message ?? '', /EXPLAIN failed: canceling statement due to lock timeout/);
        assert.equal(f[0].table, undefined);
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
        await monitor.close();
      }
    });
  });

  describe('miss: an unbatched UPDATE or DELETE over a large table', () => {
    it('warns before it runs, with the batched rewrite, when the planner expects many rows', async () => {
      const fs1 = await lint(lintCells("UPDATE big SET note = 'x' WHERE b > 10;"));
      const f = ofRule(fs1, 'unbatched-dml');
      assert.equal(f.length, 1);
      assert.equal(f[0].severity, 'warning');
      assert.match(f[0].message, /This UPDATE changes about [\d,]+ rows \(the planner's estimate\) of big in one transaction/);
      assert.match(f[0].help, /UPDATE big SET … WHERE id IN \(SELECT id FROM big WHERE <what is left to change> LIMIT 5000\)/);
      const del = ofRule(await lint(lintCells('DELETE FROM big;')), 'unbatched-dml');
      assert.match(del[0]?.message ?? '', /This DELETE changes about 150,000 rows/);
    });

    it('says nothing for a statement that changes a few rows of the same table', async () => {
      assert.deepEqual(ofRule(await lint(lintCells("UPDATE big SET note = 'x' WHERE id = 5;")), 'unbatched-dml'), []);
    });
  });

  describe('miss: CALL of a procedure that commits, inside a transaction opened by an earlier cell', () => {
    before(async () => {
      await admin.query(`CREATE PROCEDURE backfill_notes() LANGUAGE plpgsql AS $$
        BEGIN LOOP UPDATE big SET note = 'y' WHERE id IN (SELECT id FROM big WHERE note IS NULL LIMIT 1000); EXIT WHEN NOT FOUND; COMMIT; END LOOP; END $$;
        CREATE PROCEDURE touch_one() LANGUAGE plpgsql AS $$ BEGIN UPDATE big SET b = b WHERE id = 1; END $$`);
    });
    after(async () => { await admin.query('DROP PROCEDURE backfill_notes(); DROP PROCEDURE touch_one()'); });

    it('is an error when the connection shows the body commits, and the server indeed fails it with 2D000', async () => {
      const cells = lintCells('BEGIN;', 'CALL backfill_notes();');
      const f = ofRule(await lint(cells), 'commit-in-transaction-block');
      assert.equal(f.length, 1);
      assert.equal(f[0].cell, 1);
      assert.match(f[0].message, /CALL backfill_notes runs a procedure that ends transactions .* SQLSTATE 2D000/);
      const s = new Client(db.clientConfig);
      await s.connect();
      try {
        await s.query('BEGIN');
        await assert.rejects(s.query('CALL backfill_notes()'), (e: DatabaseError) => e.code === '2D000');
        await s.query('ROLLBACK');
      } finally {
        await s.end();
      }
    });

    it('is a warning ("may") without a connection, and nothing for a procedure whose body does not commit', async () => {
      const cells = lintCells('BEGIN;', 'CALL backfill_notes();', 'CALL touch_one();', 'COMMIT;');
      const offline = await lintRunbook(cells, { serverVersion });
      assert.deepEqual(offline.filter((f) => f.rule.endsWith('-in-transaction-block')).map((f) => [f.rule, f.cell]), [['call-in-transaction-block', 1], ['call-in-transaction-block', 2]]);
      assert.match(ofRule(offline, 'call-in-transaction-block')[0].message, /without a connection its body cannot be read, so it may COMMIT or ROLLBACK/);
      const online = await lint(cells);
      assert.deepEqual(online.filter((f) => f.rule.endsWith('-in-transaction-block')).map((f) => [f.rule, f.cell]), [['commit-in-transaction-block', 1]]);
    });

    it('reads the body of a procedure created earlier in the runbook, and checks the session\'s real transaction state', async () => {
      const create = 'CREATE PROCEDURE rb_commits() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$;';
      const offline = await lintRunbook(lintCells(create, 'BEGIN;', 'CALL rb_commits();'), { serverVersion });
      assert.deepEqual(ofRule(offline, 'commit-in-transaction-block').map((f) => f.cell), [2]);
      // A BEGIN run earlier in the session (not in the runbook): checked against the real state before the cell.
      const cells = [sqlCell('CALL backfill_notes();')];
      await session.executeCell('BEGIN');
      try {
        const r = await createSafetyHooks({ cells }).before?.(ctxFor(cells, 0, prod));
        assert.match(r?.block ?? '', /commit-in-transaction-block/);
      } finally {
        await session.executeCell('ROLLBACK');
      }
    });
  });

  describe('false alarm: ALTER COLUMN … TYPE that PostgreSQL does without a rewrite', () => {
    before(async () => {
      await admin.query(`CREATE TABLE accounts(id bigint PRIMARY KEY, name varchar(50), code varchar(10), amount numeric(10,2), n int);
        CREATE INDEX accounts_name_idx ON accounts (name); INSERT INTO accounts SELECT g, 'n' || g, 'c', g, g FROM generate_series(1, 1000) g`);
    });

    it('varchar(n) → text and varchar(n) → varchar(m > n): no rewrite finding with a connection, and the run rewrites nothing', async () => {
      const sql = 'ALTER TABLE accounts ALTER COLUMN name TYPE text, ALTER COLUMN code TYPE varchar(20);';
      const fs1 = await lint(lintCells("BEGIN;\nSET LOCAL lock_timeout = '2s';\nLOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;", sql, 'COMMIT;'));
      // Neither squawk's rewrite error nor ours about work done under the lock: it is a catalog change.
      assert.deepEqual(fs1.filter((f) => f.severity === 'error').map((f) => f.rule), []);
      const rewriting = await lint(lintCells("BEGIN;\nSET LOCAL lock_timeout = '2s';\nLOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;", 'ALTER TABLE accounts ALTER COLUMN n TYPE bigint;', 'COMMIT;'));
      assert.deepEqual(rewriting.filter((f) => f.severity === 'error').map((f) => f.rule).sort(), ['changing-column-type', 'work-under-access-exclusive']);
      const [table, index] = [await filenode('accounts'), await filenode('accounts_name_idx')];
      await admin.query(sql);
      assert.deepEqual([await filenode('accounts'), await filenode('accounts_name_idx')], [table, index]);
    });

    it('still reports a change that rewrites, saying why', async () => {
      const f = ofRule(await lint(lintCells('ALTER TABLE accounts ALTER COLUMN n TYPE bigint;')), 'changing-column-type');
      assert.equal(f.length, 1);
      assert.match(f[0].message, /^accounts\.n: integer → bigint is not binary coercible: every value is converted\. PostgreSQL rewrites accounts/);
      const without = ofRule(await lintRunbook(lintCells('ALTER TABLE accounts ALTER COLUMN code TYPE text;'), { serverVersion }), 'changing-column-type');
      assert.match(without[0]?.message ?? '', /Whether it rewrites cannot be told here: the current type of accounts\.code is not known without a connection/);
    });

    it('decides every case as the server does (its data file and its index kept or replaced)', async function () {
      this.timeout(60_000);
      const cases: [string, string][] = [
        ['varchar(10)', 'text'], ['varchar(10)', 'varchar(20)'], ['varchar(20)', 'varchar(10)'], ['varchar(10)', 'varchar'], ['text', 'varchar'],
        ['text', 'varchar(10)'], ['numeric(10,2)', 'numeric(12,2)'], ['numeric(10,2)', 'numeric(12,3)'], ['numeric(10,2)', 'numeric'], ['numeric', 'numeric(10,2)'],
        ['int', 'bigint'], ['bigint', 'int'], ['char(5)', 'char(10)'], ['char(5)', 'text'], ['timestamp(3)', 'timestamp(6)'], ['timestamp(6)', 'timestamp(3)'],
        ['timestamptz(2)', 'timestamptz'], ['time(2)', 'time(4)'], ['bit varying(5)', 'bit varying(10)'], ['bit(5)', 'bit(10)'], ['cidr', 'inet'],
        ['varchar(10)', 'char(10)'], ['int', 'oid'], ['d_text', 'text'], ['d_checked', 'text'],
      ];
      await admin.query("CREATE DOMAIN d_text AS text; CREATE DOMAIN d_checked AS text CHECK (VALUE <> '')");
      const wrong: string[] = [];
      for (const [from, to] of cases) {
        await admin.query(`DROP TABLE IF EXISTS rw; CREATE TABLE rw(x ${from}); CREATE INDEX rw_x ON rw (x)`);
        const reported = ofRule(await lint(lintCells(`ALTER TABLE rw ALTER COLUMN x TYPE ${to};`)), 'changing-column-type').length > 0;
        const before = [await filenode('rw'), await filenode('rw_x')];
        await admin.query(`ALTER TABLE rw ALTER COLUMN x TYPE ${to}`);
        const after = [await filenode('rw'), await filenode('rw_x')];
        const kept = before[0] === after[0] && before[1] === after[1];
        // Silent must mean kept (a miss otherwise); reported must mean replaced (a false alarm otherwise).
        if (reported === kept) wrong.push(`${from} → ${to}: server ${kept ? 'kept' : 'rewrote'} table and index, lint ${reported ? 'reported' : 'was silent'}`);
      }
      await admin.query('DROP TABLE rw');
      assert.deepEqual(wrong, []);
    });
  });

  describe('false alarm: ADD CONSTRAINT … UNIQUE told to use NOT VALID', () => {
    it('gives the form PostgreSQL accepts (a unique index built concurrently, then USING INDEX), which runs', async () => {
      await admin.query('CREATE TABLE members(id int, email text); INSERT INTO members VALUES (1, \'a\'), (2, \'b\')');
      const fs1 = await lint(lintCells('ALTER TABLE members ADD CONSTRAINT members_email_key UNIQUE (email);'));
      assert.ok(!fs1.some((f) => /NOT VALID with a later VALIDATE/.test(f.help)), fs1.map((f) => f.help).join('\n'));
      assert.ok(!rules(fs1).includes('constraint-missing-not-valid'));
      const u = ofRule(fs1, 'disallowed-unique-constraint')[0];
      assert.equal(u.help, 'CREATE UNIQUE INDEX CONCURRENTLY members_email_key ON members (email); in a cell of its own (it blocks no writes), then ALTER TABLE members ADD CONSTRAINT members_email_key UNIQUE USING INDEX members_email_key; (a catalog change: no scan, no index build). NOT VALID is not accepted for UNIQUE constraints.');
      // What squawk's old advice would do, and what ours does.
      await assert.rejects(admin.query('ALTER TABLE members ADD CONSTRAINT members_email_key UNIQUE (email) NOT VALID'), (e: DatabaseError) => e.code === '0A000');
      for (const step of u.help.match(/(CREATE UNIQUE INDEX CONCURRENTLY [^;]+;|ALTER TABLE [^;]+;)/g) ?? []) await admin.query(step);
      const con = await admin.query("SELECT contype FROM pg_constraint WHERE conname = 'members_email_key'");
      assert.deepEqual(con.rows, [{ contype: 'u' }]);
      // EXCLUDE cannot be NOT VALID either: reworded, not dropped (nothing else warns about its index build).
      const ex = ofRule(await lint(lintCells('ALTER TABLE members ADD CONSTRAINT members_id_excl EXCLUDE USING btree (id WITH =);')), 'constraint-missing-not-valid');
      assert.match(ex[0]?.message ?? '', /PostgreSQL does not accept NOT VALID for EXCLUDE constraints \(SQLSTATE 0A000\)/);
      await assert.rejects(admin.query('ALTER TABLE members ADD CONSTRAINT members_id_excl EXCLUDE USING btree (id WITH =) NOT VALID'), (e: DatabaseError) => e.code === '0A000');
    });
  });

  describe('false alarm: require-lock-timeout on a lock the transaction already holds', () => {
    before(async () => { await admin.query('CREATE TABLE ledger(id int, v int)'); });

    it('is not reported when an earlier cell of the transaction took ACCESS EXCLUSIVE, and the statement indeed does not wait', async () => {
      const cells = lintCells(['BEGIN;\nLOCK TABLE ledger IN ACCESS EXCLUSIVE MODE;', { lock_timeout: '2s' }], 'ALTER TABLE ledger ADD COLUMN note text;\nCREATE INDEX ledger_v_idx ON ledger (v);', 'COMMIT;');
      assert.deepEqual(ofRule(await lint(cells), 'require-lock-timeout'), []);
      // Without the earlier lock it is reported (the same statements, their own transaction).
      assert.deepEqual(ofRule(await lint(lintCells('BEGIN;', 'ALTER TABLE ledger ADD COLUMN note text;', 'COMMIT;')), 'require-lock-timeout').map((f) => f.cell), [1]);
      // On the server: while another session queues for the table, the holder's ALTER goes through at once.
      const holder = new Client(db.clientConfig);
      const waiter = new Client(db.clientConfig);
      await holder.connect();
      await waiter.connect();
      try {
        await holder.query("BEGIN; SET LOCAL lock_timeout = '2s'; LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE; SET LOCAL lock_timeout = 0");
        const queued = waiter.query('SELECT count(*) FROM ledger');
        await new Promise((r) => setTimeout(r, 200));
        const t0 = Date.now();
        await holder.query('ALTER TABLE ledger ADD COLUMN note text; CREATE INDEX ledger_v_idx ON ledger (v)');
        assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms`);
        await holder.query('ROLLBACK');
        await queued;
      } finally {
        await holder.end();
        await waiter.end();
      }
    });

    it('is still reported when the lock held does not cover the one asked for (SHARE held, SHARE ROW EXCLUSIVE wanted), which can wait', async () => {
      const trigger = 'CREATE TRIGGER ledger_t BEFORE UPDATE ON ledger FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();';
      const cells = lintCells(['BEGIN;\nLOCK TABLE ledger IN SHARE MODE;', { lock_timeout: '2s' }], trigger, 'COMMIT;');
      assert.deepEqual(ofRule(await lint(cells), 'require-lock-timeout').map((f) => f.cell), [1]);
      // Another session may hold SHARE too (CREATE INDEX): the trigger then waits, here until its lock_timeout.
      const holder = new Client(db.clientConfig);
      const other = new Client(db.clientConfig);
      await holder.connect();
      await other.connect();
      try {
        await other.query('BEGIN; LOCK TABLE ledger IN SHARE MODE');
        await holder.query("BEGIN; LOCK TABLE ledger IN SHARE MODE; SET LOCAL lock_timeout = '300ms'");
        await assert.rejects(holder.query(trigger), (e: DatabaseError) => e.code === '55P03');
      } finally {
        await holder.query('ROLLBACK');
        await other.query('ROLLBACK');
        await holder.end();
        await other.end();
      }
    });
  });

  describe('false alarm: the front matter\'s connection profile ignored by runbook lint', () => {
    let dir: string;
    before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lint-fm-')); });
    after(() => { fs.rmSync(dir, { recursive: true, force: true }); });
    const runbook = '---\nconnection: prod-main\n---\n\n# Add a note\n\n```sql\nALTER TABLE ledger ADD COLUMN IF NOT EXISTS memo text;\n```\n';

    it('takes lock_timeout/statement_timeout from the profile named there, without connecting', async () => {
      // The profile points at a port nothing listens on: a connection attempt would fail the lint.
      fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'), 'connections:\n  prod-main:\n    environment: production\n    host: 127.0.0.1\n    port: 1\n    lock_timeout: 3s\n    statement_timeout: 10min\n');
      const file = path.join(dir, 'note.runbook');
      fs.writeFileSync(file, runbook);
      let out = '';
      let err = '';
      const code = await runLint([file], { format: 'json' }, { out: (s) => { out += s; }, err: (s) => { err += s; } });
      assert.equal(code, 0, out + err);
      const fs1 = JSON.parse(out) as Finding[];
      assert.ok(!rules(fs1).includes('require-lock-timeout'), rules(fs1).join());
      assert.ok(!rules(fs1).includes('require-statement-timeout'));
      assert.equal(err, '');
      // The function --dry-run can use gives the same.
      assert.deepEqual(await lintDefaultsFor('prod-main', dir), { connection: 'prod-main', lockTimeoutDefault: '3s', statementTimeoutDefault: '10min' });
      // A profile without them gets its environment's defaults (production: 5s, 15min), as runbook run sets them.
      fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'), 'connections:\n  prod-main:\n    environment: production\n    host: 127.0.0.1\n    port: 1\n');
      assert.deepEqual(await lintDefaultsFor('prod-main', dir), { connection: 'prod-main', lockTimeoutDefault: '5s', statementTimeoutDefault: '15min' });
    });

    it('says so and lints on when the profile cannot be read', async () => {
      fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'), 'connections:\n  staging:\n    environment: staging\n');
      const file = path.join(dir, 'note.runbook');
      fs.writeFileSync(file, runbook);
      let out = '';
      let err = '';
      const code = await runLint([file], { format: 'json' }, { out: (s) => { out += s; }, err: (s) => { err += s; } });
      assert.equal(code, 0);
      assert.match(err, /names connection "prod-main" in its front matter, but it cannot be read .*linting without its lock_timeout\/statement_timeout defaults/);
      assert.ok(rules(JSON.parse(out) as Finding[]).includes('require-lock-timeout'));
    });

    it('names the profile key the loader accepts in its advice, which sets the timeout on a real session', async () => {
      const help = ofRule(await lintRunbook(lintCells('ALTER TABLE ledger ADD COLUMN IF NOT EXISTS memo text;'), { serverVersion }), 'require-lock-timeout')[0].help;
      const key = /(\w+): 5s on the connection profile/.exec(help)?.[1];
      assert.equal(key, 'lock_timeout');
      const u = new URL(db.url);
      fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'),
        `connections:\n  here:\n    environment: staging\n    host: ${u.hostname}\n    port: ${u.port}\n    database: ${db.name}\n    user: ${decodeURIComponent(u.username)}\n    ${key}: 5s\n`);
      const env = u.password ? { ...process.env, PGPASSWORD: decodeURIComponent(u.password) } : process.env;
      const conn = await resolveConnection('here', { startDir: dir, env });
      const s = await PostgresSession.connect(conn.clientConfig, { lockTimeout: conn.profile.lockTimeout });
      try {
        assert.equal(s.timeouts.lockTimeout, '5s');
      } finally {
        await s.close();
      }
      fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'), 'connections:\n  here:\n    environment: staging\n    lockTimeout: 5s\n');
      await assert.rejects(resolveConnection('here', { startDir: dir }), /unknown key "lockTimeout"/);
    });
  });

  describe('false alarm: "make sure lock_timeout is set" when it is', () => {
    it('says what the lock_timeout in force will do about a blocker', async () => {
      const blocker = new Client(db.clientConfig);
      await blocker.connect();
      try {
        await blocker.query('BEGIN; SELECT count(*) FROM ledger');
        const locks = [{ table: 'ledger', mode: 'ACCESS EXCLUSIVE' as const }];
        const set = await preflight(admin, locks, { lockTimeout: '2s' });
        assert.match(set.text, /with lock_timeout 2s it gives up after 2s \(SQLSTATE 55P03\)/);
        assert.doesNotMatch(set.text, /Make sure lock_timeout is set/);
        const off = await preflight(admin, locks, { lockTimeout: '0' });
        assert.match(off.text, /with no lock_timeout in force \(it is 0\)/);
        // Through the hooks: the session's lock_timeout (the profile's) is the one said.
        const cells = [sqlCell('ALTER TABLE ledger ADD COLUMN IF NOT EXISTS memo2 text;', { lock_timeout: '3s' })];
        const r = await createSafetyHooks({ cells }).before?.(ctxFor(cells, 0, staging));
        assert.match(r?.body ?? '', /with lock_timeout 3s it gives up after 3s/);
      } finally {
        await blocker.query('ROLLBACK');
        await blocker.end();
      }
    });
  });

  describe('false alarm: squawk\'s wording that does not fit the statement', () => {
    it('calls a volatile default a volatile default (and it does rewrite, where a constant one does not)', async () => {
      await admin.query('CREATE TABLE events(id int); INSERT INTO events SELECT generate_series(1, 100)');
      const f = ofRule(await lint(lintCells('ALTER TABLE events ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp();')), 'adding-field-with-default')[0];
      assert.doesNotMatch(f.message, /generated column/);
      assert.match(f.message, /^Adding seen_at with a volatile DEFAULT \(clock_timestamp\(\)\) rewrites events under an ACCESS EXCLUSIVE lock/);
      assert.match(f.help, /ALTER TABLE events ALTER COLUMN seen_at SET DEFAULT/);
      const n0 = await filenode('events');
      await admin.query("ALTER TABLE events ADD COLUMN kind text DEFAULT 'x'");
      assert.equal(await filenode('events'), n0, 'a constant default: no rewrite');
      await admin.query('ALTER TABLE events ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp()');
      assert.notEqual(await filenode('events'), n0, 'a volatile default: a rewrite');
    });

    it('does not ask a named index for "an explicit name"', async () => {
      const named = ofRule(await lint(lintCells('CREATE INDEX CONCURRENTLY events_id_idx ON events (id);', 'CREATE INDEX events_kind_idx ON events (kind);')), 'prefer-robust-stmts');
      assert.equal(named.length, 2);
      for (const f of named) assert.doesNotMatch(f.help, /explicit name/);
      assert.match(named[0].help, /^Write CREATE INDEX CONCURRENTLY IF NOT EXISTS events_id_idx ON events … so the step can run again\. A failed concurrent build leaves the index behind, invalid/);
      assert.equal(named[1].help, 'Write CREATE INDEX IF NOT EXISTS events_kind_idx ON events … so the step can run again.');
    });
  });
});
