// Per-cell status bar items: where the cell last ran (from its output's record) and, distinctly, where it would run now.
import * as vscode from 'vscode';
import type { Connections } from './connections';
import { environmentLabel } from './connectionPicker';
import { fromCellOutput, kindOfCell } from './notebookData';
import { NOTEBOOK_TYPE } from './serializer';
import { lastRanText } from '../run/last-ran';

/**
 * Under each runnable cell: on the left, where it last ran (`$(history) last: prod-main · production · 02:08 UTC`, the
 * connection, environment and start time of its latest output's record, local time in the tooltip; a warning when
 * that differs from the current connection); on the right, where it would run now (`$(database) now: prod-main ·
 * PRODUCTION`, SQL and shell cells: checklists run nowhere). Refreshed when the connection changes; VS Code asks again
 * when the cell's outputs change.
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
    if (kind !== 'sql' && kind !== 'shell' && kind !== 'checklist') return [];
    const name = this.connections.current(cell.notebook);
    const env = (await this.connections.environmentOf(cell.notebook, name)) ?? 'unknown environment';
    const items: vscode.NotebookCellStatusBarItem[] = [];
    const outputs = cell.outputs.map((o) => fromCellOutput(o)).filter((o) => o !== undefined);
    const last = outputs[outputs.length - 1]?.record;
    const ran = last ? lastRanText(last, { connection: name, environment: env }, kind) : undefined;
    if (ran) {
      const item = new vscode.NotebookCellStatusBarItem(`${ran.elsewhere ? '$(warning) ' : '$(history) '}${ran.text}`, vscode.NotebookCellStatusBarAlignment.Left);
      item.tooltip = ran.tooltip;
      items.push(item);
    }
    if (kind !== 'checklist') {
      const prod = env === 'production';
      const now = new vscode.NotebookCellStatusBarItem(`$(database) now: ${name} · ${prod ? '$(warning) ' : ''}${environmentLabel(env)}`, vscode.NotebookCellStatusBarAlignment.Right);
      now.tooltip = `Would run now against ${name} (${environmentLabel(env)}), the notebook's current connection. Click to change it.`;
      now.command = 'runbook.selectConnection';
      items.push(now);
    }
    return items;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}
