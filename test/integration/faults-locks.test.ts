// One run at a time, and what a killed run leaves: real PostgreSQL, real `runbook run` child processes. Two runs of
// one file at once (the lock beside the file), two copies of one runbook on one database (the advisory lock), a run
// killed in a pg_sleep cell (its session found and cancelled), a shell cell's process group that outlived its run,
// the run's name in application_name and client_connection_check_interval ending a dead client's statement.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parseRunbook, type LogEvent } from '../../src/format';
import { freshDatabase, type FreshDatabase } from './harness';
import { cellsOf, rec, runCli, sh, sql, startCli, statuses, waitFor } from './cli';

const RUN_NAME = /^runbook (\d{8}T\d{6}Z-[0-9a-f]{4})$/;

const eventsOf = (file: string): LogEvent[] => parseRunbook(fs.readFileSync(file)).log?.events ?? [];
const runEvents = (file: string): Extract<LogEvent, { e: 'run' }>[] => eventsOf(file).filter((e): e is Extract<LogEvent, { e: 'run' }> => e.e === 'run');
const warnings = (file: string): string[] => eventsOf(file).flatMap((e) => (e.e === 'warning' ? [`${e.warning.about}: ${e.warning.message}`] : []));

/** Whether process group `pgid` has a process. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('one run at a time and what a killed run leaves (real PostgreSQL, real CLI)', function () {
  this.timeout(120_000);
  let db: FreshDatabase;
  let dir: string;
  let admin: Client;
  const leftGroups: number[] = [];

  before(async () => {
    db = await freshDatabase('faults_locks');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-locks-'));
    admin = new Client(db.clientConfig);
    await admin.connect();
  });
  after(async () => {
    for (const g of leftGroups) if (groupAlive(g)) process.kill(-g, 'SIGKILL');
    await admin.end();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A folder with a development profile `dev` on the test database (its client_connection_check_interval as given). */
  const profileDir = (name: string, check?: string): string => {
    const d = fs.mkdtempSync(path.join(dir, `${name}-`));
    const u = new URL(db.url);
    fs.writeFileSync(path.join(d, 'runbook.connections.yaml'),
      `connections:\n  dev:\n    environment: development\n    host: ${u.hostname}\n    port: ${u.port || 5432}\n    database: ${db.name}\n    user: ${decodeURIComponent(u.username)}\n` +
      (check !== undefined ? `    client_connection_check_interval: "${check}"\n` : ''));
    return d;
  };
  const backendsOf = async (marker: string): Promise<{ pid: number; application_name: string; state: string }[]> =>
    (await admin.query<{ pid: number; application_name: string; state: string }>('SELECT pid, application_name, state FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()', [`%${marker}%`])).rows;

  it('refuses the second of two runs of the same file started at once: exactly one runs, every cell once, no record lost', async () => {
    await admin.query('CREATE TABLE twice (cell int)');
    const file = path.join(dir, 'twice.runbook');
    const cells = [sql('SELECT pg_sleep(2);\nINSERT INTO twice VALUES (1);')];
    for (let i = 2; i <= 12; i++) cells.push(sql(`INSERT INTO twice VALUES (${i});`));
    fs.writeFileSync(file, '# Twice\n\n' + cells.join(''));
    const a = startCli(['run', file, '-c', db.url]);
    const b = startCli(['run', file, '-c', db.url]);
    const results = await Promise.all([a.done, b.done]);
    const ok = results.filter((r) => r.status === 0);
    const refused = results.filter((r) => r.status === 1);
    assert.equal(ok.length, 1, JSON.stringify(results));
    assert.equal(refused.length, 1, JSON.stringify(results));
    assert.match(refused[0].stderr, new RegExp(`is being run already: pid \\d+ on ${os.hostname().replace(/\./g, '\\.')} \\(run \\d{8}T\\d{6}Z-[0-9a-f]{4}, operator test-operator, since \\d{4}-\\d\\d-\\d\\dT`));
    assert.match(refused[0].stderr, /nothing was run/);
    assert.deepEqual((await admin.query<{ cell: number }>('SELECT cell FROM twice ORDER BY cell')).rows.map((r) => r.cell), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual(statuses(file), Array(12).fill('ok'));
    assert.equal(runEvents(file).length, 1, 'the refused run wrote nothing into the runbook');
    assert.equal(eventsOf(file).filter((e) => e.e === 'attempt').length, 12);
    assert.equal(fs.existsSync(path.join(dir, '.twice.runbook.lock')), false, 'the lock is removed at the end');
    const verified = runCli(['verify', file]);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
  });

  it('refuses a second copy of one runbook on the same database (advisory lock), naming the holder; application_name names the run', async () => {
    const one = fs.mkdtempSync(path.join(dir, 'copy-a-'));
    const two = fs.mkdtempSync(path.join(dir, 'copy-b-'));
    const text = '---\ntitle: Widen the orders table\n---\n\n' + sql("SELECT pg_sleep(4), 'copy-a-holding';") + sql('SELECT 2 AS second;');
    const fileA = path.join(one, 'widen.runbook');
    const fileB = path.join(two, 'widen-copy.runbook');
    fs.writeFileSync(fileA, text);
    fs.writeFileSync(fileB, text);
    const a = startCli(['run', fileA, '-c', db.url]);
    await waitFor('copy A to run its first cell', async () => (await backendsOf('copy-a-holding')).length === 1);
    const [holder] = await backendsOf('copy-a-holding');
    const named = RUN_NAME.exec(holder.application_name);
    assert.ok(named, `application_name is "${holder.application_name}"`);
    const b = runCli(['run', fileB, '-c', db.url]);
    assert.equal(b.status, 1, b.stdout + b.stderr);
    assert.match(b.stderr, /refused on .*nothing was run/);
    assert.match(b.stderr, new RegExp(`this runbook \\(title:Widen the orders table, advisory lock -?\\d+\\) is being run on this database by another session: pid ${holder.pid}, run ${named[1]}, application_name "runbook ${named[1]}", client [^,]+, connected since \\d{4}-[^,]+, state active`));
    assert.match(b.stderr, /--cancel-stale/);
    assert.deepEqual(statuses(fileB), [undefined, undefined], 'copy B ran nothing');
    const ra = await a.done;
    assert.equal(ra.status, 0, ra.stdout + ra.stderr);
    const [runA] = runEvents(fileA);
    assert.equal(runA.run.id, named[1], 'the application_name is the run id of the record');
    assert.deepEqual(Object.keys(runA.run.lock ?? {}).sort(), ['identity', 'key']);
    assert.equal(runA.run.lock?.identity, 'title:Widen the orders table');
    // Released at the end: copy B runs now.
    const again = runCli(['run', fileB, '-c', db.url, '--only', '2']);
    assert.equal(again.status, 0, again.stdout + again.stderr);
  });

  it('after kill -9 in a pg_sleep cell, the next run reports the dead run\'s session and its unfinished cell, refuses without --cancel-stale, and cancels it with it', async () => {
    const d = profileDir('killed', '0');
    const file = path.join(d, 'killed.runbook');
    fs.writeFileSync(file, '---\nconnection: dev\n---\n\n' + sql("SELECT pg_sleep(300), 'killed-run-sleeping', 'postgresql://app:Canary5ecretPw@db.example/x' AS uri;", { name: 'sleepy' }) + sql('SELECT 1 AS after;'));
    const first = startCli(['run', file]);
    await waitFor('the pg_sleep cell to run', async () => (await backendsOf('killed-run-sleeping')).length === 1);
    const [dead] = await backendsOf('killed-run-sleeping');
    first.child.kill('SIGKILL');
    await first.done;
    assert.ok(fs.existsSync(path.join(d, '.killed.runbook.lock')), 'kill -9 leaves the lock');
    const deadRun = RUN_NAME.exec(dead.application_name)![1];

    const refused = runCli(['run', file, '--only', '2']);
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /took over a stale lock .*\.killed\.runbook\.lock .*its process \d+ is gone/);
    assert.match(refused.stdout, new RegExp(`cell 1 \\(sleepy\\) started at .* in run ${deadRun} and never finished`));
    assert.match(refused.stdout, new RegExp(`A session of an earlier run is still on the server: pid ${dead.pid}, run ${deadRun}, .*state active; running since .*: SELECT pg_sleep\\(300\\), 'killed-run-sleeping', 'postgresql://app:\\S+@db\\.example/x' AS uri\\. Its run's process on this machine is gone \\(killed or crashed\\): the server has not noticed yet\\. It holds this runbook's advisory lock`));
    assert.match(refused.stderr, /pass --cancel-stale to cancel its session/);
    assert.equal((await backendsOf('killed-run-sleeping')).length, 1, 'nothing was cancelled without the flag');
    assert.ok(!(refused.stdout + refused.stderr).includes('Canary5ecretPw'), 'the statement text is redacted');
    assert.equal(rec(cellsOf(file)[0]).status, 'unknown');
    assert.equal(rec(cellsOf(file)[1]), undefined, 'cell 2 did not run');

    const cancelled = runCli(['run', file, '--only', '2', '--cancel-stale']);
    assert.equal(cancelled.status, 0, cancelled.stdout + cancelled.stderr);
    assert.match(cancelled.stdout, new RegExp(`the session of an earlier run \\(pid ${dead.pid}, run ${deadRun}.*\\) was (cancelled|terminated)`));
    assert.equal((await backendsOf('killed-run-sleeping')).length, 0);
    assert.equal(rec(cellsOf(file)[1]).status, 'ok');
    assert.ok(warnings(file).some((w) => w.startsWith('stale session: ') && w.includes(`pid ${dead.pid}`) && w.includes('--cancel-stale')), warnings(file).join('\n'));
    assert.ok(warnings(file).some((w) => w.startsWith('lock: took over a stale lock')));
    const verified = runCli(['verify', file]);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.match(runCli(['log', file]).stdout, /\*\*warning\*\* \(stale session\)/);
    assert.ok(runEvents(file).at(-1)!.run.flags?.includes('--cancel-stale'));
    assert.ok(!(cancelled.stdout + cancelled.stderr + warnings(file).join('\n')).includes('Canary5ecretPw'), 'the statement text is redacted');
  });

  it('reports a shell cell\'s process group that outlived its killed run, and --cancel-stale stops it', async () => {
    const d = profileDir('groups');
    const file = path.join(d, 'groups.runbook');
    const marker = path.join(d, 'started');
    fs.writeFileSync(file, '---\nconnection: dev\n---\n\n' + sh(`sleep 300 &\necho $$ > ${JSON.stringify(marker)}\nsleep 300`, { name: 'background' }) + sql('SELECT 1 AS after;'));
    const killOnce = async (): Promise<number> => {
      fs.rmSync(marker, { force: true });
      const run = startCli(['run', file]);
      await waitFor('the shell cell to start', () => fs.existsSync(marker) && fs.readFileSync(marker, 'utf8').trim() !== '');
      const pgid = Number(fs.readFileSync(marker, 'utf8').trim());
      leftGroups.push(pgid);
      run.child.kill('SIGKILL');
      await run.done;
      assert.ok(groupAlive(pgid), 'the group outlives the killed CLI');
      return pgid;
    };
    const pgid = await killOnce();
    const cleaned = runCli(['run', file, '--only', '2', '--cancel-stale']);
    assert.equal(cleaned.status, 0, cleaned.stdout + cleaned.stderr);
    assert.match(cleaned.stdout, new RegExp(`The process group ${pgid} of shell cell 1 in run \\d{8}T\\d{6}Z-[0-9a-f]{4} \\(started at .*\\) is still running: its run ended without stopping it \\(killed or crashed\\)`));
    await waitFor('the group to be gone', () => !groupAlive(pgid), 5000);
    assert.ok(warnings(file).some((w) => w.startsWith(`stale process group: the process group ${pgid} of shell cell 1`) && /stopped with SIGTERM|killed/.test(w)), warnings(file).join('\n'));

    // Without the flag (no terminal to ask), it is reported and the run goes on.
    const again = await killOnce();
    const reported = runCli(['run', file, '--only', '2']);
    assert.equal(reported.status, 0, reported.stdout + reported.stderr);
    assert.match(reported.stdout, new RegExp(`The process group ${again} of shell cell 1 .* is still running`));
    assert.match(reported.stdout, /Pass --cancel-stale/);
    assert.ok(groupAlive(again), 'not stopped without the flag');
    assert.ok(warnings(file).some((w) => w.includes(`process group ${again} `) && w.includes(`reported, not stopped (stop it by hand: kill -TERM -- -${again})`)), warnings(file).join('\n'));
    process.kill(-again, 'SIGKILL');
  });

  it('removes the lock on every path: a failed cell, SIGTERM (a cancel), and locks the executed copy with --output', async () => {
    const d = fs.mkdtempSync(path.join(dir, 'paths-'));
    const failing = path.join(d, 'failing.runbook');
    fs.writeFileSync(failing, sql('SELECT 1/0;'));
    const r = runCli(['run', failing, '-c', db.url]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal(fs.existsSync(path.join(d, '.failing.runbook.lock')), false);

    const slow = path.join(d, 'slow.runbook');
    fs.writeFileSync(slow, sql("SELECT pg_sleep(60), 'sigterm-sleeping';"));
    const run = startCli(['run', slow, '-c', db.url]);
    await waitFor('the slow cell to run', async () => (await backendsOf('sigterm-sleeping')).length === 1);
    assert.ok(fs.existsSync(path.join(d, '.slow.runbook.lock')));
    run.child.kill('SIGTERM');
    const t = await run.done;
    assert.equal(t.status, 130, t.stdout + t.stderr);
    assert.equal(rec(cellsOf(slow)[0]).status, 'cancelled');
    assert.equal(fs.existsSync(path.join(d, '.slow.runbook.lock')), false);
    assert.equal((await backendsOf('sigterm-sleeping')).length, 0, 'the statement was cancelled on the server');

    const template = path.join(d, 'template.runbook');
    fs.writeFileSync(template, sql("SELECT pg_sleep(3), 'copy-sleeping';"));
    const copy = startCli(['run', template, '-c', db.url, '--output', path.join(d, 'out', 'executed.runbook')]);
    await waitFor('the copy to run', async () => (await backendsOf('copy-sleeping')).length === 1);
    assert.ok(fs.existsSync(path.join(d, 'out', '.executed.runbook.lock')), 'the executed copy is locked');
    assert.equal(fs.existsSync(path.join(d, '.template.runbook.lock')), false, 'the template is not');
    assert.equal((await copy.done).status, 0);
    assert.equal(fs.existsSync(path.join(d, 'out', '.executed.runbook.lock')), false);
  });

  it('sets client_connection_check_interval on 14+ and records it in the run: a dead client\'s statement stops', async function () {
    const version = Number((await admin.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0].v);
    if (version < 140000) this.skip();
    const d = profileDir('check', '1s');
    const file = path.join(d, 'check.runbook');
    fs.writeFileSync(file, '---\nconnection: dev\n---\n\n' + sql("SELECT pg_sleep(300), 'check-interval-sleeping';") + sql('SELECT 1 AS after;'));
    const run = startCli(['run', file]);
    await waitFor('the pg_sleep cell to run', async () => (await backendsOf('check-interval-sleeping')).length === 1);
    const t0 = Date.now();
    run.child.kill('SIGKILL');
    await run.done;
    await waitFor('the dead client\'s statement to stop', async () => (await backendsOf('check-interval-sleeping')).length === 0, 15_000);
    assert.ok(Date.now() - t0 < 15_000);
    // The run event was journaled before the kill; the next run folds it into the log.
    const next = runCli(['run', file, '--only', '2']);
    assert.equal(next.status, 0, next.stdout + next.stderr);
    const killed = runEvents(file)[0];
    assert.deepEqual(killed.run.settings, { client_connection_check_interval: '1s' });
  });
});
