// The safety hooks `runbook run` calls around SQL cells, on a real session: the production gate, acknowledgements,
// pre-flight in the record, the lock view in the record, and "unavailable" without a second connection.

import { strict as assert } from 'node:assert';
import { Client } from 'pg';
import { freshDatabase, type FreshDatabase } from './harness';
import { PostgresSession } from '../../src/engines/postgres';
import { createSafetyHooks } from '../../src/safety/hooks';
import type { SqlHookContext, RunTarget } from '../../src/run/session';
import type { Cell } from '../../src/format';

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
    const cells = [sqlCell('SELECT 1;')];
    const broken = { cells, squawkPath: '/nonexistent/squawk' };
    const blocked = await createSafetyHooks(broken).before?.(ctxFor(cells, 0, prod));
    assert.match(blocked?.block ?? '', /safety checks could not run .*could not start squawk/);
    assert.equal((await createSafetyHooks(broken).before?.(ctxFor(cells, 0, staging)))?.block, undefined);
    const ackCells = [sqlCell('SELECT 1;', { ack: ['lint-unavailable'] })];
    const acked = await createSafetyHooks({ ...broken, cells: ackCells }).before?.(ctxFor(ackCells, 0, prod));
    assert.equal(acked?.block, undefined);
    assert.deepEqual(acked?.record?.ack, ['lint-unavailable']);
  });

  it('records that the lock view is unavailable without a second connection', async () => {
    const cells = [sqlCell('SELECT 1;')];
    const w = await createSafetyHooks({ cells }).watch?.(ctxFor(cells, 0, staging, false));
    const stopped = await w?.stop();
    assert.deepEqual((stopped?.record?.locks as { available: boolean }).available, false);
  });
});
