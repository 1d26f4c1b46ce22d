// Per-cell status bar item of runnable cells: the connection and environment the cell will run against.
import * as vscode from 'vscode';
import type { Connections } from './connections';
import { environmentLabel } from './connectionPicker';
import { kindOfCell } from './notebookData';
import { NOTEBOOK_TYPE } from './serializer';

/**
 * Shows `$(database) prod-main · PRODUCTION` under each SQL and shell cell (checklists run nowhere),
 * so the target is visible where the operator presses Run. Refreshed when the connection changes.
 */
export class ConnectionCellStatusBar implements vscode.NotebookCellStatusBarItemProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCellStatusBarItems = this.changed.event;
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly connections: Connections) {
    this.subscriptions = [vscode.notebooks.registerNotebookCellStatusBarItemProvider(NOTEBOOK_TYPE, this), connections.onDidChange(() => this.changed.fire())];
  }

  async provideCellStatusBarItems(cell: vscode.NotebookCell): Promise<vscode.NotebookCellStatusBarItem[]> {
    const kind = kindOfCell(cell.kind, cell.document.languageId);
    if (kind !== 'sql' && kind !== 'shell') return [];
    const name = this.connections.current(cell.notebook);
    const env = (await this.connections.environmentOf(cell.notebook, name)) ?? 'unknown environment';
    const prod = env === 'production';
    const item = new vscode.NotebookCellStatusBarItem(`$(database) ${name} · ${prod ? '$(warning) ' : ''}${environmentLabel(env)}`, vscode.NotebookCellStatusBarAlignment.Right);
    item.tooltip = `Runs against ${name} (${environmentLabel(env)}). Click to change the notebook's connection.`;
    item.command = 'runbook.selectConnection';
    return [item];
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}
