// Extension-host tests of the NotebookSerializer: open → save keeps bytes; an edit rewrites only its cell.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { diffWindow, openRunbook, runbookFiles, scratchCopy, touch } from './helpers';

const files = (): string[] => runbookFiles('roundtrip', 'examples', 'fixtures');

describe('NotebookSerializer', () => {
  const created: string[] = [];
  after(() => {
    for (const f of created) fs.rmSync(f, { force: true });
  });

  it('finds runbooks to round-trip in the workspace', () => {
    assert.ok(files().length >= 3, `expected runbooks in roundtrip/, examples/, fixtures/; found ${files().length}`);
  });

  it('saves every untouched runbook byte for byte', async function () {
    this.timeout(120_000);
    const failures: string[] = [];
    for (const original of files()) {
      const copy = scratchCopy(original, 'roundtrip');
      created.push(copy);
      const before = fs.readFileSync(copy);
      const doc = await openRunbook(copy);
      await touch(doc);
      assert.ok(doc.isDirty, `${path.basename(original)} is dirty before save`);
      assert.ok(await doc.save(), `${path.basename(original)} saved`);
      const after = fs.readFileSync(copy);
      if (!before.equals(after)) {
        const { prefix } = diffWindow(before, after);
        failures.push(`${path.relative(path.dirname(path.dirname(original)), original)}: first difference at byte ${prefix}: ` +
          `${JSON.stringify(before.subarray(prefix, prefix + 40).toString('latin1'))} became ${JSON.stringify(after.subarray(prefix, prefix + 40).toString('latin1'))}`);
      }
    }
    assert.deepStrictEqual(failures, []);
  });

  it('rewrites only the edited cell when one cell changes', async () => {
    const original = runbookFiles('roundtrip').find((f) => f.endsWith('crlf.runbook'));
    assert.ok(original, 'roundtrip/crlf.runbook is in the workspace');
    const copy = scratchCopy(original, 'edit');
    created.push(copy);
    const before = fs.readFileSync(copy);
    const doc = await openRunbook(copy);
    const sqlCell = doc.getCells().find((c) => c.document.languageId === 'postgres');
    assert.ok(sqlCell, 'the runbook has a SQL cell');
    const edit = new vscode.WorkspaceEdit();
    const text = sqlCell.document.getText();
    edit.replace(sqlCell.document.uri, new vscode.Range(sqlCell.document.positionAt(0), sqlCell.document.positionAt(text.length)), 'SELECT 2 AS two;');
    assert.ok(await vscode.workspace.applyEdit(edit));
    assert.ok(await doc.save());
    const after = fs.readFileSync(copy);
    const { prefix, suffix } = diffWindow(before, after);
    const changedBefore = before.subarray(prefix, before.length - suffix).toString('utf8');
    const changedAfter = after.subarray(prefix, after.length - suffix).toString('utf8');
    // Only the statement inside the fence changed; the fence, its options, the CRLF line breaks and the output stayed.
    assert.strictEqual(changedBefore, '1 AS one');
    assert.strictEqual(changedAfter, '2 AS two');
  });

  it('shows SQL, shell and checklist cells as code and Markdown as markup', async () => {
    const original = runbookFiles('roundtrip').find((f) => f.endsWith('crlf.runbook'));
    assert.ok(original);
    const doc = await openRunbook(original);
    const kinds = doc.getCells().map((c) => (c.kind === vscode.NotebookCellKind.Markup ? 'markdown' : c.document.languageId));
    assert.deepStrictEqual(kinds, ['markdown', 'runbook-checklist', 'postgres', 'markdown', 'shellscript']);
    const sql = doc.getCells()[2];
    assert.strictEqual(sql.outputs.length, 1, 'the saved output is shown under its cell');
    const mimes = sql.outputs[0].items.map((i) => i.mime);
    assert.deepStrictEqual(mimes, ['application/vnd.runbook.result+json', 'text/plain']);
    assert.strictEqual(new TextDecoder().decode(sql.outputs[0].items[1].data), ' one\n-----\n   1\n(1 row)');
    assert.strictEqual(sql.executionSummary?.success, true);
  });
});
