// The safety hooks `runbook run` calls around SQL cells, on a real session: the production gate, acknowledgements,
// pre-flight in the record, the lock view in the record (only when it has something to say, with table names), one
// monitoring connection per run, and "unavailable" without a second connection.

import { strict as assert } from 'node:assert';
import { Client } from 'pg';
import { freshDatabase, type FreshDatabase } from './harness';
import { PostgresSession } from '../../src/engines/postgres';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSafetyHooks as makeHooks, safetyHooksFor, type SafetyHookOptions, type SafetyHooks } from '../../src/safety/hooks';
import type { SqlHookContext, RunTarget } from '../../src/run/session';
import { runRunbook } from '../../src/run/runner';
import { parseRunbook, type Cell, type OutputRecord } from '../../src/format';

const sqlCell = (source: string, options: Record<string, unknown> = {}): Cell => ({ kind: 'sql', language: 'sql', source, options, outputs: [] });

describe('safety hooks around SQL cells', function () {
  this.timeout(60_000);
  let db: FreshDatabase;
  let session: PostgresSession;
  const prod: RunTarget = { name: 'prod-main', environment: 'production', display: 'prod-main (production)' };
  const staging: RunTarget = { name: 'staging', environment: 'staging', display: 'staging (staging)' };
  const ctxFor = (cells: Cell[], index: number, target: RunTarget, second = true): SqlHookContext => ({
    cell: cells[index], index, session, target, secondConnection: second ? db.clientConfig : undefined,
  });
  // Every hooks object made by a test, closed after it (as the runner does when a run ends).
  const made: SafetyHooks[] = [];
  const createSafetyHooks = (opts: SafetyHookOptions): SafetyHooks => {
    const h = makeHooks(opts);
    made.push(h);
    return h;
  };
  afterEach(async () => { await Promise.all(made.splice(0).map((h) => h.close())); });
  const monitorBackends = async (c: Client): Promise<number> =>
    (await c.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'runbook monitor' AND datname = current_database()")).rows[0].n;

  before(async () => {
    db = await freshDatabase('safety_hooks');
    const c = new Client(db.clientConfig);
    await c.connect();
    await c.query('CREATE TABLE rollups(id bigserial PRIMARY KEY, tokens int); INSERT INTO rollups(tokens) SELECT g FROM generate_series(1, 1000) g');
    await c.end();
    session = await PostgresSession.connect(db.clientConfig, { lockTimeout: '2s' });
  });
  after(async () => {
    await session.close();
    await db.drop();
  });

  it('stops an unacknowledged error-level finding on production, with what to do', async () => {
    const cells = [sqlCell('ALTER TABLE rollups ALTER COLUMN tokens TYPE bigint;')];
    const hooks = createSafetyHooks({ cells });
    const r = await hooks.before?.(ctxFor(cells, 0, prod));
    assert.match(r?.block ?? '', /Not run on production connection prod-main: 1 error-level finding/);
    assert.match(r?.block ?? '', /changing-column-type \(line 1\)/);
    assert.match(r?.block ?? '', /\{"ack": \["changing-column-type"\]\}/);
    assert.deepEqual((r?.record?.findings as { rule: string }[]).map((f) => f.rule).includes('changing-column-type'), true);
    // The profile's lock_timeout (2s, set on the session) counts: no require-lock-timeout.
    assert.ok(!(r?.record?.findings as { rule: string }[]).some((f) => f.rule === 'require-lock-timeout'));
  });

  it('lets an acknowledged finding run on production and records the acknowledgement', async () => {
    const cells = [sqlCell('ALTER TABLE rollups ALTER COLUMN tokens TYPE bigint;', { ack: ['changing-column-type'] })];
    const r = await createSafetyHooks({ cells }).before?.(ctxFor(cells, 0, prod));
    assert.equal(r?.block, undefined);
    assert.deepEqual(r?.record?.ack, ['changing-column-type']);
    assert.deepEqual((r?.record?.findings as { rule: string; acknowledged?: boolean }[]).find((f) => f.rule === 'changing-column-type')?.acknowledged, true);
    assert.deepEqual(r?.record?.preflight && (r.record.preflight as { tables: string[] }).tables, ['rollups ACCESS EXCLUSIVE']);
  });

  it('does not stop the same cell on staging', async () => {
    const cells = [sqlCell('ALTER TABLE rollups ALTER COLUMN tokens TYPE bigint;')];
    const r = await createSafetyHooks({ cells }).before?.(ctxFor(cells, 0, staging));
    assert.equal(r?.block, undefined);
  });

  it('checks the session\'s real transaction state before CREATE INDEX CONCURRENTLY', async () => {
    const cells = [sqlCell('CREATE INDEX CONCURRENTLY rollups_tokens_idx ON rollups(tokens);')];
    await session.executeCell('BEGIN');
    try {
      assert.equal(session.txState, 'in transaction');
      const r = await createSafetyHooks({ cells }).before?.(ctxFor(cells, 0, prod));
      assert.match(r?.block ?? '', /cannot-run-in-transaction/);
    } finally {
      await session.executeCell('ROLLBACK');
    }
  });

  it('records the pre-flight blockers and the lock view of a cell that waited', async () => {
    const cells = [sqlCell('ALTER TABLE rollups ADD COLUMN IF NOT EXISTS note text;')];
    const hooks = createSafetyHooks({ cells, intervalMs: 50 });
    const s1 = new Client(db.clientConfig);
    await s1.connect();
    const s1pid = (await s1.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await s1.query('BEGIN');
    await s1.query('SELECT count(*) FROM rollups');
    const progress: string[] = [];
    const ctx = { ...ctxFor(cells, 0, staging), onProgress: (t: string) => progress.push(t) };
    const before = await hooks.before?.(ctx);
    const pre = before?.record?.preflight as { blockers: { pid: number; state: string }[] };
    assert.deepEqual(pre.blockers.map((b) => [b.pid, b.state]), [[s1pid, 'idle in transaction']]);
    assert.match(before?.body ?? '', /idle in transaction/);
    const watcher = await hooks.watch?.(ctx);
    const release = setTimeout(() => { void s1.query('COMMIT'); }, 400);
    const result = await session.executeCell(cells[0].source);
    clearTimeout(release);
    const stopped = await watcher?.stop();
    await s1.end();
    assert.equal(result.error, undefined);
    const locks = stopped?.record?.locks as { available: boolean; cellWaitedMs: number; blockersSeen: { pid: number }[] };
    assert.equal(locks.available, true);
    assert.deepEqual(locks.blockersSeen.map((b) => b.pid), [s1pid]);
    assert.ok(locks.cellWaitedMs >= 200, String(locks.cellWaitedMs));
    assert.match(stopped?.body ?? '', /waited .* for pid/);
    assert.ok(progress.some((p) => /waiting .* for pid/.test(p)), progress.join('\n'));
  });

  it('records that a cell rewrote its table (case 07)', async () => {
    const cells = [sqlCell('ALTER TABLE rollups ALTER COLUMN tokens TYPE bigint;', { ack: ['changing-column-type'] })];
    const hooks = createSafetyHooks({ cells, intervalMs: 50 });
    const ctx = ctxFor(cells, 0, prod);
    assert.equal((await hooks.before?.(ctx))?.block, undefined);
    const w = await hooks.watch?.(ctx);
    assert.equal((await session.executeCell(cells[0].source)).error, undefined);
    const stopped = await w?.stop();
    assert.deepEqual(stopped?.record?.rewritten, ['rollups']);
    assert.match(stopped?.body ?? '', /Rewritten \(new data file\): rollups/);
  });

  it('fails closed on production when the checks cannot run, unless the cell acknowledges lint-unavailable', async () => {
    // A cell squawk must see (a SELECT-only cell never reaches squawk: test/unit/lint-squawk-quiet.test.ts).
    const cells = [sqlCell('ALTER TABLE rollups ADD COLUMN IF NOT EXISTS note text;')];
    const broken = { cells, squawkPath: '/nonexistent/squawk' };
    const blocked = await createSafetyHooks(broken).before?.(ctxFor(cells, 0, prod));
    assert.match(blocked?.block ?? '', /safety checks could not run .*could not start squawk/);
    assert.equal((await createSafetyHooks(broken).before?.(ctxFor(cells, 0, staging)))?.block, undefined);
    const ackCells = [sqlCell(cells[0].source, { ack: ['lint-unavailable'] })];
    const acked = await createSafetyHooks({ ...broken, cells: ackCells }).before?.(ctxFor(ackCells, 0, prod));
    assert.equal(acked?.block, undefined);
    assert.deepEqual(acked?.record?.ack, ['lint-unavailable']);
  });

  it('records the lock view as unavailable without a second connection, only for a cell that takes a strong lock', async () => {
    const cells = [sqlCell('SELECT 1;'), sqlCell("SET lock_timeout = '2s';\nALTER TABLE rollups ADD COLUMN IF NOT EXISTS note text;")];
    const hooks = createSafetyHooks({ cells });
    const plain = await (await hooks.watch?.(ctxFor(cells, 0, staging, false)))?.stop();
    assert.equal(plain?.record?.locks, undefined);
    const strong = await (await hooks.watch?.(ctxFor(cells, 1, staging, false)))?.stop();
    assert.deepEqual(strong?.record?.locks, { available: false, reason: 'no second connection' });
  });

  it('names the tables of the strong locks the cell holds, not their OIDs', async () => {
    const admin = new Client(db.clientConfig);
    await admin.connect();
    await admin.query('CREATE TABLE plain(id int); CREATE SCHEMA app; CREATE TABLE app.accounts(id int)');
    // ADD COLUMN … text gives plain a TOAST table, created (and locked) in the cell's uncommitted transaction.
    const cells = [sqlCell("BEGIN;\nSET LOCAL lock_timeout = '2s';\nALTER TABLE plain ADD COLUMN memo text;\nLOCK TABLE app.accounts IN SHARE MODE;")];
    const hooks = createSafetyHooks({ cells, intervalMs: 50 });
    const ctx = ctxFor(cells, 0, staging);
    await hooks.before?.(ctx);
    const w = await hooks.watch?.(ctx);
    try {
      assert.equal((await session.executeCell(cells[0].source)).error, undefined);
      const stopped = await w?.stop();
      const locks = stopped?.record?.locks as { strongLocks: { table: string; mode: string; stillHeld: boolean }[] };
      assert.deepEqual(locks.strongLocks.map((l) => [l.table, l.mode, l.stillHeld]).sort(), [['app.accounts', 'ShareLock', true], ['plain', 'AccessExclusiveLock', true]]);
      assert.equal(stopped?.body, 'Locks: held ACCESS EXCLUSIVE on plain (still held: the transaction is open); held SHARE on app.accounts (still held: the transaction is open).');
    } finally {
      await session.executeCell('ROLLBACK');
      await admin.end();
    }
  });

  it('does not keep a process alive with its monitoring connection when nobody closes it', async () => {
    // A child process opens the monitoring connection, uses it once and returns without close(): it must exit at
    // once, not when the 5 s idle close comes.
    const monitor = path.join(__dirname, '../../src/safety/monitor.js');
    const script = `const { MonitorConnection } = require(${JSON.stringify(monitor)});
      const m = new MonitorConnection(JSON.parse(process.env.CONFIG));
      m.use((c) => c.query('SELECT 1')).then(() => { console.log('used'); globalThis.t0 = Date.now(); });
      process.on('exit', () => console.log('exit after', Date.now() - globalThis.t0));`;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, CONFIG: JSON.stringify(db.clientConfig) }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /used\nexit after \d+/);
    assert.ok(Number(/exit after (\d+)/.exec(r.stdout)?.[1]) < 1000, r.stdout);
    assert.ok(Date.now() - t0 < 4000, `${Date.now() - t0} ms`);
  });

  describe('over a whole run (runRunbook with these hooks)', () => {
    let dir: string;
    before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-safety-')); });
    after(() => { fs.rmSync(dir, { recursive: true, force: true }); });
    const fence = (source: string, options?: Record<string, unknown>): string => `\`\`\`sql${options ? ' ' + JSON.stringify(options) : ''}\n${source}\n\`\`\`\n\n`;
    const run = async (name: string, text: string, hooksOf: (file: string) => SafetyHooks): Promise<{ records: OutputRecord[]; hooks: SafetyHooks }> => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      const hooks = hooksOf(file);
      made.push(hooks);
      const { summary } = await runRunbook({ file, connection: db.url, operator: 'test-operator', hooksFor: () => hooks });
      assert.equal(summary.counts.error ?? 0, 0, JSON.stringify(summary.stopped?.reason ?? summary.refused));
      return { records: parseRunbook(fs.readFileSync(file)).cells.filter((c) => c.kind === 'sql').map((c) => c.outputs[0].record), hooks };
    };

    it('opens no monitoring connection and records no lock view for cells that take no strong lock and end before the first sample', async () => {
      const text = Array.from({ length: 30 }, (_, i) => fence(`SELECT ${i + 1};`)).join('');
      const { records, hooks } = await run('selects.runbook', `# Selects\n\n${text}`, (file) => safetyHooksFor({ file }));
      assert.equal(records.length, 30);
      assert.deepEqual(records.filter((r) => 'locks' in r || 'preflight' in r || 'findings' in r), []);
      assert.equal(hooks.monitorConnectionsOpened, 0);
    });

    it('shares one monitoring connection between the lint, pre-flight, the lock view and the rewrite checks of every cell', async () => {
      const observer = new Client(db.clientConfig);
      await observer.connect();
      try {
        const text = '# Changes\n\n' +
          fence('CREATE TABLE IF NOT EXISTS widgets(id int, label text);') +
          fence("SET lock_timeout = '2s';") +
          fence('ALTER TABLE widgets ADD COLUMN IF NOT EXISTS a int;') +
          fence('ALTER TABLE widgets ALTER COLUMN a TYPE bigint;', { ack: ['changing-column-type'] }) +
          fence('SELECT pg_sleep(0.3);') +
          fence('ALTER TABLE widgets ADD COLUMN IF NOT EXISTS b int;') +
          fence('SELECT count(*) FROM widgets;');
        const cells = (file: string): Cell[] => parseRunbook(fs.readFileSync(file)).cells;
        const { records, hooks } = await run('changes.runbook', text, (file) => createSafetyHooks({ cells: cells(file).map((c) => ({ kind: c.kind, source: c.source, options: c.options })), intervalMs: 50 }));
        // Pre-flight ran before each ALTER, the lock view sampled the long cell, the rewrite was seen: all on one connection.
        assert.deepEqual(records.map((r) => 'preflight' in r), [false, false, true, true, false, true, false]);
        assert.deepEqual(records[3].rewritten, ['widgets']);
        assert.equal(hooks.monitorConnectionsOpened, 1);
        // The long SELECT was sampled, saw nothing worth recording: no locks field.
        assert.equal(records[4].locks, undefined);
        // runRunbook closes the hooks when the run ends: the monitoring connection is gone.
        for (let i = 0; i < 50 && (await monitorBackends(observer)) > 0; i++) await new Promise((r) => setTimeout(r, 20));
        assert.equal(await monitorBackends(observer), 0);
      } finally {
        await observer.end();
      }
    });
  });
});
