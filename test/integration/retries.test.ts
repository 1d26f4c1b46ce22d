// Integration tests of lock-timeout retries on a real server: a second session holds a lock; the cell retries with
// backoff (autocommit: the statement; in a span: the span from its first cell), records every try, stops on cancel.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parseRunbook } from '../../src/format';
import { freshDatabase, type FreshDatabase } from './harness';
import { cellsOf, rec, runCli, sh, sql, startCli, statuses, waitFor } from './cli';
import { backoffMs } from '../../src/run/retry';

interface Attempt { attempt: number; cell?: number; status: string; error?: { message: string; sqlstate?: string }; wait_ms?: number }
const attemptsOf = (r: Record<string, unknown>): Attempt[] => r.attempts as Attempt[];

describe('lock-timeout retries (real PostgreSQL)', function () {
  this.timeout(120_000);
  let db: FreshDatabase;
  let dir: string;
  let admin: Client;
  let holder: Client;

  before(async () => {
    db = await freshDatabase('retries');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-retries-'));
    admin = new Client(db.clientConfig);
    await admin.connect();
    holder = new Client(db.clientConfig);
    await holder.connect();
  });
  after(async () => {
    await holder.end();
    await admin.end();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Holds ACCESS EXCLUSIVE on `table` in the second session until `release()`. */
  const hold = async (table: string): Promise<{ release(): Promise<void> }> => {
    await holder.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    return { release: async () => void (await holder.query('COMMIT')) };
  };

  it('backoff stays within [d/2, d] and never above max_delay', () => {
    const p = { backoffMs: 200, maxDelayMs: 1000 };
    assert.equal(backoffMs(p, 1, 0), 100);
    assert.equal(backoffMs(p, 1, 0.9999), 200);
    assert.equal(backoffMs(p, 3, 0), 400);
    assert.equal(backoffMs(p, 10, 0.9999), 1000);
    assert.equal(backoffMs(p, 10, 0), 500);
  });

  it('retries a statement in autocommit until the lock is released, recording every try', async () => {
    await admin.query('CREATE TABLE r_auto (id int)');
    const file = path.join(dir, 'auto.runbook');
    // The first statement commits before the lock is met: a retry must not run it again.
    fs.writeFileSync(file, sql('INSERT INTO r_auto VALUES (1);\nALTER TABLE r_auto ADD COLUMN note text;', { name: 'add', lock_timeout: '200ms', retry: { attempts: 8, backoff: '300ms', max_delay: '600ms' } }));
    // ACCESS SHARE held by the second session blocks the ALTER (ACCESS EXCLUSIVE) but not the INSERT (ROW EXCLUSIVE).
    await holder.query('BEGIN; SELECT * FROM r_auto');
    const { done } = startCli(['run', file, '-c', db.url]);
    await waitFor('two failed tries in the journal', () => {
      const j = `${file}.journal`;
      return fs.existsSync(j) && (fs.readFileSync(j, 'utf8').match(/55P03/g) ?? []).length >= 2;
    }, 30_000);
    await holder.query('COMMIT');
    const r = await done;
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const c = cellsOf(file)[0];
    const record = rec(c);
    assert.equal(record.status, 'ok');
    const tries = attemptsOf(record);
    assert.ok(tries.length >= 2, JSON.stringify(tries));
    assert.equal(record.retries, tries.length - 1);
    for (const t of tries.slice(0, -1)) {
      assert.equal(t.status, 'error');
      assert.equal(t.error?.sqlstate, '55P03');
      assert.ok(typeof t.wait_ms === 'number' && t.wait_ms >= 0 && t.wait_ms <= 600, JSON.stringify(t));
    }
    assert.equal(tries[tries.length - 1].status, 'ok');
    assert.equal(tries[tries.length - 1].wait_ms, undefined);
    // The INSERT committed once; the ALTER ran in the end.
    assert.deepEqual((await admin.query('SELECT id, note FROM r_auto')).rows, [{ id: 1, note: null }]);
    // The record shows both statements once: the INSERT of the first try, the ALTER of the last.
    assert.deepEqual((record.statements ?? []).map((s) => s.tag), ['INSERT 0 1', 'ALTER TABLE']);
    // The migration log has every try.
    const log = parseRunbook(fs.readFileSync(file)).log!;
    const logged = log.events.filter((e) => e.e === 'attempt' && e.attempt.cell === 1);
    assert.equal(logged.length, tries.length);
    assert.deepEqual(logged.map((e) => (e.e === 'attempt' ? e.attempt.status : '')), [...tries.slice(0, -1).map(() => 'error'), 'ok']);
    const verify = runCli(['verify', file]);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  });

  it('fails with every try recorded when the tries run out', async () => {
    await admin.query('CREATE TABLE r_out (id int)');
    const file = path.join(dir, 'out.runbook');
    fs.writeFileSync(file, sql('ALTER TABLE r_out ADD COLUMN c int;', { lock_timeout: '100ms', retry: { attempts: 3, backoff: '50ms', max_delay: '100ms' } }) + sql('SELECT 1;'));
    const lock = await hold('r_out');
    try {
      const r = runCli(['run', file, '-c', db.url]);
      assert.equal(r.status, 1, r.stdout + r.stderr);
    } finally {
      await lock.release();
    }
    const record = rec(cellsOf(file)[0]);
    assert.equal(record.status, 'error');
    assert.equal(record.error?.sqlstate, '55P03');
    const tries = attemptsOf(record);
    assert.deepEqual(tries.map((t) => [t.attempt, t.status, t.error?.sqlstate]), [[1, 'error', '55P03'], [2, 'error', '55P03'], [3, 'error', '55P03']]);
    assert.equal(tries[2].wait_ms, undefined, 'no wait after the last try');
    assert.equal(record.retries, 2);
    assert.deepEqual(statuses(file), ['error', undefined]);
    assert.equal((await admin.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'r_out' AND column_name = 'c'")).rows[0].n, 0);
  });

  it('rolls a span back and replays it from its first cell, with the right rows in the end', async () => {
    await admin.query('CREATE TABLE r_src (id int); CREATE TABLE r_dst (id int); INSERT INTO r_src VALUES (1), (2)');
    const file = path.join(dir, 'span.runbook');
    fs.writeFileSync(file, sql('BEGIN;', { name: 'begin' }) + sql('INSERT INTO r_src VALUES (3);', { name: 'insert' }) +
      sql('SET LOCAL lock_timeout = \'150ms\';\nLOCK TABLE r_dst IN SHARE ROW EXCLUSIVE MODE;\nINSERT INTO r_dst SELECT id FROM r_src;', { name: 'copy', retry: { attempts: 6, backoff: '200ms', max_delay: '400ms' } }) +
      sql('COMMIT;', { name: 'commit' }));
    await holder.query('BEGIN; LOCK TABLE r_dst IN ACCESS EXCLUSIVE MODE');
    const { done } = startCli(['run', file, '-c', db.url]);
    await waitFor('a failed try of the span', () => {
      const j = `${file}.journal`;
      return fs.existsSync(j) && (fs.readFileSync(j, 'utf8').match(/55P03/g) ?? []).length >= 1;
    }, 30_000);
    await holder.query('COMMIT');
    const r = await done;
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(statuses(file), ['ok', 'ok', 'ok', 'ok']);
    // One INSERT into r_src despite the replay: the first try's was rolled back.
    assert.deepEqual((await admin.query('SELECT id FROM r_src ORDER BY id')).rows.map((x) => x.id), [1, 2, 3]);
    assert.deepEqual((await admin.query('SELECT id FROM r_dst ORDER BY id')).rows.map((x) => x.id), [1, 2, 3]);
    const copy = rec(cellsOf(file)[2]);
    const tries = attemptsOf(copy);
    assert.ok(tries.length >= 2);
    assert.equal(tries[0].cell, 3);
    assert.equal(tries[0].error?.sqlstate, '55P03');
    assert.equal(tries[tries.length - 1].status, 'ok');
    // The log has the rolled-back span of each failed try and the committed one.
    const log = parseRunbook(fs.readFileSync(file)).log!;
    const spans = log.events.filter((e) => e.e === 'span').map((e) => (e.e === 'span' ? e.span : undefined)!);
    assert.equal(spans.filter((s) => s.fate === 'rolled back').length, tries.length - 1);
    assert.match(String(spans[0].reason), /cell 3 \(copy\) failed: .*55P03.*run it again from cell 1 \(begin\)/);
    assert.equal(spans[spans.length - 1].fate, 'committed');
    const insertTries = log.events.filter((e) => e.e === 'attempt' && e.attempt.cell === 2);
    assert.equal(insertTries.length, tries.length, 'each replay of the span ran its first cells again, logged');
  });

  it('refuses a retry in a span holding a shell cell, before anything runs', async () => {
    await admin.query('CREATE TABLE r_shell (id int)');
    const file = path.join(dir, 'shell.runbook');
    fs.writeFileSync(file, sql('BEGIN;') + sh('echo hello') + sql('INSERT INTO r_shell VALUES (1);', { retry: { attempts: 3 } }) + sql('COMMIT;'));
    const r = runCli(['run', file, '-c', db.url]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr + r.stdout, /cell 3 has the retry option inside the transaction that cell 1 opens, which holds cell 2 \(shell\)/);
    assert.deepEqual(statuses(file), [undefined, undefined, undefined, undefined]);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM r_shell')).rows[0].n, 0);
  });

  it('stops the retries on a cancel during the backoff and records the cell cancelled', async () => {
    await admin.query('CREATE TABLE r_cancel (id int)');
    const file = path.join(dir, 'cancel.runbook');
    fs.writeFileSync(file, sql('ALTER TABLE r_cancel ADD COLUMN c int;', { lock_timeout: '100ms', retry: { attempts: 10, backoff: '20s', max_delay: '20s' } }) + sql('SELECT 1;'));
    const lock = await hold('r_cancel');
    const t0 = Date.now();
    try {
      const { child, done } = startCli(['run', file, '-c', db.url]);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('the first failed try', () => /try 1 of 10\); trying it again in \d+ ms/.test(out), 20_000);
      child.kill('SIGINT');
      const r = await done;
      assert.equal(r.status, 130, r.stdout + r.stderr);
    } finally {
      await lock.release();
    }
    assert.ok(Date.now() - t0 < 15_000, 'the cancel ended the 10 s+ wait');
    const record = rec(cellsOf(file)[0]);
    assert.equal(record.status, 'cancelled');
    assert.match(String(record.error?.message), /cancelled while waiting \d+ of \d+ ms to try again after try 1 of 10 failed/);
    const tries = attemptsOf(record);
    assert.equal(tries.length, 1);
    assert.equal(tries[0].error?.sqlstate, '55P03');
    assert.deepEqual(statuses(file), ['cancelled', undefined]);
    assert.equal((await admin.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'r_cancel' AND column_name = 'c'")).rows[0].n, 0);
  });

  it('takes the retry default from the connection profile', async () => {
    await admin.query('CREATE TABLE r_profile (id int)');
    const file = path.join(dir, 'profile.runbook');
    const u = new URL(db.url);
    fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'), `connections:\n  dev:\n    environment: development\n    host: ${u.hostname}\n    port: ${u.port}\n    database: ${u.pathname.slice(1)}\n    user: ${decodeURIComponent(u.username)}\n    lock_timeout: 100ms\n    retry: {attempts: 2, backoff: 50ms}\n`);
    fs.writeFileSync(file, sql('ALTER TABLE r_profile ADD COLUMN c int;'));
    const lock = await hold('r_profile');
    try {
      const r = runCli(['run', file, '-c', 'dev'], { env: { PGPASSWORD: u.password ? decodeURIComponent(u.password) : '' } });
      assert.equal(r.status, 1, r.stdout + r.stderr);
    } finally {
      await lock.release();
    }
    const tries = attemptsOf(rec(cellsOf(file)[0]));
    assert.equal(tries.length, 2);
    fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'), `connections:\n  dev:\n    environment: development\n    retry: {attempts: 50}\n`);
    const bad = runCli(['run', file, '-c', 'dev']);
    assert.notEqual(bad.status, 0, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /"retry" of connection "dev": "attempts" must be a whole number from 1 to 20/);
    fs.rmSync(path.join(dir, 'runbook.connections.yaml'));
  });
});
