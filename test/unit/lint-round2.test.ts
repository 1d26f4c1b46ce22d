// The pure parts of the second round of safety rules (no server): rewrite decisions for type changes, which held
// locks cover a request, the facts read from statements, squawk's rewording and the lint's profile defaults.

import { strict as assert } from 'node:assert';
import { rewriteDecision, columnTypeOf, modsFromTypmod, type ColumnType } from '../../src/sql/type-change';
import { heldCovers, analyzeStatement, type LockMode } from '../../src/sql/analyze';
import { loadParser, splitCell } from '../../src/sql/analyze-statements';
import { lintRunbook, type Finding, type LintCell } from '../../src/sql/lint';
import { lintDefaultsFor, type ResolveForLint } from '../../src/cli/lint';
import { preflightText } from '../../src/safety/preflight';
import type { TypeName } from 'libpg-query';

const t = (name: string, mods: number[] = [], extra: Partial<ColumnType> = {}): ColumnType => ({ name, mods, array: false, ...extra });
const cells = (...sources: string[]): LintCell[] => sources.map((source) => ({ kind: 'sql', source, options: {} }));
const ofRule = (fs: Finding[], rule: string): Finding[] => fs.filter((f) => f.rule === rule);

describe('second-round safety rules (no server)', function () {
  this.timeout(20_000);
  before(loadParser);

  describe('rewriteDecision (ALTER TABLE docs, Notes; PostgreSQL 9.2+ typmod rules)', () => {
    const cases: [ColumnType, ColumnType, boolean | undefined][] = [
      [t('varchar', [10]), t('text'), false],
      [t('varchar', [10]), t('varchar', [20]), false],
      [t('varchar', [20]), t('varchar', [10]), true],
      [t('text'), t('varchar', [10]), true],
      [t('numeric', [10, 2]), t('numeric', [12, 2]), false],
      [t('numeric', [10, 2]), t('numeric', [12, 3]), true],
      [t('numeric'), t('numeric', [10, 2]), true],
      [t('int4'), t('int8'), true],
      [t('bpchar', [5]), t('bpchar', [10]), true],
      [t('timestamp', [3]), t('timestamp'), false],
      [t('interval', []), t('interval', [2]), undefined],
      [t('text', [], { domain: { base: t('text'), constrained: true } }), t('text'), false],
      [t('text', [], { domain: { base: t('int4'), constrained: false } }), t('text'), true],
      [t('text', [], { array: true }), t('varchar', [], { array: true }), undefined],
    ];
    for (const [from, to, rewrites] of cases) {
      it(`${from.domain ? 'domain over ' : ''}${from.name}(${from.mods?.join(',')}) → ${to.name}(${to.mods?.join(',')}): ${String(rewrites)}`, () => {
        assert.equal(rewriteDecision(from, to).rewrites, rewrites);
      });
    }
    it('cannot tell with a USING clause or a COLLATE clause', () => {
      assert.equal(rewriteDecision(t('varchar', [10]), t('text'), { using: true }).rewrites, undefined);
      assert.equal(rewriteDecision(t('varchar', [10]), t('text'), { collate: true }).rewrites, undefined);
    });
    it('reads typmods as the catalog stores them and types as the parser writes them', () => {
      assert.deepEqual(modsFromTypmod('varchar', 24), [20]);
      assert.deepEqual(modsFromTypmod('numeric', ((12 << 16) | 2) + 4), [12, 2]);
      assert.deepEqual(modsFromTypmod('int4', -1), []);
      assert.equal(modsFromTypmod('interval', 5), undefined);
      const tn: TypeName = { names: [{ String: { sval: 'pg_catalog' } }, { String: { sval: 'varchar' } }], typmods: [{ A_Const: { ival: { ival: 20 } } }] };
      assert.deepEqual(columnTypeOf(tn), { name: 'varchar', mods: [20], array: false });
    });
  });

  describe('heldCovers (docs 13.3.1, Table 13.2)', () => {
    const covers = (held: LockMode[], wanted: LockMode): boolean => heldCovers(held, wanted);
    it('ACCESS EXCLUSIVE covers every request', () => {
      for (const m of ['ACCESS SHARE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'ACCESS EXCLUSIVE'] as LockMode[]) assert.ok(covers(['ACCESS EXCLUSIVE'], m), m);
    });
    it('SHARE does not cover SHARE UPDATE EXCLUSIVE or SHARE ROW EXCLUSIVE (another session may hold SHARE too), but covers SHARE', () => {
      assert.ok(!covers(['SHARE'], 'SHARE UPDATE EXCLUSIVE'));
      assert.ok(!covers(['SHARE'], 'SHARE ROW EXCLUSIVE'));
      assert.ok(covers(['SHARE'], 'SHARE'));
    });
    it('two weaker modes together can cover a stronger one', () => {
      assert.ok(!covers(['SHARE'], 'SHARE ROW EXCLUSIVE'));
      assert.ok(covers(['SHARE', 'ROW EXCLUSIVE'], 'SHARE ROW EXCLUSIVE'));
    });
  });

  describe('facts from statements', () => {
    const facts = (sql: string) => analyzeStatement(splitCell(sql)[0].stmt, 18);
    it('reads a batched UPDATE, a batched DELETE with a CTE, and an unbatched one', () => {
      assert.deepEqual(facts('UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t WHERE a IS NULL LIMIT 100)').dml, { target: 't', batched: true, where: true, tables: ['t'] });
      assert.equal(facts('WITH b AS (SELECT id FROM app.t LIMIT 10) DELETE FROM app.t USING b WHERE app.t.id = b.id').dml?.batched, true);
      assert.deepEqual(facts('UPDATE t SET a = 1').dml, { target: 't', batched: false, where: false, tables: ['t'] });
    });
    it('reads a CALL and the body of CREATE PROCEDURE', () => {
      assert.deepEqual(facts('CALL app.batch(1, 2)').call, { name: 'app.batch', args: 2 });
      assert.deepEqual(facts('CREATE OR REPLACE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$').procedure, { name: 'p', body: ' BEGIN COMMIT; END ' });
    });
    it('does not count a type change as slow until its old type is known, then not when it keeps the table', async () => {
      const f = facts('ALTER TABLE t ALTER COLUMN a TYPE text');
      assert.equal(f.slow, true);
      assert.equal(f.slowOnlyFromTypeChange, true);
      const fs = await lintRunbook(cells('CREATE TABLE IF NOT EXISTS t0(x int);', 'BEGIN;\nLOCK TABLE t IN ACCESS EXCLUSIVE MODE;', 'ALTER TABLE t ADD COLUMN c varchar(10);', 'ALTER TABLE t ALTER COLUMN c TYPE text;', 'COMMIT;'));
      // The column was added in the runbook as varchar(10): → text keeps the table, so no work under the lock.
      assert.deepEqual(ofRule(fs, 'work-under-access-exclusive'), []);
      assert.deepEqual(ofRule(fs, 'changing-column-type'), []);
    });
  });

  describe('require-lock-timeout and held locks', () => {
    it('is quiet for a statement whose lock the transaction already holds, and still fires for one it does not cover', async () => {
      const fs = await lintRunbook([
        { kind: 'sql', source: 'BEGIN;\nALTER TABLE t ADD COLUMN a int;', options: { lock_timeout: '2s' } },
        { kind: 'sql', source: 'CREATE INDEX t_a ON t (a);\nALTER TABLE u ADD COLUMN b int;\nCOMMIT;', options: {} },
      ]);
      assert.deepEqual(ofRule(fs, 'require-lock-timeout').map((f) => [f.cell, f.line]), [[1, 2]]);
      assert.match(ofRule(fs, 'require-lock-timeout')[0].help, /lock_timeout: 5s on the connection profile/);
      assert.doesNotMatch(ofRule(fs, 'require-lock-timeout')[0].help, /lockTimeout/);
    });
  });

  describe('squawk\'s wording', () => {
    it('drops NOT VALID advice for UNIQUE and PRIMARY KEY where the other rule gives the USING INDEX form', async () => {
      const fs = await lintRunbook(cells('ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a);', 'ALTER TABLE t ADD PRIMARY KEY (id);'));
      assert.deepEqual(ofRule(fs, 'constraint-missing-not-valid'), []);
      assert.match(ofRule(fs, 'disallowed-unique-constraint')[0].help, /^CREATE UNIQUE INDEX CONCURRENTLY t_a_key ON t \(a\);.*ADD CONSTRAINT t_a_key UNIQUE USING INDEX t_a_key;/);
      assert.match(ofRule(fs, 'adding-serial-primary-key-field')[0].help, /CREATE UNIQUE INDEX CONCURRENTLY t_id_pkey ON t \(id\);.*PRIMARY KEY USING INDEX t_id_pkey;/);
      // A CHECK still gets NOT VALID advice: it is right there.
      assert.match(ofRule(await lintRunbook(cells('ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);')), 'constraint-missing-not-valid')[0].help, /NOT VALID/);
    });
    it('says "any DEFAULT" before PostgreSQL 11 and keeps squawk\'s words for a generated column', async () => {
      const old = ofRule(await lintRunbook(cells("ALTER TABLE t ADD COLUMN k text DEFAULT 'x';"), { serverVersion: '10.23' }), 'adding-field-with-default');
      assert.match(old[0].message, /^Adding k with a DEFAULT rewrites t under an ACCESS EXCLUSIVE lock on PostgreSQL 10/);
      const gen = ofRule(await lintRunbook(cells('ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a * 2) STORED;')), 'adding-field-with-default');
      assert.match(gen[0].message, /generated column/);
    });
    it('asks an unnamed index for a name, and a named one for IF NOT EXISTS', async () => {
      const fs = await lintRunbook(cells('CREATE INDEX CONCURRENTLY ON t (a);', 'CREATE INDEX CONCURRENTLY t_a ON t (a);'));
      const robust = ofRule(fs, 'prefer-robust-stmts').map((f) => f.help);
      assert.ok(robust.every((h) => !/explicit name for a concurrently created index/.test(h)), robust.join('\n'));
    });
  });

  describe('lintDefaultsFor (runbook lint, runbook run --dry-run)', () => {
    it('resolves the named profile without connecting, and reports a problem instead of throwing', async () => {
      const calls: string[] = [];
      const ok: ResolveForLint = async (name) => { calls.push(name); return { profile: { name, lockTimeout: '4s', statementTimeout: '1min' }, clientConfig: {} }; };
      assert.deepEqual(await lintDefaultsFor('prod-main', '/x', ok), { connection: 'prod-main', lockTimeoutDefault: '4s', statementTimeoutDefault: '1min' });
      assert.deepEqual(await lintDefaultsFor(undefined, '/x', ok), {});
      assert.deepEqual(await lintDefaultsFor('sandbox', '/x', ok), {});
      assert.deepEqual(calls, ['prod-main']);
      const bad: ResolveForLint = async () => { throw new Error('no profile "prod-main"'); };
      assert.deepEqual(await lintDefaultsFor('prod-main', '/x', bad), { connection: 'prod-main', problem: 'no profile "prod-main"' });
    });
  });

  describe('pre-flight text', () => {
    const base = {
      tables: [{ table: 't', mode: 'ACCESS EXCLUSIVE' as const, exists: true }], idleInTransaction: [], longTransactions: [], vacuums: [], invalidIndexes: [],
      lockers: [{ pid: 7, user: 'app', application: null, state: 'idle in transaction', xactAgeMs: 1000, stateAgeMs: 900, query: 'SELECT 1', locks: [], wouldBlockCell: true }],
    };
    it('asks to set lock_timeout only when it is not known to be set', () => {
      assert.match(preflightText(base), /Make sure lock_timeout is set/);
      assert.match(preflightText({ ...base, lockTimeout: '5s' }), /with lock_timeout 5s it gives up after 5s/);
      assert.match(preflightText({ ...base, lockTimeout: '0', lockTimeoutSetByCell: true }), /it sets its own lock_timeout before taking the lock/);
      assert.match(preflightText({ ...base, lockTimeout: '0' }), /no lock_timeout in force \(it is 0\)/);
    });
  });
});
