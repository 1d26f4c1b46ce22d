// `runbook lint`: files in, report out (text, JSON, SARIF 2.1.0), exit status from unacknowledged errors.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerLint, runLint } from '../../src/cli/lint';
import type { Finding } from '../../src/sql/lint';

interface SarifLog {
  $schema: string; version: string;
  runs: { tool: { driver: { name: string; rules: { id: string }[] } }; results: {
    ruleId: string; ruleIndex: number; level: string; message: { text: string };
    locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[];
    suppressions?: { kind: string }[];
  }[] }[];
}

describe('runbook lint', function () {
  this.timeout(20_000);
  let dir: string;
  const run = async (files: string[], opts: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await runLint(files, opts, { out: (s) => { out += s; }, err: (s) => { err += s + '\n'; } });
    return { code, out, err };
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lint-cli-'));
    writeFileSync(join(dir, 'rewrite.sql'), '-- widen\nALTER TABLE rollups ALTER COLUMN tokens TYPE bigint;\n');
    writeFileSync(join(dir, 'safe.sql'), "SET lock_timeout = '2s';\nSET statement_timeout = '1min';\nALTER TABLE t ADD COLUMN IF NOT EXISTS note text;\n");
    writeFileSync(join(dir, 'acked.runbook'), [
      '# Widen tokens', '', '```sql {"ack": ["changing-column-type", "require-lock-timeout"]}', 'ALTER TABLE rollups ALTER COLUMN tokens TYPE bigint;', '```', '',
      '```sql', 'BEGIN;', '```', '', '```sql', 'CREATE INDEX CONCURRENTLY i ON rollups(tokens);', '```', '',
    ].join('\n'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 1 on an error-level finding and prints rule, file:line, statement, why and help', async () => {
    const r = await run([join(dir, 'rewrite.sql')]);
    assert.equal(r.code, 1);
    assert.match(r.out, /error\[changing-column-type\]: .*rewrite\.sql:2 \(cell 1, statement 1\)/);
    assert.match(r.out, /\| ALTER TABLE rollups ALTER COLUMN tokens TYPE bigint/);
    assert.match(r.out, /why: {2}Changing a column type/);
    assert.match(r.out, /help: Add a new column/);
    assert.match(r.out, /1 error, /);
  });

  it('lints a file whose name squawk would read as a glob pattern', async () => {
    writeFileSync(join(dir, 'weird[1].sql'), 'ALTER TABLE rollups ALTER COLUMN tokens TYPE bigint;\n');
    const r = await run([join(dir, 'weird[1].sql')], { format: 'json' });
    const fs = JSON.parse(r.out) as Finding[];
    assert.ok(fs.some((f) => f.rule === 'changing-column-type' && f.file === join(dir, 'weird[1].sql') && f.fileLine === 1), r.out + r.err);
  });

  it('exits 0 when only warnings and info remain', async () => {
    const r = await run([join(dir, 'safe.sql')]);
    assert.equal(r.code, 0, r.out);
  });

  it('reads .runbook files: cell options acknowledge rules, file lines point into the file', async () => {
    const r = await run([join(dir, 'acked.runbook')], { format: 'json' });
    const fs = JSON.parse(r.out) as Finding[];
    const ct = fs.find((f) => f.rule === 'changing-column-type');
    assert.deepEqual([ct?.acknowledged, ct?.cell, ct?.fileLine], [true, 1, 4]);
    const cic = fs.find((f) => f.rule === 'cannot-run-in-transaction');
    assert.deepEqual([cic?.cell, cic?.fileLine, cic?.acknowledged], [3, 12, undefined]);
    assert.equal(r.code, 1, 'the CONCURRENTLY-in-transaction error is not acknowledged');
  });

  it('writes SARIF 2.1.0 with one rule per id, results pointing at file lines, and suppressions for acknowledgements', async () => {
    const r = await run([join(dir, 'acked.runbook'), join(dir, 'rewrite.sql')], { format: 'sarif' });
    const log = JSON.parse(r.out) as SarifLog;
    assert.equal(log.version, '2.1.0');
    assert.match(log.$schema, /sarif-2\.1\.0/);
    const run0 = log.runs[0];
    assert.equal(run0.tool.driver.name, 'runbook lint');
    for (const res of run0.results) {
      assert.equal(run0.tool.driver.rules[res.ruleIndex].id, res.ruleId);
      assert.ok(['error', 'warning', 'note'].includes(res.level));
      assert.ok(res.locations[0].physicalLocation.region.startLine >= 1);
      assert.ok(res.message.text.length > 0);
    }
    const acked = run0.results.find((x) => x.ruleId === 'changing-column-type' && x.locations[0].physicalLocation.artifactLocation.uri.endsWith('acked.runbook'));
    assert.equal(acked?.suppressions?.[0].kind, 'inSource');
  });

  it('exits 2 with a message when a file cannot be read or the format is unknown', async () => {
    const missing = await run([join(dir, 'nope.sql')]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /cannot read .*nope\.sql/);
    assert.equal((await run([join(dir, 'safe.sql')], { format: 'xml' })).code, 2);
  });

  it('hides findings below --min-severity', async () => {
    const r = await run([join(dir, 'safe.sql')], { format: 'json', minSeverity: 'warning' });
    assert.ok((JSON.parse(r.out) as Finding[]).every((f) => f.severity !== 'info'));
  });

  it('registers as a commander command', () => {
    const program = new Command();
    registerLint(program);
    const cmd = program.commands.find((c) => c.name() === 'lint');
    assert.ok(cmd);
    assert.deepEqual(cmd.options.map((o) => o.long), ['--connection', '--format', '--min-severity']);
  });
});
