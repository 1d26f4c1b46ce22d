// Durable records: the journal, atomic checkpoints and recovery after a crash.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attemptOf, parseRunbook, verifyRunbook, type LogEvent, type RunRecord } from '../../src/format';
import { RunbookStore, journalPath, readJournal } from '../../src/run/journal';

describe('durable records (journal + checkpoints)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-journal-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const text = '# T\n\n```sql\nselect 1;\n```\n\n```sql\nselect 2;\n```\n';

  it('appends each recorded cell to the journal before any checkpoint', () => {
    const file = path.join(dir, 'a.runbook');
    fs.writeFileSync(file, text);
    const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
    store.runbook.cells[1].outputs = [{ record: { status: 'ok' }, body: 'SELECT 1' }];
    store.record(1);
    assert.equal(fs.readFileSync(file, 'utf8'), text, 'the runbook is not rewritten yet');
    assert.equal(readJournal(journalPath(file)).length, 1);
    store.close();
    assert.ok(!fs.existsSync(journalPath(file)));
    assert.match(fs.readFileSync(file, 'utf8'), /runbook:output \{"status":"ok"\}/);
  });

  it('folds a journal left by a killed run into the file on the next open', () => {
    const file = path.join(dir, 'b.runbook');
    fs.writeFileSync(file, text);
    const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
    store.runbook.cells[1].outputs = [{ record: { status: 'ok', n: 1 } }];
    store.record(1);
    store.runbook.cells[2].outputs = [{ record: { status: 'ok', n: 2 } }];
    store.record(2);
    // No close(): the process "died". A torn last line is ignored.
    fs.appendFileSync(journalPath(file), '{"v":1,"cell":2,"sig"');
    const again = RunbookStore.open(file);
    assert.equal(again.recovered, 2);
    const rb = parseRunbook(fs.readFileSync(file));
    assert.deepEqual(rb.cells.slice(1).map((c) => c.outputs[0]?.record.n), [1, 2]);
    assert.ok(!fs.existsSync(journalPath(file)));
    again.store.close();
  });

  it('puts a journal entry back on its cell even when cells moved', () => {
    const file = path.join(dir, 'c.runbook');
    fs.writeFileSync(file, text);
    const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
    store.runbook.cells[2].outputs = [{ record: { status: 'ok', moved: true } }];
    store.record(2);
    // Someone inserts a cell at the top before the journal is folded.
    fs.writeFileSync(file, '```sql\nselect 0;\n```\n\n' + text);
    RunbookStore.open(file).store.close();
    const rb = parseRunbook(fs.readFileSync(file));
    const cell = rb.cells.find((c) => c.source === 'select 2;')!;
    assert.equal(cell.outputs[0].record.moved, true);
  });

  it('keeps the file mode and leaves no temporary file behind', () => {
    const file = path.join(dir, 'd.runbook');
    fs.writeFileSync(file, text, { mode: 0o640 });
    fs.chmodSync(file, 0o640);
    const { store } = RunbookStore.open(file);
    store.runbook.cells[1].outputs = [{ record: { status: 'ok' } }];
    store.record(1);
    store.close();
    assert.equal(fs.statSync(file).mode & 0o777, 0o640);
    assert.deepEqual(fs.readdirSync(dir), ['d.runbook']);
  });
});

