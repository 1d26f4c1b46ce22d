// Integration tests of rehearsal and validation (issue 11): expectations that fail the cell, cells allowed to fail
// (under a SAVEPOINT inside a span), `runbook rehearse` on the sandbox and on a real server, and the production guard.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { freshDatabase, type FreshDatabase } from './harness';
import { parseRunbook } from '../../src/format';
import { startSandbox } from '../../src/engines/sandbox';
import { PostgresSession } from '../../src/engines/postgres';
import { compareSnapshots, takeSnapshot } from '../../src/rehearse/snapshot';
import { runRunbook } from '../../src/run/runner';
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

/** A correct up/down pair: an enum type, a column of it with an index, a rehearsal cell writing data, and the way back. */
const GOOD = '# Add order status\n\n' +
  sql('CREATE TABLE orders (id int PRIMARY KEY, total numeric NOT NULL DEFAULT 0);', { name: 'create' }) +
  sql("CREATE TYPE order_status AS ENUM ('new', 'paid');\nALTER TABLE orders ADD COLUMN status order_status;\nCREATE INDEX orders_status_idx ON orders (status);", { name: 'add-status' }) +
  sql('SELECT count(*) FROM orders WHERE status IS NULL;', { name: 'validate', expect: { value: 0 } }) +
  sql("INSERT INTO orders VALUES (1, 10, 'paid');", { name: 'app-writes', rehearsal: true }) +
  sql('DROP INDEX orders_status_idx;\nALTER TABLE orders DROP COLUMN status;\nDROP TYPE order_status;', { name: 'down-status', rollback: true }) +
  sql('DROP TABLE orders;', { name: 'down-table', rollback: true });

/** The end event's rehearsal record of the latest rehearsal in a file. */
function rehearsalOf(file: string): { passed: boolean; schema: string; diff?: string; hash: string; phases: { phase: string; status: string; failed?: { cell?: number; reason: string } }[] } {
  const events = parseRunbook(fs.readFileSync(file)).log?.events ?? [];
  const end = [...events].reverse().find((e) => e.e === 'end' && e.end.rehearsal);
  assert.ok(end && end.e === 'end', 'the log has a rehearsal end event');
  return end.end.rehearsal as ReturnType<typeof rehearsalOf>;
}

