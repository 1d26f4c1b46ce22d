// Disk full and an unwritable journal during a real run: a tmpfs folder filled while a pg_sleep cell runs, a folder
// made read-only by a remount. The CLI is a real child process on a real PostgreSQL (issue 9).

import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parseRunbook, type LogEvent } from '../../src/format';
import { cellsOf, rec, sql, startCli, waitFor } from './cli';
import { freshDatabase, type FreshDatabase } from './harness';
import { bounded } from './fault-tools';

/** Whether this process may mount a tmpfs (root, and a kernel and container that allow it); why not otherwise. */
function mountProblem(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.geteuid?.() !== 0) return 'not root: mounting a small file system needs root';
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-mount-probe-'));
  try {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' });
    if (r.status !== 0) return `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`;
    spawnSync('umount', [probe]);
    return undefined;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

/** A tmpfs of `size` (e.g. `1m`) mounted at a new temporary folder. */
function mountTmpfs(size: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  return dir;
}

function unmount(dir: string): void {
  spawnSync('umount', ['-l', dir]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Fills the file system holding `dir` to the last byte (dd stops at ENOSPC, which is what we want). */
function fill(dir: string): void {
  spawnSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'filler')}`, 'bs=4k'], { encoding: 'utf8' });
}

/**
 * What the next run (once there is room again) recorded of the run a lost record stopped: the span event and the end
 * it wrote for that run. Never "killed or crashed": a later run cannot tell a kill from a run that could not write.
 */
function settledByNextRun(file: string, stdout: string): { span?: LogEvent; end?: LogEvent } {
  const events = parseRunbook(fs.readFileSync(file)).log!.events;
  const first = events.find((e) => e.e === 'run');
  assert.ok(first?.e === 'run');
  const span = events.find((e) => e.e === 'span' && e.run === first.run.id);
  const end = events.find((e) => e.e === 'end' && e.end.run === first.run.id);
  assert.ok(end?.e === 'end' && end.end.status === 'interrupted' && end.end.exit === undefined, JSON.stringify(end));
  assert.match(String(end.end.reasons), /never recorded its end: the process was killed or crashed, or it stopped because its records could not be written/);
  assert.match(stdout, /started at .* and never finished as far as this file knows: its run ended before recording it \(the process was killed or crashed, or it stopped because its records could not be written\)/);
  assert.doesNotMatch(stdout, /died/);
  return { span, end };
}

describe('faults: disk full and unwritable journal (real tmpfs, real CLI, real PostgreSQL)', function () {
  this.timeout(90_000);
  let db: FreshDatabase;
  let admin: Client;
  let dir: string | undefined;

  before(async function () {
    const why = mountProblem();
    if (why) {
      console.log(`      (skipped: ${why})`);
      this.skip();
    }
    db = await freshDatabase('faults_disk');
    admin = new Client(db.clientConfig);
    await admin.connect();
  });
  after(async () => {
    await admin?.end();
    await db?.drop();
  });
  afterEach(() => {
    if (dir) unmount(dir);
    dir = undefined;
  });

  /** Sessions of the run left on the server (the test's own admin connection left out), and locks they hold. */
  async function leftOnServer(): Promise<{ sessions: number; locks: number }> {
    const s = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    const l = await admin.query("SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND l.mode = 'AccessExclusiveLock'");
    return { sessions: s.rows[0].n as number, locks: l.rows[0].n as number };
  }

  it('disk full inside a span: stops before the next cell, rolls the span back, releases the session, exits 1 naming the cell', async () => {
    dir = mountTmpfs('1m');
    await admin.query('DROP TABLE IF EXISTS held; CREATE TABLE held(id int)');
    const file = path.join(dir, 'span.runbook');
    fs.writeFileSync(file,
      '# Span\n\n' +
      sql('BEGIN;\nLOCK TABLE held IN ACCESS EXCLUSIVE MODE;\nINSERT INTO held VALUES (1);', { name: 'lock' }) +
      sql("SELECT pg_sleep(1.5), repeat('x', 20000) AS big;", { name: 'wait' }) +
      sql('INSERT INTO held VALUES (2);', { name: 'more' }) +
      sql('COMMIT;', { name: 'commit' }));
    const run = startCli(['run', file, '--connection', db.url, '--monitor-interval', '0']);
    await waitFor('the span to hold its lock', async () => (await leftOnServer()).locks > 0, 30_000);
    fill(dir);
    const r = await bounded(run, 30_000);
    assert.equal(r.killed, false, `the run hung with a full disk:\n${r.stderr}`);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cell 2 \(wait\) ran in the transaction of cells 1, 2 on .* but its record could not be written \(ENOSPC/);
    assert.match(r.stderr, /ENOSPC/);
    assert.match(r.stderr, /the runner rolled the transaction back/);
    assert.doesNotMatch(r.stderr, /committed on/);
    const left = await leftOnServer();
    assert.deepEqual(left, { sessions: 0, locks: 0 });
    const rows = await admin.query('SELECT count(*)::int AS n FROM held');
    assert.equal(rows.rows[0].n, 0, 'the span was rolled back');
    // What the file says is true: no cell claims a commit; nothing after the stop ran.
    fs.rmSync(path.join(dir, 'filler'));
    for (const c of cellsOf(file)) if (c.outputs[0]) assert.notEqual(rec(c).status, 'ok', `${c.source}: ${JSON.stringify(rec(c))}`);
    // The failed append was cut off: the journal ends on a whole record, and holds nothing of cell 2's output.
    const journal = fs.readFileSync(`${file}.journal`, 'utf8');
    assert.ok(journal === '' || journal.endsWith('\n'), 'no torn line');
    const entries = journal.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { v: number; cell?: number; outputs?: unknown[] });
    assert.ok(!entries.some((e) => e.v === 1 && e.outputs && JSON.stringify(e.outputs).includes('xxxxxxxx')), 'cell 2 has no record anywhere');

    // With room again, the next run settles what this one could not write: the span rolled back (as the runner did),
    // and the run's end unrecorded, without claiming a kill. It then runs the span through.
    const next = await bounded(startCli(['run', file, '--connection', db.url, '--monitor-interval', '0']), 30_000);
    assert.equal(next.status, 0, next.stdout + next.stderr);
    const { span } = settledByNextRun(file, next.stdout);
    assert.ok(span?.e === 'span' && span.span.fate === 'rolled back', JSON.stringify(span));
    assert.match(String(span.span.reason), /the run ended with cell 2 started and not recorded \(it holds no COMMIT\), before any COMMIT/);
    assert.deepEqual((await admin.query('SELECT array_agg(id ORDER BY id) AS ids FROM held')).rows[0].ids, [1, 2]);
  });

  it('disk full after an autocommit cell committed: exit 1, names the committed cell whose record was lost, the next cell never runs', async () => {
    dir = mountTmpfs('1m');
    await admin.query('DROP TABLE IF EXISTS auto; CREATE TABLE auto(id int)');
    const file = path.join(dir, 'auto.runbook');
    fs.writeFileSync(file,
      '# Autocommit\n\n' +
      sql("SELECT pg_sleep(1.5);\nINSERT INTO auto VALUES (1);\nSELECT repeat('x', 20000) AS big;", { name: 'backfill' }) +
      sql('INSERT INTO auto VALUES (2);', { name: 'next' }));
    const run = startCli(['run', file, '--connection', db.url, '--monitor-interval', '0']);
    await waitFor('the first cell to be running', async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()")).rowCount! > 0, 30_000);
    fill(dir);
    const r = await bounded(run, 30_000);
    assert.equal(r.killed, false, `the run hung with a full disk:\n${r.stderr}`);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cell 1 \(backfill\) committed on .* but its record could not be written \(ENOSPC/);
    assert.match(r.stderr, /the database has its effect, this file does not say so/);
    const rows = await admin.query('SELECT array_agg(id ORDER BY id) AS ids FROM auto');
    assert.deepEqual(rows.rows[0].ids, [1], 'the cell after the lost record never ran');
    assert.deepEqual(await leftOnServer(), { sessions: 0, locks: 0 });
  });

  it('disk full when the COMMIT cell is recorded: names the committed span, exit 1; a shell cell says it ran', async () => {
    dir = mountTmpfs('1m');
    await admin.query('DROP TABLE IF EXISTS spanc; CREATE TABLE spanc(id int)');
    const file = path.join(dir, 'commit.runbook');
    fs.writeFileSync(file,
      '# Commit\n\n' +
      sql('BEGIN;\nINSERT INTO spanc VALUES (1);', { name: 'open' }) +
      sql("SELECT pg_sleep(1.5);\nCOMMIT;\nSELECT repeat('x', 20000) AS big;", { name: 'commit' }) +
      sql('INSERT INTO spanc VALUES (2);', { name: 'after' }));
    const run = startCli(['run', file, '--connection', db.url, '--monitor-interval', '0']);
    await waitFor('the COMMIT cell to run', async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()")).rowCount! > 0, 30_000);
    fill(dir);
    const r = await bounded(run, 30_000);
    assert.equal(r.killed, false, r.stderr);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cell 2 \(commit\) committed the transaction of cells 1, 2 on .* but its record could not be written \(ENOSPC/);
    assert.deepEqual((await admin.query('SELECT array_agg(id) AS ids FROM spanc')).rows[0].ids, [1]);
    assert.deepEqual(await leftOnServer(), { sessions: 0, locks: 0 });
    // With room again, the next run finds the span committed (txid_status of the id journaled before the COMMIT cell),
    // and does not run it again: --from 3, after the span, as the user would.
    fs.rmSync(path.join(dir, 'filler'));
    const next = await bounded(startCli(['run', file, '--connection', db.url, '--monitor-interval', '0', '--from', '3']), 30_000);
    assert.equal(next.status, 0, next.stdout + next.stderr);
    const { span } = settledByNextRun(file, next.stdout);
    assert.ok(span?.e === 'span' && span.span.fate === 'committed', JSON.stringify(span));
    assert.match(String(span.span.reason), /the run ended before it recorded its COMMIT; transaction \d+ committed \(checked by a later run\)/);
    assert.equal(rec(cellsOf(file)[0]).status, 'ok', 'the first cell of the committed span says so');
    assert.deepEqual((await admin.query('SELECT array_agg(id ORDER BY id) AS ids FROM spanc')).rows[0].ids, [1, 2]);
    unmount(dir);

    dir = mountTmpfs('1m');
    const shell = path.join(dir, 'shell.runbook');
    fs.writeFileSync(shell, '# Shell\n\n```bash {"name":"touch"}\nsleep 1.5\nhead -c 30000 /dev/zero | tr \'\\0\' x\n```\n\n' + sql('SELECT 1;', { name: 'after' }));
    const s = startCli(['run', shell, '--connection', db.url, '--monitor-interval', '0']);
    await waitFor('the shell cell to run', () => fs.existsSync(`${shell}.journal`), 30_000);
    fill(dir);
    const rs = await bounded(s, 30_000);
    assert.equal(rs.killed, false, rs.stderr);
    assert.equal(rs.status, 1, rs.stderr);
    assert.match(rs.stderr, /cell 1 \(touch\) ran but its record could not be written \(ENOSPC/);
  });

  it('a file system already full before the run: refused before the first statement (exit 2), nothing committed', async () => {
    dir = mountTmpfs('1m');
    await admin.query('DROP TABLE IF EXISTS full_before; CREATE TABLE full_before(id int)');
    const file = path.join(dir, 'full.runbook');
    fs.writeFileSync(file, '# Full\n\n' + sql('INSERT INTO full_before VALUES (1);', { name: 'first' }));
    fill(dir);
    const r = await bounded(startCli(['run', file, '--connection', db.url, '--monitor-interval', '0']), 30_000);
    assert.equal(r.killed, false);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /No space left in .*ENOSPC.*nothing was run/s);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM full_before')).rows[0].n, 0);
    assert.deepEqual(await leftOnServer(), { sessions: 0, locks: 0 });
  });

  it('a folder made read-only before the run: refused before the first statement, nothing committed', async () => {
    dir = mountTmpfs('1m');
    await admin.query('DROP TABLE IF EXISTS ro; CREATE TABLE ro(id int)');
    const file = path.join(dir, 'ro.runbook');
    fs.writeFileSync(file, '# RO\n\n' + sql('INSERT INTO ro VALUES (1);', { name: 'first' }));
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const r = await bounded(startCli(['run', file, '--connection', db.url, '--monitor-interval', '0']), 30_000);
    assert.equal(r.killed, false);
    assert.notEqual(r.status, 0, r.stderr);
    assert.match(r.stderr, /read-only file system|EROFS/);
    assert.match(r.stderr, /nothing was run/);
    const rows = await admin.query('SELECT count(*)::int AS n FROM ro');
    assert.equal(rows.rows[0].n, 0);
  });

  it('a folder that becomes unwritable during the run (CLI as nobody): stops at the checkpoint, the record is kept in the journal, exit 1', async function () {
    const nobody = userIds('nobody');
    if (!nobody) {
      console.log('      (skipped: no user nobody to run the CLI as)');
      this.skip();
    }
    dir = mountTmpfs('1m');
    await admin.query('DROP TABLE IF EXISTS rod; CREATE TABLE rod(id int)');
    fs.chownSync(dir, nobody.uid, nobody.gid);
    const file = path.join(dir, 'rod.runbook');
    fs.writeFileSync(file,
      '# Unwritable during\n\n' +
      sql('SELECT pg_sleep(1.5);\nINSERT INTO rod VALUES (1);', { name: 'first' }) +
      sql('INSERT INTO rod VALUES (2);', { name: 'second' }));
    fs.chownSync(file, nobody.uid, nobody.gid);
    const run = startCli(['run', file, '--connection', db.url, '--monitor-interval', '0'], { uid: nobody.uid, gid: nobody.gid });
    await waitFor('the first cell to be running', async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()")).rowCount! > 0, 30_000);
    fs.chmodSync(dir, 0o555);
    const r = await bounded(run, 30_000);
    fs.chmodSync(dir, 0o755);
    assert.equal(r.killed, false, r.stderr);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cell 1 \(first\): the runbook could not be rewritten \(EACCES: permission denied\); its record and every earlier one of this run are in .*rod\.runbook\.journal/);
    const rows = await admin.query('SELECT array_agg(id ORDER BY id) AS ids FROM rod');
    assert.deepEqual(rows.rows[0].ids, [1], 'the second cell never ran');
    assert.deepEqual(await leftOnServer(), { sessions: 0, locks: 0 });
    // What the files say is true: the runbook has no output yet, the journal has cell 1's ok record.
    assert.equal(cellsOf(file)[0].outputs.length, 0);
    const journal = fs.readFileSync(`${file}.journal`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { v: number; cell?: number; outputs?: { record: { status: string } }[] });
    assert.ok(journal.some((e) => e.v === 1 && e.outputs?.[0]?.record.status === 'ok'), JSON.stringify(journal));
  });

  it('a folder the CLI may not write (as nobody): refused before the first statement, nothing committed', async function () {
    const nobody = userIds('nobody');
    if (!nobody) this.skip();
    dir = mountTmpfs('1m');
    await admin.query('DROP TABLE IF EXISTS nw; CREATE TABLE nw(id int)');
    const file = path.join(dir, 'nw.runbook');
    fs.writeFileSync(file, '# Not writable\n\n' + sql('INSERT INTO nw VALUES (1);', { name: 'first' }));
    fs.chownSync(file, nobody.uid, nobody.gid);
    const r = await bounded(startCli(['run', file, '--connection', db.url, '--monitor-interval', '0'], { uid: nobody.uid, gid: nobody.gid }), 30_000);
    assert.equal(r.killed, false);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /Cannot create files in .*EACCES.*nothing was run/s);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM nw')).rows[0].n, 0);
  });
});

/** uid and gid of a local user, or undefined when there is none. */
function userIds(name: string): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}