describe('a run killed between rewriting the file and emptying the journal', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-journal-twice-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const text = '# T\n\n```sql\nselect 1;\n```\n\n```sql\nselect 2;\n```\n';
  const run = (id: string): LogEvent => ({ e: 'run', run: { id, command: 'runbook run', by: 'dba', started: '2026-12-02T18:25:59.000Z', connection: 'sandbox', environment: 'sandbox' } satisfies RunRecord });
  const warning = (id: string, message: string): LogEvent => ({ e: 'warning', warning: { run: id, at: '2026-12-02T18:26:00.000Z', about: 'estimate', message } });
  /** Every event's hash, in order: a duplicate shows as a repeated hash. */
  const hashes = (file: string): string[] => (parseRunbook(fs.readFileSync(file)).log?.events ?? []).map((e) => String(e.h));

  it('folds the journal a checkpoint had already written into the file once, not twice', () => {
    const file = path.join(dir, 'a.runbook');
    fs.writeFileSync(file, text);
    const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
    store.logEvent(run('R1'));
    const record = { status: 'ok', run: 'R1' };
    store.runbook.cells[1].outputs = [{ record }];
    store.record(1, false, { event: { e: 'attempt', attempt: attemptOf(record, { number: 1 }) } });
    store.logEvent(warning('R1', 'first'));
    // The checkpoint renames the new file into place, then the process is killed before it removes the journal.
    const journal = fs.readFileSync(journalPath(file));
    store.checkpoint();
    fs.writeFileSync(journalPath(file), journal);
    const before = hashes(file);
    assert.equal(before.length, 3);
    const next = RunbookStore.open(file, { checkpointMs: 60_000 });
    assert.deepEqual(hashes(file), before, 'the events the file holds are not appended again');
    assert.ok(!fs.existsSync(journalPath(file)));
    // The next run's events follow the last one, and the log verifies.
    next.store.logEvent(run('R2'));
    next.store.close();
    assert.equal(new Set(hashes(file)).size, 4);
    const v = verifyRunbook(parseRunbook(fs.readFileSync(file)));
    assert.deepEqual(v.breaks, []);
  });

  it('folds a journal once when the run that folded it was killed before it emptied it, and keeps a deleted cell\'s record once', () => {
    const file = path.join(dir, 'b.runbook');
    fs.writeFileSync(file, text + '\n```sql\nselect 3;\n```\n');
    const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
    store.logEvent(run('R1'));
    store.runbook.cells[1].outputs = [{ record: { status: 'ok', run: 'R1' } }];
    store.record(1);
    store.runbook.cells[3].outputs = [{ record: { status: 'ok', run: 'R1' } }];
    store.record(3);
    // Killed with everything in the journal; then someone deletes cell 3 from the file.
    fs.writeFileSync(file, text);
    const journal = fs.readFileSync(journalPath(file));
    RunbookStore.open(file).store.close();
    const once = fs.readFileSync(file);
    const kept = fs.readdirSync(dir).filter((f) => f.includes('.kept-'));
    assert.equal(kept.length, 1);
    // The next run folded it and was killed before the journal was removed: the run after folds the same journal.
    fs.writeFileSync(journalPath(file), journal);
    const again = RunbookStore.open(file);
    again.store.close();
    assert.deepEqual(fs.readFileSync(file), once, 'the file is the same as after the first fold');
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.kept-')), kept, 'the deleted cell\'s record is kept once');
    assert.match(again.warnings.join('\n'), new RegExp(`kept in .*${kept[0].replace(/[.]/g, '\\.')}`));
  });
});

describe('durable records when the file is edited during the run', () => {
  it('keeps the other edit at every later checkpoint', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-journal-edit-'));
    try {
      const file = path.join(dir, 'e.runbook');
      fs.writeFileSync(file, '```sql\nselect 1;\n```\n\n```sql\nselect 2;\n```\n');
      const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
      store.runbook.cells[0].outputs = [{ record: { status: 'ok', n: 1 } }];
      store.record(0);
      store.checkpoint();
      // Someone adds a note at the top while the run goes on.
      fs.writeFileSync(file, '# Note added during the run\n\n' + fs.readFileSync(file, 'utf8'));
      store.runbook.cells[1].outputs = [{ record: { status: 'ok', n: 2 } }];
      store.record(1);
      store.checkpoint();
      store.runbook.cells[1].outputs = [{ record: { status: 'ok', n: 3 } }];
      store.record(1);
      store.close();
      const rb = parseRunbook(fs.readFileSync(file));
      assert.equal(rb.cells[0].source, '# Note added during the run');
      assert.deepEqual(rb.cells.slice(1).map((c) => c.outputs[0]?.record.n), [1, 3]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('journaled shell process groups', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-journal-groups-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const text = '# T\n\n```sql\nselect 1;\n```\n';

  it('journals a shell cell\'s process group and gives it back to the next run, with its cell, run and host', () => {
    const file = path.join(dir, 'g.runbook');
    fs.writeFileSync(file, '# G\n\n```bash\nsleep 300 &\n```\n\n```sql\nselect 2;\n```\n');
    const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
    const index = store.runbook.cells.findIndex((c) => c.kind === 'shell');
    store.started(index, 1, 'RUN-A');
    store.shellGroup(index, 1, 'RUN-A', { pgid: 4242, start: '777', host: 'box' }, new Date('2026-01-01T00:00:00Z'));
    // The process is killed here: no output, no checkpoint.
    const lines = fs.readFileSync(journalPath(file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { t?: string });
    assert.deepEqual(lines.map((l) => l.t), ['started', 'pgid']);
    const next = RunbookStore.open(file);
    assert.deepEqual(next.groups, [{ index, number: 1, run: 'RUN-A', pgid: 4242, start: '777', host: 'box', at: '2026-01-01T00:00:00.000Z' }]);
    assert.equal(next.unfinished.length, 1);
    next.store.close();
  });

  it('ignores a pgid entry that is not one this tool wrote (pgid 1, or none)', () => {
    const file = path.join(dir, 'h.runbook');
    fs.writeFileSync(file, text);
    fs.writeFileSync(journalPath(file), [{ v: 2, t: 'pgid', cell: 0, sig: 'x', number: 1, run: 'R', pgid: 1, host: 'h', at: 'now' }, { v: 2, t: 'pgid', cell: 0, sig: 'x', number: 1, run: 'R', host: 'h', at: 'now' }].map((e) => JSON.stringify(e)).join('\n') + '\n');
    assert.deepEqual(RunbookStore.open(file).groups, []);
  });
});
