// `runbook check` as a user runs it: the built CLI on real files, exit statuses and messages.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '../../..');
const run = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/runbook.js'), ...args], { cwd: ROOT, encoding: 'utf8' });

describe('runbook check', function () {
  this.timeout(20_000);
  before(() => assert.ok(fs.existsSync(path.join(ROOT, 'dist/cli.js')), 'build first: npm run build'));

  it('passes on every example and every fixture, strict for the examples', () => {
    const examples = fs.readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.runbook')).map((f) => `examples/${f}`);
    const fixtures = fs.readdirSync(path.join(ROOT, 'test/fixtures')).filter((f) => f.endsWith('.runbook')).map((f) => `test/fixtures/${f}`);
    assert.ok(examples.length >= 2);
    const strict = run('check', '--strict', ...examples);
    assert.equal(strict.status, 0, strict.stderr);
    const all = run('check', ...fixtures);
    assert.equal(all.status, 0, all.stderr);
    assert.match(all.stdout, /executed\.runbook: 4 cells \(1 markdown, 1 sql, 1 shell, 1 checklist\), 3 outputs — ok/);
  });

  it('reports problems with file and line, and fails with --strict on errors', () => {
    const r = run('check', '--strict', 'test/fixtures/malformed.runbook');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /test\/fixtures\/malformed\.runbook:9: error: output record is not valid JSON/);
    assert.match(r.stderr, /malformed\.runbook:5: warning: unknown cell option "colour"/);
    assert.match(r.stderr, /malformed\.runbook:18: error: sql fence opened here is never closed/);
  });

  it('exits 2 on usage errors and 1 on a missing file', () => {
    assert.equal(run('check').status, 2);
    assert.equal(run('check', '--no-such-flag', 'x').status, 2);
    const missing = run('check', path.join(os.tmpdir(), 'does-not-exist.runbook'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot read: no such file/);
  });
});
