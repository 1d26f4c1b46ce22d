// Extension-host tests of the NotebookController against a real PostgreSQL: run all, sessions, cancel, stop on failure, checklists, production guard, save.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { cellSignature, parseRunbook, type Output } from '../../src/format';
import type { RunbookApi } from '../../src/vscode/extension';
import { acquireRunLock, lockPathFor } from '../../src/run/run-lock';
import { textHash } from '../../src/run/journal';
import { EXTENSION_ID, observer, scratchCopy, waitFor, workspaceRoot } from './helpers';

const CONTROLLER_ID = 'runbook-notebooks.runner';
const RESULT_MIME = 'application/vnd.runbook.result+json';

interface Payload {
  record: Output['record'];
  body?: string;
  results?: { columns: { name: string }[]; rows: (string | null)[][] }[];
}

async function api(): Promise<RunbookApi> {
  const ext = vscode.extensions.getExtension<RunbookApi>(EXTENSION_ID);
  assert.ok(ext);
  const a = await ext.activate();
  a.prompts.headless = true;
  return a;
}

/** Opens a scratch copy of `exec/<name>` in an editor with the runbook controller selected. */
async function openExec(name: string): Promise<{ doc: vscode.NotebookDocument; file: string }> {
  await api();
  const file = scratchCopy(path.join(workspaceRoot(), 'exec', name), 'run');
  // Opened as a user opens it (not with openNotebookDocument, whose reference keeps the document open
  // for minutes after its editor closes), so closing the editor closes the document.
  await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(file), 'runbook');
  const doc = vscode.window.activeNotebookEditor?.notebook;
  assert.ok(doc && doc.uri.fsPath === file, `${file} is open in the active notebook editor`);
  await vscode.commands.executeCommand('notebook.selectKernel', { id: CONTROLLER_ID, extension: EXTENSION_ID });
  return { doc, file };
}

function payloadOf(cell: vscode.NotebookCell): Payload | undefined {
  const item = cell.outputs[0]?.items.find((i) => i.mime === RESULT_MIME);
  return item ? (JSON.parse(new TextDecoder().decode(item.data)) as Payload) : undefined;
}

function codeCells(doc: vscode.NotebookDocument): vscode.NotebookCell[] {
  return doc.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
}

function byName(doc: vscode.NotebookDocument, name: string): vscode.NotebookCell {
  const cell = doc.getCells().find((c) => (c.metadata.runbook as { options?: { name?: string } } | undefined)?.options?.name === name);
  assert.ok(cell, `cell named ${name}`);
  return cell;
}

async function runCells(doc: vscode.NotebookDocument, start: number, end: number): Promise<void> {
  await vscode.commands.executeCommand('notebook.cell.execute', { ranges: [{ start, end }], document: doc.uri });
}

async function runAll(doc: vscode.NotebookDocument): Promise<void> {
  await vscode.commands.executeCommand('notebook.execute', doc.uri);
}

