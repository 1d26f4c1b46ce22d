// The PGlite sandbox serves the pg driver from a child process: statements, cursors, notices, transaction status, restart and process lifetime.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Client, type QueryResult } from 'pg';
import Cursor from 'pg-cursor';
import { startSandbox, type Sandbox } from '../../src/engines/sandbox';
import type { SandboxServerArgs } from '../../src/engines/sandbox-protocol';

/** True while the process exists and is not a zombie waiting to be reaped. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) STATE ..."; comm may hold spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The arguments the sandbox child was started with (its last argv entry), read from /proc. */
function childArgs(pid: number): SandboxServerArgs {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  return JSON.parse(argv[argv.length - 1]) as SandboxServerArgs;
}

async function waitUntil(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Resolves with the status byte of the client's next ReadyForQuery: I idle, T in transaction, E failed.
 * pg rejects a failed query at ErrorResponse, before ReadyForQuery arrives, so the status must be
 * awaited, not read right after the rejection.
 */
function nextTransactionStatus(client: Client): Promise<string> {
  // pg parses ReadyForQuery into { status } but keeps it off its public API.
  return new Promise((resolve) => client.connection.once('readyForQuery', (msg: { status: string }) => resolve(msg.status)));
}

describe('PGlite sandbox', function () {
  this.timeout(120_000);
  let sandbox: Sandbox;
  let client: Client;

  before(async () => {
    const t0 = Date.now();
    sandbox = await startSandbox();
    console.log(`    (PGlite sandbox started in ${Date.now() - t0} ms: PostgreSQL ${sandbox.serverVersion} on ${sandbox.host}:${sandbox.port})`);
  });
  after(async () => {
    await client?.end().catch(() => undefined);
    await sandbox?.stop();
  });
  beforeEach(async () => {
    client = new Client(sandbox.clientConfig());
    await client.connect();
  });
  afterEach(async () => {
    await client.end().catch(() => undefined);
  });

  it('reports a PostgreSQL 18 server on loopback that cannot cancel, take a second connection or time out', () => {
    assert.equal(sandbox.engine, 'pglite');
    assert.equal(sandbox.host, '127.0.0.1');
    assert.match(sandbox.serverVersion, /^18\./);
    assert.equal(sandbox.supportsCancel, false);
    assert.equal(sandbox.supportsSecondConnection, false);
    assert.equal(sandbox.supportsTimeouts, false);
    assert.equal(sandbox.losesDataOnRestart, false);
    assert.equal(sandbox.dir, undefined);
    assert.notEqual(sandbox.pid, process.pid);
  });

  it('returns one result per statement of a multi-statement simple query', async () => {
    const results = (await client.query(
      'create table items (id int primary key, name text); insert into items values (1, $$a$$), (2, $$b$$); select name from items order by id',
    )) as unknown as QueryResult[];
    assert.deepEqual(
      results.map((r) => [r.command, r.rowCount]),
      [['CREATE', null], ['INSERT', 2], ['SELECT', 2]],
    );
    assert.deepEqual(results[2].rows, [{ name: 'a' }, { name: 'b' }]);
  });

  it('streams rows through pg-cursor in batches', async () => {
    const cursor = client.query(new Cursor('select g from generate_series(1, 1000) g'));
    const first = await cursor.read(100);
    assert.equal(first.length, 100);
    assert.deepEqual(first[0], { g: 1 });
    let total = first.length;
    for (let batch = await cursor.read(300); batch.length > 0; batch = await cursor.read(300)) total += batch.length;
    await cursor.close();
    assert.equal(total, 1000);
  });

  it('delivers the notices a statement raises, with severity and SQLSTATE', async () => {
    const notices: { severity?: string; code?: string; message: string }[] = [];
    client.on('notice', (n) => notices.push({ severity: n.severity, code: n.code, message: n.message ?? '' }));
    await client.query(`do $$ begin raise notice 'checked % rows', 42; raise warning 'careful'; end $$`);
    assert.deepEqual(notices, [
      { severity: 'NOTICE', code: '00000', message: 'checked 42 rows' },
      { severity: 'WARNING', code: '01000', message: 'careful' },
    ]);
  });

  it('reports the transaction status of ReadyForQuery: idle, in transaction, failed', async () => {
    const statusAfter = async (sql: string): Promise<string> => {
      const status = nextTransactionStatus(client);
      await client.query(sql).catch(() => undefined);
      return status;
    };
    assert.equal(await statusAfter('select 1'), 'I');
    assert.equal(await statusAfter('begin'), 'T');
    assert.equal(await statusAfter('select 1/0'), 'E');
    assert.equal(await statusAfter('select 1'), 'E');
    assert.equal(await statusAfter('rollback'), 'I');
  });

  it('reports errors with SQLSTATE, message and position', async () => {
    await assert.rejects(client.query('select * from no_such_table'), (err: Error & { code?: string; position?: string }) => {
      assert.equal(err.code, '42P01');
      assert.equal(err.message, 'relation "no_such_table" does not exist');
      assert.equal(err.position, '15');
      return true;
    });
    await assert.rejects(client.query('begin; create index concurrently on pg_class (relname)'), { code: '25001' });
    await client.query('rollback');
  });

  it('keeps SET and temp tables for the session, and gives the next connection a fresh session', async () => {
    await client.query(`set statement_timeout = '5s'; create temp table scratch (x int); prepare p as select 1`);
    assert.equal((await client.query('show statement_timeout')).rows[0].statement_timeout, '5s');
    await client.end();
    client = new Client(sandbox.clientConfig());
    await client.connect();
    const row = (await client.query(`select current_setting('statement_timeout') t, to_regclass('pg_temp.scratch') s, (select count(*)::int from pg_prepared_statements) p`)).rows[0];
    assert.deepEqual(row, { t: '0', s: null, p: 0 });
  });

  it('drops a second connection while the first is open, and accepts it once the first has closed', async () => {
    const second = new Client({ ...sandbox.clientConfig(), connectionTimeoutMillis: 5000 });
    second.on('error', () => undefined);
    await assert.rejects(second.connect(), /terminated|ECONNRESET|timeout/i);
    await client.end();
    const third = new Client(sandbox.clientConfig());
    await third.connect();
    assert.equal((await third.query('select 1 as one')).rows[0].one, 1);
    client = third;
  });

  it('keeps the runner thread free while a long statement computes in the child', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const t0 = Date.now();
    try {
      await client.query('select count(*) from generate_series(1, 3000000)');
    } finally {
      clearInterval(timer);
    }
    const ms = Date.now() - t0;
    assert.ok(ms > 200, `the statement should take a while (took ${ms} ms)`);
    // A thread blocked for the whole statement would tick at most once or twice.
    assert.ok(ticks >= ms / 20 / 3, `${ticks} timer ticks in ${ms} ms`);
  });

  it('accepts statement_timeout but does not enforce it', async () => {
    await client.query(`set statement_timeout = '50ms'`);
    const r = await client.query('select count(*)::int n from generate_series(1, 1000000)');
    assert.equal(r.rows[0].n, 1000000);
  });

  it('restart abandons a running statement, keeps the port and the committed data', async () => {
    await client.query('create table before_restart (id int)');
    const port = sandbox.port;
    const oldPid = sandbox.pid as number;
    client.on('error', () => undefined);
    await client.query('begin');
    await client.query('create table in_cancelled_transaction (id int)');
    const running = client.query('select count(*) from generate_series(1, 200000000)');
    const abandoned = assert.rejects(running);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await sandbox.restart();
    const restartMs = Date.now() - t0;
    await abandoned;
    assert.ok(!isRunning(oldPid), 'the old child process is gone');
    assert.notEqual(sandbox.pid, oldPid);
    assert.equal(sandbox.port, port);
    assert.ok(restartMs < 30_000, `restart took ${restartMs} ms`);
    client = new Client(sandbox.clientConfig());
    await client.connect();
    const row = (await client.query(`select to_regclass('before_restart')::text kept, to_regclass('in_cancelled_transaction') rolled_back`)).rows[0];
    assert.deepEqual(row, { kept: 'before_restart', rolled_back: null });
  });
});

