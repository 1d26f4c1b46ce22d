// The run loop's front end in VS Code: outputs as notebook cell executions, the log in notebook metadata, progress as live outputs, questions as prompts.
import * as vscode from 'vscode';
import { appendLogEvent, type Cell, type LogEvent, type Output } from '../format/index';
import type { ChecklistAnswer, ChecklistItem } from '../engines/checklist';
import { cellLabel, type RunnableCell } from '../run/cells';
import { textHash } from '../run/journal';
import type { CellProgress, LoggedEvent, RunAsker, RunReporter, RunSink } from '../run/frontend';
import type { CellRun } from '../run/session';
import type { MonitorView } from '../monitor/sampler';
import { monitorRows } from '../monitor/text';
import type { ChecklistClicks } from './checklistClicks';
import { fromCellLike, fromNotebookDocument, RESULT_MIME, toCellOutput, type NotebookMeta } from './notebookData';
import { askProductionName } from './productionGuard';
import type { Prompts } from './prompts';

/** ms between two live output updates while a cell runs: often enough to watch, rarely enough not to flood the renderer. */
const LIVE_UPDATE_MS = 150;
/** Characters of streamed shell output shown while it runs (the tail); the final output has the engine's own limit. */
const LIVE_TAIL_CHARS = 64 * 1024;

/** Tables for the renderer (columns and the rows kept), beside an output's record. */
function tablesOf(ran: CellRun | undefined): Record<string, unknown> | undefined {
  if (ran?.kind !== 'sql') return undefined;
  const results = ran.result.results
    .map((r, statement) => ({ statement, columns: r.columns?.map((c) => ({ name: c.name, typeOid: c.typeOid })), rows: r.rows, total: r.record.rows }))
    .filter((r) => r.columns !== undefined);
  return results.length ? { results } : undefined;
}

/** A checklist waiting in a cell's live output for clicks: the items shown and when each was clicked. */
interface WaitingChecklist {
  token: string;
  items: ChecklistItem[];
  confirmed: Map<number, Date>;
  /** The picker was dismissed: only the output (or the cell's stop button) can answer now. */
  pickerDismissed: boolean;
}

interface Live {
  exec: vscode.NotebookCellExecution;
  started: Date;
  progress: string;
  /** The live lock view's latest text (whom the cell waits for, who waits behind it). */
  locks?: string;
  /** The monitoring sampler's latest view. */
  monitor?: MonitorView;
  checklist?: WaitingChecklist;
  /**
   * The cell's final output is being written: no live view may replace it any more (a monitoring sample or a
   * progress tick arriving while the output is written would otherwise leave the cell with its live view).
   */
  final?: boolean;
  streamed: string;
  lastUpdate: number;
  pending?: NodeJS.Timeout;
  kind: Cell['kind'];
}

/**
 * One run's sink, reporter and asker in a notebook. Each cell that runs gets a NotebookCellExecution (its stop button
 * aborts the run); its output replaces the cell's outputs; an earlier cell's output (a span that ended) is replaced
 * through the running execution, or a short one that keeps the cell's recorded timing. Log events go into the
 * notebook's metadata, which the serializer writes as the file's log section.
 */
export class NotebookRun implements RunSink, RunReporter {
  private readonly cells: vscode.NotebookCell[];
  private readonly live = new Map<vscode.NotebookCell, Live>();
  private order: number;
  /** The sampler's latest view (or why there is none: the sandbox), for cells that start after it. */
  private lastMonitor: MonitorView | undefined;

  constructor(
    private readonly controller: vscode.NotebookController,
    private readonly notebook: vscode.NotebookDocument,
    private readonly abort: AbortController,
    startOrder: number,
  ) {
    this.cells = notebook.getCells();
    this.order = startOrder;
  }

  /** The last execution order given out (the controller keeps counting from it). */
  get executionOrder(): number {
    return this.order;
  }

  handle(index: number): unknown {
    return this.cells[index];
  }

