// Palette commands under "Runbook": new runbook from template, select/add connection, run from here, show migration log, close session.
import * as vscode from 'vscode';
import { parseRunbook, renderLogMarkdown } from '../format';
import { addConnection, pickConnection } from './connectionPicker';
import type { Connections } from './connections';
import { fromNotebookDocument, toNotebookData } from './notebookData';
import type { Prompts } from './prompts';
import { NOTEBOOK_TYPE } from './serializer';
import type { Sessions } from './sessions';
import { setNotificationWebhook, type WebhookSecrets } from './webhooks';

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

/** URI scheme of the read-only migration log view; the query is the notebook's URI. */
const LOG_SCHEME = 'runbook-log';

/** The migration log of a notebook as Markdown (src/format/log-render.ts, as `runbook log` prints it). */
function logMarkdownOf(nb: vscode.NotebookDocument): string {
  const rb = fromNotebookDocument(nb);
  const title = rb.frontMatter?.data?.title;
  return renderLogMarkdown(rb.log?.events ?? [], typeof title === 'string' ? title : undefined);
}

/** Serves `runbook-log:` documents: the log of the open notebook named in the query. */
const logView = new (class implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  refresh(uri: vscode.Uri): void {
    this.changed.fire(uri);
  }
  provideTextDocumentContent(uri: vscode.Uri): string {
    const nb = vscode.workspace.notebookDocuments.find((d) => d.uri.toString() === uri.query);
    return nb ? logMarkdownOf(nb) : 'The runbook is no longer open.\n';
  }
})();

/**
 * Registers the commands. Commands that tests and keybindings drive take their choice as an
 * argument instead of asking: `runbook.selectConnection` `{ connection: 'prod-main' }`.
 */
export function registerCommands(context: vscode.ExtensionContext, connections: Connections, sessions: Sessions, prompts: Prompts, webhooks: WebhookSecrets): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('runbook.setNotificationWebhook', (arg?: { name?: string; url?: string }) => setNotificationWebhook(webhooks, prompts, arg)),

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

    vscode.workspace.registerTextDocumentContentProvider(LOG_SCHEME, logView),

    vscode.commands.registerCommand('runbook.showMigrationLog', async (arg?: vscode.Uri) => {
      const nb = targetNotebook(arg) ?? needNotebook();
      if (!nb) return undefined;
      // The same Markdown as `runbook log FILE`, from the log the notebook holds (saved or not), in a read-only preview.
      const uri = vscode.Uri.from({ scheme: LOG_SCHEME, path: `${nb.uri.path}.log.md`, query: nb.uri.toString() });
      logView.refresh(uri);
      try {
        await vscode.commands.executeCommand('markdown.showPreviewToSide', uri);
      } catch {
        await vscode.window.showTextDocument(uri, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
      }
      return logMarkdownOf(nb);
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
