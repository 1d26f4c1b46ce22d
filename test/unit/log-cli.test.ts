// `runbook log` and estimates as a user meets them: the built CLI on real files.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkOptions, parseEstimate, parseRunbook, renderLogMarkdown, serializeRunbook } from '../../src/format';
import { buildScenario } from './log-scenario';

const ROOT = path.join(__dirname, '../../..');
const cli = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/runbook.js'), ...args], { cwd, encoding: 'utf8' });

describe('runbook log', function () {
  this.timeout(20_000);
  let dir: string;
  before(() => {
    assert.ok(fs.existsSync(path.join(ROOT, 'dist/cli.js')), 'build first: npm run build');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-log-'));
    fs.writeFileSync(path.join(dir, 'x.runbook'), serializeRunbook(buildScenario()));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints the log as Markdown: the same text VS Code shows, without the hidden event lines', () => {
    const r = cli(dir, 'log', 'x.runbook');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, renderLogMarkdown(parseRunbook(fs.readFileSync(path.join(dir, 'x.runbook'))).log!.events, 'Add a status column to orders'));
    assert.ok(r.stdout.startsWith('## Migration log: Add a status column to orders\n'));
    assert.ok(!r.stdout.includes('<!--'));
    assert.equal(r.stderr, '');
  });

  it('prints JSON with every run and its attempts in order', () => {
    const r = cli(dir, 'log', 'x.runbook', '--format', 'json');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { runs: { id: string; end: { status: string }; attempts: { cell: number; status: string }[]; estimate?: string }[] };
    assert.deepEqual(j.runs.map((x) => [x.id, x.end.status, x.attempts.map((a) => `${a.cell}:${a.status}`).join(' ')]), [
      ['20261127T150002Z-1c9e', 'ok', '1:ok 2:ok 3:ok 4:ok 5:ok 6:ok 7:ok'],
      ['20261128T020041Z-7f3a', 'failed', '1:ok 2:ok 3:uncommitted 4:error 5:skipped 6:skipped 7:skipped'],
      ['20261128T021512Z-b210', 'refused', '5:refused'],
      ['20261128T021845Z-40d7', 'ok', '3:uncommitted 4:uncommitted 5:ok 6:ok 7:ok'],
    ]);
    assert.deepEqual(j.runs.map((x) => x.estimate), ['within', 'within', 'within', 'within']);
  });

  it('says what the events say when the log text was edited, and warns', () => {
    const edited = fs.readFileSync(path.join(dir, 'x.runbook'), 'utf8').replace('#4 `backfill` · **error**', '#4 `backfill` · **ok**');
    fs.writeFileSync(path.join(dir, 'edited.runbook'), edited);
    const r = cli(dir, 'log', 'edited.runbook');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /#4 `backfill` · \*\*error\*\*/);
    assert.match(r.stderr, /edited\.runbook:\d+: warning: the migration log's text here does not say what its event records say.*\[log-text-edited\]/);
  });

  it('prints "no run recorded yet" for a template, and fails clearly on bad input', () => {
    const t = cli(ROOT, 'log', 'examples/add-order-status.runbook');
    assert.equal(t.status, 0);
    assert.match(t.stdout, /No run recorded yet\./);
    assert.equal(cli(dir, 'log', 'x.runbook', '--format', 'xml').status, 2);
    const missing = cli(dir, 'log', 'nope.runbook');
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /nope\.runbook: cannot read: no such file/);
  });
});

describe('estimates', () => {
  it('reads durations written as hours, minutes and seconds', () => {
    const ok: [string, number][] = [['15m', 900_000], ['1h30m', 5_400_000], ['1h 30m', 5_400_000], ['90s', 90_000], ['45min', 2_700_000], ['2h', 7_200_000], ['1.5h', 5_400_000], ['1m30s', 90_000]];
    for (const [text, ms] of ok) assert.deepEqual(parseEstimate(text), { ok: true, ms }, text);
  });

  it('refuses free text, bare numbers, zero and units out of order, saying what to write', () => {
    for (const v of ['about 15 minutes', '15', 15, '0m', '30m1h', '1:30', '', '15 m 10', 'PT15M', null, ['15m']]) {
      const r = parseEstimate(v);
      assert.equal(r.ok, false, String(v));
      if (!r.ok) assert.match(r.error, /write a duration such as 15m, 1h30m or 90s/);
    }
  });

  it('is reported by runbook check in front matter and in a cell option, with its line', () => {
    const rb = parseRunbook('---\ntitle: T\nestimate: about a quarter of an hour\n---\n\n```sql {"estimate":"soon"}\nselect 1;\n```\n');
    assert.deepEqual(rb.problems.map((p) => [p.line, p.code, p.severity]), [[3, 'invalid-estimate', 'warning'], [6, 'invalid-cell-options', 'warning']]);
    assert.match(rb.problems[0].message, /estimate "about a quarter of an hour" is not a duration/);
    assert.deepEqual(checkOptions('sql', { estimate: '90s' }), []);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-est-'));
    try {
      fs.writeFileSync(path.join(dir, 'e.runbook'), '---\nestimate: 15\n---\n\n# T\n');
      const r = cli(dir, 'check', 'e.runbook');
      assert.equal(r.status, 0);
      assert.match(r.stderr, /e\.runbook:2: warning: front matter: estimate 15 has no unit: write a duration such as 15m, 1h30m or 90s.*\[invalid-estimate\]/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
