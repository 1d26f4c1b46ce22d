// The rollback rules (src/sql/rollback-rules.ts) through the real lint: libpg-query parse trees and squawk.

import { strict as assert } from 'node:assert';
import { lintRunbook, type Finding, type LintCell } from '../../src/sql/lint';

const up = (source: string, options: Record<string, unknown> = {}): LintCell => ({ kind: 'sql', source, options });
const down = (source: string, options: Record<string, unknown> = {}): LintCell => ({ kind: 'sql', source, options: { rollback: true, ...options } });
const rules = (fs: Finding[]): string[] => fs.filter((f) => f.rule.startsWith('rollback-')).map((f) => `${f.rule}@${f.cell}:${f.line}${f.acknowledged ? ' acked' : ''}`);

describe('rollback lint rules', function () {
  this.timeout(30_000);

  it('rollback-not-atomic: several DDL statements in a rollback cell outside a transaction, not when it is one or cannot be one', async () => {
    assert.deepEqual(rules(await lintRunbook([up('CREATE TABLE t (id int);'), down('DROP INDEX i;\nDROP TABLE t;')])), ['rollback-not-atomic@1:1']);
    assert.deepEqual(rules(await lintRunbook([up('CREATE TABLE t (id int);'), down('DROP INDEX i;\nDROP TABLE t;', { autocommit: false })])), []);
    assert.deepEqual(rules(await lintRunbook([up('CREATE TABLE t (id int);'), down('BEGIN;'), down('DROP INDEX i;\nDROP TABLE t;'), down('COMMIT;')])), [], 'inside a span an earlier rollback cell opened');
    assert.deepEqual(rules(await lintRunbook([up('CREATE TABLE t (id int);'), down('DROP INDEX CONCURRENTLY i;\nDROP TABLE t;')])), [], 'CONCURRENTLY cannot run in a transaction');
    assert.deepEqual(rules(await lintRunbook([up('CREATE TABLE t (id int);'), down('DROP TABLE t;')])), [], 'one statement is atomic');
  });

  it('rollback-enum-value-removed: an enum value added up, the type swapped or dropped down', async () => {
    const f = await lintRunbook([
      up("ALTER TYPE st ADD VALUE 'refunded';"),
      down("CREATE TYPE st_old AS ENUM ('new');\nALTER TABLE p ALTER COLUMN s TYPE st_old USING s::text::st_old;\nDROP TYPE st;\nALTER TYPE st_old RENAME TO st;", { autocommit: false }),
    ]);
    assert.deepEqual(rules(f), ['rollback-enum-value-removed@1:2', 'rollback-enum-value-removed@1:3']);
    assert.match(f.find((x) => x.rule === 'rollback-enum-value-removed')!.message, /'refunded'.*SQLSTATE 22P02/);
    assert.deepEqual(rules(await lintRunbook([up('CREATE TABLE p (s text);'), down('ALTER TABLE p ALTER COLUMN s TYPE varchar(10);')])), [], 'no enum value added: nothing to say');
  });

  it('rollback-drops-new-column: the rollback drops a column an up-step added (acknowledged with ack)', async () => {
    assert.deepEqual(rules(await lintRunbook([up('ALTER TABLE users ADD COLUMN prefs jsonb;'), down('ALTER TABLE users DROP COLUMN prefs;')])), ['rollback-drops-new-column@1:1']);
    assert.deepEqual(rules(await lintRunbook([up('ALTER TABLE users ADD COLUMN prefs jsonb;'), down('ALTER TABLE users DROP COLUMN prefs;', { ack: ['rollback-drops-new-column'] })])), ['rollback-drops-new-column@1:1 acked']);
    assert.deepEqual(rules(await lintRunbook([up('ALTER TABLE users ADD COLUMN prefs jsonb;'), down('ALTER TABLE users DROP COLUMN legacy;')])), [], 'a column the up-steps did not add');
  });
});
