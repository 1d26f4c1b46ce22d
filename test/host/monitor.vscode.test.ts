// Extension-host tests of the notebook as a Jupyter user expects it: a checklist confirmed by clicking the checkboxes
// in its rendered output (real clicks in the webview, through test/host/run.mjs's UI bridge), and the monitoring view
// updating in the running cell's output during a long cell.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { parseRunbook, type Output } from '../../src/format';
import type { RunbookApi } from '../../src/vscode/extension';
import { EXTENSION_ID, observer, scratchCopy, waitFor, workspaceRoot } from './helpers';

const CONTROLLER_ID = 'runbook-notebooks.runner';
const RESULT_MIME = 'application/vnd.runbook.result+json';

interface LivePayload {
  record: Output['record'];
  live?: boolean;
  progress?: string;
  checklist?: { token: string; items: { text: string; confirmedAt?: string }[] };
  monitor?: { available: boolean; rows: [string, string][]; at: string };
}

function payloadOf(cell: vscode.NotebookCell): LivePayload | undefined {
  const item = cell.outputs[0]?.items.find((i) => i.mime === RESULT_MIME);
  return item ? (JSON.parse(new TextDecoder().decode(item.data)) as LivePayload) : undefined;
}

/** Asks test/host/run.mjs to click the first visible, enabled match of `selector` in the workbench's frames. */
function uiClick(selector: string, id: string): void {
  console.log(`[runbook-ui] click ${JSON.stringify({ selector, id })}`);
}

