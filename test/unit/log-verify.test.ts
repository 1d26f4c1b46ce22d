// `runbook verify` as CI runs it: the built CLI on real files — passes on an executed runbook, fails naming the first break on each kind of edit.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRunbook, serializeRunbook, verifyRunbook } from '../../src/format';
import { buildScenario } from './log-scenario';

const ROOT = path.join(__dirname, '../../..');
const cli = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/runbook.js'), ...args], { cwd, encoding: 'utf8' });

describe('runbook verify', function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;
  const executed = serializeRunbook(buildScenario());
  before(() => assert.ok(fs.existsSync(path.join(ROOT, 'dist/cli.js')), 'build first: npm run build'));
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-verify-'));
    file = path.join(dir, 'add-status.runbook');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Writes the executed runbook with one edit, runs verify, and returns its exit status and first-break line. */
  const verifyEdited = (edit: (text: string) => string) => {
    const text = edit(executed);
    assert.notEqual(text, executed, 'the edit changed something');
    fs.writeFileSync(file, text);
    const r = cli(dir, 'verify', 'add-status.runbook');
    return { status: r.status, out: r.stdout, err: r.stderr };
  };
  const lineOf = (text: string, needle: string) => text.slice(0, text.indexOf(needle)).split('\n').length;

  it('passes on a runbook with four runs (a rehearsal, a failure, a refusal, a resume) and their attempts', () => {
    fs.writeFileSync(file, executed);
    const r = cli(dir, 'verify', 'add-status.runbook');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, 'add-status.runbook: ok: 31 log events chained, 7 outputs match the log\n');
  });

  it('passes after a checkout converts every line break to CRLF', () => {
    fs.writeFileSync(file, executed.replace(/\n/g, '\r\n'));
    const r = cli(dir, 'verify', 'add-status.runbook');
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('fails on an edited output body, naming its line', () => {
    const r = verifyEdited((t) => t.replace('{"status":"ok","version":"2026.11.3"}', '{"status":"ok","version":"2026.11.4"}'));
    assert.equal(r.status, 1);
    const line = lineOf(executed, '{"status":"ok","version":"2026.11.3"}') - 1;
    assert.match(r.out, new RegExp(`^add-status\\.runbook: FAILED: first break at line ${line}: the output body of cell 7 \\(health\\) was edited after run 20261128T021845Z-40d7 wrote it`));
  });

  it('fails on an edited output record', () => {
    const r = verifyEdited((t) => t.replace('"ms":4210', '"ms":421'));
    assert.equal(r.status, 1);
    assert.match(r.out, /first break at line \d+: the output record of cell 4 \(backfill\) was edited after run 20261128T021845Z-40d7 wrote it/);
    assert.match(r.err, /edited-record/);
  });

  it('fails on a record whose status was changed from rolled back to ok', () => {
    const rb = parseRunbook(serializeRunbook(buildScenario(2)));
    const out = rb.cells.filter((c) => c.kind !== 'markdown')[2].outputs[0];
    assert.equal(out.record.status, 'rolled back');
    out.record = { ...out.record, status: 'ok' };
    const result = verifyRunbook(parseRunbook(serializeRunbook(rb)));
    assert.deepEqual(result.breaks.map((b) => b.kind), ['edited-record']);
    assert.match(result.breaks[0].message, /output record of cell 3 \(begin\) was edited after run 20261128T020041Z-7f3a wrote it/);
  });

  it('fails on a removed attempt, naming the event after the gap', () => {
    const lines = executed.split('\n');
    const k = lines.findIndex((l) => l.includes('"e":"attempt"') && l.includes('"cell":2') && l.includes('20261128T020041Z-7f3a'));
    const r = verifyEdited(() => [...lines.slice(0, k - 1), ...lines.slice(k + 1)].join('\n'));
    assert.equal(r.status, 1);
    // The output that attempt wrote is still in the file: the first break; the gap in the chain follows.
    assert.match(r.out, /first break at line \d+: the output of cell 2 \(add-column\) names run 20261128T020041Z-7f3a, but the log has no attempt of this cell in that run that wrote it/);
    assert.match(r.err, new RegExp(`:${k + 1}: removed-event: the log event at line ${k + 1} does not follow the one at line ${k - 1}: an event between them was removed`));
  });

  it('fails on a cell whose source changed after it ran without a new run', () => {
    const r = verifyEdited((t) => t.replace("UPDATE orders SET status = 'new' WHERE status IS NULL;", "UPDATE orders SET status = 'new';"));
    assert.equal(r.status, 1);
    assert.match(r.out, new RegExp(`first break at line ${lineOf(executed, '```sql {"name":"backfill"')}: the source of cell 4 \\(backfill\\) changed after it ran in run 20261128T021845Z-40d7 .*run it again, or undo the edit`));
  });

  it('fails on an edited log event and on edited log text', () => {
    const ev = verifyEdited((t) => t.replace('"cell":4,"name":"backfill","status":"error"', '"cell":4,"name":"backfill","status":"ok"'));
    assert.equal(ev.status, 1);
    assert.match(ev.err, /edited-event: the log event at line \d+ was edited after it was written/);
    const text = verifyEdited((t) => t.replace('#4 `backfill` · **error**', '#4 `backfill` · **ok**'));
    assert.equal(text.status, 1);
    assert.match(text.out, /first break at line \d+: the migration log's text here does not say what its event records say/);
  });

  it('fails on a removed output, a removed cell and an edited visible line', () => {
    const removed = verifyEdited((t) => t.replace(/<!-- runbook:output \{[^\n]*"name":"validate"|<!-- runbook:output [^\n]*\n> Output: [^\n]*\n```text\n missing\n---------\n {7}0\n\(1 row\)\n```\n(?=\n```bash)/, ''));
    assert.equal(removed.status, 1);
    assert.match(removed.out, /cell 6 \(validate\) has no output, but the log's event at line \d+ \(run 20261128T021845Z-40d7\) wrote one/);
    const cell = verifyEdited((t) => t.replace(/```bash \{"name":"health"\}[\s\S]*?```\n\n<!-- runbook:output [^\n]*\n> Output: [^\n]*\n```text\n[^\n]*\n```\n/, ''));
    assert.equal(cell.status, 1);
    assert.match(cell.err, /removed-cell: the log's attempt at line \d+ ran cell 7, but the runbook has 6 runnable cells/);
    const visible = verifyEdited((t) => t.replace('· `prod-main` · **production** · 4.2 s', '· `sandbox` · sandbox · 4.2 s'));
    assert.equal(visible.status, 1);
    assert.match(visible.err, /output-summary-edited/);
  });

  it('fails when an output is replaced by one from an earlier run', () => {
    const rb = parseRunbook(executed);
    const old = parseRunbook(serializeRunbook(buildScenario(1)));
    const cellOf = (r: typeof rb, n: number) => r.cells.filter((c) => c.kind !== 'markdown')[n - 1];
    cellOf(rb, 6).outputs = cellOf(old, 6).outputs.map((o) => ({ record: o.record, body: o.body }));
    const result = verifyRunbook(parseRunbook(serializeRunbook(rb)));
    assert.deepEqual(result.breaks.map((b) => b.kind), ['stale-output']);
  });

  it('with --base, passes when the log was appended to and fails when it was rewritten', () => {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } });
    git('init', '-q');
    fs.writeFileSync(file, serializeRunbook(buildScenario(2)));
    git('add', '.');
    git('commit', '-qm', 'two runs');
    fs.writeFileSync(file, executed);
    const appended = cli(dir, 'verify', '--base', 'HEAD', 'add-status.runbook');
    assert.equal(appended.status, 0, appended.stdout + appended.stderr);
    assert.match(appended.stdout, /appended to HEAD's log/);
    // Dropping a run from the middle of the log: the chain breaks, and the log is no longer an append to the base.
    const rewritten = verifyEdited(() => executed.slice(0, executed.indexOf('### Run `20261128T020041Z-7f3a`')) + executed.slice(executed.indexOf('### Run `20261128T021512Z-b210`')));
    assert.equal(rewritten.status, 1);
    const base = cli(dir, 'verify', '--base', 'HEAD', 'add-status.runbook');
    assert.match(base.stderr, /rewritten-log: the log event at line \d+ differs from the base's event 11: the log was rewritten, not appended to/);
    const unknown = cli(dir, 'verify', '--base', 'no-such-rev', 'add-status.runbook');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /cannot read add-status\.runbook at no-such-rev with git/);
  });

  it('passes on a template that never ran, and --strict fails on outputs the log does not cover', () => {
    fs.writeFileSync(file, fs.readFileSync(path.join(ROOT, 'examples/add-order-status.runbook')));
    assert.equal(cli(dir, 'verify', 'add-status.runbook').status, 0);
    fs.writeFileSync(file, fs.readFileSync(path.join(ROOT, 'test/fixtures/executed.runbook')));
    const loose = cli(dir, 'verify', 'add-status.runbook');
    assert.equal(loose.status, 0);
    assert.match(loose.stderr, /3 outputs are not covered by the migration log/);
    assert.equal(cli(dir, 'verify', '--strict', 'add-status.runbook').status, 1);
  });

  it('fails when the log was removed from a file whose outputs name their runs', () => {
    const r = verifyEdited((t) => t.slice(0, t.indexOf('<!-- runbook:log -->')));
    assert.equal(r.status, 1);
    assert.match(r.out, /first break at line \d+: the output of cell 1 names run 20261128T020041Z-7f3a, but the file has no migration log: it was removed/);
  });
});
