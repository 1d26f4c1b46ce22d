// NotebookController for runbooks: runs SQL, shell and checklist cells through src/run's RunSession and shows their outputs as they come.
import * as vscode from 'vscode';
import type { Cell } from '../format/model';
import type { ChecklistItem } from '../engines/checklist';
import type { CellExecution, SqlCellHooks } from '../run/session';
import type { Connections } from './connections';
import { CHECKLIST_LANGUAGE, fromNotebookDocument, RESULT_MIME, toCellOutput } from './notebookData';
import { confirmProduction } from './productionGuard';
import type { Prompts } from './prompts';
import { NOTEBOOK_TYPE } from './serializer';
import type { Sessions } from './sessions';

/** Id of the controller (shown as the notebook's kernel). */
export const CONTROLLER_ID = 'runbook-notebooks.runner';

/** ms between two live output updates while a cell runs: often enough to watch, rarely enough not to flood the renderer. */
const LIVE_UPDATE_MS = 150;
/** Characters of streamed shell output shown while it runs (the tail); the final output has the engine's own limit. */
const LIVE_TAIL_CHARS = 64 * 1024;

/** How one cell's run ended, for Run All. */
type CellOutcome = 'ok' | 'failed' | 'stopped';

function cellLabel(cell: vscode.NotebookCell, model: Cell): string {
  const name = typeof model.options.name === 'string' ? ` "${model.options.name}"` : '';
  return `Cell ${cell.index + 1}${name}`;
}

/** Settings that apply as cell options when the profile and the cell leave them to defaults. */
function withSettingDefaults(model: Cell, timeoutSource: { lockTimeout: string; statementTimeout: string } | undefined, scope: vscode.Uri): Cell {
  const cfg = vscode.workspace.getConfiguration('runbook', scope);
  const options = { ...model.options };
  if (model.kind === 'sql') {
    const st = cfg.get<string>('statementTimeout', '').trim();
    const lt = cfg.get<string>('lockTimeout', '').trim();
    if (st && options.timeout === undefined && timeoutSource?.statementTimeout !== 'profile') options.timeout = st;
    if (lt && options.lock_timeout === undefined && timeoutSource?.lockTimeout !== 'profile') options.lock_timeout = lt;
  } else if (model.kind === 'shell') {
    const t = cfg.get<string>('shellTimeout', '').trim();
    if (t && options.timeout === undefined) options.timeout = t;
  }
  return { ...model, options };
}

/**
 * The runbook kernel. Cells of one notebook run one at a time, in order; Run All (or Run From Here)
 * stops at the first cell that fails, is cancelled, is refused by the production guard, or is a
 * checklist left unconfirmed. Cancel (the cell's stop button) aborts the engine's AbortSignal: the
 * statement is cancelled on the server, a shell cell's process group is killed.
 */
