// Extension-host tests: safety findings appear as diagnostics on the cells before anything runs, and follow edits.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { EXTENSION_ID, scratchCopy, waitFor, workspaceRoot } from './helpers';

function codes(cell: vscode.NotebookCell): { code: string; severity: vscode.DiagnosticSeverity; line: number }[] {
  return vscode.languages.getDiagnostics(cell.document.uri).map((d) => ({ code: String(d.code), severity: d.severity, line: d.range.start.line }));
}

describe('diagnostics', function () {
  this.timeout(60_000);

  it('flags a dangerous statement on its line before it runs, and an acknowledged one as a hint', async () => {
    await vscode.extensions.getExtension(EXTENSION_ID)?.activate();
    const file = scratchCopy(path.join(workspaceRoot(), 'exec', 'lint.runbook'), 'lint');
    try {
      await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(file), 'runbook');
      const doc = vscode.window.activeNotebookEditor!.notebook;
      const [drop, acked] = doc.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
      await waitFor(() => codes(drop).some((d) => d.code === 'ban-drop-table'), 'the ban-drop-table finding', 30_000);
      assert.deepStrictEqual(codes(drop).filter((d) => d.code === 'ban-drop-table'), [{ code: 'ban-drop-table', severity: vscode.DiagnosticSeverity.Warning, line: 1 }]);
      await waitFor(() => codes(acked).some((d) => d.code === 'ban-drop-table'), 'the acknowledged finding');
      assert.strictEqual(codes(acked).find((d) => d.code === 'ban-drop-table')?.severity, vscode.DiagnosticSeverity.Hint);

      // Editing the cell into something harmless clears its finding.
      const edit = new vscode.WorkspaceEdit();
      edit.replace(drop.document.uri, new vscode.Range(0, 0, drop.document.lineCount, 0), 'SELECT 1;');
      assert.ok(await vscode.workspace.applyEdit(edit));
      await waitFor(() => !codes(drop).some((d) => d.code === 'ban-drop-table'), 'the finding to go away after the edit');
      await vscode.commands.executeCommand('workbench.action.files.revert');
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
