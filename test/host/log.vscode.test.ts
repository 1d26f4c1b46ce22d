// Extension-host tests of the migration log in VS Code: "Show Migration Log" shows what `runbook log` prints, and saving keeps the log.
import * as assert from 'assert';
import * as fs from 'fs';
import * as vscode from 'vscode';
import { appendLogEvent, parseRunbook, renderLogMarkdown, serializeRunbook } from '../../src/format';
import { openRunbook, runbookFiles, scratchCopy, touch } from './helpers';

describe('migration log', () => {
  const created: string[] = [];
  after(() => {
    for (const f of created) fs.rmSync(f, { force: true });
  });
  const logged = (): string => {
    const f = runbookFiles('fixtures').find((x) => x.endsWith('logged.runbook'));
    assert.ok(f, 'fixtures/logged.runbook is in the workspace');
    return f;
  };

  it('"Show Migration Log" shows the same Markdown as runbook log', async function () {
    this.timeout(60_000);
    const file = logged();
    const doc = await openRunbook(file);
    const shown = await vscode.commands.executeCommand<string>('runbook.showMigrationLog', doc.uri);
    const rb = parseRunbook(fs.readFileSync(file));
    assert.strictEqual(shown, renderLogMarkdown(rb.log!.events, 'Add a status column to orders'));
    assert.match(shown, /^### Run `20261128T021845Z-40d7`/m);
    const view = await vscode.workspace.openTextDocument(vscode.Uri.from({ scheme: 'runbook-log', path: `${doc.uri.path}.log.md`, query: doc.uri.toString() }));
    assert.strictEqual(view.getText(), shown, 'the read-only log document holds the same text');
  });

  it('keeps the log through the notebook: an event appended to the file reads back after save', async function () {
    this.timeout(60_000);
    const copy = scratchCopy(logged(), 'log');
    created.push(copy);
    const doc = await openRunbook(copy);
    await touch(doc);
    assert.ok(await doc.save());
    const rb = parseRunbook(fs.readFileSync(copy));
    assert.deepStrictEqual(rb.problems, []);
    assert.strictEqual(rb.log?.events.length, 31);
    // The notebook's metadata carries the log as the format reads it: appending to it and serializing gives the file plus the event.
    appendLogEvent(rb, { e: 'run', run: { id: 'r-host', command: 'vscode', by: 'host', started: '2026-11-29T00:00:00.000Z', connection: 'sandbox', environment: 'sandbox' } });
    assert.ok(serializeRunbook(rb).startsWith(fs.readFileSync(copy, 'utf8')));
  });
});
