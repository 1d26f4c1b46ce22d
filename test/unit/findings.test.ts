// Runbook-level findings (cells in order, no connection): transactions across cells, locks held, timeouts, enums, DO blocks.

import { strict as assert } from 'node:assert';
import { lintRunbook, unacknowledgedErrors, type Finding, type LintCell } from '../../src/sql/lint';
import { timeoutOn } from '../../src/sql/findings';
import { loadParser, splitCell } from '../../src/sql/analyze-statements';
import { analyzeStatement, conflicts } from '../../src/sql/analyze';

const cells = (...sources: string[]): LintCell[] => sources.map((source) => ({ kind: 'sql', source, options: {} }));
const ours = (fs: Finding[]): string[] => fs.filter((f) => f.source === 'runbook').map((f) => `${f.cell}:${f.line} ${f.rule}`);
const has = (fs: Finding[], rule: string): boolean => fs.some((f) => f.rule === rule);

describe('runbook-level findings', function () {
  this.timeout(20_000);

  describe('statements that cannot run in a transaction block', () => {
    for (const sql of [
      'CREATE INDEX CONCURRENTLY i ON t(a)', 'DROP INDEX CONCURRENTLY i', 'REINDEX TABLE CONCURRENTLY t', 'VACUUM t',
      'CREATE DATABASE d', 'DROP DATABASE d', "ALTER SYSTEM SET work_mem = '8MB'", "CREATE TABLESPACE s LOCATION '/x'",
      'DROP TABLESPACE s', 'ALTER TABLE p DETACH PARTITION c CONCURRENTLY',
    ]) {
      it(`flags ${sql.split(' ').slice(0, 3).join(' ')} after BEGIN in an earlier cell`, async () => {
        const fs = await lintRunbook(cells('BEGIN;', `${sql};`));
        assert.deepEqual(fs.filter((f) => f.rule === 'cannot-run-in-transaction').map((f) => f.cell), [1]);
        assert.match(fs.find((f) => f.rule === 'cannot-run-in-transaction')?.message ?? '', /25001.*|cell 1/);
      });
    }
    it('names the earlier cell by the number --from takes, not its place among Markdown cells', async () => {
      const md = (source: string): LintCell => ({ kind: 'markdown', source, options: {} });
      const sqlCell = (source: string): LintCell => ({ kind: 'sql', source, options: {} });
      const fs = await lintRunbook([md('# Title'), md('Text.'), sqlCell('BEGIN;'), md('More text.'), sqlCell('CREATE INDEX CONCURRENTLY i ON t(a);')]);
      const f = fs.find((x) => x.rule === 'cannot-run-in-transaction');
      assert.match(f?.message ?? '', /opened by BEGIN at cell 1 line 1/, f?.message);
    });
    it('does not flag them after COMMIT, or ANALYZE inside a transaction', async () => {
      const fs = await lintRunbook(cells('BEGIN;\nUPDATE t SET a = 1;\nCOMMIT;', 'CREATE INDEX CONCURRENTLY i ON t(a);', 'BEGIN;\nANALYZE t;\nCOMMIT;'));
      assert.ok(!has(fs, 'cannot-run-in-transaction'));
    });
    it('flags ALTER TYPE … ADD VALUE in a transaction only before PostgreSQL 12', async () => {
      const cell = "BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nCOMMIT;";
      assert.ok(has(await lintRunbook(cells(cell), { serverVersion: '11.22' }), 'cannot-run-in-transaction'));
      assert.ok(!has(await lintRunbook(cells(cell), { serverVersion: '16.4' }), 'cannot-run-in-transaction'));
    });
    it('follows COMMIT AND CHAIN and ROLLBACK AND CHAIN into a new transaction', async () => {
      const fs = await lintRunbook(cells('BEGIN;\nCOMMIT AND CHAIN;', 'VACUUM t;'));
      assert.ok(has(fs, 'cannot-run-in-transaction'));
    });
  });

  describe('locks held by the transaction', () => {
    it('flags slow work after ACCESS EXCLUSIVE across cells, but not before the lock or after COMMIT', async () => {
      const fs = await lintRunbook(cells(
        "BEGIN;\nSET LOCAL lock_timeout = '1s';\nUPDATE users SET a = 1;\nALTER TABLE users ADD COLUMN b int;",
        'UPDATE users SET b = 0;\nCOMMIT;',
        'UPDATE users SET b = 1;',
      ));
      assert.deepEqual(fs.filter((f) => f.rule === 'work-under-access-exclusive').map((f) => [f.cell, f.line]), [[1, 1]]);
    });
    it('does not count a lock on a table created in the runbook', async () => {
      const fs = await lintRunbook(cells('BEGIN;\nCREATE TABLE fresh(id int);\nALTER TABLE fresh ADD COLUMN b int;\nINSERT INTO fresh SELECT generate_series(1, 10);\nCOMMIT;'));
      assert.deepEqual(ours(fs), []);
    });
    it('does not take CREATE TABLE IF NOT EXISTS for a new table without a connection (the table may exist)', async () => {
      const source = 'CREATE TABLE IF NOT EXISTS orders(id int);';
      const change = 'BEGIN;\nALTER TABLE orders ADD COLUMN status text;\nUPDATE orders SET status = \'new\';\nCOMMIT;';
      const fs = await lintRunbook(cells(source, change));
      assert.ok(ours(fs).includes('1:3 work-under-access-exclusive'), ours(fs).join());
      assert.ok(ours(fs).includes('1:2 require-lock-timeout'), ours(fs).join());
      // Plain CREATE TABLE still makes it new: nothing of ours to say.
      assert.deepEqual(ours(await lintRunbook(cells('CREATE TABLE orders(id int);', change))), []);
    });
    it('does not take CREATE TABLE AS / MATERIALIZED VIEW IF NOT EXISTS for new tables either', async () => {
      const fs = await lintRunbook(cells('CREATE TABLE IF NOT EXISTS t2 AS SELECT 1 AS a;\nCREATE MATERIALIZED VIEW IF NOT EXISTS mv AS SELECT 1 AS a;', 'CREATE INDEX t2_a ON t2(a);\nCREATE INDEX mv_a ON mv(a);'));
      assert.deepEqual(fs.filter((f) => f.rule === 'require-concurrent-index-creation').map((f) => f.line), [1, 2]);
    });
    it('flags a second table taken ACCESS EXCLUSIVE once, not the same table twice', async () => {
      const fs = await lintRunbook(cells('BEGIN;\nLOCK TABLE a;\nALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y int;\nCOMMIT;'), { lockTimeoutDefault: '2s' });
      assert.deepEqual(fs.filter((f) => f.rule === 'multiple-tables-access-exclusive').map((f) => f.line), [4]);
    });
  });

  describe('lock_timeout in force', () => {
    it('counts the profile default, SET, SET LOCAL within its transaction, and RESET back to the default', async () => {
      const strong = 'ALTER TABLE t ADD COLUMN c int;';
      assert.ok(has(await lintRunbook(cells(strong)), 'require-lock-timeout'));
      assert.ok(!has(await lintRunbook(cells(strong), { lockTimeoutDefault: '5s' }), 'require-lock-timeout'));
      assert.ok(has(await lintRunbook(cells(strong), { lockTimeoutDefault: '0' }), 'require-lock-timeout'));
      const fs = await lintRunbook(cells(
        "SET lock_timeout = '2s';", strong, // 1: set
        'RESET lock_timeout;', strong, // 3: back to the (absent) default
        "BEGIN;\nSET LOCAL lock_timeout = '1s';", strong, 'COMMIT;', strong, // 5 in force, 7 not
        'BEGIN;', "SET lock_timeout = '3s';", 'ROLLBACK;', strong, // 11: ROLLBACK undid the session SET
      ));
      assert.deepEqual(fs.filter((f) => f.rule === 'require-lock-timeout').map((f) => f.cell), [3, 7, 11]);
    });
    it('ignores weak locks (plain DML)', async () => {
      assert.ok(!has(await lintRunbook(cells('UPDATE t SET a = 1;\nINSERT INTO t VALUES (1);')), 'require-lock-timeout'));
    });
    it('reads timeout texts like PostgreSQL', () => {
      assert.deepEqual(['5s', "'3s'", '100', '0', "'0'", '0ms', 'DEFAULT', ''].map(timeoutOn), [true, true, true, false, false, false, false, false]);
    });
    it('drops squawk\'s require-statement-timeout when the profile sets one', async () => {
      const sql = 'CREATE INDEX CONCURRENTLY i ON t(a);';
      assert.ok(has(await lintRunbook(cells(sql)), 'require-statement-timeout'));
      assert.ok(!has(await lintRunbook(cells(sql), { statementTimeoutDefault: '15min' }), 'require-statement-timeout'));
    });
  });

  describe('enums, DO blocks and transaction nesting', () => {
    it('flags an enum value used in the same transaction, not after COMMIT', async () => {
      const fs = await lintRunbook(cells("BEGIN;\nALTER TYPE s ADD VALUE 'x';\nINSERT INTO t(state) VALUES ('x');", "COMMIT;\nINSERT INTO t(state) VALUES ('x');"));
      assert.deepEqual(fs.filter((f) => f.rule === 'enum-value-used-in-same-transaction').map((f) => [f.cell, f.line]), [[0, 3]]);
    });
    it('flags a DO block that loops over batches without committing', async () => {
      const loop = "DO $$\nBEGIN\n  LOOP\n    UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t WHERE a IS NULL LIMIT 1000);\n    EXIT WHEN NOT FOUND;\n  END LOOP;\nEND $$;";
      assert.ok(has(await lintRunbook(cells(loop)), 'batched-do-block'));
      const commits = loop.replace('EXIT WHEN NOT FOUND;', 'EXIT WHEN NOT FOUND;\n    COMMIT;');
      assert.ok(!has(await lintRunbook(cells(commits)), 'batched-do-block'));
      assert.ok(has(await lintRunbook(cells('BEGIN;', commits)), 'commit-in-transaction-block'));
      // A word in a string or comment is not a loop.
      assert.ok(!has(await lintRunbook(cells("DO $$ BEGIN -- LOOP\n UPDATE t SET note = 'LOOP'; END $$;")), 'batched-do-block'));
    });
    it('flags BEGIN inside a transaction, COMMIT without one, and a transaction left open at the end', async () => {
      const fs = await lintRunbook(cells('COMMIT;', 'BEGIN;', 'BEGIN;', 'UPDATE t SET a = 1;'));
      assert.deepEqual(ours(fs), ['0:1 transaction-nesting', '1:1 transaction-left-open', '2:1 transaction-nesting']);
    });
    it('flags every statement but ROLLBACK when the session starts in a failed transaction', async () => {
      const fs = await lintRunbook(cells('SELECT 1;', 'ROLLBACK;\nSELECT 2;'), { initialTxState: 'failed' });
      assert.deepEqual(fs.filter((f) => f.rule === 'failed-transaction').map((f) => f.cell), [0]);
    });
  });

  describe('cell options', () => {
    const cell = (source: string, options: Record<string, unknown>): LintCell => ({ kind: 'sql', source, options });
    it('treats autocommit: false as BEGIN … COMMIT around the cell', async () => {
      const fs = await lintRunbook([cell('CREATE INDEX CONCURRENTLY i ON t(a);', { autocommit: false }), cell('VACUUM t;', {})]);
      assert.deepEqual(fs.filter((f) => f.rule === 'cannot-run-in-transaction').map((f) => f.cell), [0]);
      assert.ok(!has(fs, 'transaction-left-open'));
    });
    it('drops squawk\'s "missing transaction" advice for statements that run inside one (autocommit: false, an earlier BEGIN)', async () => {
      const sql = 'ALTER TABLE t ALTER COLUMN a SET NOT NULL;';
      const robust = (fs: Finding[]): number[] => fs.filter((f) => f.rule === 'prefer-robust-stmts').map((f) => f.cell);
      assert.deepEqual(robust(await lintRunbook([cell(sql, {})])), [0]);
      assert.deepEqual(robust(await lintRunbook([cell(sql, { autocommit: false })])), []);
      assert.deepEqual(robust(await lintRunbook([cell('BEGIN;', {}), cell(sql, {}), cell('COMMIT;', {}), cell(sql, {})])), [3]);
    });
    it('counts the cell\'s lock_timeout option, for that cell only', async () => {
      const fs = await lintRunbook([cell('ALTER TABLE t ADD COLUMN a int;', { lock_timeout: '2s' }), cell('ALTER TABLE t ADD COLUMN b int;', {})]);
      assert.deepEqual(fs.filter((f) => f.rule === 'require-lock-timeout').map((f) => f.cell), [1]);
    });
    it('skips skip cells and follows rollback cells as a sequence of their own', async () => {
      const fs = await lintRunbook([
        cell('BEGIN;', {}), cell('VACUUM t;', { skip: true }), cell('COMMIT;', {}),
        cell('VACUUM t;', { rollback: true }),
      ]);
      assert.deepEqual(fs.filter((f) => f.source === 'runbook').map((f) => f.rule), []);
      assert.ok(!fs.some((f) => f.cell === 1));
    });
  });

  describe('positions, acknowledgements and order', () => {
    it('points squawk findings at the right statement and line, also after non-ASCII text', async () => {
      const fs = await lintRunbook(cells("SELECT 'héllo wörld ✓';\n\n-- a comment\nALTER TABLE t ALTER COLUMN c TYPE bigint;"), { lockTimeoutDefault: '1s' });
      const f = fs.find((x) => x.rule === 'changing-column-type');
      assert.deepEqual([f?.statement, f?.line, f?.sql], [1, 4, 'ALTER TABLE t ALTER COLUMN c TYPE bigint']);
    });
    it('keeps analysing the other statements of a cell with a syntax error', async () => {
      // squawk reports only the syntax error for such a file; our rules still see the statements that parse.
      const fs = await lintRunbook(cells('SELEC 1;\nALTER TABLE t ALTER COLUMN c TYPE bigint;'));
      assert.deepEqual([...new Set(fs.filter((f) => f.rule === 'syntax-error').map((f) => [f.statement, f.severity].join()))], ['0,error']);
      assert.ok(fs.some((f) => f.rule === 'require-lock-timeout' && f.statement === 1 && f.line === 2));
    });
    it('marks findings of acknowledged rules and leaves them out of the blocking set', async () => {
      const c: LintCell[] = [{ kind: 'sql', source: 'ALTER TABLE t ALTER COLUMN c TYPE bigint;', options: { ack: ['changing-column-type'] } }];
      const fs = await lintRunbook(c, { lockTimeoutDefault: '1s' });
      assert.equal(fs.find((f) => f.rule === 'changing-column-type')?.acknowledged, true);
      assert.deepEqual(unacknowledgedErrors(fs), []);
      const bare = await lintRunbook(cells('ALTER TABLE t ALTER COLUMN c TYPE bigint;'), { lockTimeoutDefault: '1s' });
      assert.deepEqual(unacknowledgedErrors(bare, 0).map((f) => f.rule), ['changing-column-type']);
    });
    it('orders findings by cell, line, rule and skips non-SQL cells but keeps their index', async () => {
      const fs = await lintRunbook([
        { kind: 'markdown', source: '# Title', options: {} },
        { kind: 'sql', source: 'ALTER TABLE b DROP COLUMN x;\nALTER TABLE a DROP COLUMN y;', options: {} },
      ]);
      assert.ok(fs.every((f) => f.cell === 1));
      const keys = fs.map((f) => [f.cell, f.line, f.rule]);
      const sorted = [...keys].sort((x, y) => (x[0] as number) - (y[0] as number) || (x[1] as number) - (y[1] as number) || String(x[2]).localeCompare(String(y[2])));
      assert.deepEqual(keys, sorted);
    });
  });

  describe('lock modes', () => {
    before(() => loadParser());
    const modeOf = (sql: string): string[] => analyzeStatement(splitCell(sql)[0].stmt, 18).locks.map((l) => `${l.table}:${l.mode}`);
    it('follows PostgreSQL docs 13.3 for common migration statements', () => {
      assert.deepEqual(modeOf('CREATE INDEX i ON t(a)'), ['t:SHARE']);
      assert.deepEqual(modeOf('CREATE INDEX CONCURRENTLY i ON t(a)'), ['t:SHARE UPDATE EXCLUSIVE']);
      assert.deepEqual(modeOf('ALTER TABLE t VALIDATE CONSTRAINT c'), ['t:SHARE UPDATE EXCLUSIVE']);
      assert.deepEqual(modeOf('ALTER TABLE c ADD CONSTRAINT f FOREIGN KEY (p) REFERENCES p(id) NOT VALID'), ['c:SHARE ROW EXCLUSIVE', 'p:SHARE ROW EXCLUSIVE']);
      assert.deepEqual(modeOf('ALTER TABLE t ADD COLUMN c int, ALTER COLUMN d SET STATISTICS 100'), ['t:ACCESS EXCLUSIVE']);
      assert.deepEqual(modeOf('LOCK TABLE t IN SHARE MODE'), ['t:SHARE']);
      assert.deepEqual(modeOf('TRUNCATE a, b'), ['a:ACCESS EXCLUSIVE', 'b:ACCESS EXCLUSIVE']);
      assert.deepEqual(modeOf('VACUUM FULL t'), ['t:ACCESS EXCLUSIVE']);
      assert.deepEqual(modeOf('CREATE TRIGGER g AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()'), ['t:SHARE ROW EXCLUSIVE']);
    });
    it('knows which modes conflict (Table 13.2)', () => {
      assert.equal(conflicts('ACCESS SHARE', 'SHARE ROW EXCLUSIVE'), false);
      assert.equal(conflicts('ROW EXCLUSIVE', 'SHARE ROW EXCLUSIVE'), true);
      assert.equal(conflicts('ACCESS SHARE', 'ACCESS EXCLUSIVE'), true);
      assert.equal(conflicts('SHARE', 'SHARE'), false);
      assert.equal(conflicts('SHARE UPDATE EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE'), true);
    });
  });
});