  cellNow(handle: unknown): Cell | undefined {
    const cell = handle as vscode.NotebookCell | undefined;
    if (!cell || cell.notebook.isClosed || cell.index < 0) return undefined;
    return fromCellLike({ kind: cell.kind, languageId: cell.document.languageId, value: cell.document.getText(), metadata: cell.metadata, outputs: cell.outputs });
  }

  outputOf(handle: unknown): Output | undefined {
    const outs = this.cellNow(handle)?.outputs;
    return outs?.[outs.length - 1];
  }

  async cellStarted(_c: RunnableCell, handle: unknown): Promise<void> {
    const cell = handle as vscode.NotebookCell;
    const exec = this.controller.createNotebookCellExecution(cell);
    exec.executionOrder = ++this.order;
    exec.token.onCancellationRequested(() => this.abort.abort());
    exec.start(Date.now());
    const monitor = _c.cell.kind === 'sql' || _c.cell.kind === 'shell' ? this.lastMonitor : undefined;
    this.live.set(cell, { exec, started: new Date(), progress: '', streamed: '', lastUpdate: 0, kind: _c.cell.kind, monitor });
  }

  async cellOutput(_c: RunnableCell, handle: unknown, output: Output, source?: string, ran?: CellRun, attempt?: LoggedEvent): Promise<void> {
    const cell = handle as vscode.NotebookCell;
    const live = this.live.get(cell);
    if (live) live.final = true;
    if (live?.pending) clearTimeout(live.pending);
    const now = cell.document.getText();
    if (source === undefined && now !== _c.cell.source) {
      // The cell's text was edited in the editor while it ran: the output stays, and says it is for the text that ran.
      output.record.recorded_for = textHash(_c.cell.source);
      const message = `${cellLabel(_c)} was edited while it ran: its output is kept, marked "recorded_for":"${output.record.recorded_for}" (recorded for an earlier text of this cell). Run it again to record the text as it is.`;
      this.message(message);
      await this.log({ e: 'warning', warning: { run: String(output.record.run ?? ''), at: new Date().toISOString(), about: 'edit', message } });
    }
    if (source !== undefined && source !== now) {
      // Ticked checklist items are written into the cell, so the file shows them as done.
      const edit = new vscode.WorkspaceEdit();
      const doc = cell.document;
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), source);
      await vscode.workspace.applyEdit(edit);
    }
    await live?.exec.replaceOutput([toCellOutput(output, tablesOf(ran))]);
    if (attempt) await this.log(attempt.event, attempt.ctx);
  }

  cellEnded(handle: unknown, success: boolean): void {
    const cell = handle as vscode.NotebookCell;
    const live = this.live.get(cell);
    if (!live) return;
    if (live.pending) clearTimeout(live.pending);
    this.live.delete(cell);
    live.exec.end(success, Date.now());
  }

  async update(handle: unknown, output: Output): Promise<void> {
    const cell = handle as vscode.NotebookCell;
    if (!cell || cell.notebook.isClosed) return;
    const outputs = [toCellOutput(output)];
    const running = this.live.get(cell) ?? [...this.live.values()][0];
    if (running) {
      await running.exec.replaceOutput(outputs, cell);
      return;
    }
    // No execution is running: a short one replaces the output and keeps the cell's recorded start and end.
    const timing = cell.executionSummary?.timing;
    const exec = this.controller.createNotebookCellExecution(cell);
    if (cell.executionSummary?.executionOrder !== undefined) exec.executionOrder = cell.executionSummary.executionOrder;
    exec.start(timing?.startTime ?? Date.now());
    await exec.replaceOutput(outputs);
    exec.end(output.record.status === 'ok' || output.record.status === 'uncommitted', timing?.endTime ?? Date.now());
  }

  async amend(changes: readonly { handle: unknown; output: Output }[], ev: LoggedEvent): Promise<void> {
    // The notebook is the record until it is saved: outputs, then the event, as separate edits of one document.
    for (const c of changes) await this.update(c.handle, c.output);
    await this.log(ev.event, ev.ctx);
  }

  async log(event: LogEvent, ctx?: { source?: string; body?: string }): Promise<void> {
    // The log's hashes are of the cells as they are now: the notebook as a runbook model, its log from the metadata.
    const rb = fromNotebookDocument(this.notebook);
    if (rb.log) rb.log = { ...rb.log, events: [...rb.log.events] };
    appendLogEvent(rb, event, ctx);
    const meta = { ...((this.notebook.metadata?.runbook ?? {}) as NotebookMeta), log: rb.log };
    const edit = new vscode.WorkspaceEdit();
    edit.set(this.notebook.uri, [vscode.NotebookEdit.updateNotebookMetadata({ ...this.notebook.metadata, runbook: meta })]);
    if (!(await vscode.workspace.applyEdit(edit))) throw new Error(`could not record the migration log in ${vscode.workspace.asRelativePath(this.notebook.uri)}`);
  }

  async flush(): Promise<void> {
    // The notebook is the record until it is saved; saving is the operator's (VS Code marks it dirty).
  }

  // ---- RunReporter: live progress in the running cell's output --------------------------------------------------

  progress(c: RunnableCell, p: CellProgress): void {
    const live = this.live.get(this.cells[c.index]);
    if (!live) return;
    const parts = [`${(p.elapsedMs / 1000).toFixed(1)} s`];
    if (p.statement !== undefined) parts.push(`statement ${p.statement + 1}`);
    if (p.rows) parts.push(`${p.rows.toLocaleString()} rows`);
    if (p.text && live.kind === 'sql') {
      parts.push(p.text);
      live.locks = p.text;
    }
    live.progress = parts.join(' · ');
    this.scheduleLive(live);
  }

  output(c: RunnableCell, chunk: string): void {
    const live = this.live.get(this.cells[c.index]);
    if (!live) return;
    live.streamed = (live.streamed + chunk).slice(-LIVE_TAIL_CHARS);
    this.scheduleLive(live);
  }

  message(text: string): void {
    void vscode.window.showInformationMessage(`Runbook: ${text}`);
  }

  /** The monitoring sampler's latest sample: shown in the running SQL or shell cell's live output. */
  monitor(view: MonitorView): void {
    this.lastMonitor = view;
    for (const live of this.live.values()) {
      if (live.kind !== 'sql' && live.kind !== 'shell') continue;
      live.monitor = view;
      this.scheduleLive(live);
    }
  }

  /** The running checklist cell's live entry (a checklist asks while its execution runs). */
  private runningChecklist(): Live | undefined {
    return [...this.live.values()].find((l) => l.kind === 'checklist');
  }

  /**
   * Asks for checklist items in the running checklist cell's output (a checkbox per item) and, beside it, in the
   * multi-select. Each item clicked is confirmed at the time of its click; the checklist is answered when every item
   * is clicked, when the multi-select is accepted (its items get the time of the accept), when "Stop here" is
   * clicked, or when the run is cancelled. Dismissing the multi-select leaves the checkboxes waiting.
   */
  async askChecklist(prompts: Prompts, clicks: ChecklistClicks, items: ChecklistItem[]): Promise<ChecklistAnswer[]> {
    const live = this.runningChecklist();
    const token = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const waiting: WaitingChecklist = { token, items, confirmed: new Map(), pickerDismissed: false };
    const stopPicker = new AbortController();
    return new Promise((resolve) => {
      let settled = false;
      const answers = (extra: ChecklistItem[] = [], at = new Date()): ChecklistAnswer[] =>
        items.flatMap((item, i) => (waiting.confirmed.has(i) ? [{ item, at: waiting.confirmed.get(i)! }] : extra.includes(item) ? [{ item, at }] : []));
      const finish = (list: ChecklistAnswer[]): void => {
        if (settled) return;
        settled = true;
        reg.dispose();
        stopPicker.abort();
        this.abort.signal.removeEventListener('abort', onAbort);
        if (live) live.checklist = undefined;
        resolve(list);
      };
      const onAbort = (): void => finish(answers());
      const reg = clicks.register(token, (m) => {
        if (m.type === 'checklistStop') return finish(answers());
        const i = m.index ?? -1;
        if (!items[i] || waiting.confirmed.has(i)) return;
        waiting.confirmed.set(i, new Date());
        if (waiting.confirmed.size === items.length) return finish(answers());
        if (live) this.showLive(live);
      });
      this.abort.signal.addEventListener('abort', onAbort);
      if (live) {
        live.checklist = waiting;
        this.showLive(live);
      }
      void prompts.pickMany(
        items.map((item) => ({ label: item.text, item })),
        { title: 'Confirm the checklist items that are done', placeHolder: 'Tick what is done (or click the boxes in the cell\'s output); your name and the time are recorded. Unticked items stop Run All.', ignoreFocusOut: true },
        stopPicker.signal,
      ).then((picked) => {
        if (settled) return;
        if (picked === undefined && live) {
          // Dismissed: the checkboxes in the output still wait (and say so); the cell's stop button ends the wait.
          waiting.pickerDismissed = true;
          this.showLive(live);
          return;
        }
        finish(answers((picked ?? []).map((p) => p.item)));
      });
    });
  }

  private scheduleLive(live: Live): void {
    if (live.pending || live.final) return;
    live.pending = setTimeout(() => this.showLive(live), Math.max(0, LIVE_UPDATE_MS - (Date.now() - live.lastUpdate)));
  }

  private showLive(live: Live): void {
    live.pending = undefined;
    if (live.final) return;
    live.lastUpdate = Date.now();
    const payload: Record<string, unknown> = { record: { status: 'running', started: live.started.toISOString() }, body: live.streamed || undefined, progress: live.progress, live: true };
    if (live.locks) payload.locks = live.locks;
    if (live.monitor) payload.monitor = { available: live.monitor.available, rows: monitorRows(live.monitor), at: new Date().toISOString(), sampleAtMs: live.monitor.sample?.at, intervalMs: live.monitor.intervalMs };
    const cl = live.checklist;
    if (cl) {
      payload.progress = cl.pickerDismissed ? 'waiting for the checklist: click each item when it is done, or Stop here' : 'waiting for the checklist';
      payload.checklist = { token: cl.token, items: cl.items.map((it, i) => ({ text: it.text, confirmedAt: cl.confirmed.get(i)?.toISOString() })) };
    }
    void live.exec.replaceOutput([new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.json(payload, RESULT_MIME), vscode.NotebookCellOutputItem.text(live.streamed || live.progress)])]);
  }
}