export class RunbookController implements vscode.Disposable {
  private readonly controller: vscode.NotebookController;
  private readonly order = new Map<string, number>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly connections: Connections,
    private readonly sessions: Sessions,
    private readonly prompts: Prompts,
  ) {
    this.controller = vscode.notebooks.createNotebookController(CONTROLLER_ID, NOTEBOOK_TYPE, 'Runbook');
    this.controller.supportedLanguages = ['postgres', 'shellscript', CHECKLIST_LANGUAGE, 'sql']; // new cells take the first; `sql` (MS SQL) cells still run
    this.controller.supportsExecutionOrder = true;
    this.controller.description = 'SQL, shell and checklist cells';
    this.controller.detail = 'One PostgreSQL session per connection; outputs are saved in the file';
    this.controller.executeHandler = (cells, notebook) => this.enqueue(notebook, cells);
    // Runbooks have only this kernel: make it the preferred one so no kernel picking is needed.
    for (const nb of vscode.workspace.notebookDocuments) this.prefer(nb);
    this.subscriptions.push(vscode.workspace.onDidOpenNotebookDocument((nb) => this.prefer(nb)));
  }

  private prefer(nb: vscode.NotebookDocument): void {
    if (nb.notebookType === NOTEBOOK_TYPE) this.controller.updateNotebookAffinity(nb, vscode.NotebookControllerAffinity.Preferred);
  }

  /** Cells of one notebook run one after another, also when several runs are started at once. */
  private enqueue(notebook: vscode.NotebookDocument, cells: vscode.NotebookCell[]): Promise<void> {
    const key = notebook.uri.toString();
    const run = (this.queues.get(key) ?? Promise.resolve()).then(() => this.runCells(notebook, cells));
    this.queues.set(key, run.catch(() => undefined));
    return run;
  }

  private async runCells(notebook: vscode.NotebookDocument, cells: vscode.NotebookCell[]): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showErrorMessage('Runbook: cells do not run in a restricted workspace. Trust the workspace to run SQL and shell cells.');
      return;
    }
    // Several cells at once (Run All, Run From Here) select cells as `runbook run` does: the rollback
    // section is left out. A rollback cell run on its own runs.
    const { runnableCells, selectCells } = await import('../run/runner');
    const runbook = fromNotebookDocument(notebook);
    const selected = cells.length > 1 ? new Set(selectCells(runnableCells(runbook.cells), {}).map((c) => c.index)) : undefined;
    // Safety hooks as `runbook run` uses them: findings before each SQL cell (error-level ones stop it on
    // production unless acknowledged), pre-flight, and the live lock view while it runs.
    const { createSafetyHooks } = await import('../safety/hooks');
    const { lintCellsOf } = await import('../sql/lint');
    const intervalMs = vscode.workspace.getConfiguration('runbook', notebook.uri).get<number>('liveView.intervalMs', 250);
    const sqlHooks = createSafetyHooks({ cells: lintCellsOf(runbook), intervalMs });
    try {
      for (const cell of cells) {
        if (cell.kind !== vscode.NotebookCellKind.Code || (selected && !selected.has(cell.index))) continue;
        const outcome = await this.runCell(notebook, cell, sqlHooks);
        if (outcome !== 'ok') break;
      }
    } finally {
      await sqlHooks.close?.();
    }
  }

  private async runCell(notebook: vscode.NotebookDocument, cell: vscode.NotebookCell, sqlHooks: SqlCellHooks): Promise<CellOutcome> {
    const exec = this.controller.createNotebookCellExecution(cell);
    const key = notebook.uri.toString();
    const order = (this.order.get(key) ?? 0) + 1;
    this.order.set(key, order);
    exec.executionOrder = order;
    exec.start(Date.now());
    const finish = async (outcome: CellOutcome, outputs: vscode.NotebookCellOutput[]): Promise<CellOutcome> => {
      await exec.replaceOutput(outputs);
      exec.end(outcome === 'ok', Date.now());
      this.sessions.notify(notebook);
      return outcome;
    };
    const message = (status: string, text: string): vscode.NotebookCellOutput[] => [toCellOutput({ record: { status, started: new Date().toISOString(), error: { message: text } } })];

    const model = fromNotebookDocument(notebook).cells[cell.index];
    const connection = this.connections.current(notebook);
    let opened;
    try {
      opened = await this.sessions.get(notebook, connection);
    } catch (e) {
      return finish('failed', message('error', `Could not open the connection "${connection}": ${(e as Error).message}`));
    }
    const { session, entry } = opened;
    if (exec.token.isCancellationRequested) return finish('stopped', message('cancelled', 'Cancelled before it started.'));

    // Production guards, as in `runbook run`: a cell that already succeeded there asks before running
    // again; the first change in a session waits for the operator to type the connection's name.
    if (session.target.environment === 'production' && model.kind !== 'checklist') {
      const before = model.outputs.find((o) => o.record.status === 'ok' && o.record.environment === 'production' && o.record.connection === session.target.name);
      if (before) {
        const again = await this.prompts.ask(
          `${cellLabel(cell, model)} already succeeded on production (${session.target.name}) at ${String(before.record.started)}. Run it again?`,
          'Its earlier output is replaced by the new one in the migration log.',
          'Run Again',
        );
        if (again !== 'Run Again') return finish('stopped', model.outputs.map((o) => toCellOutput(o)));
      }
    }
    if (session.target.environment === 'production' && !entry.productionConfirmed && model.kind !== 'checklist') {
      if (await (await import('../run/runner')).isMutating(model)) {
        const what = `${cellLabel(cell, model)} ${model.kind === 'shell' ? 'runs shell commands' : 'changes data or schema'}`;
        if (!(await confirmProduction(this.prompts, session.target.name, what))) {
          return finish('stopped', message('skipped', `Not run: the production connection "${session.target.name}" was not confirmed.`));
        }
        entry.productionConfirmed = true;
      }
    }

    const abort = new AbortController();
    const cancelled = exec.token.onCancellationRequested(() => abort.abort());
    const started = new Date();
    let progress = '';
    let streamed = '';
    let lastUpdate = 0;
    let pending: NodeJS.Timeout | undefined;
    const showLive = (): void => {
      pending = undefined;
      lastUpdate = Date.now();
      const payload = { record: { status: 'running', started: started.toISOString(), connection: session.target.name, environment: session.target.environment }, body: streamed || undefined, progress, live: true };
      void exec.replaceOutput([new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.json(payload, RESULT_MIME), vscode.NotebookCellOutputItem.text(streamed || progress)])]);
    };
    const scheduleLive = (): void => {
      if (pending) return;
      pending = setTimeout(showLive, Math.max(0, LIVE_UPDATE_MS - (Date.now() - lastUpdate)));
    };

    let result: CellExecution;
    try {
      const effective = withSettingDefaults(model, session.target.connection?.timeoutSource, notebook.uri);
      result = await session.execute(effective, {
        signal: abort.signal,
        index: cell.index,
        sqlHooks,
        maxRows: vscode.workspace.getConfiguration('runbook', notebook.uri).get<number>('maxRows', 200),
        onProgress: (p) => {
          const parts = [`${(p.elapsedMs / 1000).toFixed(1)} s`];
          if (p.statement !== undefined) parts.push(`statement ${p.statement + 1}`);
          if (p.rows) parts.push(`${p.rows.toLocaleString()} rows`);
          if (p.text && model.kind === 'sql') parts.push(p.text);
          progress = parts.join(' · ');
          scheduleLive();
        },
        onOutput: (chunk) => {
          streamed = (streamed + chunk).slice(-LIVE_TAIL_CHARS);
          scheduleLive();
        },
        confirmChecklist: (_cell, items) => this.confirmChecklist(items),
      });
    } catch (e) {
      return finish('failed', message('error', `${cellLabel(cell, model)} could not run: ${(e as Error).message}`));
    } finally {
      cancelled.dispose();
      if (pending) clearTimeout(pending);
    }

    if (result.source !== undefined && result.source !== cell.document.getText()) {
      // Ticked checklist items are written into the cell, so the file shows them as done.
      const edit = new vscode.WorkspaceEdit();
      const doc = cell.document;
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), result.source);
      await vscode.workspace.applyEdit(edit);
    }
    const results = (result.results ?? [])
      .map((r, statement) => ({ statement, columns: r.columns?.map((c) => ({ name: c.name, typeOid: c.typeOid })), rows: r.rows, total: r.record.rows }))
      .filter((r) => r.columns !== undefined);
    const status = String(result.output.record.status);
    const outcome: CellOutcome = status === 'ok' && !(result.pending && result.pending.length) ? 'ok' : status === 'cancelled' ? 'stopped' : 'failed';
    return finish(outcome, [toCellOutput(result.output, results.length ? { results } : undefined)]);
  }

  /** Checklist: one item asks in a modal, several in a multi-select; resolves the items the operator confirmed. */
  private async confirmChecklist(items: ChecklistItem[]): Promise<ChecklistItem[]> {
    if (items.length === 1) {
      const answer = await this.prompts.ask(`Confirm: ${items[0].text}`, 'Your name and the time are recorded in the runbook.', 'Confirm');
      return answer === 'Confirm' ? items : [];
    }
    const picked = await this.prompts.pickMany(
      items.map((item) => ({ label: item.text, item })),
      { title: 'Confirm the checklist items that are done', placeHolder: 'Tick what is done; your name and the time are recorded. Unticked items stop Run All.', ignoreFocusOut: true },
    );
    return (picked ?? []).map((p) => p.item);
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.controller.dispose();
  }
}
