// Status bar item of the active runbook notebook: connection, environment (production in the error colour) and transaction state.
import * as vscode from 'vscode';
import type { TransactionState } from '../format/model';
import type { Connections } from './connections';
import { environmentLabel } from './connectionPicker';
import { NOTEBOOK_TYPE } from './serializer';
import type { NotebookMeta } from './notebookData';
import { describeWindow, frontMatterWindow, windowStatusText } from '../format/index';

/** ms between two refreshes of the window's time left while a runbook with a window is active. */
const WINDOW_REFRESH_MS = 30_000;

/** What the status bar needs to know about a notebook's session, supplied by the session manager. */
export interface SessionStateSource {
  /** Transaction state of the notebook's session on a connection; undefined when no session is open. */
  txState(notebook: vscode.NotebookDocument, connection: string): TransactionState | undefined;
  readonly onDidChangeState: vscode.Event<vscode.NotebookDocument>;
}

const TX_ICON: Record<TransactionState, string> = { idle: '', 'in transaction': '$(debug-pause) ', failed: '$(error) ' };

/**
 * One status bar item, shown while a runbook notebook is the active editor. Production uses the
 * theme's error background and the label PRODUCTION, staging the warning background (VS Code only
 * allows these two background colours on status bar items: API `StatusBarItem.backgroundColor`).
 */
export class RunbookStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('runbook.connection', vscode.StatusBarAlignment.Left, 100);
  private readonly subscriptions: vscode.Disposable[] = [];
  private generation = 0;
  private readonly clock: NodeJS.Timeout;

  constructor(
    private readonly connections: Connections,
    private readonly sessions: SessionStateSource,
  ) {
    this.item.name = 'Runbook connection';
    this.item.command = 'runbook.selectConnection';
    this.subscriptions.push(
      vscode.window.onDidChangeActiveNotebookEditor(() => void this.update()),
      connections.onDidChange(() => void this.update()),
      sessions.onDidChangeState(() => void this.update()),
      vscode.workspace.onDidChangeNotebookDocument((e) => {
        if (e.notebook === vscode.window.activeNotebookEditor?.notebook && e.metadata) void this.update();
      }),
    );
    // The window's time left moves with the clock: refreshed while a runbook is active.
    this.clock = setInterval(() => {
      if (vscode.window.activeNotebookEditor?.notebook.notebookType === NOTEBOOK_TYPE) void this.update();
    }, WINDOW_REFRESH_MS);
    this.clock.unref?.();
    void this.update();
  }

  /** The item's current text, for tests. */
  get text(): string {
    return this.item.text;
  }

  /** The item's background colour id (`statusBarItem.errorBackground` for production), for tests. */
  get background(): string | undefined {
    return (this.item.backgroundColor as vscode.ThemeColor | undefined)?.id;
  }

  /** Recomputes the item for the active notebook. */
  async update(): Promise<void> {
    const gen = ++this.generation;
    const nb = vscode.window.activeNotebookEditor?.notebook;
    if (!nb || nb.notebookType !== NOTEBOOK_TYPE) {
      this.item.hide();
      return;
    }
    const name = this.connections.current(nb);
    const env = (await this.connections.environmentOf(nb, name)) ?? 'unknown environment';
    if (gen !== this.generation) return; // a newer update started while the profiles were read
    const tx = this.sessions.txState(nb, name);
    const txText = tx ? ` · ${TX_ICON[tx]}${tx}` : ' · no session';
    const prod = env === 'production';
    // The window and where now stands against it are computed in src/format (window.ts); only shown here.
    const window = frontMatterWindow((nb.metadata?.runbook as NotebookMeta | undefined)?.frontMatter?.data);
    const windowText = window ? ` · $(clock) ${windowStatusText(window, Date.now())}` : '';
    this.item.text = `$(database) ${prod ? '$(warning) PRODUCTION · ' : ''}${name}${prod ? '' : ` · ${environmentLabel(env)}`}${txText}${windowText}`;
    this.item.backgroundColor = prod ? new vscode.ThemeColor('statusBarItem.errorBackground') : env === 'staging' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    const md = new vscode.MarkdownString(
      `**Runbook connection:** ${name} (${environmentLabel(env)})\n\n` +
        `Session: ${tx ?? 'not open'}${tx === 'failed' ? ' — the transaction failed: ROLLBACK before running more statements' : ''}\n\n` +
        (window ? `Window: ${describeWindow(window)} — ${windowStatusText(window, Date.now())}\n\n` : '') +
        'Click to change the connection.',
    );
    this.item.tooltip = md;
    this.item.accessibilityInformation = { label: `Runbook connection ${name}, ${env}, ${tx ?? 'no session'}` };
    this.item.show();
  }

  dispose(): void {
    clearInterval(this.clock);
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }
}
