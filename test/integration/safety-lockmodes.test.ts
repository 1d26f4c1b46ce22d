// The lock-mode table (src/sql/analyze.ts) checked against a real server: run each statement inside a transaction
// and compare the strongest lock pg_locks shows on each relation with the mode the analysis predicts.

import { strict as assert } from 'node:assert';
import { Client } from 'pg';
import { freshDatabase, type FreshDatabase } from './harness';
import { analyzeStatement, fromPgLocksMode, lockLevel, type LockMode } from '../../src/sql/analyze';
import { loadParser, splitCell } from '../../src/sql/analyze-statements';

const STATEMENTS = [
  'CREATE INDEX t_a_idx2 ON t(a)',
  'ALTER TABLE t ADD COLUMN c int',
  'ALTER TABLE t ALTER COLUMN a SET NOT NULL',
  'ALTER TABLE t ALTER COLUMN a SET STATISTICS 200',
  'ALTER TABLE t VALIDATE CONSTRAINT t_a_check',
  'ALTER TABLE t ADD CONSTRAINT t_p_fk FOREIGN KEY (p) REFERENCES p(id) NOT VALID',
  'ALTER TABLE t ALTER COLUMN a TYPE bigint',
  'ALTER TABLE t DISABLE TRIGGER t_trg',
  'ALTER TABLE t CLUSTER ON t_a_idx',
  'ALTER TABLE t RENAME COLUMN a TO a2',
  'ALTER INDEX t_a_idx RENAME TO t_a_idx_renamed',
  'CREATE TRIGGER t_trg2 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION trg()',
  'LOCK TABLE t IN SHARE MODE',
  'LOCK TABLE t IN ROW EXCLUSIVE MODE',
  'TRUNCATE t',
  'DROP INDEX t_a_idx',
  'REINDEX TABLE t',
  'REFRESH MATERIALIZED VIEW mv',
  'UPDATE t SET a = a',
  'CREATE TABLE child2(id int, p int REFERENCES p(id))',
];

describe('lock modes match PostgreSQL', function () {
  this.timeout(60_000);
  let db: FreshDatabase;
  let session: Client;
  let observer: Client;

  before(async () => {
    await loadParser();
    db = await freshDatabase('safety_lockmodes');
    session = new Client(db.clientConfig);
    observer = new Client(db.clientConfig);
    await session.connect();
    await observer.connect();
    await session.query(`
      CREATE TABLE p(id int PRIMARY KEY);
      CREATE TABLE t(id int, a int, p int, CONSTRAINT t_a_check CHECK (a > 0) NOT VALID);
      CREATE INDEX t_a_idx ON t(a);
      CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
      CREATE TRIGGER t_trg AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION trg();
      CREATE MATERIALIZED VIEW mv AS SELECT 1 AS one;`);
  });
  after(async () => {
    await session.end();
    await observer.end();
    await db.drop();
  });

  for (const sql of STATEMENTS) {
    it(`predicts the locks of ${sql}`, async () => {
      const facts = analyzeStatement(splitCell(sql)[0].stmt, 18);
      assert.ok(facts.locks.length > 0, 'the analysis names no lock');
      const pid = (await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      await session.query('BEGIN');
      try {
        await session.query(sql);
        const held = await observer.query<{ rel: string; mode: string }>(
          `SELECT c.relname AS rel, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE l.pid = $1 AND l.granted AND l.locktype = 'relation'`, [pid]);
        for (const want of facts.locks) {
          const modes = held.rows.filter((r) => r.rel === want.table).map((r) => fromPgLocksMode(r.mode)).filter((m): m is LockMode => !!m);
          const strongest = modes.sort((a, b) => lockLevel(b) - lockLevel(a))[0];
          assert.equal(strongest, want.mode, `${want.table}: pg_locks shows ${JSON.stringify(held.rows.filter((r) => r.rel === want.table))}`);
        }
      } finally {
        await session.query('ROLLBACK');
      }
    });
  }
});
