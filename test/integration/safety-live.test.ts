// Pre-flight and live lock view beyond the cases: vacuums in progress, index names, detection latency, failures.

import { strict as assert } from 'node:assert';
import { Client } from 'pg';
import { freshDatabase, type FreshDatabase } from './harness';
import { preflight, strongLocksOfCell } from '../../src/safety/preflight';
import { lockWatchUnavailable, start as startLockWatch, type LockSample } from '../../src/safety/lockwatch';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('pre-flight and live lock view', function () {
  this.timeout(60_000);
  let db: FreshDatabase;
  const open: Client[] = [];
  const connect = async (): Promise<Client> => {
    const c = new Client(db.clientConfig);
    await c.connect();
    c.on('error', () => undefined);
    open.push(c);
    return c;
  };
  const pidOf = async (c: Client): Promise<number> => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

  before(async () => {
    db = await freshDatabase('safety_live');
    const c = await connect();
    await c.query('CREATE TABLE events(id bigint PRIMARY KEY, payload text); INSERT INTO events SELECT g, repeat(\'x\', 200) FROM generate_series(1, 50000) g; CREATE INDEX events_payload_idx ON events(payload)');
  });
  afterEach(async () => { await Promise.all(open.splice(1).map((c) => c.end().catch(() => undefined))); });
  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
    await db.drop();
  });

  it('lists a VACUUM running on the cell\'s table, with its phase', async () => {
    const vac = await connect();
    const vacPid = await pidOf(vac);
    // Cost-based delay makes the VACUUM slow enough to be seen (PostgreSQL docs, 19.10.2 "Cost-based Vacuum Delay").
    await vac.query('SET vacuum_cost_delay = 100; SET vacuum_cost_limit = 1');
    await vac.query('UPDATE events SET payload = payload WHERE id % 10 = 0');
    const running = vac.query('VACUUM events').catch((e: Error) => e);
    const watcher = await connect();
    const locks = await strongLocksOfCell('ALTER TABLE events ADD COLUMN note text;');
    let seen: Awaited<ReturnType<typeof preflight>> | undefined;
    for (let i = 0; i < 100 && !seen?.vacuums.length; i++) {
      seen = await preflight(watcher, locks);
      if (!seen.vacuums.length) await sleep(20);
    }
    assert.ok(seen?.vacuums.length, 'the VACUUM was not seen');
    assert.deepEqual([seen.vacuums[0].pid, seen.vacuums[0].table, seen.vacuums[0].autovacuum], [vacPid, 'events', false]);
    assert.ok(seen.lockers.some((s) => s.pid === vacPid && s.wouldBlockCell), seen.text);
    assert.match(seen.text, /VACUUM on events \(pid \d+, phase /);
    await watcher.query('SELECT pg_cancel_backend($1)', [vacPid]);
    await running;
  });

  it('resolves an index name to its table (DROP INDEX waits for the table\'s lockers)', async () => {
    const s1 = await connect();
    const s1pid = await pidOf(s1);
    await s1.query('BEGIN');
    await s1.query('SELECT count(*) FROM events');
    const watcher = await connect();
    const pre = await preflight(watcher, await strongLocksOfCell('DROP INDEX events_payload_idx;'));
    assert.deepEqual(pre.tables.map((t) => [t.table, t.mode, t.exists]), [['events_payload_idx', 'ACCESS EXCLUSIVE', true]]);
    assert.ok(pre.lockers.find((s) => s.pid === s1pid)?.wouldBlockCell, pre.text);
    await s1.query('ROLLBACK');
  });

  it('says when nothing stands in the way', async () => {
    const watcher = await connect();
    const pre = await preflight(watcher, await strongLocksOfCell('ALTER TABLE events ADD COLUMN IF NOT EXISTS note2 text;'));
    assert.deepEqual(pre.lockers, []);
    assert.match(pre.text, /No other session holds or waits for a lock on these tables/);
  });

  it('reports a session blocked behind the watched backend within 500 ms at the default interval', async () => {
    const held = await connect();
    const heldPid = await pidOf(held);
    const watcher = await connect();
    const reader = await connect();
    const readerPid = await pidOf(reader);
    await held.query('BEGIN');
    await held.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
    let sentAt = 0;
    let seenAt = 0;
    const watch = startLockWatch(watcher, heldPid, {
      onSample: (s: LockSample) => { if (sentAt && !seenAt && s.blocked.some((b) => b.pid === readerPid)) seenAt = Date.now(); },
    });
    await sleep(120);
    sentAt = Date.now();
    const read = reader.query('SELECT count(*) FROM events');
    while (!seenAt && Date.now() - sentAt < 3000) await sleep(10);
    const summary = await watch.stop();
    await held.query('COMMIT');
    await read;
    assert.ok(seenAt > 0, 'never reported');
    assert.ok(seenAt - sentAt <= 500, `took ${seenAt - sentAt} ms`);
    assert.equal(summary.intervalMs, 250);
    assert.deepEqual(summary.blockedSeen, [readerPid]);
    assert.ok(summary.strongLocks.some((l) => l.table === 'events' && l.mode === 'AccessExclusiveLock' && l.stillHeld));
  });

  it('reports "unavailable" with the reason when it cannot sample', async () => {
    const watcher = new Client(db.clientConfig);
    await watcher.connect();
    await watcher.end();
    const summary = await startLockWatch(watcher, 1, { intervalMs: 20 }).stop();
    assert.equal(summary.available, false);
    assert.match(summary.reason ?? '', /sampling failed/);
    assert.deepEqual(lockWatchUnavailable('the PGlite sandbox serves one connection').available, false);
  });
});
