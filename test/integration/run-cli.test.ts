// Integration tests of `runbook run`: the real CLI as a child process, a real PostgreSQL, real files (cases 05, 10, 11).

import * as assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parseRunbook, type Cell, type OutputRecord } from '../../src/format';
import { freshDatabase, type FreshDatabase } from './harness';

const ROOT = path.join(__dirname, '../../..');
const CLI = path.join(ROOT, 'bin/runbook.js');

/** Runs the CLI to completion. */
function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, RUNBOOK_OPERATOR: 'test-operator', ...opts.env }, encoding: 'utf8', input: opts.input ?? '', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeRunbook(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const sql = (source: string, options: Record<string, unknown> = {}): string => `\`\`\`sql${Object.keys(options).length ? ' ' + JSON.stringify(options) : ''}\n${source}\n\`\`\`\n\n`;
const sh = (source: string, options: Record<string, unknown> = {}): string => `\`\`\`bash${Object.keys(options).length ? ' ' + JSON.stringify(options) : ''}\n${source}\n\`\`\`\n\n`;

function cellsOf(file: string): Cell[] {
  return parseRunbook(fs.readFileSync(file)).cells.filter((c) => c.kind !== 'markdown');
}
const rec = (c: Cell): OutputRecord => c.outputs[0]?.record;

describe('runbook run (CLI, real PostgreSQL)', function () {
  this.timeout(120_000);
  let db: FreshDatabase;
  let dir: string;
  let url: string;
  let password: string;

  before(async () => {
    assert.ok(fs.existsSync(path.join(ROOT, 'dist/cli.js')), 'the CLI must be built (npm run build)');
    db = await freshDatabase('run_cli');
    url = db.url;
    password = decodeURIComponent(new URL(url).password);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-run-'));
  });
  after(async () => {
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps one session across cells: BEGIN, UPDATE, SELECT sees it, ROLLBACK undoes it (case 10)', () => {
    const file = writeRunbook(
      dir,
      'session.runbook',
      '# Session\n\n' +
        sql("CREATE TABLE orders(id int PRIMARY KEY, status text);\nINSERT INTO orders SELECT g, NULL FROM generate_series(1, 5) g;") +
        sql('BEGIN;') +
        sql("UPDATE orders SET status = 'pending' WHERE status IS NULL;") +
        sql('SELECT count(*) AS still_null FROM orders WHERE status IS NULL;') +
        sql('ROLLBACK;') +
        sql('SELECT count(*) AS null_again FROM orders WHERE status IS NULL;') +
        sql("SET statement_timeout = '1s';") +
        sql('SHOW statement_timeout;') +
        sql('CREATE TEMP TABLE scratch AS SELECT 1 AS x;') +
        sql('SELECT x FROM scratch;'),
    );
    const r = runCli(['run', file, '-c', url]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const cells = cellsOf(file);
    assert.equal(cells.length, 10);
    // BEGIN … ROLLBACK: the runbook's own rollback of a healthy transaction; its cells say their work was rolled back.
    assert.deepEqual(cells.map((c) => rec(c)?.status), ['ok', 'rolled back', 'rolled back', 'rolled back', 'rolled back', 'ok', 'ok', 'ok', 'ok', 'ok']);
    assert.deepEqual(rec(cells[2]).span, { from: 2, fate: 'rolled back', to: 5, reason: 'ROLLBACK in cell 5' });
    assert.equal(rec(cells[1]).statements?.[0].tx, 'in transaction');
    assert.match(cells[3].outputs[0].body ?? '', /still_null\s*\n-+\n\s+0\n/);
    assert.equal(rec(cells[4]).statements?.[0].tx, 'idle');
    assert.match(cells[5].outputs[0].body ?? '', /null_again\s*\n-+\n\s+5\n/);
    assert.match(cells[7].outputs[0].body ?? '', /\n 1s\n/);
    assert.match(cells[9].outputs[0].body ?? '', /\n +1\n/);
    // The record names the connection without its password.
    const text = fs.readFileSync(file, 'utf8');
    if (password) assert.ok(!text.includes(password), 'the password must never reach the file');
    assert.equal(rec(cells[0]).by, 'test-operator');
    assert.ok(typeof rec(cells[0]).server === 'string');
    assert.equal(runCli(['check', file]).status, 0);
  });

  it('runs a cell holding only CREATE INDEX CONCURRENTLY (no implicit transaction, case 05)', () => {
    const file = writeRunbook(dir, 'cic.runbook', sql('CREATE TABLE blobs(id bigint, digest text);') + sql('CREATE INDEX CONCURRENTLY idx_blobs ON blobs(digest, id);'));
    const r = runCli(['run', file, '-c', url]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const cells = cellsOf(file);
    assert.equal(rec(cells[1]).status, 'ok');
    assert.equal(rec(cells[1]).statements?.[0].tag, 'CREATE INDEX');
  });

  it('stops at the first failing cell, records SQLSTATE and line, and leaves later cells unrun', () => {
    const file = writeRunbook(dir, 'fail.runbook', sql('SELECT 1;') + sql('SELECT 1;\nSELECT * FROM no_such_table;') + sql('SELECT 3;'));
    const r = runCli(['run', file, '-c', url]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /Stopped at cell 2: .*no_such_table.*42P01/);
    const cells = cellsOf(file);
    assert.equal(rec(cells[0]).status, 'ok');
    assert.equal(rec(cells[1]).status, 'error');
    assert.equal(rec(cells[1]).error?.sqlstate, '42P01');
    assert.equal(rec(cells[1]).error?.line, 2);
    assert.equal(cells[2].outputs.length, 0);
  });

  it('prints no pg deprecation warning when the safety checks, the lock view and the sampler share the monitoring connection', () => {
    // A cell that takes ACCESS EXCLUSIVE (the checks read relfilenodes before it) and fails inside its transaction,
    // with the sampler on: their queries overlapped on one client, and pg 8 warned on the terminal (issue 9: bad output).
    const file = writeRunbook(dir, 'overlap.runbook', sql('CREATE TABLE overlap_t (id int);') + sql("SET lock_timeout = '2s';\nBEGIN;\nALTER TABLE overlap_t ADD COLUMN a int;\nALTER TABLE overlap_t ADD COLUMN a int;\nCOMMIT;", { ack: ['adding-field-with-default', 'require-timeout-settings'] }));
    const r = runCli(['run', file, '-c', url, '--monitor-interval', '50']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /already exists/);
    assert.doesNotMatch(r.stdout + r.stderr, /DeprecationWarning|client\.query\(\) when the client is already executing/);
  });

  it('resumes with --from and runs one cell with --only, by number or name', () => {
    const file = writeRunbook(dir, 'resume.runbook', sql('SELECT 1 AS a;', { name: 'first' }) + sql('SELECT 2 AS b;', { name: 'second' }) + sql('SELECT 3 AS c;', { name: 'third' }));
    assert.equal(runCli(['run', file, '-c', url, '--from', 'second']).status, 0);
    let cells = cellsOf(file);
    assert.deepEqual(cells.map((c) => c.outputs.length), [0, 1, 1]);
    assert.equal(runCli(['run', file, '-c', url, '--only', '1']).status, 0);
    cells = cellsOf(file);
    assert.deepEqual(cells.map((c) => c.outputs.length), [1, 1, 1]);
    const bad = runCli(['run', file, '-c', url, '--only', 'nope']);
    assert.equal(bad.status, 2, 'an unknown cell is a usage error');
    assert.match(bad.stderr, /no cell "nope".*first, second, third/);
  });

  it('stops at an unconfirmed checklist without a terminal, and runs it with --confirm-checklists', () => {
    const file = writeRunbook(dir, 'checklist.runbook', '- [ ] Window confirmed\n- [ ] On-call told\n\n' + sql('SELECT 1;'));
    const r = runCli(['run', file, '-c', url]);
    assert.equal(r.status, 1);
    // Refused by the plan: nothing ran, not even the SQL cell after the checklist.
    assert.match(r.stderr, /refused on .*nothing was run[\s\S]*cell 1 is a checklist with 2 items to confirm \(Window confirmed; On-call told\).*--confirm-checklists/);
    assert.equal(cellsOf(file)[1].outputs.length, 0);
    const ok = runCli(['run', file, '-c', url, '--confirm-checklists']);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    const cells = cellsOf(file);
    assert.equal(cells[0].source, '- [x] Window confirmed\n- [x] On-call told');
    const items = rec(cells[0]).items as { text: string; by: string; at: string }[];
    assert.deepEqual(items.map((i) => [i.text, i.by]), [['Window confirmed', 'test-operator'], ['On-call told', 'test-operator']]);
  });

  it('records a failing shell command with its exit code (case 11)', () => {
    const file = writeRunbook(dir, 'curl.runbook', sh('curl -fsS --max-time 5 http://127.0.0.1:9/health'));
    const r = runCli(['run', file, '-c', url]);
    assert.equal(r.status, 1);
    const c = cellsOf(file)[0];
    assert.equal(rec(c).status, 'error');
    assert.equal(typeof rec(c).exit, 'number');
    assert.notEqual(rec(c).exit, 0);
  });

  it('gives shell cells the connection without spelling credentials, and redacts passwords in output (case 11)', function () {
    if (spawnSync('psql', ['--version']).status !== 0) this.skip();
    const file = writeRunbook(dir, 'psql.runbook', sh("psql -X -At -c 'select 41 + 1'\nenv | grep -c PGPASSWORD || true\necho \"postgres://app:s3cret@db/prod\""));
    const r = runCli(['run', file, '-c', url]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const body = cellsOf(file)[0].outputs[0].body ?? '';
    assert.match(body, /^42$/m);
    assert.match(body, /^0$/m, 'PGPASSWORD must not be in the cell environment');
    assert.match(body, /postgres:\/\/app:\*\*\*@db\/prod/);
    assert.ok(!body.includes('s3cret'));
    if (password) assert.ok(!fs.readFileSync(file, 'utf8').includes(password));
  });

  it('kills the whole process group when a shell cell is cancelled (case 11)', async () => {
    const marker = `runbook-test-${process.pid}-${Date.now()}`;
    const file = writeRunbook(dir, 'cancel.runbook', sh(`(sleep 300; echo late) &\nexec -a ${marker} sleep 300`));
    const child = spawn(process.execPath, [CLI, 'run', file, '-c', url], { env: { ...process.env, RUNBOOK_OPERATOR: 'test-operator' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // Wait until the cell's processes exist, then Ctrl-C.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && spawnSync('pgrep', ['-f', marker]).status !== 0) await new Promise((r) => setTimeout(r, 100));
    assert.equal(spawnSync('pgrep', ['-f', marker]).status, 0, 'the cell should be running');
    // The marker is bash itself (exec -a): its pid is the cell's process group.
    const pgid = spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' }).stdout.trim();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 130, out);
    await new Promise((r) => setTimeout(r, 500));
    assert.notEqual(spawnSync('pgrep', ['-f', marker]).status, 0, 'no process of the cell may survive');
    // The background `sleep 300` of the subshell is gone too: nothing is left in the cell's process group (a stray
    // `sleep 300` of another test elsewhere on the machine is not this cell's).
    const survivors = execFileSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' }).split('\n').filter((l) => l.trim().split(/\s+/)[1] === pgid);
    assert.deepEqual(survivors, [], `left in process group ${pgid}`);
    assert.equal(rec(cellsOf(file)[0]).status, 'cancelled');
  });

  it('cancels a running statement on the server and records it as cancelled (case 10)', async () => {
    const file = writeRunbook(dir, 'sleep.runbook', sql("SELECT pg_sleep(60), 'runbook-cancel-test';"));
    const monitor = new Client(db.clientConfig);
    await monitor.connect();
    try {
      const child = spawn(process.execPath, [CLI, 'run', file, '-c', url], { stdio: ['ignore', 'pipe', 'pipe'] });
      const running = async (): Promise<number> =>
        (await monitor.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%runbook-cancel-test%' AND pid <> pg_backend_pid()")).rows[0].n as number;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && (await running()) === 0) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await running(), 1);
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      assert.equal(code, 130);
      assert.equal(await running(), 0, 'pg_stat_activity must show no query still running for it');
      const r = rec(cellsOf(file)[0]);
      assert.equal(r.status, 'cancelled');
      assert.equal(r.error?.sqlstate, '57014');
    } finally {
      await monitor.end();
    }
  });

  it('loses no finished output when the process is killed mid-run (journal folded on the next run)', async () => {
    const cells = Array.from({ length: 40 }, (_, i) => sql(`SELECT ${i} AS n;`)).join('') + sql("SELECT pg_sleep(60), 'runbook-kill-test';") + sql('SELECT 99;');
    const file = writeRunbook(dir, 'kill.runbook', cells);
    const monitor = new Client(db.clientConfig);
    await monitor.connect();
    try {
      const child = spawn(process.execPath, [CLI, 'run', file, '-c', url], { stdio: ['ignore', 'pipe', 'pipe'] });
      const deadline = Date.now() + 30_000;
      const sleeping = async (): Promise<number> =>
        (await monitor.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%runbook-kill-test%' AND pid <> pg_backend_pid()")).rows[0].n as number;
      while (Date.now() < deadline && (await sleeping()) === 0) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('exit', resolve));
    } finally {
      await monitor.end();
    }
    // The file plus its journal hold all 40 finished outputs. Whatever the last checkpoint before the
    // kill had not written yet is in the journal, and the next run must say it folded it in.
    const journalLeft = fs.existsSync(`${file}.journal`) && fs.readFileSync(`${file}.journal`, 'utf8').trim() !== '';
    // The killed run's pg_sleep still holds the runbook's advisory lock on the server: --cancel-stale ends it (docs/run.md).
    const r = runCli(['run', file, '-c', url, '--only', '42', '--cancel-stale']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /the session of an earlier run \(pid \d+, run .*runbook-kill-test.*\) was (cancelled|terminated)/);
    if (journalLeft) assert.match(r.stdout, /Recovered \d+ outputs? from an interrupted run's journal/);
    else assert.doesNotMatch(r.stdout, /Recovered/);
    const after = cellsOf(file);
    assert.equal(after.slice(0, 40).filter((c) => rec(c)?.status === 'ok').length, 40);
    assert.ok(!fs.existsSync(`${file}.journal`));
    assert.equal(runCli(['check', file]).status, 0);
  });

  it('asks before the first mutating cell on production, and refuses without the typed name', () => {
    const prodDir = fs.mkdtempSync(path.join(dir, 'prod-'));
    const u = new URL(url);
    fs.writeFileSync(
      path.join(prodDir, 'runbook.connections.yaml'),
      `connections:\n  prod-main:\n    environment: production\n    host: ${u.hostname}\n    port: ${u.port || 5432}\n    database: ${decodeURIComponent(u.pathname.slice(1))}\n    user: ${decodeURIComponent(u.username)}\n`,
    );
    const env = { PGPASSWORD: password, HOME: prodDir };
    const file = writeRunbook(prodDir, 'prod.runbook', '---\nconnection: prod-main\n---\n\n' + sql('SELECT 1 AS read_only;') + sql('CREATE TABLE prod_guarded(id int);'));
    const refused = runCli(['run', file], { env });
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /cell 2 changes PRODUCTION \(prod-main\).*--confirm-production prod-main/);
    // The plan refuses before the first statement: not even the read-only cell ran.
    let cells = cellsOf(file);
    assert.equal(cells[0].outputs.length, 0);
    assert.equal(cells[1].outputs.length, 0);
    const wrong = runCli(['run', file, '--confirm-production', 'prod'], { env });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /--confirm-production prod does not match the connection name prod-main/);
    // Without a passing rehearsal of this content the plan would refuse too (docs/rehearse.md): the override, recorded.
    const ok = runCli(['run', file, '--from', '2', '--confirm-production', 'prod-main', '--without-rehearsal'], { env });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    cells = cellsOf(file);
    assert.equal(rec(cells[1]).status, 'ok');
    assert.equal(rec(cells[1]).settings && (rec(cells[1]).settings as Record<string, string>).lock_timeout, '5s');
    // A cell that already succeeded on production is not run again without --rerun.
    const again = runCli(['run', file, '--only', '2', '--confirm-production', 'prod-main', '--without-rehearsal'], { env });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already run on production connection prod-main: cell 2 succeeded at .*--rerun.*--from 3/);
  });

  it('prints what would run with --dry-run and touches no database', () => {
    const file = writeRunbook(dir, 'dry.runbook', sql('CREATE TABLE never_created(id int);\nINSERT INTO never_created VALUES (1);', { name: 'make' }) + sh('echo hi'));
    const before = fs.readFileSync(file);
    const r = runCli(['run', file, '-c', 'postgres://nobody@127.0.0.1:1/none', '--dry-run']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /#1 make sql: 2 statements\n {4}line 1: CREATE TABLE never_created\(id int\)\n {4}line 2: INSERT INTO never_created VALUES \(1\)/);
    assert.match(r.stdout, /#2 shell: bash in .*\n {4}\$ echo hi/);
    assert.deepEqual(fs.readFileSync(file), before);
  });
});

describe('runbook run refuses what it cannot run safely', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-refuse-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses a misspelt cell option instead of running without it', () => {
    const file = writeRunbook(dir, 'typo.runbook', sql('SELECT 1;', { lock_timout: '3s' }));
    const before = fs.readFileSync(file);
    const r = runCli(['run', file]);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /line 1: cell 1: unknown cell option "lock_timout"/);
    assert.match(r.stderr, /nothing was run/);
    assert.deepEqual(fs.readFileSync(file), before);
  });

  it('refuses invalid front matter (its connection line would be ignored)', () => {
    const file = writeRunbook(dir, 'fm.runbook', '---\ntitle: Fix: orders: status\nconnection: local\n---\n\n' + sql('SELECT 1;'));
    const r = runCli(['run', file]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /front matter is not valid YAML/);
  });

  it('connects before confirming any checklist', () => {
    const file = writeRunbook(dir, 'noserver.runbook', '- [ ] Window confirmed\n\n' + sql('SELECT 1;'));
    const r = runCli(['run', file, '-c', 'postgres://nobody@127.0.0.1:1/none', '--confirm-checklists']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /could not connect to .*nothing was run/);
    assert.equal(cellsOf(file)[0].outputs.length, 0);
    assert.equal(cellsOf(file)[0].source, '- [ ] Window confirmed');
  });

  it('replaces an earlier success after the stop point with a skipped record', () => {
    const file = writeRunbook(dir, 'stale.runbook', sql('SELECT 1;', { name: 'first' }) + sql('SELECT 2;', { name: 'second' }));
    assert.equal(runCli(['run', file]).status, 0);
    const text = fs.readFileSync(file, 'utf8').replace('SELECT 1;', 'SELECT * FROM missing_table;');
    fs.writeFileSync(file, text);
    assert.equal(runCli(['run', file]).status, 1);
    const cells = cellsOf(file);
    assert.equal(rec(cells[0]).status, 'error');
    assert.equal(rec(cells[1]).status, 'skipped');
    assert.match(String(rec(cells[1]).reason), /not run: the run stopped at cell 1 \(first\)/);
  });
});
