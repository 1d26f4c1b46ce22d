// squawk as a child process: one call for many files, its JSON report, --pg-version, and our severity mapping.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSquawk, squawkArgs, squawkPgVersion, squawkRule, SquawkError, SQUAWK_EXCLUDED } from '../../src/sql/squawk';

describe('squawk', function () {
  this.timeout(20_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'squawk-test-'));
    writeFileSync(join(dir, 'a.sql'), "ALTER TABLE users ADD COLUMN prefs jsonb DEFAULT '{}';\n");
    writeFileSync(join(dir, 'b.sql'), 'SELECT 1;\nCREATE INDEX users_email_idx ON users(email);\n');
    writeFileSync(join(dir, 'c.sql'), 'SELECT 1;\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lints many files in one call and reports 0-based lines per file', async () => {
    const v = await runSquawk([join(dir, 'a.sql'), join(dir, 'b.sql'), join(dir, 'c.sql')], { exclude: SQUAWK_EXCLUDED });
    const idx = v.find((x) => x.rule_name === 'require-concurrent-index-creation');
    assert.ok(idx);
    assert.equal(idx.file, join(dir, 'b.sql'));
    assert.equal(idx.line, 1);
    assert.ok(!v.some((x) => x.file.endsWith('c.sql')));
    assert.ok(!v.some((x) => SQUAWK_EXCLUDED.includes(x.rule_name)));
  });

  it('flags a column default only on versions where it rewrites the table (--pg-version)', async () => {
    const old = await runSquawk([join(dir, 'a.sql')], { pgVersion: '10.0' });
    const current = await runSquawk([join(dir, 'a.sql')], { pgVersion: '16.4' });
    assert.ok(old.some((x) => x.rule_name === 'adding-field-with-default'));
    assert.ok(!current.some((x) => x.rule_name === 'adding-field-with-default'));
  });

  it('turns server_version text into squawk\'s --pg-version', () => {
    assert.deepEqual(['16.4', '18beta1', '9.6.24', '15.14 (Debian 15.14-0+deb12u1)', 'x', undefined].map(squawkPgVersion), ['16.4', '18.0', '9.6', '15.14', undefined, undefined]);
    assert.deepEqual(squawkArgs(['f.sql'], { pgVersion: '16.4', exclude: ['a', 'b'] }), ['--reporter', 'json', '--no-error-on-unmatched-pattern', '--pg-version', '16.4', '--exclude=a,b', 'f.sql']);
  });

  it('maps squawk rules to our severities (lock hazards are errors, advice is info)', () => {
    assert.equal(squawkRule('changing-column-type').severity, 'error');
    assert.equal(squawkRule('require-concurrent-index-creation').lockHazard, true);
    assert.equal(squawkRule('ban-drop-column').severity, 'warning');
    assert.equal(squawkRule('prefer-robust-stmts').severity, 'info');
    assert.equal(squawkRule('some-future-rule').severity, 'warning');
  });

  it('says clearly when squawk cannot be started', async () => {
    await assert.rejects(runSquawk([join(dir, 'a.sql')], { binary: join(dir, 'no-such-squawk') }), (e: unknown) => e instanceof SquawkError && /could not start squawk/.test(e.message));
  });

  it('rejects an unknown rule in --exclude as a squawk failure', async () => {
    await assert.rejects(runSquawk([join(dir, 'a.sql')], { exclude: ['not-a-rule'] }), (e: unknown) => e instanceof SquawkError && /exit 2/.test(e.message));
  });
});
