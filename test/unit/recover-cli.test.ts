// `runbook recover`, and what check, verify and log say about a journal an interrupted run left: the built CLI on
// real files, with journals written by the real RunbookStore of a run that "died" (no close()).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attemptOf, parseRunbook, type LogEvent } from '../../src/format';
import { RunbookStore, journalPath } from '../../src/run/journal';
import { lockPathFor, processStartTime } from '../../src/run/run-lock';

const ROOT = path.join(__dirname, '../../..');
const cli = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/runbook.js'), ...args], { cwd, encoding: 'utf8', env: { ...process.env, RUNBOOK_OPERATOR: 'dba' } });

const TEXT = '# Recover\n\n```sql\nselect 1;\n```\n\n```sql\nselect 2;\n```\n';
const RUN = '20261202T190000Z-dead';
const runEvent: LogEvent = { e: 'run', run: { id: RUN, command: 'runbook run', by: 'dba', started: '2026-12-02T19:00:00.000Z', connection: 'staging', environment: 'staging' } };

/** A run that recorded cell 1 (its attempt too) and died: the journal holds them, the file does not. */
function killedRun(file: string, opts: { startedCell2?: boolean; end?: boolean } = {}): void {
  fs.writeFileSync(file, TEXT);
  const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
  store.logEvent(runEvent);
  const record = { status: 'ok', run: RUN, started: '2026-12-02T19:00:01.000Z', ms: 3 };
  store.runbook.cells[1].outputs = [{ record, body: ' ?column? \n----------\n        1\n(1 row)' }];
  store.record(1, false, { event: { e: 'attempt', attempt: attemptOf(record, { number: 1 }) } });
  if (opts.startedCell2) store.started(2, 2, RUN, new Date('2026-12-02T19:00:02.000Z'));
  if (opts.end) store.logEvent({ e: 'end', end: { run: RUN, ended: '2026-12-02T19:00:03.000Z', status: 'ok', exit: 0, cells: { ok: 1 } } });
}

describe('runbook recover, and an interrupted run\'s journal seen by check, verify and log', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => {
    assert.ok(fs.existsSync(path.join(ROOT, 'dist/cli.js')), 'build first: npm run build');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-recover-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('verify fails and check and log warn while the journal holds records the file lacks; recover folds them, after which verify passes', () => {
    const file = path.join(dir, 'r.runbook');
    killedRun(file);
    const before = cli(dir, 'verify', 'r.runbook');
    assert.equal(before.status, 1, before.stdout + before.stderr);
    assert.match(before.stdout, /r\.runbook: INCOMPLETE: an interrupted run left r\.runbook\.journal with 1 finished output and 2 log events not yet in the file: `runbook recover r\.runbook` folds them in/);
    assert.doesNotMatch(before.stdout, /: ok:/, 'not also called ok');
    assert.match(cli(dir, 'check', 'r.runbook').stderr, /warning: an interrupted run left r\.runbook\.journal with 1 finished output and 2 log events/);
    const log = cli(dir, 'log', 'r.runbook');
    assert.equal(log.status, 0);
    assert.match(log.stderr, /warning: an interrupted run left r\.runbook\.journal/);

    const r = cli(dir, 'recover', 'r.runbook');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /r\.runbook: folded 1 output and 2 log events from an interrupted run's journal into the file\./);
    assert.match(r.stdout, /the journal is removed: the file holds the whole record/);
    assert.ok(!fs.existsSync(journalPath(file)));
    assert.ok(!fs.existsSync(lockPathFor(file)), 'the lock is released');
    const after = cli(dir, 'verify', 'r.runbook');
    assert.equal(after.status, 0, after.stdout + after.stderr);
    const rb = parseRunbook(fs.readFileSync(file));
    assert.equal(rb.cells[1].outputs[0].record.status, 'ok');
    assert.deepEqual(rb.log?.events.map((e) => e.e), ['run', 'attempt']);
    // Nothing left to do: said, and nothing written.
    const bytes = fs.readFileSync(file);
    const again = cli(dir, 'recover', 'r.runbook');
    assert.equal(again.status, 0);
    assert.match(again.stdout, /no journal beside it .*: nothing to recover/);
    assert.deepEqual(fs.readFileSync(file), bytes);
  });

  it('a journal whose records the file already holds (killed after the checkpoint\'s rename): recover says so and adds nothing', () => {
    const file = path.join(dir, 'h.runbook');
    killedRun(file);
    const journal = fs.readFileSync(journalPath(file));
    RunbookStore.open(file).store.close();
    fs.writeFileSync(journalPath(file), journal);
    const bytes = fs.readFileSync(file);
    assert.doesNotMatch(cli(dir, 'check', 'h.runbook').stderr, /interrupted run/, 'nothing is missing from the file, so nothing to warn about');
    const r = cli(dir, 'recover', 'h.runbook');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /the file already held every record of the journal/);
    assert.deepEqual(fs.readFileSync(file), bytes, 'no event appended twice');
    assert.ok(!fs.existsSync(journalPath(file)));
  });

  it('a cell started and never finished stays in the journal for the next run to settle against the database, and verify still says so', () => {
    const file = path.join(dir, 'u.runbook');
    killedRun(file, { startedCell2: true });
    const r = cli(dir, 'recover', 'u.runbook');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /cell 2 started at 2026-12-02T19:00:02\.000Z in run 20261202T190000Z-dead and never finished: whether its work was done is for the database to say\. The next `runbook run u\.runbook` against the same database records it as unknown/);
    assert.match(fs.readFileSync(journalPath(file), 'utf8'), /"t":"started"/);
    assert.doesNotMatch(fs.readFileSync(journalPath(file), 'utf8'), /"v":1/, 'the outputs are in the file now, not the journal');
    const v = cli(dir, 'verify', 'u.runbook');
    assert.equal(v.status, 1);
    assert.match(v.stdout, /INCOMPLETE: an interrupted run left u\.runbook\.journal with 1 cell it started and never finished: the next `runbook run u\.runbook` against the same database records what became of it/);
  });

  it('a run killed after it recorded its end: its records come back, and the log says its process did not end as the end says', () => {
    const file = path.join(dir, 'e.runbook');
    killedRun(file, { end: true });
    const r = cli(dir, 'recover', 'e.runbook');
    assert.equal(r.status, 0, r.stderr);
    const events = parseRunbook(fs.readFileSync(file)).log?.events ?? [];
    assert.deepEqual(events.map((e) => e.e), ['run', 'attempt', 'end', 'warning']);
    const w = events[3];
    assert.ok(w.e === 'warning' && w.warning.run === RUN && w.warning.about === 'interrupted', JSON.stringify(w));
    assert.match(w.warning.message, /recorded its end \(ok\), but its process ended before its records were written into the file .* The exit status its end gives \(0\) is what the run would have ended with; what the process exited with is not known\./);
    assert.equal(cli(dir, 'verify', 'e.runbook').status, 0);
  });

  it('refuses while a run of the file holds its lock, and writes nothing', () => {
    const file = path.join(dir, 'l.runbook');
    killedRun(file);
    fs.writeFileSync(lockPathFor(file), JSON.stringify({ pid: process.pid, start: processStartTime(process.pid), host: os.hostname(), run: 'R-live', operator: 'bob', started: new Date().toISOString() }) + '\n');
    const bytes = fs.readFileSync(file);
    const r = cli(dir, 'recover', 'l.runbook');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /runbook recover: .*is being run already: pid \d+ .*run R-live, operator bob/);
    assert.deepEqual(fs.readFileSync(file), bytes);
    assert.ok(fs.existsSync(journalPath(file)));
  });
});
