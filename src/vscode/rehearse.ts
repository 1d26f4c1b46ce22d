// The "Rehearse" command: `runbook rehearse` on the notebook's file, its phases as progress, the schema diff in an
// untitled document. Glue only: the rehearsal itself is src/rehearse/rehearse.ts.
import * as vscode from 'vscode';
import type { Connections } from './connections';
import { NOTEBOOK_TYPE } from './serializer';
import { operatorFor } from './sessions';

/** Registers `runbook.rehearse` (palette and notebook toolbar); resolves the rehearsal's record, or undefined when nothing ran. */
export function registerRehearse(connections: Connections): vscode.Disposable {
  return vscode.commands.registerCommand('runbook.rehearse', async (arg?: vscode.Uri) => {
    const nb = (arg instanceof vscode.Uri ? vscode.workspace.notebookDocuments.find((d) => d.uri.toString() === arg.toString()) : undefined) ?? vscode.window.activeNotebookEditor?.notebook;
    if (!nb || nb.notebookType !== NOTEBOOK_TYPE || nb.uri.scheme !== 'file') {
      void vscode.window.showInformationMessage('Runbook: open a saved .runbook notebook to rehearse it.');
      return undefined;
    }
    // The rehearsal reads the file and appends to its log: the file must hold what the notebook shows.
    if (nb.isDirty && !(await nb.save())) return undefined;
    const current = connections.current(nb);
    const { rehearseRunbook } = await import('../rehearse/rehearse');
    const operator = await operatorFor(nb);
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Rehearsing on ${current}`, cancellable: true }, async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      try {
        const outcome = await rehearseRunbook({
          file: nb.uri.fsPath,
          connection: current === 'sandbox' ? undefined : current,
          operator,
          flags: current === 'sandbox' ? [] : ['--connection', current],
          secret: (name) => Promise.resolve(connections.password(name)),
          signal: abort.signal,
          reporter: {
            phase: (phase, status, detail) => progress.report({ message: `${phase}: ${status}${detail ? ` — ${detail.split('\n')[0]}` : ''}` }),
            cellStart: (c, pos, total) => progress.report({ message: `cell ${c.number}${c.name ? ` (${c.name})` : ''} ${pos}/${total}` }),
          },
        });
        const r = outcome.record;
        const failed = r.phases.find((p) => p.status === 'failed');
        if (r.diff) await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ language: 'diff', content: r.diff }), { preview: true, viewColumn: vscode.ViewColumn.Beside });
        if (r.passed) void vscode.window.showInformationMessage(`Rehearsal passed on ${outcome.target}: every phase ok, the schema came back (content ${r.hash}).`);
        else void vscode.window.showErrorMessage(`Rehearsal failed in the ${failed?.phase ?? '?'} phase${failed?.failed?.cell !== undefined ? ` at cell ${failed.failed.cell}` : ''}: ${(failed?.failed?.reason ?? '').split('\n')[0]}`);
        return r;
      } catch (e) {
        void vscode.window.showErrorMessage(`Rehearsal not run: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      }
    });
  });
}
