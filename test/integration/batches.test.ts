// Integration tests of batched backfills on a real server: a cell's one UPDATE/DELETE run until it affects 0 rows,
// one aggregate record, progress with rows/s and ETA, cancel keeps what committed, a re-run continues, plan refusals.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parseRunbook } from '../../src/format';
import type { BatchRecord } from '../../src/run/batch';
import { freshDatabase, type FreshDatabase } from './harness';
import { cellsOf, rec, runCli, sql, startCli, statuses, waitFor } from './cli';

const BACKFILL = 'UPDATE b_rows SET x = 1 WHERE id IN (SELECT id FROM b_rows WHERE x IS NULL LIMIT 5000);';

describe('batched backfills (real PostgreSQL)', function () {
  this.timeout(120_000);
  let db: FreshDatabase;
  let dir: string;
  let admin: Client;

  before(async () => {
    db = await freshDatabase('batches');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-batches-'));
    admin = new Client(db.clientConfig);
    await admin.connect();
  });
  after(async () => {
    await admin.end();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const fresh = async (): Promise<void> => {
    await admin.query('DROP TABLE IF EXISTS b_rows; CREATE TABLE b_rows (id int PRIMARY KEY, x int); INSERT INTO b_rows SELECT g, NULL FROM generate_series(1, 50000) g; ANALYZE b_rows');
  };
  const done = async (): Promise<number> => (await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM b_rows WHERE x = 1')).rows[0].n;
  const batchOf = (file: string): BatchRecord => rec(cellsOf(file)[0]).batch as BatchRecord;

  it('runs the UPDATE batch after batch until it affects 0 rows, with one aggregate record and live progress', async () => {
    await fresh();
    const file = path.join(dir, 'backfill.runbook');
    fs.writeFileSync(file, sql(BACKFILL, { name: 'backfill', batch: { pause: '150ms' } }) + sql('SELECT count(*) FROM b_rows WHERE x IS NULL;'));
    const r = runCli(['run', file, '-c', db.url]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(await done(), 50000);
    const record = rec(cellsOf(file)[0]);
    assert.equal(record.status, 'ok');
    const b = record.batch as BatchRecord;
    assert.equal(b.batches, 11, 'ten batches of 5,000 rows, then one of 0');
    assert.equal(b.rows, 50000);
    assert.equal(b.done, true);
    assert.ok(b.longest_batch_ms > 0 && b.longest_batch_ms <= b.ms);
    assert.equal(typeof b.longest_lock_wait_ms, 'number');
    assert.equal(b.estimate?.source, 'planner estimate (EXPLAIN)');
    assert.ok(Math.abs(b.estimate!.rows - 50000) < 5000, `estimate ${b.estimate?.rows}`);
    assert.equal(record.statements?.length, 1, 'one statement entry for all batches');
    assert.equal(record.statements?.[0].rows, 50000);
    // Progress, printed once a second without a terminal: batch, rows of the estimate, rows/s, ETA.
    assert.match(r.stdout, /batch \d+ · [\d,]+ of ~[\d,]+ rows \(\d+%\) · [\d,]+ rows\/s · ETA/);
    // The log keeps one attempt for the cell, with its rows.
    const log = parseRunbook(fs.readFileSync(file)).log!;
    const attempts = log.events.filter((e) => e.e === 'attempt' && e.attempt.cell === 1);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0].e === 'attempt' ? attempts[0].attempt.rows : -1, 50000);
    assert.deepEqual(statuses(file), ['ok', 'ok']);
  });

  it('keeps the committed batches on a cancel between batches, says how far it got, and a re-run finishes', async () => {
    await fresh();
    const file = path.join(dir, 'cancel.runbook');
    fs.writeFileSync(file, sql(BACKFILL, { batch: { pause: '400ms', rows: 50000 } }));
    const { child, done: finished } = startCli(['run', file, '-c', db.url]);
    await waitFor('two batches to commit', async () => (await done()) >= 10000, 30_000);
    child.kill('SIGINT');
    const r = await finished;
    assert.equal(r.status, 130, r.stdout + r.stderr);
    const kept = await done();
    assert.ok(kept >= 10000 && kept < 50000, `kept ${kept}`);
    const record = rec(cellsOf(file)[0]);
    assert.equal(record.status, 'cancelled');
    const b = record.batch as BatchRecord;
    assert.equal(b.rows, kept, 'the record counts exactly the rows that committed');
    assert.equal(b.batches, kept / 5000);
    assert.equal(b.done, false);
    assert.equal(b.estimate?.source, 'rows option');
    assert.match(String(record.error?.message), new RegExp(`${b.batches} batches committed \\(${kept.toLocaleString('en-US')} rows\\).*Run the cell again to continue`));

    const again = runCli(['run', file, '-c', db.url]);
    assert.equal(again.status, 0, again.stdout + again.stderr);
    assert.equal(await done(), 50000);
    const b2 = batchOf(file);
    assert.equal(b2.rows, 50000 - kept, 'the re-run did only what was left');
    assert.equal(b2.done, true);
  });

  it('retries a batch that meets lock_timeout, keeping the others', async () => {
    await fresh();
    const file = path.join(dir, 'locked.runbook');
    fs.writeFileSync(file, sql(BACKFILL, { batch: true, lock_timeout: '100ms', retry: { attempts: 20, backoff: '100ms', max_delay: '200ms' } }));
    const holder = new Client(db.clientConfig);
    await holder.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE b_rows IN SHARE MODE');
      const { child, done: finished } = startCli(['run', file, '-c', db.url]);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('a batch to meet the lock', () => /batch 1: .*lock timeout \(try 2 of 20\)/.test(out), 30_000);
      await holder.query('COMMIT');
      const r = await finished;
      assert.equal(r.status, 0, r.stdout + r.stderr);
    } finally {
      await holder.end();
    }
    const b = batchOf(file);
    assert.equal(b.done, true);
    assert.equal(b.rows, 50000);
    assert.ok((b.retries ?? []).length >= 1, JSON.stringify(b));
    for (const t of b.retries!) assert.equal(t.error.sqlstate, '55P03');
    assert.ok(b.longest_lock_wait_ms >= 90);
  });

  it('refuses a batch cell inside a transaction span, naming the cell that opens it', async () => {
    await fresh();
    const file = path.join(dir, 'span.runbook');
    fs.writeFileSync(file, sql('BEGIN;', { name: 'begin' }) + sql(BACKFILL, { batch: true }) + sql('COMMIT;'));
    const r = runCli(['run', file, '-c', db.url]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr + r.stdout, /cell 2 has the batch option inside the transaction that cell 1 \(begin\) opens/);
    assert.deepEqual(statuses(file), [undefined, undefined, undefined]);
    assert.equal(await done(), 0);
  });

  it('refuses a batch cell that is not one UPDATE or DELETE', async () => {
    await fresh();
    const file = path.join(dir, 'insert.runbook');
    fs.writeFileSync(file, sql('INSERT INTO b_rows VALUES (0, 1);', { batch: true }) + sql(`${BACKFILL}\nSELECT 1;`, { batch: true }));
    const r = runCli(['run', file, '-c', db.url]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr + r.stdout, /cell 1 has the batch option, but its statement is Insert, not an UPDATE or DELETE/);
    assert.match(r.stderr + r.stdout, /cell 2 has the batch option, but it holds 2 statements/);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM b_rows WHERE id = 0')).rows[0].n, 0);
  });

  it('rejects an ill-typed batch option before anything runs', async () => {
    const file = path.join(dir, 'bad.runbook');
    fs.writeFileSync(file, sql(BACKFILL, { batch: { pause: 'soon', max: 0 } }));
    const r = runCli(['run', file, '-c', db.url]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cell option "batch": "pause" must be a duration/);
    assert.match(r.stderr, /"max" must be a whole number of batches/);
  });
});