describe('notebook as a Jupyter user expects', function () {
  this.timeout(90_000);
  const created: string[] = [];
  let api: RunbookApi;

  before(async () => {
    const ext = vscode.extensions.getExtension<RunbookApi>(EXTENSION_ID)!;
    api = await ext.activate();
    api.prompts.headless = true;
  });
  afterEach(async () => {
    for (const e of vscode.window.visibleNotebookEditors) if (e.notebook.isDirty) await e.notebook.save();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });
  after(() => {
    for (const f of created) fs.rmSync(f, { force: true });
  });

  async function openMonitor(): Promise<{ doc: vscode.NotebookDocument; file: string; checklist: vscode.NotebookCell; long: vscode.NotebookCell }> {
    const file = scratchCopy(path.join(workspaceRoot(), 'exec', 'monitor.runbook'), 'ui');
    created.push(file);
    await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(file), 'runbook');
    const doc = vscode.window.activeNotebookEditor!.notebook;
    await vscode.commands.executeCommand('notebook.selectKernel', { id: CONTROLLER_ID, extension: EXTENSION_ID });
    const code = doc.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
    return { doc, file, checklist: code[0], long: code[1] };
  }

  it('confirms a checklist by clicking the checkboxes in its output, each item at the time of its click', async () => {
    assert.ok(process.env.RUNBOOK_HOST_UI_BRIDGE, 'this test clicks in the rendered output: it needs the server host of test/host/run.mjs (not --electron)');
    const { doc, file, checklist } = await openMonitor();
    const shownBefore = api.prompts.shown.length;
    const running = vscode.commands.executeCommand('notebook.cell.execute', { ranges: [{ start: checklist.index, end: checklist.index + 1 }], document: doc.uri });
    // The checkboxes are in the live output while the checklist waits (the multi-select is open beside them).
    await waitFor(() => payloadOf(checklist)?.checklist?.items.length === 2, 'the checklist\'s checkboxes in its output');
    assert.ok(api.prompts.shown.slice(shownBefore).some((p) => p.kind === 'quickPick'), 'the multi-select is offered too');
    // Dismissed (it would cover the output): the checkboxes still wait, and say so.
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    await waitFor(() => /click each item when it is done/.test(payloadOf(checklist)?.progress ?? ''), 'the output to say it still waits for clicks');
    const t0 = Date.now();
    uiClick('.rb-checklist input[type=checkbox][data-index="0"]', 'first item');
    await waitFor(() => payloadOf(checklist)?.checklist?.items[0].confirmedAt !== undefined, 'the first click to be recorded in the live output');
    assert.strictEqual(payloadOf(checklist)?.checklist?.items[1].confirmedAt, undefined, 'only the clicked item is confirmed');
    await new Promise((r) => setTimeout(r, 300));
    uiClick('.rb-checklist input[type=checkbox][data-index="1"]', 'second item');
    await running;
    await waitFor(() => checklist.executionSummary?.success !== undefined, 'the checklist to finish');
    assert.strictEqual(checklist.executionSummary?.success, true, JSON.stringify(payloadOf(checklist)?.record));
    assert.strictEqual(checklist.document.getText(), '- [x] Window confirmed\n- [x] On-call alerted');
    const items = payloadOf(checklist)!.record.items as { text: string; by: string; at: string; run?: string }[];
    assert.deepStrictEqual(items.map((i) => i.text), ['Window confirmed', 'On-call alerted']);
    const [a, b] = items.map((i) => Date.parse(i.at));
    assert.ok(a >= t0 - 1000 && b >= a + 250, `each item has the time of its own click: ${items.map((i) => i.at).join(', ')}`);
    assert.ok(items.every((i) => i.by && i.run === payloadOf(checklist)!.record.run), 'who confirmed it, in this run');
    assert.strictEqual(payloadOf(checklist)!.record.connection, 'host-test');
    // Saved: the same record path as the picker's, in the file and its log.
    await doc.save();
    const rb = parseRunbook(fs.readFileSync(file));
    const saved = rb.cells.find((c) => c.kind === 'checklist')!;
    assert.deepStrictEqual((saved.outputs[0].record.items as { at: string }[]).map((i) => i.at), items.map((i) => i.at));
    assert.ok(rb.log?.events.some((e) => e.e === 'attempt' && e.attempt.status === 'ok'), 'the attempt is in the migration log');
  });

  it('shows the live lock view in the output of a cell that waits for a lock: whom it waits for', async () => {
    const file = scratchCopy(path.join(workspaceRoot(), 'exec', 'lockview.runbook'), 'locks');
    created.push(file);
    await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(file), 'runbook');
    const doc = vscode.window.activeNotebookEditor!.notebook;
    await vscode.commands.executeCommand('notebook.selectKernel', { id: CONTROLLER_ID, extension: EXTENSION_ID });
    const cell = doc.getCells().find((c) => c.kind === vscode.NotebookCellKind.Code)!;
    const holder = await observer();
    await holder.query('CREATE TABLE IF NOT EXISTS host_lockview (id int PRIMARY KEY, n int); INSERT INTO host_lockview VALUES (1, 0) ON CONFLICT DO NOTHING');
    const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await holder.query('BEGIN; UPDATE host_lockview SET n = n + 1 WHERE id = 1');
    try {
      const running = vscode.commands.executeCommand('notebook.cell.execute', { ranges: [{ start: cell.index, end: cell.index + 1 }], document: doc.uri });
      const waits = new RegExp(`^waiting [\\d.]+ s for pid ${holderPid} \\(idle in transaction`);
      await waitFor(() => waits.test((payloadOf(cell) as { locks?: string } | undefined)?.locks ?? ''), 'the live lock view to name the session the cell waits for', 15_000);
      assert.strictEqual(cell.executionSummary?.success, undefined, 'the cell is still running');
      await holder.query('ROLLBACK');
      await running;
      await waitFor(() => cell.executionSummary?.success !== undefined, 'the cell to finish');
      assert.strictEqual(cell.executionSummary?.success, true);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
  });

  it('updates the monitoring view in the running cell\'s output during a long cell, and logs the peaks', async () => {
    const { doc, file, long } = await openMonitor();
    await vscode.workspace.getConfiguration('runbook').update('monitor.intervalMs', 300, vscode.ConfigurationTarget.Workspace);
    // Another session holds a row lock and a third waits for it: the view must show the waiting session.
    const holder = await observer();
    const waiter = await observer();
    await holder.query('CREATE TABLE IF NOT EXISTS host_monitor (id int PRIMARY KEY, n int); INSERT INTO host_monitor VALUES (1, 0) ON CONFLICT DO NOTHING');
    await holder.query('BEGIN; UPDATE host_monitor SET n = n + 1 WHERE id = 1');
    const waiting = waiter.query('UPDATE host_monitor SET n = n + 1 WHERE id = 1');
    try {
      const running = vscode.commands.executeCommand('notebook.cell.execute', { ranges: [{ start: long.index, end: long.index + 1 }], document: doc.uri });
      const seen = new Set<string>();
      await waitFor(() => {
        const m = payloadOf(long)?.monitor;
        if (m && long.executionSummary?.success === undefined) seen.add(m.at);
        return seen.size >= 3;
      }, 'three monitoring views while the cell runs', 15_000);
      const m = payloadOf(long)!.monitor!;
      assert.strictEqual(m.available, true);
      const rows = new Map(m.rows);
      assert.match(rows.get('Connections') ?? '', /^\d+: \d+ active, [1-9]\d* idle in transaction/);
      assert.strictEqual(rows.get('Waiting on locks'), '1');
      assert.match(rows.get('Longest transaction') ?? '', /^[\d.]+ s: pid \d+/);
      assert.strictEqual(rows.get('Replication'), 'no replicas (pg_stat_replication is empty)');
      await running;
      await waitFor(() => long.executionSummary?.success !== undefined, 'the long cell to finish');
      assert.strictEqual(long.executionSummary?.success, true);
      assert.strictEqual(payloadOf(long)?.monitor, undefined, 'the final output replaced the live view');
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await waiting.catch(() => undefined);
      await holder.end();
      await waiter.end();
      await vscode.workspace.getConfiguration('runbook').update('monitor.intervalMs', undefined, vscode.ConfigurationTarget.Workspace);
    }
    await doc.save();
    const end = (parseRunbook(fs.readFileSync(file)).log?.events ?? []).filter((e) => e.e === 'end').pop();
    assert.ok(end && end.e === 'end');
    const peaks = end.end.monitor as { available: boolean; samples: number; lockWaiting: number; intervalMs: number };
    assert.deepStrictEqual([peaks.available, peaks.lockWaiting, peaks.intervalMs], [true, 1, 300]);
    assert.ok(peaks.samples >= 3, `${peaks.samples} samples`);
  });
});
