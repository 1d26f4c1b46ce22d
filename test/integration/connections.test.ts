// Integration tests: a connection profile resolves to a real PostgreSQL session, and psql in a shell reaches the same server.

import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import {
  connectionShellEnv, ConnectionConfigError, parseConnectionUri, redact, resolveConnection, TIMEOUT_DEFAULTS, writeTempPgpass,
} from '../../src/connections';
import { getTestDatabase, type TestDatabase } from './harness';

/** Runs `bash -c script` with `env`, as a shell cell would, and returns what it printed and its exit code. */
function runShell(script: string, env: NodeJS.ProcessEnv, cwd: string): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ out, code }));
  });
}

describe('connections against a real server', function () {
  this.timeout(120_000);
  let server: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let target: { host: string; port: number; user: string; database: string; password?: string };

  before(async () => {
    server = await getTestDatabase();
    const k = parseConnectionUri(server.url);
    target = { host: k.host ?? 'localhost', port: Number(k.port ?? 5432), user: k.user ?? os.userInfo().username, database: k.dbname ?? k.user ?? 'postgres', password: k.password };
    dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'runbook-conn-it-')));
    await fs.mkdir(path.join(dir, 'home'));
    env = { PATH: process.env.PATH, HOME: path.join(dir, 'home'), PGSYSCONFDIR: dir };
    if (target.password !== undefined) {
      // The way an operator supplies it: a 0600 password file, never the profiles file.
      const pgpass = path.join(dir, 'home', '.pgpass');
      await fs.writeFile(pgpass, `${target.host}:${target.port}:*:${target.user}:${target.password.replace(/[\\:]/g, '\\$&')}\n`, { mode: 0o600 });
    }
    await fs.writeFile(
      path.join(dir, 'runbook.connections.yaml'),
      `connections:\n  it-prod:\n    environment: production\n    host: "${target.host}"\n    port: ${target.port}\n` +
        `    database: "${target.database}"\n    user: "${target.user}"\n    sslmode: disable\n`,
    );
  });
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('opens a session as the profile’s user on its database, named runbook in pg_stat_activity', async () => {
    const conn = await resolveConnection('it-prod', { startDir: dir, env });
    const client = new Client(conn.clientConfig);
    await client.connect();
    try {
      const row = (await client.query<{ u: string; d: string; app: string }>(
        "SELECT current_user AS u, current_database() AS d, (SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS app",
      )).rows[0];
      assert.deepEqual(row, { u: target.user, d: target.database, app: 'runbook' });
      assert.equal(conn.display, `it-prod (production) ${target.user}@${target.host}:${target.port}/${target.database}`);
    } finally {
      await client.end();
    }
  });

  it('gives timeouts, defaults included, that the server accepts with SET', async () => {
    const conn = await resolveConnection('it-prod', { startDir: dir, env });
    const client = new Client(conn.clientConfig);
    await client.connect();
    try {
      await client.query(`SET lock_timeout = '${conn.profile.lockTimeout}'`);
      await client.query(`SET statement_timeout = '${conn.profile.statementTimeout}'`);
      assert.equal((await client.query('SHOW lock_timeout')).rows[0].lock_timeout, '5s');
      assert.equal((await client.query('SHOW statement_timeout')).rows[0].statement_timeout, '15min');
      for (const d of Object.values(TIMEOUT_DEFAULTS)) {
        await client.query('SELECT set_config($1, $2, false), set_config($3, $4, false)', ['lock_timeout', d.lockTimeout, 'statement_timeout', d.statementTimeout]);
      }
    } finally {
      await client.end();
    }
  });

  it('reaches the same server through a URI given instead of a profile name, and takes that profile\'s environment', async () => {
    const conn = await resolveConnection(server.url, { startDir: dir, env });
    // The URI names the server and database of profile it-prod: it is production, whatever it is called.
    assert.equal(conn.profile.environment, 'production');
    assert.equal(conn.matchedProfile, 'it-prod');
    if (target.password !== undefined) assert.ok(!conn.profile.name.includes(target.password));
    const client = new Client(conn.clientConfig);
    await client.connect();
    try {
      assert.equal((await client.query('SELECT current_database() AS d')).rows[0].d, target.database);
    } finally {
      await client.end();
    }
  });

  it('lets psql in a shell cell reach the same server with no password in its environment', async function () {
    if (spawnSync('psql', ['--version']).status !== 0) this.skip();
    const conn = await resolveConnection('it-prod', { startDir: dir, env });
    const pgpass = await writeTempPgpass(conn);
    try {
      const shellEnv = connectionShellEnv(conn, { ...process.env, PGPASSWORD: 'must-not-be-used', PGHOST: 'inherited.invalid' }, pgpass?.path);
      assert.equal(shellEnv.PGPASSWORD, undefined);
      const { out, code } = await runShell(
        `psql -X -At -c "select current_user || '@' || current_database() || ' ' || current_setting('application_name')"`,
        shellEnv,
        dir,
      );
      assert.equal(code, 0, out);
      assert.equal(out.trim(), `${target.user}@${target.database} runbook`);
    } finally {
      await pgpass?.dispose();
    }
  });

  it('redacts a credentialed URI that a shell cell prints (cases/11-shell-cells.md)', async () => {
    const conn = await resolveConnection('it-prod', { startDir: dir, env });
    const { out } = await runShell('echo "postgres://app:s3cret@db/prod"; echo "PGPASSWORD=s3cret"', connectionShellEnv(conn, { PATH: process.env.PATH }), dir);
    assert.equal(redact(out, conn.password ? [conn.password] : []), 'postgres://app:***@db/prod\nPGPASSWORD=***\n');
  });

  it('explains where it looked when the server asks for a password and none was found', async function () {
    // Only a server that asks for a password can show this: DATABASE_URL with one (the embedded server trusts loopback).
    if (target.password === undefined) this.skip();
    const conn = await resolveConnection('it-prod', { startDir: dir, env: { ...env, HOME: dir } });
    const client = new Client(conn.clientConfig);
    await assert.rejects(client.connect(), (err: unknown) => {
      assert.ok(err instanceof ConnectionConfigError);
      assert.match(err.message, /server asked for a password for it-prod \(production\)/);
      assert.match(err.message, /~\/\.pgpass/);
      return true;
    });
    await client.end().catch(() => undefined);
  });
});
