// Integration tests: the lock_timeout and statement_timeout the engine records are the ones in force for each statement (real PostgreSQL).

import * as assert from 'node:assert/strict';
import { Client } from 'pg';
import { PostgresSession } from '../../src/engines/postgres';
import { FaultProxy } from './fault-proxy';
import { freshDatabase, FreshDatabase } from './harness';

/** What `SHOW lock_timeout` says on the session, as a cell of its own. */
async function shown(session: PostgresSession, name: 'lock_timeout' | 'statement_timeout'): Promise<string> {
  const r = await session.executeCell(`SHOW ${name};`);
  assert.equal(r.status, 'ok');
  return String(r.results[0].rows?.[0][0]);
}

describe('settings in force, per statement', function () {
  this.timeout(30_000);
  let db: FreshDatabase;
  let session: PostgresSession;
  /** The server's defaults, as a new session without SETs sees them (what RESET goes back to). */
  let defaults: { lock_timeout: string; statement_timeout: string };

  before(async () => {
    db = await freshDatabase('postgres_settings');
    const c = new Client(db.clientConfig);
    await c.connect();
    try {
      const r = await c.query<{ lock_timeout: string; statement_timeout: string }>("SELECT current_setting('lock_timeout') AS lock_timeout, current_setting('statement_timeout') AS statement_timeout");
      defaults = r.rows[0];
    } finally {
      await c.end();
    }
  });

  beforeEach(async () => {
    session = await PostgresSession.connect(db.clientConfig, { applicationName: 'runbook settings test', lockTimeout: '5s', statementTimeout: '30s' });
  });

  afterEach(async () => {
    await session.close();
  });

  after(async () => {
    await db.drop();
  });

  it('records a SET on the statements after it, and the next cell runs under it', async () => {
    const r = await session.executeCell('SELECT 1;\nSET lock_timeout = 0;\nSELECT 2;\nSELECT 3;');
    assert.equal(r.status, 'ok');
    assert.deepEqual(r.timeouts, { lockTimeout: '5s', statementTimeout: '30s' });
    assert.deepEqual(
      r.statements.map((s) => s.settings),
      [undefined, undefined, { lock_timeout: '0', statement_timeout: '30s' }, undefined],
      'only the statement after the change carries settings',
    );
    assert.deepEqual(session.settingsInForce(), { lockTimeout: '0', statementTimeout: '30s' });
    const next = await session.executeCell('SHOW lock_timeout;');
    assert.deepEqual(next.timeouts, { lockTimeout: '0', statementTimeout: '30s' });
    assert.deepEqual(next.results[0].rows, [['0']]);
  });

  it('ends SET LOCAL with its transaction', async () => {
    const r = await session.executeCell("BEGIN;\nSET LOCAL lock_timeout = '1s';\nSELECT 1;\nCOMMIT;\nSELECT 2;");
    assert.equal(r.status, 'ok');
    assert.deepEqual(r.statements.map((s) => s.settings?.lock_timeout), [undefined, undefined, '1s', undefined, '5s']);
    assert.deepEqual(session.settingsInForce(), { lockTimeout: '5s', statementTimeout: '30s' });
    assert.equal(await shown(session, 'lock_timeout'), '5s');
  });

  it('follows a SET LOCAL across cells of one transaction', async () => {
    await session.executeCell("BEGIN;\nSET LOCAL statement_timeout = '90s';");
    const inside = await session.executeCell('SELECT 1;');
    assert.deepEqual(inside.timeouts, { lockTimeout: '5s', statementTimeout: '90s' });
    const end = await session.executeCell('ROLLBACK;\nSELECT 2;');
    assert.deepEqual(end.timeouts.statementTimeout, '90s');
    assert.deepEqual(end.statements[1].settings, { lock_timeout: '5s', statement_timeout: '30s' });
    assert.equal(await shown(session, 'statement_timeout'), '30s');
  });

  it('goes back to the server default after RESET, RESET ALL and DISCARD ALL', async () => {
    // The session's timeouts are SET at connect, so RESET goes past them to the server's default.
    const { lock_timeout: lt, statement_timeout: st } = defaults;
    assert.notEqual(lt, '5s');
    const reset = await session.executeCell('RESET lock_timeout;\nSELECT 1;');
    assert.deepEqual(reset.statements[1].settings, { lock_timeout: lt, statement_timeout: '30s' });
    assert.equal(await shown(session, 'lock_timeout'), lt);
    const all = await session.executeCell("SET lock_timeout = '7s';\nRESET ALL;\nSELECT 1;");
    assert.deepEqual(all.statements.map((s) => s.settings), [undefined, { lock_timeout: '7s', statement_timeout: '30s' }, { lock_timeout: lt, statement_timeout: st }]);
    assert.deepEqual(session.settingsInForce(), { lockTimeout: lt, statementTimeout: st });
    await session.executeCell("SET lock_timeout = '8s';");
    const discard = await session.executeCell('DISCARD ALL;');
    assert.equal(discard.timeouts.lockTimeout, '8s');
    assert.deepEqual(session.settingsInForce(), { lockTimeout: lt, statementTimeout: st });
    assert.equal(await shown(session, 'lock_timeout'), lt);
  });

  it('undoes a SET made in a transaction that rolls back, and in a savepoint rolled back to', async () => {
    const r = await session.executeCell("BEGIN;\nSET lock_timeout = '9s';\nSAVEPOINT a;\nSET lock_timeout = '4s';\nROLLBACK TO SAVEPOINT a;\nSELECT 1;\nROLLBACK;\nSELECT 2;");
    assert.equal(r.status, 'ok');
    assert.deepEqual(r.statements.map((s) => s.settings?.lock_timeout), [undefined, undefined, '9s', undefined, '4s', '9s', undefined, '5s']);
    assert.deepEqual(session.settingsInForce(), { lockTimeout: '5s', statementTimeout: '30s' });
    assert.equal(await shown(session, 'lock_timeout'), '5s');
  });

  it('undoes a SET when the transaction fails, once it is rolled back', async () => {
    await session.executeCell("BEGIN;\nSET lock_timeout = '9s';");
    assert.equal(session.settingsInForce().lockTimeout, '9s');
    const failed = await session.executeCell('SELECT 1 / 0;');
    assert.equal(failed.status, 'error');
    const end = await session.executeCell('ROLLBACK;');
    assert.equal(end.statements[0].tag, 'ROLLBACK');
    assert.deepEqual(session.settingsInForce(), { lockTimeout: '5s', statementTimeout: '30s' });
    assert.equal(await shown(session, 'lock_timeout'), '5s');
  });

  it('sees set_config() in any statement', async () => {
    const r = await session.executeCell("SELECT set_config('statement_timeout', '45s', false);\nSELECT 1;");
    assert.deepEqual(r.statements[1].settings, { lock_timeout: '5s', statement_timeout: '45s' });
    assert.equal(await shown(session, 'statement_timeout'), '45s');
  });

  it('puts back the value in force before a cell override, not the one set at connect', async () => {
    await session.executeCell('SET lock_timeout = 0;');
    const cell = await session.executeCell('SHOW lock_timeout;', { lockTimeout: '3s' });
    assert.deepEqual(cell.timeouts, { lockTimeout: '3s', statementTimeout: '30s' });
    assert.deepEqual(cell.results[0].rows, [['3s']]);
    assert.deepEqual(session.settingsInForce(), { lockTimeout: '0', statementTimeout: '30s' });
    assert.equal(await shown(session, 'lock_timeout'), '0');
  });

  it('leaves the other setting alone after a cell override, and keeps a SET the cell made itself', async () => {
    const cell = await session.executeCell("SET statement_timeout = '1min';\nSELECT 1;", { lockTimeout: '3s' });
    assert.deepEqual(cell.statements[1].settings, { lock_timeout: '3s', statement_timeout: '1min' });
    assert.deepEqual(session.settingsInForce(), { lockTimeout: '5s', statementTimeout: '1min' });
    const own = await session.executeCell("SET lock_timeout = '250ms';", { lockTimeout: '3s' });
    assert.equal(own.status, 'ok');
    assert.equal(await shown(session, 'lock_timeout'), '250ms', "the cell's own SET stays, as its SQL says");
  });

  it('puts an override back again when the transaction that held the put-back rolls back', async () => {
    await session.executeCell('SET lock_timeout = 0;');
    await session.executeCell('BEGIN;', { lockTimeout: '100ms' });
    assert.equal(await shown(session, 'lock_timeout'), '0');
    const r = await session.executeCell('ROLLBACK;\nSELECT 1;');
    // The ROLLBACK undid the put-back made inside the transaction: it is made again at once.
    assert.equal(r.statements[1].settings, undefined);
    assert.deepEqual(session.settingsInForce(), { lockTimeout: '0', statementTimeout: '30s' });
    assert.equal(await shown(session, 'lock_timeout'), '0');
  });

  it('does not clobber a SET of the same value made after an override was put back in a transaction', async () => {
    await session.executeCell('BEGIN;', { lockTimeout: '3s' });
    await session.executeCell("SET lock_timeout = '3s';");
    await session.executeCell('COMMIT;');
    assert.equal(await shown(session, 'lock_timeout'), '3s');
  });

  it('keeps SET TRANSACTION ISOLATION LEVEL possible after a SET in the same transaction (the re-read takes no snapshot)', async () => {
    const r = await session.executeCell("BEGIN;\nSET lock_timeout = '1s';\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSHOW transaction_isolation;\nCOMMIT;");
    assert.equal(r.status, 'ok', r.body);
    assert.deepEqual(r.results[3].rows, [['serializable']]);
  });

  it('sends no query of its own for plain statements', async () => {
    const proxy = await FaultProxy.forConfig(db.clientConfig);
    const watched = await PostgresSession.connect(proxy.clientConfig(db.clientConfig), { lockTimeout: '5s' });
    try {
      await watched.executeCell('CREATE TEMP TABLE t (id int);');
      const sent: string[] = [];
      const stop = proxy.observe((m) => m.query !== undefined && sent.push(m.query));
      const sql = Array.from({ length: 50 }, (_, i) => `INSERT INTO t VALUES (${i});`).join('\n');
      const r = await watched.executeCell(`${sql}\nSET lock_timeout = '2s';\nINSERT INTO t VALUES (50);`);
      stop();
      assert.equal(r.status, 'ok');
      assert.equal(sent.length, 53, 'the 52 statements and one re-read after the SET');
      assert.match(sent[51], /^SHOW lock_timeout; SHOW statement_timeout$/);
    } finally {
      await watched.close();
      await proxy.close();
    }
  });
});
