// Edits during a real run, a killed run's journal whose cell was then edited, and a backend terminated mid-cell:
// the real CLI as a child process on a real PostgreSQL (issue 9).

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parseRunbook } from '../../src/format';
import { textHash } from '../../src/run/journal';
import { cellsOf, rec, runCli, sql, startCli, waitFor } from './cli';
import { freshDatabase, type FreshDatabase } from './harness';
import { bounded } from './fault-tools';

describe('faults: edits during a run and a terminated backend (real CLI, real PostgreSQL)', function () {
  this.timeout(90_000);
  let db: FreshDatabase;
  let admin: Client;
  let dir: string;

  before(async () => {
    db = await freshDatabase('faults_records');
    admin = new Client(db.clientConfig);
    await admin.connect();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-faults-records-'));
  });
  after(async () => {
    await admin?.end();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const running = (text: string) => async (): Promise<boolean> =>
    ((await admin.query('SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE $1', [`%${text}%`])).rowCount ?? 0) > 0;

  it('a cell edited on disk while it runs keeps its output, marked recorded for its earlier text, and the run says so', async () => {
    const file = path.join(dir, 'edit.runbook');
    const first = 'SELECT pg_sleep(1.2) AS slept;';
    fs.writeFileSync(file, '# Edit\n\n' + sql(first, { name: 'slow' }) + sql('SELECT 2 AS two;', { name: 'next' }));
    const run = startCli(['run', file, '--connection', db.url, '--monitor-interval', '0']);
    await waitFor('the slow cell to run', running('pg_sleep(1.2)'), 30_000);
    const edited = 'SELECT pg_sleep(1.2) AS slept; -- reviewed by bob';
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(first, edited));
    const r = await bounded(run, 30_000);
    assert.equal(r.killed, false, r.stderr);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const out = r.stdout + r.stderr;
    assert.match(out, /recorded for an earlier text of this cell/);
    const cells = cellsOf(file);
    assert.equal(cells[0].source, edited, 'the other program\'s edit is kept');
    assert.equal(rec(cells[0])?.status, 'ok', 'the output is not dropped');
    assert.equal(rec(cells[0]).recorded_for, textHash(first));
    assert.equal(rec(cells[1])?.status, 'ok');
    const log = parseRunbook(fs.readFileSync(file)).log?.events ?? [];
    assert.ok(log.some((e) => e.e === 'warning' && /recorded_for/.test(e.warning.message)), JSON.stringify(log.map((e) => e.e)));
  });

  it('a later cell edited on disk during the run: the run stops before it instead of running a text the file no longer has', async () => {
    await admin.query('DROP TABLE IF EXISTS later; CREATE TABLE later(id int)');
    const file = path.join(dir, 'later.runbook');
    const second = 'INSERT INTO later VALUES (2);';
    fs.writeFileSync(file, '# Later\n\n' + sql('SELECT pg_sleep(1.2);', { name: 'slow' }) + sql(second, { name: 'second' }));
    const run = startCli(['run', file, '--connection', db.url, '--monitor-interval', '0']);
    await waitFor('the slow cell to run', running('pg_sleep(1.2)'), 30_000);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(second, 'INSERT INTO later VALUES (20);'));
    const r = await bounded(run, 30_000);
    assert.equal(r.killed, false, r.stderr);
    assert.equal(r.status, 1, r.stderr + r.stdout);
    assert.match(r.stdout + r.stderr, /cell 2 \(second\) was edited after the run was planned/);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM later')).rows[0].n, 0, 'neither text of cell 2 ran');
    const cells = cellsOf(file);
    assert.equal(cells[1].source, 'INSERT INTO later VALUES (20);');
    assert.equal(rec(cells[0])?.status, 'ok');
    assert.equal(cells[1].outputs.length, 0);
  });

  it('a journal left by kill -9 whose cell was then edited or deleted: the next run keeps both records and says so', async () => {
    await admin.query('DROP TABLE IF EXISTS killed; CREATE TABLE killed(id int)');
    const file = path.join(dir, 'killed.runbook');
    const ins = 'INSERT INTO killed VALUES (1);';
    const ins2 = 'INSERT INTO killed VALUES (2);';
    fs.writeFileSync(file, '# Killed\n\n' + sql('SELECT pg_sleep(0.8);', { name: 'warm' }) + sql(ins, { name: 'one' }) + sql(ins2, { name: 'two' }) + sql('SELECT pg_sleep(30);', { name: 'long' }));
    const run = startCli(['run', file, '--connection', db.url, '--monitor-interval', '0']);
    await waitFor('the long cell to run', running('pg_sleep(30)'), 30_000);
    const journal = `${file}.journal`;
    const inJournal = fs.existsSync(journal) ? fs.readFileSync(journal, 'utf8') : '';
    run.child.kill('SIGKILL');
    await run.done;
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    assert.match(inJournal, /INSERT 0 1/, 'the INSERT records are in the journal, not yet in the file');
    // Someone edits cell 2 and deletes cell 3 before the next run.
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(ins, 'INSERT INTO killed VALUES (1); -- done').replace(sql(ins2, { name: 'two' }), ''));
    const again = await bounded(startCli(['run', file, '--connection', db.url, '--monitor-interval', '0', '--only', 'warm']), 30_000);
    assert.equal(again.killed, false);
    const out = again.stdout + again.stderr;
    assert.match(out, /recorded for an earlier text of this cell/, out);
    assert.match(out, /1 record\(s\) of cells no longer in the file .* are kept in .*killed\.runbook\.journal\.kept-\d+, not dropped/, out);
    const cells = cellsOf(file);
    assert.equal(rec(cells[1])?.status, 'ok');
    assert.equal(rec(cells[1]).recorded_for, textHash(ins));
    const kept = fs.readdirSync(dir).filter((f) => f.startsWith('killed.runbook.journal.kept-'));
    assert.equal(kept.length, 1);
    assert.match(fs.readFileSync(path.join(dir, kept[0]), 'utf8'), /INSERT 0 1/);
    const log = parseRunbook(fs.readFileSync(file)).log?.events ?? [];
    assert.equal(log.filter((e) => e.e === 'warning' && e.warning.about === 'journal').length, 2);
    // What the killed run left is settled first (its cell `long` unknown), under its own heading; this run's
    // warnings about the kept records follow it (logged before it, they hid the heading).
    const unknown = log.findIndex((e) => e.e === 'attempt' && e.attempt.status === 'unknown' && e.attempt.name === 'long');
    const warned = log.findIndex((e) => e.e === 'warning' && e.warning.about === 'journal');
    assert.ok(unknown >= 0 && unknown < warned, JSON.stringify(log.map((e) => e.e)));
    const rendered = runCli(['log', file]).stdout;
    assert.match(rendered, /\*\*Settled at the start of this run\*\*[^]*#\d+ `long` · \*\*unknown\*\*[^]*\*\*warning\*\* \(journal\)/, rendered);
  });

  it('the run\'s backend terminated mid-cell: exit 1, the record says the connection was lost, no hang', async () => {
    const file = path.join(dir, 'terminated.runbook');
    fs.writeFileSync(file, '# Terminated\n\n' + sql('SELECT pg_sleep(30);', { name: 'long' }) + sql('SELECT 1;', { name: 'after' }));
    // The monitoring connection is on (default interval): closing it must not end the process with exit 0.
    const run = startCli(['run', file, '--connection', db.url]);
    await waitFor('the long cell to run', running('pg_sleep(30)'), 30_000);
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%pg_sleep(30)%'");
    const r = await bounded(run, 30_000);
    assert.equal(r.killed, false, r.stderr);
    assert.equal(r.status, 1, r.stderr + r.stdout);
    const cells = cellsOf(file);
    assert.equal(rec(cells[0])?.status, 'error');
    assert.match(JSON.stringify(rec(cells[0]).error), /terminat|connection/i);
    assert.match(r.stdout + r.stderr, /Stopped at cell 1 \(long\): connection lost: terminating connection/);
    assert.notEqual(rec(cells[1])?.status, 'ok');
  });

  it('the monitoring connection terminated mid-run: the run goes on and ends with its own exit status (0)', async () => {
    const file = path.join(dir, 'monitor.runbook');
    fs.writeFileSync(file, '# Monitor\n\n' + sql('SELECT pg_sleep(2.5);', { name: 'long' }) + sql('SELECT 1;', { name: 'after' }));
    const run = startCli(['run', file, '--connection', db.url, '--monitor-interval', '200']);
    await waitFor('the monitoring connection', async () => ((await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'runbook monitor'")).rowCount ?? 0) > 0, 30_000);
    await waitFor('the long cell to run', running('pg_sleep(2.5)'), 30_000);
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'runbook monitor'");
    const r = await bounded(run, 30_000);
    assert.equal(r.killed, false, r.stderr);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.deepEqual(cellsOf(file).map((c) => rec(c)?.status), ['ok', 'ok']);
  });
});