describe('PGlite sandbox process lifetime', function () {
  this.timeout(120_000);

  it('leaves no child process and no temporary data after stop()', async () => {
    const sandbox = await startSandbox();
    const pid = sandbox.pid as number;
    assert.ok(isRunning(pid));
    const folder = childArgs(pid).removeOnShutdown as string;
    assert.ok(folder.startsWith(os.tmpdir()) && existsSync(folder), 'an ephemeral sandbox keeps its data in a temporary folder');
    await sandbox.stop();
    assert.equal(sandbox.pid, undefined);
    assert.ok(!isRunning(pid), `child ${pid} still running after stop()`);
    assert.ok(!existsSync(folder), `${folder} is left behind`);
    await sandbox.stop();
  });

  it('leaves no child running when stop() comes during a restart()', async () => {
    const sandbox = await startSandbox();
    const restarting = sandbox.restart();
    const stopping = sandbox.stop();
    await restarting;
    await stopping;
    assert.equal(sandbox.pid, undefined);
    // ps exits 1 when there is no child at all: its output is what counts.
    const children = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' }).stdout;
    assert.ok(!children.includes('sandbox-server.js'), `still running:\n${children}`);
    await assert.rejects(sandbox.restart(), /stopped/);
  });

  it('stops at once while a statement is still computing', async () => {
    const sandbox = await startSandbox();
    const client = new Client(sandbox.clientConfig());
    client.on('error', () => undefined);
    await client.connect();
    const abandoned = assert.rejects(client.query('select count(*) from generate_series(1, 200000000)'));
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await sandbox.stop();
    assert.ok(Date.now() - t0 < 5000, `stop took ${Date.now() - t0} ms`);
    await abandoned;
  });

  it('ends the child when its parent process is killed', async () => {
    const modulePath = path.join(__dirname, '..', '..', 'src', 'engines', 'sandbox.js');
    const script = `require(${JSON.stringify(modulePath)}).startSandbox().then((s) => { console.log(JSON.stringify({ pid: s.pid })); setInterval(() => {}, 1000); });`;
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: parent.stdout }).once('line', resolve);
        parent.once('exit', (code) => reject(new Error(`parent exited early (${code})`)));
      });
      const childPid = (JSON.parse(line) as { pid: number }).pid;
      assert.ok(isRunning(childPid));
      const folder = childArgs(childPid).removeOnShutdown as string;
      assert.ok(existsSync(folder));
      parent.kill('SIGKILL');
      await waitUntil(`child ${childPid} has exited`, () => !isRunning(childPid), 15_000);
      assert.ok(!existsSync(folder), 'the orphaned child deletes its ephemeral data');
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('starts every new sandbox from a clean template it builds once in the cache folder', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'runbook-cache-test-'));
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = cache;
    try {
      const first = await startSandbox();
      const template = childArgs(first.pid as number).template as string;
      assert.ok(template.startsWith(path.join(cache, 'runbook-notebooks', 'pglite-')), template);
      assert.ok(existsSync(path.join(template, 'PG_VERSION')));
      const c1 = new Client(first.clientConfig());
      await c1.connect();
      await c1.query('create table only_in_first (id int)');
      await c1.end();
      await first.stop();

      const second = await startSandbox();
      const c2 = new Client(second.clientConfig());
      await c2.connect();
      assert.equal((await c2.query(`select to_regclass('only_in_first') r`)).rows[0].r, null);
      await c2.end();
      await second.stop();
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('keeps its data in dir across restart and a new start', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'runbook-pglite-test-'));
    try {
      let sandbox = await startSandbox({ dir });
      assert.equal(sandbox.dir, dir);
      assert.equal(sandbox.losesDataOnRestart, false);
      const write = new Client(sandbox.clientConfig());
      await write.connect();
      await write.query(`create table kept (note text); insert into kept values ('written before restart')`);
      await write.end();
      // restart() kills the child without a clean shutdown: PostgreSQL's crash recovery must bring the table back.
      await sandbox.restart();
      const read = new Client(sandbox.clientConfig());
      await read.connect();
      assert.deepEqual((await read.query('select note from kept')).rows, [{ note: 'written before restart' }]);
      await read.query(`insert into kept values ('written after restart')`);
      await read.end();
      await sandbox.stop();

      sandbox = await startSandbox({ dir });
      const again = new Client(sandbox.clientConfig());
      await again.connect();
      assert.equal((await again.query('select count(*)::int n from kept')).rows[0].n, 2);
      await again.end();
      await sandbox.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
