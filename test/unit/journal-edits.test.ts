// Edits during a run and after a killed one: a record whose cell was edited or deleted is never dropped (issue 9).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRunbook } from '../../src/format';
import { foldJournal, journalPath, RunbookStore, textHash, type JournalEntry } from '../../src/run/journal';

describe('journal: records of edited and deleted cells are kept', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-journal-edits-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const text = '# T\n\n```sql\nselect 1;\n```\n\n```sql\nselect 2;\n```\n';
  const entry = (cell: number, source: string, n: number): JournalEntry => ({ v: 1, cell, sig: JSON.stringify(['sql', 'sql', {}, source]), outputs: [{ record: { status: 'ok', n } }] });

  it('fold: an entry whose cell was edited in place is attached to it, marked recorded_for the old text', () => {
    const rb = parseRunbook(Buffer.from(text.replace('select 2;', 'select 22;')));
    const sig = JSON.stringify([rb.cells[2].kind, rb.cells[2].language ?? null, rb.cells[2].options, 'select 2;']);
    const r = foldJournal(rb, [{ ...entry(2, 'select 2;', 7), sig }]);
    assert.equal(r.unmatched.length, 0);
    assert.equal(r.attached.length, 1);
    assert.equal(rb.cells[2].outputs[0].record.n, 7);
    assert.equal(rb.cells[2].outputs[0].record.recorded_for, textHash('select 2;'));
    assert.notEqual(textHash('select 2;'), textHash('select 22;'));
  });

  it('fold: an entry whose cell is gone (or is now of another kind) is unmatched, not attached to a stranger', () => {
    const rb = parseRunbook(Buffer.from('# T\n\n```sql\nselect 1;\n```\n\n```bash\necho hi\n```\n'));
    const r = foldJournal(rb, [entry(2, 'select 2;', 7), entry(9, 'select 9;', 9)]);
    assert.equal(r.attached.length, 0);
    assert.equal(r.unmatched.length, 2);
    assert.equal(rb.cells[2].outputs.length, 0);
  });

  it('fold: a deleted cell whose place another SQL cell took keeps its record aside, not on that cell', () => {
    // Cell 2 (`select 2;`) was deleted; cell 3 (`select pg_sleep(30);`) moved up into index 2.
    const rb = parseRunbook(Buffer.from('# T\n\n```sql\nselect 1;\n```\n\n```sql\nselect pg_sleep(30);\n```\n'));
    const sig = (src: string): string => JSON.stringify(['sql', rb.cells[1].language ?? null, {}, src]);
    const r = foldJournal(rb, [{ ...entry(2, 'select 2;', 2), sig: sig('select 2;') }]);
    assert.equal(r.attached.length, 0);
    assert.equal(r.unmatched.length, 1);
    assert.equal(rb.cells[2].outputs.length, 0);
  });

  it('open after a kill: an edited cell keeps its record (recorded_for), a deleted one goes to FILE.journal.kept-<ms>, with warnings', () => {
    const file = path.join(dir, 'k.runbook');
    fs.writeFileSync(file, text);
    const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
    store.runbook.cells[1].outputs = [{ record: { status: 'ok', n: 1 } }];
    store.record(1);
    store.runbook.cells[2].outputs = [{ record: { status: 'ok', n: 2 } }];
    store.record(2);
    // No close(): the process "died". Then someone edits cell 1 and deletes cell 2.
    fs.writeFileSync(file, '# T\n\n```sql\nselect 1 + 0;\n```\n');
    const again = RunbookStore.open(file);
    again.store.close();
    const rb = parseRunbook(fs.readFileSync(file));
    assert.equal(rb.cells[1].outputs[0].record.n, 1);
    assert.equal(rb.cells[1].outputs[0].record.recorded_for, textHash('select 1;'));
    const kept = fs.readdirSync(dir).filter((f) => f.startsWith('k.runbook.journal.kept-'));
    assert.equal(kept.length, 1, fs.readdirSync(dir).join(', '));
    const lines = fs.readFileSync(path.join(dir, kept[0]), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as JournalEntry);
    assert.deepEqual(lines.map((l) => l.outputs[0].record.n), [2]);
    assert.equal(again.warnings.length, 2);
    assert.match(again.warnings[0], /edited after it ran; its record is kept on it, marked "recorded_for":"sha256:[0-9a-f]{16}"/);
    assert.match(again.warnings[1], /1 record\(s\) of cells no longer in the file .* are kept in .*kept-\d+, not dropped/);
    assert.ok(!fs.existsSync(journalPath(file)));
  });

  it('checkpoint during a run: a cell edited on disk keeps the output recorded after the edit, and the warning is logged', () => {
    const file = path.join(dir, 'c.runbook');
    fs.writeFileSync(file, text);
    const warnings: string[] = [];
    const { store } = RunbookStore.open(file, { checkpointMs: 60_000, onWarning: (w) => warnings.push(w) });
    // Another program edits cell 2 while cell 2 runs (size changes, so the store sees the edit).
    fs.writeFileSync(file, text.replace('select 2;', 'select 2, 3;'));
    store.runbook.cells[2].outputs = [{ record: { status: 'ok', n: 2 } }];
    store.record(2);
    store.checkpoint();
    const rb = parseRunbook(fs.readFileSync(file));
    assert.equal(rb.cells[2].source, 'select 2, 3;', 'the other edit is kept');
    assert.equal(rb.cells[2].outputs[0]?.record.n, 2, 'the output is not dropped');
    assert.equal(rb.cells[2].outputs[0].record.recorded_for, textHash('select 2;'));
    assert.equal(warnings.length, 1);
    store.close();
  });
});
