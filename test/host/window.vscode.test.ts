// Extension-host test of the window and notifications: the status bar shows where now stands against the window, a
// production run outside it asks in a modal and records who allowed it, and the webhook stored with "Runbook: Set
// Notification Webhook" hears the run start and finish.
import * as assert from 'assert';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import * as vscode from 'vscode';
import type { LogEvent } from '../../src/format';
import type { RunbookApi } from '../../src/vscode/extension';
import { EXTENSION_ID, scratchCopy, waitFor, within, workspaceRoot } from './helpers';

const CONTROLLER_ID = 'runbook-notebooks.runner';

describe('Window and notifications', function () {
  this.timeout(90_000);
  const received: Record<string, unknown>[] = [];
  let server: http.Server;
  let url = '';

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/secret-token`;
  });
  after(async () => {
    for (const e of vscode.window.visibleNotebookEditors) if (e.notebook.isDirty) await e.notebook.save();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('shows the window in the status bar, asks before a production run outside it, and notifies the stored webhook', async () => {
    const ext = vscode.extensions.getExtension<RunbookApi>(EXTENSION_ID);
    assert.ok(ext);
    const a = await ext.activate();
    a.prompts.headless = true;
    const step = <T>(what: string, p: Thenable<T>): Promise<T> => within(20_000, what, p);
    assert.strictEqual(await step('the webhook to be stored', vscode.commands.executeCommand('runbook.setNotificationWebhook', { name: 'HOST_HOOK', url })), 'HOST_HOOK');

    const file = scratchCopy(path.join(workspaceRoot(), 'exec', 'window.runbook'), 'run');
    await step('the notebook to open', vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(file), 'runbook'));
    const doc = vscode.window.activeNotebookEditor?.notebook;
    assert.ok(doc && doc.uri.fsPath === file, `${file} is open in the active notebook editor`);
    await step('the kernel to be selected', vscode.commands.executeCommand('notebook.selectKernel', { id: CONTROLLER_ID, extension: EXTENSION_ID }));
    await step('the connection to be chosen', vscode.commands.executeCommand('runbook.selectConnection', { connection: 'host-prod' }));
    await step('the status bar', a.statusBar.update());
    assert.match(a.statusBar.text, /PRODUCTION · host-prod .*\$\(clock\) window closed .* ago/);

    // The window modal, the rehearsal question and the production name, each to its own prompt: a question from
    // elsewhere (a notebook of an earlier test closing with a transaction open) takes none of them.
    a.prompts.answerWhen(/outside the runbook's window/, 'Yes');
    a.prompts.answerWhen(/has no passing rehearsal/, 'Yes');
    a.prompts.answerWhen(/^PRODUCTION: host-prod/, 'host-prod');
    await step('the run (a prompt nobody answered is listed below the failure)', vscode.commands.executeCommand('notebook.execute', doc.uri));
    const cell = doc.getCells().find((c) => c.kind === vscode.NotebookCellKind.Code)!;
    await waitFor(() => cell.executionSummary?.success !== undefined, 'the cell to run');
    assert.strictEqual(cell.executionSummary?.success, true);
    assert.ok(a.prompts.shown.some((p) => p.kind === 'message' && /outside the runbook's window, 2020-01-01 02:00:00 UTC – 2020-01-01 04:00:00 UTC \(2 h\): it closed .* ago/.test(p.title)));

    const events = ((doc.metadata.runbook as { log?: { events: LogEvent[] } }).log?.events ?? []);
    const warning = events.find((e) => e.e === 'warning');
    assert.ok(warning?.e === 'warning' && /allowed by .* \(answered yes when asked\)/.test(warning.warning.message), JSON.stringify(events));
    const end = events.filter((e) => e.e === 'end').pop();
    assert.ok(end?.e === 'end' && end.end.window?.verdict === 'started outside' && end.end.window.override?.with === 'asked');

    await waitFor(() => received.some((r) => r.event === 'run.finished'), 'the finish notification');
    assert.deepStrictEqual(received.map((r) => r.event), ['run.started', 'run.finished']);
    assert.strictEqual((received[0].target as { connection: string }).connection, 'host-prod');
    assert.ok(!JSON.stringify(events).includes('secret-token'), 'the webhook URL is not in the log');
    assert.strictEqual(a.prompts.clearAnswers(), 0, 'every scripted answer was taken by its prompt');
  });
});