describe('NotebookController', function () {
  this.timeout(90_000);
  const created: string[] = [];
  afterEach(async () => {
    // Save scratch copies first: closing a dirty notebook would wait on a "save?" dialog.
    for (const e of vscode.window.visibleNotebookEditors) if (e.notebook.isDirty) await e.notebook.save();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });
  after(() => {
    for (const f of created) fs.rmSync(f, { force: true });
  });

  it('runs every cell against PostgreSQL in one session and saves the migration log', async () => {
    const a = await api();
    const { doc, file } = await openExec('session.runbook');
    created.push(file);
    await vscode.commands.executeCommand('runbook.selectConnection', { connection: 'host-test' });
    a.prompts.answerNext(['Window confirmed', 'Backup verified']);
    await runAll(doc);
    const cells = codeCells(doc);
    await waitFor(() => cells.every((c) => c.executionSummary?.success !== undefined), 'every cell to finish');
    for (const c of cells) assert.strictEqual(c.executionSummary?.success, true, `cell ${c.index} succeeded: ${JSON.stringify(payloadOf(c)?.record)}`);
    const orders = cells.map((c) => c.executionSummary?.executionOrder ?? 0);
    assert.deepStrictEqual([...orders].sort((x, y) => x - y), orders, 'execution order follows the cells');

    // The checklist was confirmed through the multi-select and ticked in the cell.
    assert.deepStrictEqual(a.prompts.shown.filter((p) => p.kind === 'quickPick').pop()?.options, ['Window confirmed', 'Backup verified']);
    assert.match(cells[0].document.getText(), /^- \[x\] Window confirmed\n- \[x\] Backup verified$/);

    // BEGIN in one cell, COMMIT in the next: same session, and the transaction state is recorded.
    const begin = payloadOf(byName(doc, 'begin-insert'))!;
    assert.deepStrictEqual(begin.record.statements?.map((s) => [s.tag, s.tx]), [['BEGIN', 'in transaction'], ['INSERT 0 2', 'in transaction']]);
    const select = payloadOf(byName(doc, 'commit-select'))!;
    assert.deepStrictEqual(select.record.statements?.map((s) => s.tag), ['COMMIT', 'SELECT 2']);
    // NULL and the empty string stay distinct in what the renderer gets.
    assert.deepStrictEqual(select.results?.[0].rows, [['1', null], ['2', '']]);
    const shell = payloadOf(byName(doc, 'psql-count'))!;
    assert.strictEqual(shell.body, 'rows: 2', 'psql in a shell cell reaches the same database');

    assert.ok(await doc.save());
    const saved = parseRunbook(fs.readFileSync(file));
    assert.deepStrictEqual(saved.problems, []);
    const savedCode = saved.cells.filter((c) => c.kind !== 'markdown');
    assert.deepStrictEqual(savedCode.map((c) => c.outputs.map((o) => o.record.status)), [['ok'], ['ok'], ['ok'], ['ok'], ['ok']]);
    const rec = savedCode[3].outputs[0].record;
    assert.strictEqual(rec.connection, 'host-test');
    assert.strictEqual(rec.environment, 'development');
    assert.ok(rec.by && rec.started && typeof rec.ms === 'number' && rec.server, 'record has operator, start, duration and server');
    assert.match(savedCode[3].outputs[0].body ?? '', /^COMMIT\n\n id \| note \n----\+------\n {2}1 \| \n {2}2 \| \n\(2 rows\)$/);
    assert.match(saved.cells[1].source, /\[x\] Window confirmed/);
    const items = savedCode[0].outputs[0].record.items as { text: string; by: string; at: string }[];
    assert.deepStrictEqual(items.map((i) => i.text), ['Window confirmed', 'Backup verified']);
    if (process.env.PGPASSWORD) assert.ok(!fs.readFileSync(file, 'utf8').includes(process.env.PGPASSWORD), 'no password in the file');
  });

  it('shows the transaction state of the session in the status bar', async () => {
    const a = await api();
    const { doc, file } = await openExec('session.runbook');
    created.push(file);
    await vscode.commands.executeCommand('runbook.selectConnection', { connection: 'host-test' });
    await runCells(doc, byName(doc, 'create').index, byName(doc, 'begin-insert').index + 1);
    await waitFor(() => a.sessions.txState(doc, 'host-test') === 'in transaction', 'the session to be in a transaction');
    await a.statusBar.update();
    assert.match(a.statusBar.text, /host-test · development · .*in transaction/);
    a.prompts.answerNext('Roll Back and Close');
    await vscode.commands.executeCommand('runbook.closeSession');
    assert.strictEqual(a.sessions.txState(doc, 'host-test'), undefined, 'the session is closed');
  });

  it('refuses to run a file whose lock another run holds, naming the holder, and runs once it is released', async () => {
    const a = await api();
    const { doc, file } = await openExec('stops.runbook');
    created.push(file);
    const holder = acquireRunLock(file, { run: '20260101T000000Z-beef', operator: 'cli-operator' });
    try {
      await runAll(doc);
      await waitFor(() => a.prompts.shown.some((p) => p.kind === 'error' && p.title.includes('run 20260101T000000Z-beef, operator cli-operator')), 'the refusal naming the holder');
      assert.ok(codeCells(doc).every((c) => c.outputs.length === 0), 'nothing ran');
    } finally {
      holder.release();
    }
    await runAll(doc);
    const [first] = codeCells(doc);
    await waitFor(() => first.executionSummary?.success !== undefined, 'the first cell to run');
    await waitFor(() => !fs.existsSync(lockPathFor(file)), 'the run\'s own lock to be released');
  });

  it('refuses to run a file beside which a killed CLI run left its journal, naming runbook recover', async () => {
    const a = await api();
    const { doc, file } = await openExec('stops.runbook');
    created.push(file, `${file}.journal`);
    // What a CLI run killed after its first cell leaves: its output journaled, not yet in the file.
    const rb = parseRunbook(fs.readFileSync(file));
    const cell = rb.cells.findIndex((c) => c.kind !== 'markdown');
    fs.writeFileSync(`${file}.journal`, JSON.stringify({ v: 1, cell, sig: cellSignature(rb.cells[cell]), outputs: [{ record: { status: 'ok', run: '20260101T000000Z-dead' } }] }) + '\n');
    try {
      await runAll(doc);
      await waitFor(() => a.prompts.shown.some((p) => p.kind === 'error' && /interrupted run's records are not in this file yet/.test(p.title) && /runbook recover/.test(JSON.stringify(p))), 'the refusal naming runbook recover');
      assert.ok(codeCells(doc).every((c) => c.outputs.length === 0), 'nothing ran');
      assert.ok(!fs.existsSync(lockPathFor(file)), 'the lock taken for the check is released');
    } finally {
      fs.rmSync(`${file}.journal`, { force: true });
    }
    await runAll(doc);
    await waitFor(() => codeCells(doc)[0].executionSummary?.success !== undefined, 'the first cell to run once the journal is gone');
  });

  it('stops Run All at the first failing cell', async () => {
    const { doc, file } = await openExec('stops.runbook');
    created.push(file);
    await runAll(doc);
    const [first, failing, third] = codeCells(doc);
    await waitFor(() => failing.executionSummary?.success !== undefined, 'the failing cell to finish');
    assert.strictEqual(first.executionSummary?.success, true);
    assert.strictEqual(failing.executionSummary?.success, false);
    assert.strictEqual(payloadOf(failing)?.record.error?.sqlstate, '42P01');
    assert.strictEqual(third.outputs.length, 0, 'the cell after the failure did not run');
    assert.strictEqual(third.executionSummary?.success, undefined);
  });

  it('stops Run All at a checklist left unconfirmed', async () => {
    const a = await api();
    const { doc, file } = await openExec('session.runbook');
    created.push(file);
    a.prompts.answerNext(['Window confirmed']);
    await runAll(doc);
    const cells = codeCells(doc);
    await waitFor(() => cells[0].executionSummary?.success !== undefined, 'the checklist to finish');
    assert.strictEqual(cells[0].executionSummary?.success, false);
    assert.match(payloadOf(cells[0])?.record.error?.message ?? '', /not confirmed: Backup verified/);
    assert.match(cells[0].document.getText(), /\[x\] Window confirmed\n- \[ \] Backup verified/);
    assert.strictEqual(cells[1].outputs.length, 0, 'nothing after the checklist ran');
  });

  it('streams shell output into the cell while it runs', async () => {
    const { doc, file } = await openExec('stream.runbook');
    created.push(file);
    const shell = byName(doc, 'slow-shell');
    const running = runCells(doc, shell.index, shell.index + 1);
    await waitFor(() => (payloadOf(shell) as { live?: boolean } | undefined)?.live === true && payloadOf(shell)?.body === 'first line\n', 'the first line while the cell runs', 10_000);
    assert.strictEqual(shell.executionSummary?.success, undefined, 'the cell is still running');
    await running;
    await waitFor(() => shell.executionSummary?.success !== undefined, 'the shell cell to end');
    assert.strictEqual(payloadOf(shell)?.body, 'first line\nsecond line');
    assert.strictEqual((payloadOf(shell) as { live?: boolean }).live, undefined, 'the final output replaced the live one');
  });

  it('asks in the multi-select (beside the checkbox in the output) for a checklist of one item and records who confirmed it', async () => {
    const a = await api();
    const { doc, file } = await openExec('stream.runbook');
    created.push(file);
    const checklist = codeCells(doc)[0];
    a.prompts.answerNext(['Backup verified']);
    await runCells(doc, checklist.index, checklist.index + 1);
    await waitFor(() => checklist.executionSummary?.success !== undefined, 'the checklist');
    const asked = a.prompts.shown[a.prompts.shown.length - 1];
    assert.deepStrictEqual([asked.kind, asked.title, asked.options], ['quickPick', 'Confirm the checklist items that are done', ['Backup verified']]);
    assert.strictEqual(checklist.executionSummary?.success, true);
    assert.strictEqual(checklist.document.getText(), '- [x] Backup verified');
    const items = payloadOf(checklist)?.record.items as { text: string; by: string; at: string }[];
    assert.strictEqual(items[0].text, 'Backup verified');
    assert.ok(items[0].by && !Number.isNaN(Date.parse(items[0].at)), 'who and when are recorded');
  });

  it('cancels a running pg_sleep on the server and keeps the session usable', async () => {
    const { doc, file } = await openExec('cancel.runbook');
    created.push(file);
    const sleep = byName(doc, 'sleep');
    const watcher = await observer();
    try {
      const started = Date.now();
      const running = runCells(doc, sleep.index, sleep.index + 1);
      await waitFor(async () => (await watcher.query("SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'")).rowCount === 1, 'pg_sleep to run on the server');
      // While it runs, the cell shows a live output: elapsed time and the statement running.
      await waitFor(() => /^\d+\.\d s · statement 1/.test(String((payloadOf(sleep) as { progress?: string } | undefined)?.progress)), 'the live progress of the running statement', 10_000);
      await vscode.commands.executeCommand('notebook.cell.cancelExecution', { ranges: [{ start: sleep.index, end: sleep.index + 1 }], document: doc.uri });
      await running;
      await waitFor(() => sleep.executionSummary?.success !== undefined, 'the cancelled cell to end');
      assert.ok(Date.now() - started < 15_000, 'cancel did not wait for pg_sleep(30)');
      const rec = payloadOf(sleep)!.record;
      assert.strictEqual(rec.status, 'cancelled');
      assert.strictEqual(rec.error?.sqlstate, '57014', 'query_canceled: cancelled on the server');
      assert.strictEqual((await watcher.query("SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'")).rowCount, 0);
      const after = byName(doc, 'after');
      await runCells(doc, after.index, after.index + 1);
      await waitFor(() => after.executionSummary?.success !== undefined, 'the next cell');
      assert.strictEqual(after.executionSummary?.success, true, 'the same session runs the next cell');
    } finally {
      await watcher.end();
    }
    assert.ok(await doc.save());
    const saved = parseRunbook(fs.readFileSync(file)).cells.filter((c) => c.kind === 'sql');
    assert.strictEqual(saved[0].outputs[0].record.status, 'cancelled');
    assert.strictEqual(saved[1].outputs[0].record.status, 'ok');
  });

  it('keeps the output of a cell edited in the editor while it runs, marked as recorded for the text that ran', async () => {
    const { doc, file } = await openExec('edit.runbook');
    created.push(file);
    const slow = byName(doc, 'slow');
    const ran = slow.document.getText();
    const watcher = await observer();
    try {
      const running = runCells(doc, slow.index, slow.index + 1);
      await waitFor(async () => (await watcher.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3) AS slept%' AND state = 'active'")).rowCount === 1, 'pg_sleep to run on the server');
      // The operator types into the running cell.
      const edit = new vscode.WorkspaceEdit();
      edit.replace(slow.document.uri, new vscode.Range(0, 0, slow.document.lineCount, 0), 'SELECT pg_sleep(3) AS slept, 42 AS answer;');
      assert.ok(await vscode.workspace.applyEdit(edit));
      await running;
      await waitFor(() => slow.executionSummary?.success !== undefined, 'the edited cell to end');
    } finally {
      await watcher.end();
    }
    const rec = payloadOf(slow)?.record;
    assert.strictEqual(rec?.status, 'ok', 'the output is there, not dropped');
    assert.strictEqual(rec?.recorded_for, textHash(ran), 'it names the text that ran');
    assert.ok(await doc.save());
    const saved = parseRunbook(fs.readFileSync(file));
    const cell = saved.cells.find((c) => c.kind === 'sql')!;
    assert.match(cell.source, /42 AS answer/, 'the edit is kept');
    assert.strictEqual(cell.outputs[0]?.record.recorded_for, textHash(ran));
    const warnings = (saved.log?.events ?? []).filter((e) => e.e === 'warning' && e.warning.about === 'edit');
    assert.strictEqual(warnings.length, 1, 'the log says the output is for an earlier text');
  });

  it('kills a cancelled shell cell and records the signal', async () => {
    const { doc, file } = await openExec('cancel.runbook');
    created.push(file);
    const shell = byName(doc, 'sleep-shell');
    const running = runCells(doc, shell.index, shell.index + 1);
    await new Promise((r) => setTimeout(r, 800));
    const t0 = Date.now();
    await vscode.commands.executeCommand('notebook.cell.cancelExecution', { ranges: [{ start: shell.index, end: shell.index + 1 }], document: doc.uri });
    await running;
    await waitFor(() => shell.executionSummary?.success !== undefined, 'the shell cell to end');
    assert.ok(Date.now() - t0 < 10_000);
    const rec = payloadOf(shell)!.record;
    assert.strictEqual(rec.status, 'cancelled');
    assert.ok(rec.signal, `a signal ended the process group: ${JSON.stringify(rec)}`);
  });

  it('asks for the production connection name before the first change, once per session', async () => {
    const a = await api();
    const { doc, file } = await openExec('production.runbook');
    created.push(file);
    await vscode.commands.executeCommand('runbook.selectConnection', { connection: 'host-prod' });
    await a.statusBar.update();
    assert.match(a.statusBar.text, /PRODUCTION · host-prod/);
    assert.strictEqual(a.statusBar.background, 'statusBarItem.errorBackground');

    const asked = (): number => a.prompts.shown.filter((p) => p.kind === 'inputBox' && p.title.includes('host-prod')).length;
    const refusals = (): string[] => a.prompts.shown.filter((p) => p.kind === 'error').map((p) => p.title);
    const before = asked();
    const refusedBefore = refusals().length;
    a.prompts.answerNext('Yes', 'host-pro'); // no rehearsal of this content: go on; then a typo: the input box refuses it (as it would typed), and the plan refuses the run
    await runAll(doc);
    const [read, change, again] = codeCells(doc);
    await waitFor(() => refusals().length > refusedBefore, 'the refusal');
    assert.match(refusals()[refusals().length - 1], /nothing was run on host-prod \(production\)[\s\S]*the production connection host-prod was not confirmed/);
    assert.deepStrictEqual([read.outputs.length, change.outputs.length, again.outputs.length], [0, 0, 0], 'not even the read-only cell ran');
    assert.strictEqual(asked(), before + 1);

    a.prompts.answerNext('Yes', 'host-prod'); // the rehearsal question, then the name
    await runAll(doc);
    await waitFor(() => again.executionSummary?.success !== undefined, 'the last cell');
    assert.strictEqual(read.executionSummary?.success, true);
    assert.strictEqual(change.executionSummary?.success, true);
    assert.strictEqual(again.executionSummary?.success, true);
    assert.strictEqual(asked(), before + 2);
    assert.strictEqual(payloadOf(again)?.record.environment, 'production');

    // Running a cell again that already succeeded on production asks first; declining keeps its output. The name
    // typed once in this session is not asked again.
    const okBefore = payloadOf(again)?.record.started;
    a.prompts.answerNext(undefined);
    await runCells(doc, again.index, again.index + 1);
    await waitFor(() => refusals().length > refusedBefore + 1, 'the second refusal');
    const rerunQuestion = a.prompts.shown.filter((p) => p.kind === 'message').pop()!;
    assert.match(rerunQuestion.title, /Already run on production connection host-prod: cell 3 \(change-again\) succeeded at/);
    assert.strictEqual(payloadOf(again)?.record.started, okBefore, 'the earlier output is kept');
    assert.strictEqual(asked(), before + 2, 'the production name was not asked again in the same session');
    await vscode.commands.executeCommand('runbook.closeSession');
  });

  it('asks whether to roll back when a notebook closes with an open transaction', async () => {
    const a = await api();
    const { doc, file } = await openExec('session.runbook');
    created.push(file);
    await runCells(doc, byName(doc, 'create').index, byName(doc, 'begin-insert').index + 1);
    await waitFor(() => a.sessions.txState(doc, 'host-test') === 'in transaction', 'an open transaction');
    const watcher = await observer();
    try {
      const idleInTx = async (): Promise<number> =>
        (await watcher.query("SELECT 1 FROM pg_stat_activity WHERE state = 'idle in transaction' AND application_name LIKE 'runbook%' AND datname = current_database()")).rowCount ?? 0;
      assert.strictEqual(await idleInTx(), 1);
      a.prompts.answerNext('Roll Back');
      assert.ok(await doc.save());
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      await waitFor(() => a.prompts.shown.some((p) => p.kind === 'message' && p.title.includes('was closed with an open transaction on host-test (in transaction)')), 'the roll back / keep question', 30_000);
      await waitFor(async () => (await idleInTx()) === 0, 'the transaction to be rolled back');
      assert.strictEqual((await watcher.query('SELECT count(*)::int AS n FROM host_orders')).rows[0].n, 0, 'the INSERT was rolled back');
      // The saved file says so: the cell of the span closed with "Roll Back" is marked in the file on disk.
      await waitFor(() => parseRunbook(fs.readFileSync(file)).cells.find((c) => c.options.name === 'begin-insert')!.outputs[0]?.record.status === 'rolled back', 'the rolled back cell to be marked in the file');
      const marked = parseRunbook(fs.readFileSync(file)).cells.find((c) => c.options.name === 'begin-insert')!.outputs[0].record;
      assert.match(String((marked.span as { reason?: string }).reason), /the notebook was closed with "Roll Back": rolled back/);
    } finally {
      await watcher.end();
    }
  });
});
