// Palette commands under "Runbook": new runbook from template, select/add connection, run from here, show migration log, close session.
import * as vscode from 'vscode';
import { parseRunbook } from '../format';
import { addConnection, pickConnection } from './connectionPicker';
import type { Connections } from './connections';
import { toNotebookData } from './notebookData';
import type { Prompts } from './prompts';
import { NOTEBOOK_TYPE } from './serializer';
import type { Sessions } from './sessions';

/** The runbook notebook a command applies to: the one given (from a menu), else the active one. */
function targetNotebook(arg?: unknown): vscode.NotebookDocument | undefined {
  const fromArg = (arg as { notebook?: vscode.NotebookDocument } | undefined)?.notebook;
  if (fromArg?.notebookType === NOTEBOOK_TYPE) return fromArg;
  const uri = arg instanceof vscode.Uri ? arg.toString() : undefined;
  if (uri) return vscode.workspace.notebookDocuments.find((d) => d.uri.toString() === uri);
  const active = vscode.window.activeNotebookEditor?.notebook;
  return active?.notebookType === NOTEBOOK_TYPE ? active : undefined;
}

function needNotebook(): undefined {
  void vscode.window.showInformationMessage('Runbook: open a .runbook notebook first.');
  return undefined;
}

/**
 * Registers the commands. Commands that tests and keybindings drive take their choice as an
 * argument instead of asking: `runbook.selectConnection` `{ connection: 'prod-main' }`.
 */
export function registerCommands(context: vscode.ExtensionContext, connections: Connections, sessions: Sessions, prompts: Prompts): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('runbook.newRunbook', async () => {
      const template = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(context.extensionUri, 'media', 'templates', 'production-change.runbook'));
      const doc = await vscode.workspace.openNotebookDocument(NOTEBOOK_TYPE, toNotebookData(parseRunbook(template)));
      await vscode.window.showNotebookDocument(doc);
      return doc;
    }),

    vscode.commands.registerCommand('runbook.selectConnection', async (arg?: { connection?: string } | vscode.Uri) => {
      const nb = targetNotebook(arg) ?? needNotebook();
      if (!nb) return undefined;
      const given = arg && !(arg instanceof vscode.Uri) ? arg.connection : undefined;
      if (given) {
        await connections.choose(nb, given);
        return given;
      }
      return pickConnection(connections, prompts, nb);
    }),

    vscode.commands.registerCommand('runbook.addConnection', async () => {
      const nb = targetNotebook() ?? needNotebook();
      if (!nb) return undefined;
      const name = await addConnection(connections, prompts, nb);
      if (name) await connections.choose(nb, name);
      return name;
    }),

    vscode.commands.registerCommand('runbook.runFromHere', async (arg?: vscode.NotebookCell) => {
      const cell = arg && 'notebook' in arg ? arg : undefined;
      const editor = vscode.window.activeNotebookEditor;
      const nb = cell?.notebook ?? editor?.notebook;
      if (!nb || nb.notebookType !== NOTEBOOK_TYPE) return needNotebook();
      const start = cell?.index ?? editor?.selection.start ?? 0;
      // The controller's Run All semantics apply: it stops at the first failure or unconfirmed checklist.
      await vscode.commands.executeCommand('notebook.cell.execute', { ranges: [{ start, end: nb.cellCount }], document: nb.uri });
    }),

    vscode.commands.registerCommand('runbook.showMigrationLog', async (arg?: vscode.Uri) => {
      const nb = targetNotebook(arg) ?? needNotebook();
      if (!nb) return;
      // The file on disk is the migration log: save first so what is shown is what will be committed.
      if (nb.isDirty && !nb.isUntitled) await nb.save();
      if (nb.isUntitled) {
        void vscode.window.showInformationMessage('Runbook: save the runbook first; the saved file is the migration log.');
        return;
      }
      await vscode.window.showTextDocument(nb.uri, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
    }),

    vscode.commands.registerCommand('runbook.closeSession', async () => {
      const nb = targetNotebook() ?? needNotebook();
      if (!nb) return;
      const open = sessions.openTransactions(nb.uri.toString());
      let rollback = false;
      if (open.length) {
        const answer = await prompts.ask(
          `Close the session with an open transaction on ${open.map((o) => `${o.connection} (${o.state})`).join(', ')}?`,
          'The transaction is rolled back; nothing it did since BEGIN is kept.',
          'Roll Back and Close',
        );
        if (answer !== 'Roll Back and Close') return;
        rollback = true;
      }
      await sessions.close(nb.uri.toString(), rollback);
      sessions.notify(nb);
    }),
  ];
}
