// Extension-host tests: the extension loads and activates in a real VS Code.
import * as assert from 'assert';
import * as vscode from 'vscode';

const EXTENSION_ID = 'runbook-notebooks.runbook-notebooks';

describe('activation', () => {
  it('activates in the extension host', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} is loaded`);
    await ext.activate();
    assert.strictEqual(ext.isActive, true);
  });
});
