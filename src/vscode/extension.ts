// Extension entry point: registers the serializer, controller, commands, renderer messaging and status bar; nothing else happens here.
import * as vscode from 'vscode';
import { ConnectionCellStatusBar } from './cellStatusBar';
import { ChecklistClicks, isChecklistMessage } from './checklistClicks';
import { registerCommands } from './commands';
import { registerRehearse } from './rehearse';
import { Connections } from './connections';
import { RunbookController } from './controller';
import { RunbookDiagnostics } from './diagnostics';
import { Prompts } from './prompts';
import { registerSerializer } from './serializer';
import { Sessions } from './sessions';
import { RunbookStatusBar } from './statusBar';
import { WebhookSecrets } from './webhooks';

/** What `activate` returns: the extension's parts, for the extension-host tests. */
export interface RunbookApi {
  connections: Connections;
  sessions: Sessions;
  prompts: Prompts;
  statusBar: RunbookStatusBar;
  diagnostics: RunbookDiagnostics;
  /** ms spent in activate(). */
  activationMs: number;
}

/** Called by VS Code on the first `.runbook` notebook or Runbook command (activation events are implicit). */
export function activate(context: vscode.ExtensionContext): RunbookApi {
  const t0 = performance.now();
  const prompts = new Prompts();
  const connections = new Connections(context);
  const sessions = new Sessions(connections, prompts);
  const statusBar = new RunbookStatusBar(connections, sessions);
  const diagnostics = new RunbookDiagnostics(connections);
  const clicks = new ChecklistClicks();
  const webhooks = new WebhookSecrets(context.secrets);
  context.subscriptions.push(
    diagnostics,
    new ConnectionCellStatusBar(connections),
    registerSerializer(),
    connections,
    sessions,
    statusBar,
    new RunbookController(connections, sessions, prompts, clicks, webhooks),
    ...registerCommands(context, connections, sessions, prompts, webhooks),
    registerRehearse(connections),
    // Copy as CSV / Markdown from the renderer (the webview may not write the clipboard itself), and checklist items
    // clicked in a checklist's output (routed to the run waiting for them).
    vscode.notebooks.createRendererMessaging('runbook-notebooks.result').onDidReceiveMessage((e) => {
      const m = e.message as { type?: string; text?: unknown };
      if (m?.type === 'copy' && typeof m.text === 'string') void vscode.env.clipboard.writeText(m.text);
      else if (isChecklistMessage(m)) clicks.receive(m);
    }),
  );
  return { connections, sessions, prompts, statusBar, diagnostics, activationMs: performance.now() - t0 };
}

/** Sessions are closed by their own disposables, registered in `context.subscriptions`. */
export function deactivate(): void {}