/**
 * The run's questions as VS Code prompts: modal yes/no, the production name in an input box, checklist items as
 * checkboxes in the cell's output and in a multi-select ({@link NotebookRun.askChecklist}).
 */
export function notebookAsker(prompts: Prompts, front?: NotebookRun, clicks?: ChecklistClicks): RunAsker {
  return {
    confirm: async (question, detail) => (await prompts.ask(question, detail ?? '', 'Yes')) === 'Yes',
    typeName: (question, expected) => askProductionName(prompts, expected, question.replace(/\. Type the connection name to go on: $/, '')),
    confirmChecklist: async (_cell: Cell, items: ChecklistItem[]): Promise<ChecklistAnswer[]> => {
      if (front && clicks) return front.askChecklist(prompts, clicks, items);
      if (items.length === 1) {
        const answer = await prompts.ask(`Confirm: ${items[0].text}`, 'Your name and the time are recorded in the runbook.', 'Confirm');
        return answer === 'Confirm' ? [{ item: items[0], at: new Date() }] : [];
      }
      const picked = await prompts.pickMany(
        items.map((item) => ({ label: item.text, item })),
        { title: 'Confirm the checklist items that are done', placeHolder: 'Tick what is done; your name and the time are recorded. Unticked items stop Run All.', ignoreFocusOut: true },
      );
      const at = new Date();
      return (picked ?? []).map((p) => ({ item: p.item, at }));
    },
  };
}