describe('runbook rehearse (sandbox and real PostgreSQL)', function () {
  this.timeout(180_000);
  let db: FreshDatabase;
  let dir: string;

  before(async () => {
    db = await freshDatabase('rehearse_cli');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-rehearse-'));
  });
  after(async () => {
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rehearses a correct up/down pair green on the sandbox, leaves the cells without outputs, and verify passes', () => {
    const file = path.join(dir, 'good.runbook');
    fs.writeFileSync(file, GOOD);
    const r = runCli(['rehearse', file]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /rehearsal passed on sandbox .*snapshot ok, up ok, rehearsal ok, rollback ok, compare ok, up again ok; schema came back/);
    const rec = rehearsalOf(file);
    assert.equal(rec.passed, true);
    assert.equal(rec.schema, 'same');
    assert.deepEqual(rec.phases.map((p) => p.phase), ['snapshot', 'up', 'rehearsal', 'rollback', 'compare', 'up again']);
    assert.ok(cellsOf(file).every((c) => c.outputs.length === 0), 'a rehearsal writes no cell output');
    const v = runCli(['verify', file]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    // A plain run on the sandbox skips the rehearsal cell.
    const plain = runCli(['run', file]);
    assert.equal(plain.status, 0, plain.stdout + plain.stderr);
    assert.deepEqual(statuses(file), ['ok', 'ok', 'ok', undefined, undefined, undefined]);
  });

  it('rehearses the same pair green on a real server (and leaves the up-steps applied there)', async () => {
    const file = path.join(dir, 'good-server.runbook');
    fs.writeFileSync(file, GOOD);
    const r = runCli(['rehearse', file, '-c', db.url]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(rehearsalOf(file).schema, 'same');
    const c = new Client(db.clientConfig);
    await c.connect();
    try {
      assert.equal((await c.query("SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'orders_status_idx'")).rows[0].n, 1, 'the up-steps ran again at the end');
      assert.equal((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 0, 'the rehearsal data went with the rollback');
    } finally {
      await c.end();
    }
  });

  it('fails the compare phase when the rollback forgets an index, with the index in the diff', () => {
    const file = path.join(dir, 'forgot-index.runbook');
    fs.writeFileSync(file, '# Index\n\n' + sql('CREATE TABLE items (id int, sku text);') + sql('CREATE INDEX items_sku_idx ON items (sku);', { name: 'add-index' }) +
      sql('SELECT 1;', { name: 'down', rollback: true }));
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('# Index\n\n', '# Index\n\n' + sql('SELECT 1;', { name: 'noop' })));
    const r = runCli(['rehearse', file]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const rec = rehearsalOf(file);
    assert.equal(rec.schema, 'differs');
    assert.match(String(rec.diff), /^\+.*items_sku_idx/m, 'the index left behind is a + line of the diff');
    assert.match(r.stdout, /Failed in the compare phase: the schema did not come back after the rollback/);
    assert.match(r.stdout, /\+index items_sku_idx CREATE INDEX items_sku_idx ON public\.items/);
    assert.equal(rec.phases.find((p) => p.phase === 'up again')?.status, 'not run');
  });

  it('fails in the rollback phase with SQLSTATE 22P02 when an enum value added up and used by a rehearsal cell is removed by a type swap', () => {
    const file = path.join(dir, 'enum-swap.runbook');
    fs.writeFileSync(file, '# Refunded\n\n' +
      sql("CREATE TYPE pay_status AS ENUM ('new', 'paid');\nCREATE TABLE payments (id int, status pay_status);") +
      sql("ALTER TYPE pay_status ADD VALUE 'refunded';", { name: 'add-refunded' }) +
      sql("INSERT INTO payments VALUES (1, 'refunded');", { name: 'app-refunds', rehearsal: true }) +
      sql("CREATE TYPE pay_status_old AS ENUM ('new', 'paid');\nALTER TABLE payments ALTER COLUMN status TYPE pay_status_old USING status::text::pay_status_old;\nDROP TYPE pay_status;\nALTER TYPE pay_status_old RENAME TO pay_status;", { name: 'drop-refunded', rollback: true, autocommit: false }) +
      sql('DROP TABLE payments;\nDROP TYPE pay_status;', { name: 'down', rollback: true }));
    const r = runCli(['rehearse', file]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const rec = rehearsalOf(file);
    const rollback = rec.phases.find((p) => p.phase === 'rollback')!;
    assert.equal(rollback.status, 'failed');
    assert.equal(rollback.failed?.cell, 4);
    assert.match(rollback.failed!.reason, /SQLSTATE 22P02/);
    assert.match(r.stdout, /Failed in the rollback phase at cell 4 \(drop-refunded\): .*invalid input value for enum pay_status_old: "refunded" \(SQLSTATE 22P02\)/);
  });

  it('refuses a production connection', () => {
    const prodDir = fs.mkdtempSync(path.join(dir, 'prod-'));
    const u = new URL(db.url);
    fs.writeFileSync(path.join(prodDir, 'runbook.connections.yaml'), `connections:\n  prod-main:\n    environment: production\n    host: ${u.hostname}\n    port: ${u.port || 5432}\n    database: ${db.name}\n    user: ${decodeURIComponent(u.username)}\n`);
    const file = path.join(prodDir, 'good.runbook');
    fs.writeFileSync(file, GOOD);
    const r = runCli(['rehearse', file, '-c', 'prod-main'], { env: { PGPASSWORD: decodeURIComponent(u.password), HOME: prodDir } });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /prod-main is a production connection: .*nothing was run/);
  });
});

describe('the production guard and rehearsals (real PostgreSQL)', function () {
  this.timeout(180_000);
  let db: FreshDatabase;
  let dir: string;

  before(async () => {
    db = await freshDatabase('rehearse_guard');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-guard-'));
    const u = new URL(db.url);
    fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'),
      `connections:\n  prod-main:\n    environment: production\n    host: ${u.hostname}\n    port: ${u.port || 5432}\n    database: ${db.name}\n    user: ${decodeURIComponent(u.username)}\n` +
      `  prod-strict:\n    environment: production\n    require_rehearsal: true\n    host: ${u.hostname}\n    port: ${u.port || 5432}\n    database: ${db.name}\n    user: ${decodeURIComponent(u.username)}\n`);
  });
  after(async () => {
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const env = (): NodeJS.ProcessEnv => {
    const u = new URL(db.url);
    return { ...process.env, PGPASSWORD: decodeURIComponent(u.password), HOME: dir };
  };
  /** Runs in-process with an asker that answers yes and keeps the questions. */
  const runAsking = async (file: string, connection: string, extra: Partial<Parameters<typeof runRunbook>[0]> = {}): Promise<{ questions: string[]; exit?: number; refused?: string[] }> => {
    const questions: string[] = [];
    const outcome = await runRunbook({
      file, connection, operator: 'test-operator', env: env(), confirmProduction: connection,
      asker: { confirm: async (q) => (questions.push(q), true), typeName: async (_q, expected) => expected },
      ...extra,
    });
    return { questions, exit: outcome.run.exit, refused: outcome.summary.refused };
  };

  it('asks on production without a passing rehearsal of this content, and not after one', async () => {
    const file = path.join(dir, 'guard.runbook');
    fs.writeFileSync(file, GOOD);
    const none = await runAsking(file, 'prod-main', { only: 'validate' });
    assert.deepEqual(none.questions, [], 'a read-only cell with an expectation is not mutating: no question');
    const first = runCli(['run', file, '-c', 'prod-main', '--confirm-production', 'prod-main'], { env: env() });
    assert.equal(first.status, 1, first.stdout + first.stderr);
    assert.match(first.stderr, /has no passing rehearsal in its log: run `runbook rehearse` first, or pass --without-rehearsal/);

    const asked = await runAsking(file, 'prod-main', { from: 'create' });
    assert.equal(asked.questions.length, 1, 'asked once');
    assert.match(asked.questions[0], /has no passing rehearsal in its log: the rollback was never tried on it\. Run it on PRODUCTION \(prod-main\) anyway\?/);
    assert.equal(asked.exit, 0);
    // Undo on the server (the rollback section) so the content can run again after its rehearsal.
    assert.equal(runCli(['run', file, '-c', 'prod-main', '--rollback', '--confirm-production', 'prod-main', '--without-rehearsal'], { env: env() }).status, 0);

    const rehearsed = runCli(['rehearse', file]);
    assert.equal(rehearsed.status, 0, rehearsed.stdout + rehearsed.stderr);
    const after = await runAsking(file, 'prod-main', { rerun: true });
    assert.deepEqual(after.questions, [], 'not asked after a passing rehearsal of the same content');
    assert.equal(after.exit, 0);
    const log = runCli(['log', file]);
    assert.match(log.stdout, /\*\*Rehearsal:\*\* \*\*passed\*\* · content `[0-9a-f]{16}` · the schema came back/);
    assert.match(log.stdout, /#2 `add-status` · \*\*ok\*\* · [^\n]* · rehearsed: [^\n]*\(run `/, 'production figures beside the rehearsal\'s');

    // Changing what a cell runs unbinds the rehearsal; renaming it does not.
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('{"name":"validate",', '{"name":"validate-renamed",'));
    const strictOk = await runAsking(file, 'prod-strict', { rollback: true, confirmProduction: 'prod-strict', rerun: true });
    assert.equal(strictOk.refused, undefined, 'renamed cell: the rehearsal still counts');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('DROP TABLE orders;', 'DROP TABLE IF EXISTS orders;'));
    const strict = await runAsking(file, 'prod-strict', { rollback: true, confirmProduction: 'prod-strict', rerun: true });
    assert.ok(strict.refused && strict.refused.some((r) => /requires one \(require_rehearsal: true\)/.test(r)), JSON.stringify(strict));
    // The rollback ran above (the rehearsal still counted): the up-steps run again, with the override.
    const overridden = runCli(['run', file, '-c', 'prod-strict', '--confirm-production', 'prod-strict', '--rerun', '--without-rehearsal'], { env: env() });
    assert.equal(overridden.status, 0, overridden.stdout + overridden.stderr);
    const runs = (parseRunbook(fs.readFileSync(file)).log?.events ?? []).filter((e) => e.e === 'run');
    const last = runs[runs.length - 1];
    assert.ok(last.e === 'run' && last.run.flags?.includes('--without-rehearsal'), 'the override is recorded in the run');
  });
});

describe('rows affected against a staging rehearsal (real PostgreSQL)', function () {
  this.timeout(180_000);
  let staging: FreshDatabase;
  let prod: FreshDatabase;
  let dir: string;

  before(async () => {
    staging = await freshDatabase('rehearse_rows_staging');
    prod = await freshDatabase('rehearse_rows_prod');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-rows-'));
    const profile = (name: string, env: string, db: FreshDatabase): string => {
      const u = new URL(db.url);
      return `  ${name}:\n    environment: ${env}\n    host: ${u.hostname}\n    port: ${u.port || 5432}\n    database: ${db.name}\n    user: ${decodeURIComponent(u.username)}\n`;
    };
    fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'), `connections:\n${profile('staging-main', 'staging', staging)}${profile('prod-main', 'production', prod)}`);
    for (const [db, n] of [[staging, 5], [prod, 500]] as const) {
      const c = new Client(db.clientConfig);
      await c.connect();
      await c.query(`CREATE TABLE items (id int PRIMARY KEY, flagged boolean NOT NULL DEFAULT false); INSERT INTO items SELECT g FROM generate_series(1, ${n}) g`);
      await c.end();
    }
  });
  after(async () => {
    await staging.drop();
    await prod.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pauses before the COMMIT when production affects more than 10× the rehearsal\'s rows, and rolls back on no', async () => {
    const file = path.join(dir, 'flag.runbook');
    fs.writeFileSync(file, sql('BEGIN;') + sql('UPDATE items SET flagged = true;', { name: 'flag-all' }) + sql('COMMIT;') +
      sql('UPDATE items SET flagged = false;', { name: 'unflag', rollback: true }));
    const u = new URL(prod.url);
    const env = { ...process.env, PGPASSWORD: decodeURIComponent(u.password), HOME: dir };
    const rehearsed = runCli(['rehearse', file, '-c', 'staging-main'], { env });
    assert.equal(rehearsed.status, 0, rehearsed.stdout + rehearsed.stderr);
    const questions: string[] = [];
    const outcome = await runRunbook({
      file, connection: 'prod-main', operator: 'test-operator', env, confirmProduction: 'prod-main',
      asker: { confirm: async (q) => (questions.push(q), false), typeName: async (_q, expected) => expected },
    });
    assert.equal(outcome.run.exit, 1);
    assert.equal(questions.length, 1, JSON.stringify(questions));
    assert.match(questions[0], /cell 2 \(flag-all\) affected 500 rows on production; its rehearsal on staging-main \(run .*\) affected 5 \(about 84×, more than 10×\)\. COMMIT it/);
    assert.deepEqual(statuses(file).slice(0, 3), ['rolled back', 'rolled back', undefined]);
    const c = new Client(prod.clientConfig);
    await c.connect();
    try {
      assert.equal((await c.query('SELECT count(*)::int AS n FROM items WHERE flagged')).rows[0].n, 0, 'nothing was committed');
    } finally {
      await c.end();
    }
  });
});

describe('schema snapshot coverage (PGlite sandbox)', function () {
  this.timeout(120_000);

  it('has a line for every kind the issue lists, and each attribute changes it', async () => {
    const sb = await startSandbox({});
    const pg = await PostgresSession.connect(sb.clientConfig(), {});
    try {
      const r = await pg.executeCell(`CREATE TYPE st AS ENUM ('a', 'b');
CREATE TABLE o (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, s st NOT NULL DEFAULT 'a', g int GENERATED ALWAYS AS (id * 2) STORED, CHECK (id > 0));
CREATE INDEX o_s ON o (s);
ALTER TABLE o ADD CONSTRAINT o_small CHECK (id < 1000) NOT VALID;
CREATE VIEW v AS SELECT id FROM o;
CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER t BEFORE INSERT ON o FOR EACH ROW EXECUTE FUNCTION f();
CREATE SEQUENCE sq;
GRANT SELECT ON o TO PUBLIC;
CREATE DOMAIN pos AS int CHECK (VALUE > 0);
ALTER TABLE o ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON o USING (id > 0);`);
      assert.equal(r.status, 'ok', r.error?.message);
      const a = await takeSnapshot((q) => pg.inspect(q));
      const has = (re: RegExp): void => assert.ok(a.lines.some((l) => re.test(l)), `${re} in:\n${a.lines.join('\n')}`);
      has(/^table o owner \S+ acl \{.*=r\/.*\} row security$/);
      has(/^column o\.id #1 integer not null generated always as identity$/);
      has(/^column o\.s #2 st not null default 'a'::st$/);
      has(/^column o\.g #3 integer generated always as \(\(id \* 2\)\) stored$/);
      has(/^constraint o\.o_small CHECK \(\(id < 1000\)\) NOT VALID \(not validated\)$/);
      has(/^index o_s CREATE INDEX o_s ON public\.o USING btree \(s\)$/);
      has(/^sequence o_id_seq integer .* owned by o\.id$/);
      has(/^type st .* enum \('a', 'b'\)$/);
      has(/^type pos .* domain integer$/);
      has(/^view v .* as /);
      has(/^function f\(\) .*RETURNS trigger/);
      has(/^trigger o\.t CREATE TRIGGER t BEFORE INSERT ON public\.o/);
      has(/^policy o\.p /);
      // Enum order, validation and indisvalid-like state are part of the line: changing them changes the snapshot.
      await pg.executeCell("ALTER TYPE st ADD VALUE 'c' BEFORE 'a';\nALTER TABLE o VALIDATE CONSTRAINT o_small;\nREVOKE SELECT ON o FROM PUBLIC;");
      const b = await takeSnapshot((q) => pg.inspect(q));
      const cmp = compareSnapshots(a, b);
      assert.equal(cmp.equal, false);
      assert.match(cmp.diff, /^\+type st .* enum \('c', 'a', 'b'\)$/m);
      assert.match(cmp.diff, /^\+constraint o\.o_small CHECK \(\(id < 1000\)\)$/m);
      assert.match(cmp.diff, /^-table o .*=r\//m);
    } finally {
      await pg.close();
      await sb.stop();
    }
  });
});
