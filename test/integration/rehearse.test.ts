// Integration tests of rehearsal and validation (issue 11): expectations that fail the cell, cells allowed to fail
// (under a SAVEPOINT inside a span), `runbook rehearse` on the sandbox and on a real server, and the production guard.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { freshDatabase, type FreshDatabase } from './harness';
import { cellsOf, rec, runCli, sql, statuses } from './cli';

describe('expectations and allowed failures (real PostgreSQL)', function () {
  this.timeout(120_000);
  let db: FreshDatabase;
  let dir: string;
  let admin: Client;

  before(async () => {
    db = await freshDatabase('rehearse_expect');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-expect-'));
    admin = new Client(db.clientConfig);
    await admin.connect();
  });
  after(async () => {
    await admin.end();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fails a cell whose expectation is not met, with expected and actual in its record and output, and stops the run', async () => {
    await admin.query('CREATE TABLE orders (id int, status text); INSERT INTO orders VALUES (1, NULL), (2, NULL), (3, NULL), (4, \'new\')');
    const file = path.join(dir, 'expect.runbook');
    fs.writeFileSync(file, sql("SELECT count(*) FROM orders WHERE status = 'new';", { name: 'one-new', expect: { value: 1 } }) +
      sql('SELECT id FROM orders WHERE status IS NULL;', { name: 'missing', expect: { rows: 0 } }) + sql('SELECT 1 AS after;'));
    const r = runCli(['run', file, '-c', db.url]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.deepEqual(statuses(file), ['ok', 'error', undefined]);
    const [met, unmet] = cellsOf(file);
    assert.deepEqual(rec(met).expect, { expected: { value: 1 }, actual: '1', met: true });
    assert.deepEqual(rec(unmet).expect, { expected: { rows: 0 }, actual: 3, met: false });
    assert.equal(rec(unmet).error?.message, 'expectation not met: expected 0 rows, got 3');
    assert.match(String(unmet.outputs[0].body), /expectation not met: expected 0 rows, got 3/);
    assert.match(fs.readFileSync(file, 'utf8'), /> Output: \*\*error\*\* \(expectation not met\)/);
    assert.match(r.stdout, /Stopped at cell 2 \(missing\): expectation not met: expected 0 rows, got 3/);
  });

  it('rolls back the span of an unmet expectation (the run stops; the record says rolled back, not ok)', async () => {
    await admin.query('CREATE TABLE backfill (id int, v int); INSERT INTO backfill SELECT g, NULL FROM generate_series(1, 5) g');
    const file = path.join(dir, 'expect-span.runbook');
    fs.writeFileSync(file, sql('BEGIN;') + sql('UPDATE backfill SET v = 1 WHERE id <= 3;', { expect: { rows: 5 } }) + sql('COMMIT;'));
    const r = runCli(['run', file, '-c', db.url]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.deepEqual(statuses(file), ['rolled back', 'error', undefined]);
    assert.deepEqual(rec(cellsOf(file)[1]).expect, { expected: { rows: 5 }, actual: 3, met: false });
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM backfill WHERE v IS NOT NULL')).rows[0].n, 0, 'the UPDATE was rolled back');
  });

  it('lets an allowed failure inside a span go on under a SAVEPOINT: the span survives and commits the other cells', async () => {
    await admin.query('CREATE TABLE allowed_items (id int)');
    const file = path.join(dir, 'allowed.runbook');
    fs.writeFileSync(file, sql('BEGIN;') + sql('INSERT INTO allowed_items VALUES (1);') +
      sql('CREATE EXTENSION pg_no_such_extension;', { name: 'optional-ext', on_error: 'continue' }) +
      sql('INSERT INTO allowed_items VALUES (2);') + sql('COMMIT;'));
    const r = runCli(['run', file, '-c', db.url]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(statuses(file), ['ok', 'ok', 'error', 'ok', 'ok']);
    const failed = rec(cellsOf(file)[2]);
    assert.equal(failed.on_error, 'continue');
    assert.equal(failed.error?.sqlstate, '0A000');
    const tags = (failed.statements ?? []).map((s) => s.tag);
    assert.deepEqual([tags[0], tags[tags.length - 1]], ['SAVEPOINT', 'ROLLBACK'], 'SAVEPOINT before, ROLLBACK TO SAVEPOINT after');
    assert.equal((rec(cellsOf(file)[3]).span as { fate: string }).fate, 'committed');
    assert.match(fs.readFileSync(file, 'utf8'), /\(allowed to fail\)/);
    assert.match(r.stdout, /allowed to fail: cell 3 \(optional-ext\)/i);
    assert.deepEqual((await admin.query('SELECT id FROM allowed_items ORDER BY id')).rows, [{ id: 1 }, { id: 2 }]);
  });
});
