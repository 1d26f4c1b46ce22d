// The lint does not hand squawk the cells squawk has nothing to say about (reads, DML, settings, transaction control):
// squawk itself confirms it reports nothing for each such statement, so a squawk upgrade that adds a rule fails here.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lintRunbook, squawkHasNothingToSay, type LintCell } from '../../src/sql/lint';
import { loadParser, splitCell } from '../../src/sql/analyze-statements';
import { runSquawk, SQUAWK_EXCLUDED } from '../../src/sql/squawk';

/** One cell each: every statement kind the lint keeps from squawk, in the forms migrations use. */
const QUIET = [
  'SELECT 1;', 'SELECT pg_sleep(0.1);', 'SELECT * FROM orders WHERE id = 1 FOR UPDATE;', 'WITH x AS (SELECT 1) SELECT * FROM x;',
  'WITH gone AS (DELETE FROM orders WHERE id < 10 RETURNING id) SELECT count(*) FROM gone;', 'VALUES (1), (2);', 'TABLE orders;',
  "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction';",
  "UPDATE orders SET status = 'new' WHERE id IN (SELECT id FROM orders WHERE status IS NULL LIMIT 5000);",
  'INSERT INTO orders(id) SELECT g FROM generate_series(1, 10) g ON CONFLICT DO NOTHING;', 'DELETE FROM orders WHERE id < 0 RETURNING id;',
  "SET lock_timeout = '3s';", 'SET LOCAL statement_timeout = 0;', 'RESET ALL;', 'SHOW lock_timeout;',
  'BEGIN;', 'COMMIT;', 'ROLLBACK;', 'SAVEPOINT a;', 'ROLLBACK TO SAVEPOINT a;', 'BEGIN ISOLATION LEVEL SERIALIZABLE;',
  'EXPLAIN SELECT * FROM orders;', 'EXPLAIN (ANALYZE, BUFFERS) UPDATE orders SET status = NULL;',
  "BEGIN;\nSET LOCAL lock_timeout = '1s';\nUPDATE orders SET status = 'x';\nCOMMIT;",
];

describe('cells kept from squawk', function () {
  this.timeout(20_000);
  let dir: string;
  before(async () => {
    await loadParser();
    dir = mkdtempSync(join(tmpdir(), 'squawk-quiet-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('are cells squawk really reports nothing for', async () => {
    const paths = QUIET.map((sql, i) => {
      assert.ok(squawkHasNothingToSay(splitCell(sql)), sql);
      const p = join(dir, `q${i}.sql`);
      writeFileSync(p, sql);
      return p;
    });
    // Also on an old server version: some rules only fire there.
    for (const pgVersion of [undefined, '10.0']) {
      const v = await runSquawk(paths, { exclude: SQUAWK_EXCLUDED, pgVersion });
      assert.deepEqual(v.map((x) => `${QUIET[paths.indexOf(x.file)]}: ${x.rule_name}`), []);
    }
  });

  it('do not include DDL, SELECT … INTO, or a cell that does not parse', () => {
    for (const sql of ['SELECT * INTO orders_copy FROM orders;', 'CREATE TABLE t(id int);', 'LOCK TABLE orders;', 'VACUUM orders;',
      'TRUNCATE orders;', 'SELECT 1;\nALTER TABLE orders ADD COLUMN a int;', 'SELEC 1;', 'EXPLAIN CREATE TABLE t2 AS SELECT 1;']) {
      assert.equal(squawkHasNothingToSay(splitCell(sql)), false, sql);
    }
  });

  it('still get squawk\'s findings for the other cells of the runbook', async () => {
    const cells: LintCell[] = ['SELECT 1;', 'CREATE INDEX orders_status_idx ON orders(status);', 'UPDATE orders SET status = NULL;']
      .map((source) => ({ kind: 'sql', source, options: {} }));
    const fs = await lintRunbook(cells);
    assert.deepEqual(fs.filter((f) => f.source === 'squawk' && f.severity !== 'info').map((f) => `${f.cell} ${f.rule}`), ['1 require-concurrent-index-creation']);
  });
});
