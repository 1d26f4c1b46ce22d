// NotebookController for runbooks: hands each execution request to src/run's one run loop, with the notebook as its sink and prompts as its asker.
import * as vscode from 'vscode';
import type { Cell } from '../format/model';
import type { EndedSpan } from '../run/spans';
import type { ChecklistClicks } from './checklistClicks';
import type { Connections } from './connections';
import { CHECKLIST_LANGUAGE, fromNotebookDocument } from './notebookData';
import { NotebookRun, notebookAsker } from './notebookRun';
import type { Prompts } from './prompts';
import { NOTEBOOK_TYPE } from './serializer';
import { operatorFor, type Sessions } from './sessions';
import type { WebhookSecrets } from './webhooks';

/** Id of the controller (shown as the notebook's kernel). */
export const CONTROLLER_ID = 'runbook-notebooks.runner';

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
    private readonly clicks?: ChecklistClicks,
    private readonly webhooks?: WebhookSecrets,
  ) {
    this.controller = vscode.notebooks.createNotebookController(CONTROLLER_ID, NOTEBOOK_TYPE, 'Runbook');
    this.controller.supportedLanguages = ['postgres', 'shellscript', CHECKLIST_LANGUAGE, 'sql']; // new cells take the first; `sql` (MS SQL) cells still run
    this.controller.supportsExecutionOrder = true;
    this.controller.description = 'SQL, shell and checklist cells';
    this.controller.detail = 'One PostgreSQL session per connection; outputs are saved in the file';
    this.controller.executeHandler = (cells, notebook) => this.enqueue(notebook, cells);
    // Runbooks have only this kernel: make it the preferred one so no kernel picking is needed.
    for (const nb of vscode.workspace.notebookDocuments) this.prefer(nb);
    this.sessions.markInNotebook = (nb, ended) => this.markEnded(nb, ended);
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
    const { blockingProblems, runnableCells, selectCells, cellLabel } = await import('../run/cells');
    const runbook = fromNotebookDocument(notebook);
    const all = runnableCells(runbook.cells);
    const requested = new Set(cells.map((c) => c.index));
    // One cell runs as asked (a rollback cell too); several (Run All, Run From Here) select as `runbook run` does.
    const selected = cells.length === 1 ? all.filter((c) => requested.has(c.index)) : selectCells(all, {}).filter((c) => requested.has(c.index));
    if (!selected.length) return;
    const blocking = blockingProblems(runbook, selected);
    if (blocking.length) {
      this.prompts.error('Runbook: nothing was run: the runbook has problems to fix first.', blocking.map((p) => p.message).join('\n'));
      return;
    }
    const connection = this.connections.current(notebook);
    if (this.connections.isFrontMatterUri(notebook, connection)) {
      this.prompts.error('Runbook: nothing was run: the front matter names a connection URI, not a profile.', 'A runbook must not choose the server that receives your password. Select a connection (Runbook: Select Connection) to run it.');
      return;
    }
    let opened;
    try {
      opened = await this.sessions.get(notebook, connection);
    } catch (e) {
      const { redact } = await import('../connections/redact');
      void vscode.window.showErrorMessage(`Runbook: could not open the connection "${redact(connection)}": ${redact((e as Error).message)} (nothing was run)`);
      return;
    }
    const { session, entry } = opened;
    const { executeRun } = await import('../run/loop');
    const { startRun } = await import('../run/run');
    const { createSafetyHooks } = await import('../safety/hooks');
    const { lintCellsOf } = await import('../sql/lint');
    const { monitoringFor } = await import('../monitor/for-session');
    const config = vscode.workspace.getConfiguration('runbook', notebook.uri);
    const key = notebook.uri.toString();
    const abort = new AbortController();
    const front = new NotebookRun(this.controller, notebook, abort, this.order.get(key) ?? 0);
    // One monitoring connection for the run: the safety hooks' catalog reads and lock view, and the sampler.
    const monitoring = monitoringFor(session, { intervalMs: config.get<number>('monitor.intervalMs', 1000), onView: (v) => front.monitor(v) });
    const hooks = createSafetyHooks({ cells: lintCellsOf(runbook), intervalMs: config.get<number>('liveView.intervalMs', 250), monitor: monitoring.connection });
    const first = selected[0];
    const flags = cells.length === 1 ? ['--only', String(first.number)] : first.number > (selectCells(all, {})[0]?.number ?? 1) ? ['--from', String(first.number)] : [];
    const run = startRun('vscode', flags, await operatorFor(notebook));
    // The same lock beside the file as `runbook run` takes: a CLI run of this file and this notebook never overlap.
    const { acquireRunLock, takeoverMessage } = await import('../run/run-lock');
    let lock: import('../run/run-lock').RunLock | undefined;
    try {
      if (notebook.uri.scheme === 'file') lock = acquireRunLock(notebook.uri.fsPath, { run: run.id, operator: run.operator });
    } catch (e) {
      await hooks.close();
      await monitoring.close();
      this.prompts.error('Runbook: nothing was run: one run of a runbook at a time.', session.redactor.errorMessage(e));
      return;
    }
    // A killed CLI run's journal beside the file holds records the notebook does not show: folded in later, they would
    // go over this run's. Refused until it is folded in (src/run/journal.ts journalBlocksRun).
    const { journalBlocksRun } = await import('../run/journal');
    const journal = notebook.uri.scheme === 'file' ? journalBlocksRun(notebook.uri.fsPath) : undefined;
    if (journal) {
      lock?.release();
      await hooks.close();
      await monitoring.close();
      this.prompts.error('Runbook: nothing was run: an interrupted run\'s records are not in this file yet.', session.redactor.errorMessage(new Error(journal)));
      return;
    }
    const takeover = lock && takeoverMessage(lock);
    try {
      const outcome = await executeRun({
        run,
        notes: takeover ? [{ about: 'lock', message: takeover }] : [],
        runbook, all, selected, session, sink: front, reporter: front, asker: notebookAsker(this.prompts, front, this.clicks), hooks,
        observers: monitoring.sampler ? [monitoring.sampler] : [],
        signal: abort.signal,
        maxRows: config.get<number>('maxRows', 200),
        sessionOutlivesRun: true,
        productionConfirmed: entry.productionConfirmed,
        effectiveCell: (cell) => withSettingDefaults(cell, session.target.connection?.timeoutSource, notebook.uri),
        file: vscode.workspace.asRelativePath(notebook.uri),
        // Webhook URLs come from SecretStorage only ("Runbook: Set Notification Webhook").
        webhookUrl: this.webhooks ? async (t) => this.webhooks!.get(t.url_env) : undefined,
      });
      entry.productionConfirmed = outcome.productionConfirmed;
      const s = outcome.summary;
      if (s.refused) {
        this.prompts.error(`Runbook: nothing was run on ${s.target} (${s.environment}): the plan refused the run.`, session.redactor.redact(s.refused.map((r) => `• ${r}`).join('\n')));
      } else if (s.stopped && s.stopped.reason !== 'cancelled') {
        void vscode.window.showWarningMessage(session.redactor.redact(`Runbook: stopped at ${cellLabel(s.stopped.cell)}: ${s.stopped.reason}`));
      }
    } catch (e) {
      // A record that could not be written: which cell's effect has no record, in a message that waits to be read.
      const { RecordLostError } = await import('../run/record-lost');
      if (e instanceof RecordLostError) void vscode.window.showErrorMessage(`Runbook: a record could not be written`, { modal: true, detail: session.redactor.errorMessage(e) });
      else void vscode.window.showErrorMessage(`Runbook: the run failed: ${session.redactor.errorMessage(e)}`);
    } finally {
      lock?.release();
      this.order.set(key, front.executionOrder);
      await hooks.close();
      await monitoring.close();
      this.sessions.notify(notebook);
    }
  }

  /** Marks an ended span's cells in an open notebook (a session closed with its transaction rolled back). */
  private async markEnded(notebook: vscode.NotebookDocument, ended: EndedSpan): Promise<void> {
    const { withSpan } = await import('../run/record');
    const front = new NotebookRun(this.controller, notebook, new AbortController(), this.order.get(notebook.uri.toString()) ?? 0);
    const marked: number[] = [];
    for (const sc of ended.cells) {
      const out = front.outputOf(sc.handle);
      if (!out || out.record.run !== sc.run) continue;
      await front.update(sc.handle, withSpan(out, ended.span));
      marked.push(sc.number);
    }
    if (marked.length) await front.log({ e: 'span', run: ended.cells[ended.cells.length - 1].run, span: ended.span, cells: marked });
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.controller.dispose();
  }
}
