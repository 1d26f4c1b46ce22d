// Unit tests: which statements make the engine re-read the settings, take a snapshot, or commit (decided from the parse tree).

import * as assert from 'node:assert/strict';
import { commitKind, describeLostCommit, xidQuery } from '../../src/engines/postgres-commit';
import { mayChangeSettings, takesSnapshot } from '../../src/engines/postgres-settings';
import { initSqlParser, splitStatementsSync, SqlStatement } from '../../src/sql/split';

function one(sql: string): SqlStatement {
  const r = splitStatementsSync(sql);
  if (!r.ok) assert.fail(r.error.message);
  return r.statements[0];
}

describe('engine: statements that change settings or end transactions', () => {
  before(async () => {
    await initSqlParser();
  });

  it('re-reads after statements that can change lock_timeout or statement_timeout', () => {
    for (const sql of [
      'SET lock_timeout = 0', 'SET LOCAL statement_timeout TO 5', 'RESET lock_timeout', 'RESET ALL', 'DISCARD ALL',
      'SET ROLE bob', 'RESET ROLE', 'SET SESSION AUTHORIZATION bob', 'SET lock_timeout FROM CURRENT',
      'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'ROLLBACK TO SAVEPOINT a', "PREPARE TRANSACTION 'x'",
      "SELECT set_config('lock_timeout', '1s', false)", "DO $$ BEGIN SET lock_timeout = '1s'; END $$",
    ]) assert.equal(mayChangeSettings(one(sql)), true, sql);
  });

  it('does not re-read after plain statements', () => {
    for (const sql of [
      "INSERT INTO t VALUES (1, 'x')", 'SELECT 1', 'UPDATE t SET a = 1', 'BEGIN', 'SAVEPOINT a', 'RELEASE SAVEPOINT a',
      'SET search_path = app', 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'DISCARD PLANS', 'CREATE INDEX i ON t (a)',
      "COMMIT PREPARED 'x'",
    ]) assert.equal(mayChangeSettings(one(sql)), false, sql);
  });

  it('knows which statements PostgreSQL runs without a snapshot', () => {
    for (const sql of ['BEGIN', 'SET lock_timeout = 0', 'SHOW lock_timeout', 'LOCK TABLE t', 'NOTIFY c', 'SET CONSTRAINTS ALL DEFERRED']) {
      assert.equal(takesSnapshot(one(sql).stmt), false, sql);
    }
    for (const sql of ['SELECT 1', 'INSERT INTO t VALUES (1)', 'CREATE TABLE u (a int)', 'ALTER TABLE t ADD b int']) {
      assert.equal(takesSnapshot(one(sql).stmt), true, sql);
    }
  });

  it('tells COMMIT, END and COMMIT AND CHAIN from PREPARE TRANSACTION and COMMIT PREPARED', () => {
    assert.deepEqual(
      ['COMMIT', 'END', 'COMMIT AND CHAIN', "PREPARE TRANSACTION 'g'", "COMMIT PREPARED 'g'", 'ROLLBACK', 'SELECT 1'].map((s) => commitKind(one(s).stmt)),
      ['commit', 'commit', 'commit', 'prepare', 'commit-prepared', undefined, undefined],
    );
  });

  it('asks for the transaction id with the function the server version has', () => {
    assert.match(xidQuery('18.4') ?? '', /pg_current_xact_id_if_assigned/);
    assert.match(xidQuery('12.20') ?? '', /txid_current_if_assigned/);
    assert.equal(xidQuery('9.6.24'), undefined);
    assert.equal(xidQuery(''), undefined);
  });

  it('says plainly what became of a transaction whose COMMIT lost its connection', () => {
    const committed = describeLostCommit('COMMIT', 'Connection terminated unexpectedly', '1234', { commit: 'committed', detail: 'x' }, '16.4');
    assert.equal(committed.message, 'connection lost during COMMIT (Connection terminated unexpectedly); on a new connection transaction 1234 is committed');
    const unknown = describeLostCommit('COMMIT', 'read ECONNRESET', '1234', { commit: 'unknown', detail: 'the status is NULL' }, '12.1');
    assert.match(unknown.advice, /Check on the server before running anything again: SELECT txid_status\(1234\)\.$/);
  });
});
