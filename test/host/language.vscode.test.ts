// Extension-host test: SQL cells are in the PostgreSQL language (not VS Code's "MS SQL"), and cells in VS Code's own `sql` still run and save as sql fences.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { parseRunbook } from '../../src/format';
import type { RunbookApi } from '../../src/vscode/extension';
import { EXTENSION_ID, scratchCopy, waitFor, workspaceRoot } from './helpers';

const CONTROLLER_ID = 'runbook-notebooks.runner';

describe('SQL cells in the PostgreSQL language', function () {
  this.timeout(60_000);
  let scratch: string | undefined;
  after(async () => {
    for (const e of vscode.window.visibleNotebookEditors) if (e.notebook.isDirty) await e.notebook.save();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    if (scratch) fs.rmSync(scratch, { force: true });
  });

  it('names the language PostgreSQL and gives it to every SQL cell', async () => {
    const ext = vscode.extensions.getExtension<RunbookApi>(EXTENSION_ID)!;
    await ext.activate();
    assert.ok((await vscode.languages.getLanguages()).includes('postgres'), 'VS Code knows the postgres language');
    // VS Code shows a language by its first alias (the language picker and the cell's language label).
    const contributed = (ext.packageJSON as { contributes: { languages: { id: string; aliases?: string[] }[] } }).contributes.languages;
    assert.strictEqual(contributed.find((l) => l.id === 'postgres')?.aliases?.[0], 'PostgreSQL');
    const doc = await vscode.workspace.openNotebookDocument(vscode.Uri.file(path.join(workspaceRoot(), 'exec', 'language.runbook')));
    const code = doc.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
    assert.deepStrictEqual(code.map((c) => c.document.languageId), ['postgres', 'postgres']);
  });

  it('runs a cell switched to VS Code\'s sql language and a new cell, and saves both as sql fences', async () => {
    await vscode.extensions.getExtension<RunbookApi>(EXTENSION_ID)!.activate();
    scratch = scratchCopy(path.join(workspaceRoot(), 'exec', 'language.runbook'), 'lang');
    await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(scratch), 'runbook');
    const doc = vscode.window.activeNotebookEditor?.notebook;
    assert.ok(doc && doc.uri.fsPath === scratch);
    await vscode.commands.executeCommand('notebook.selectKernel', { id: CONTROLLER_ID, extension: EXTENSION_ID });
    const msSql = doc.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code)[1];
    await vscode.languages.setTextDocumentLanguage(msSql.document, 'sql');
    await waitFor(() => doc.cellAt(msSql.index).document.languageId === 'sql', 'the cell to be in VS Code\'s sql language');
    const edit = new vscode.WorkspaceEdit();
    edit.set(doc.uri, [vscode.NotebookEdit.insertCells(doc.cellCount, [new vscode.NotebookCellData(vscode.NotebookCellKind.Code, "SELECT 'new' AS language;", 'postgres')])]);
    assert.ok(await vscode.workspace.applyEdit(edit));

    await vscode.commands.executeCommand('notebook.execute', doc.uri);
    const code = doc.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
    assert.strictEqual(code.length, 3);
    await waitFor(() => code.every((c) => c.executionSummary?.success !== undefined), 'every cell to finish');
    assert.deepStrictEqual(code.map((c) => c.executionSummary?.success), [true, true, true]);

    assert.ok(await doc.save());
    const text = fs.readFileSync(scratch, 'utf8');
    assert.strictEqual(text.match(/^```sql/gm)?.length, 3, text);
    const saved = parseRunbook(Buffer.from(text)).cells.filter((c) => c.kind === 'sql');
    assert.deepStrictEqual(saved.map((c) => c.outputs.map((o) => o.record.status)), [['ok'], ['ok'], ['ok']]);
    assert.deepStrictEqual(saved.map((c) => /'(\w+)' AS language/.exec(c.source)?.[1]), ['postgres', 'sql', 'new']);
  });
});
