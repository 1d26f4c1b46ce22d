// Safety findings shown in the cells before they run: the runbook is linted (src/sql/lint) as it is edited, findings become diagnostics.
import * as vscode from 'vscode';
import { TIMEOUT_DEFAULTS } from '../connections/defaults';
import type { Finding } from '../sql/findings-types';
import type { Connections } from './connections';
import { fromNotebookDocument } from './notebookData';
import { NOTEBOOK_TYPE } from './serializer';

/** ms of quiet after an edit before the runbook is linted again (squawk is a process spawn). */
const DEBOUNCE_MS = 600;

const SEVERITY: Record<Finding['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

/** A diagnostic for a finding: on its line, with the safe rewrite; acknowledged findings as hints. */
export function diagnosticOf(f: Finding, doc: vscode.TextDocument): vscode.Diagnostic {
  const line = Math.min(Math.max(f.line - 1, 0), Math.max(doc.lineCount - 1, 0));
  const range = doc.lineAt(line).range;
  const d = new vscode.Diagnostic(
    range,
    `${f.message}${f.acknowledged ? ' — acknowledged in the cell options' : ''}\nSafe rewrite: ${f.help}`,
    f.acknowledged ? vscode.DiagnosticSeverity.Hint : SEVERITY[f.severity],
  );
  d.source = f.source === 'squawk' ? 'runbook (squawk)' : 'runbook';
  d.code = f.rule;
  return d;
}

/**
 * Lints open runbooks as they change, with the timeout defaults of the notebook's connection (a
 * profile without `lock_timeout` on production gets production's default, as the runner will), and
 * shows the findings on the cells. Linting is offline: no connection is opened for it; table sizes
 * appear in the findings recorded when a cell runs.
 */
export class RunbookDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('runbook');
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly generation = new Map<string, number>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly connections: Connections) {
    const schedule = (nb: vscode.NotebookDocument): void => this.schedule(nb);
    this.subscriptions.push(
      vscode.workspace.onDidOpenNotebookDocument(schedule),
      vscode.workspace.onDidChangeNotebookDocument((e) => {
        if (e.contentChanges.length || e.cellChanges.some((c) => c.document || c.metadata)) schedule(e.notebook);
      }),
      vscode.workspace.onDidCloseNotebookDocument((nb) => this.clear(nb)),
      connections.onDidChange(schedule),
    );
    for (const nb of vscode.workspace.notebookDocuments) schedule(nb);
  }

  private schedule(nb: vscode.NotebookDocument): void {
    if (nb.notebookType !== NOTEBOOK_TYPE) return;
    const key = nb.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(key, setTimeout(() => void this.lint(nb), DEBOUNCE_MS));
  }

  private clear(nb: vscode.NotebookDocument): void {
    clearTimeout(this.timers.get(nb.uri.toString()));
    for (const cell of nb.getCells()) this.collection.delete(cell.document.uri);
  }

  /** Lints a notebook now and replaces its diagnostics; returns the findings (for tests). */
  async lint(nb: vscode.NotebookDocument): Promise<Finding[]> {
    const key = nb.uri.toString();
    const gen = (this.generation.get(key) ?? 0) + 1;
    this.generation.set(key, gen);
    const choice = await this.connections.choiceOf(nb, this.connections.current(nb));
    const defaults = TIMEOUT_DEFAULTS[choice?.environment ?? 'development'];
    const { lintRunbook, lintCellsOf } = await import('../sql/lint');
    let findings: Finding[];
    try {
      findings = await lintRunbook(lintCellsOf(fromNotebookDocument(nb)), {
        lockTimeoutDefault: choice?.lockTimeout ?? defaults.lockTimeout,
        statementTimeoutDefault: choice?.statementTimeout ?? defaults.statementTimeout,
      });
    } catch {
      return []; // squawk missing or a cell the linter cannot read: running the cell reports it.
    }
    if (this.generation.get(key) !== gen || nb.isClosed) return findings; // a newer edit is being linted
    const cells = nb.getCells();
    const byCell = new Map<number, vscode.Diagnostic[]>();
    for (const f of findings) {
      const cell = cells[f.cell];
      if (!cell) continue;
      const list = byCell.get(f.cell) ?? [];
      list.push(diagnosticOf(f, cell.document));
      byCell.set(f.cell, list);
    }
    cells.forEach((cell, i) => this.collection.set(cell.document.uri, byCell.get(i) ?? []));
    return findings;
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const s of this.subscriptions) s.dispose();
    this.collection.dispose();
  }
}
