// The monitoring connection's own timeouts: with a table locked ACCESS EXCLUSIVE by another session, the pre-flight
// and `runbook lint --connection` finish within their timeouts and name the holder (pid, application_name, query age).

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { freshDatabase, type FreshDatabase } from './harness';
import { startCli } from './cli';
import { createSafetyHooks } from '../../src/safety/hooks';
import { CATALOG_LOCK_TIMEOUT_MS, CATALOG_STATEMENT_TIMEOUT_MS, MonitorConnection } from '../../src/safety/monitor';
import type { SqlHookContext } from '../../src/run/session';

describe('monitoring connection timeouts', function () {
  this.timeout(60_000);
  let db: FreshDatabase;
  let holder: Client;
  let holderPid: number;
  let dir: string;

  before(async () => {
    db = await freshDatabase('monitor_timeouts');
    const c = new Client(db.clientConfig);
    await c.connect();
    // Large enough for the planner check (100,000 rows), so lint asks EXPLAIN and the table's size.
    await c.query("CREATE TABLE big(id bigint PRIMARY KEY, b int, note text); INSERT INTO big SELECT g, g, 'x' FROM generate_series(1, 150000) g; ANALYZE big");
    await c.end();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-monitor-timeouts-'));
  });
  beforeEach(async () => {
    holder = new Client({ ...db.clientConfig, application_name: 'nightly-report' });
    await holder.connect();
    holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await holder.query('BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE');
  });
  afterEach(async () => {
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end().catch(() => undefined);
  });
  after(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await db.drop();
  });

  it('sets its own short lock_timeout and statement_timeout on the monitoring connection', async () => {
    const m = new MonitorConnection({ ...db.clientConfig, lock_timeout: 0, statement_timeout: 0 });
    try {
      const r = await m.use((c) => c.query<{ lt: string; st: string }>("SELECT current_setting('lock_timeout') AS lt, current_setting('statement_timeout') AS st"));
      assert.deepEqual([r.rows[0].lt, r.rows[0].st], [`${CATALOG_LOCK_TIMEOUT_MS / 1000}s`, `${CATALOG_STATEMENT_TIMEOUT_MS / 1000}s`]);
    } finally {
      await m.close();
    }
  });

  it('pre-flight finishes within its timeout and names the holder', async () => {
    const session = new Client(db.clientConfig);
    await session.connect();
    const pid = (await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const cell = { kind: 'sql' as const, source: 'ALTER TABLE big ADD COLUMN seen_at timestamptz;', options: { lock_timeout: '2s' } };
    const hooks = createSafetyHooks({ cells: [cell] });
    try {
      const ctx = {
        cell, index: 0, target: { name: 'staging', environment: 'staging' }, secondConnection: db.clientConfig,
        session: { pid, serverVersion: (await session.query<{ v: string }>('SHOW server_version')).rows[0].v, timeouts: { lockTimeout: '2s', statementTimeout: '0' }, txState: 'idle' },
      } as unknown as SqlHookContext;
      const t0 = Date.now();
      const r = await hooks.before!(ctx);
      const ms = Date.now() - t0;
      // The lint (EXPLAIN, sizes) may each wait out a lock_timeout; the whole stays well inside the statement_timeout.
      assert.ok(ms < CATALOG_STATEMENT_TIMEOUT_MS + 5_000, `${ms} ms`);
      const pre = r?.record?.preflight as { blockers: { pid: number; application: string; queryAgeMs: number }[] };
      assert.equal(pre.blockers.length, 1, JSON.stringify(r?.record));
      assert.equal(pre.blockers[0].pid, holderPid);
      assert.equal(pre.blockers[0].application, 'nightly-report');
      assert.ok(pre.blockers[0].queryAgeMs >= 0);
      assert.match(r?.body ?? '', new RegExp(`pid ${holderPid}  \\S+ application "nightly-report"  idle in transaction \\(idle for [\\d.]+ s, query started [\\d.]+ s ago\\); holds AccessExclusiveLock on big`));
      assert.match(r?.body ?? '', new RegExp(`The cell would wait for pid ${holderPid}: with lock_timeout 2s`));
    } finally {
      await hooks.close();
      await session.end();
    }
  });

  it('runbook lint --connection finishes within its timeout and names the holder', async () => {
    const file = path.join(dir, 'locked.runbook');
    fs.writeFileSync(file, "```sql\nUPDATE big SET note = 'y' WHERE b > 10;\nALTER TABLE big ADD COLUMN flag int NOT NULL DEFAULT 1;\n```\n");
    const t0 = Date.now();
    const { child, done } = startCli(['lint', '--connection', db.url, file]);
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const r = await done;
    clearTimeout(killer);
    const ms = Date.now() - t0;
    assert.notEqual(r.status, null, `killed after ${ms} ms: the lint hung behind the lock`);
    assert.ok(ms < 20_000, `${ms} ms`);
    const holderText = new RegExp(`big is locked ACCESS EXCLUSIVE by pid ${holderPid} \\(application "nightly-report", user \\S+, idle in transaction, query started [\\d.]+ s ago, transaction [\\d.]+ s\\)`);
    // The planner check says it could not run, and why; the size query's note names the holder too.
    assert.match(r.stdout, /plan-unchecked/);
    assert.match(r.stdout.replace(/\s+/g, ' '), holderText);
    assert.match(r.stderr, /runbook lint: note: table sizes not read: a lock on the table stopped the catalog read at its lock_timeout/);
    assert.match(r.stderr.replace(/\s+/g, ' '), holderText);
  });
});
