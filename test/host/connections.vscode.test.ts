// Extension-host test of "Add connection": the real command, answered through the Prompts seam, writes the profile, keeps the password in SecretStorage, and a cell runs on it.
import * as assert from 'assert';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Client } from 'pg';
import * as vscode from 'vscode';
import { loadProfiles } from '../../src/connections';
import { parseRunbook, type Output } from '../../src/format';
import type { RunbookApi } from '../../src/vscode/extension';
import { EXTENSION_ID, observer, scratchCopy, testServer, waitFor, workspaceRoot } from './helpers';

const CONTROLLER_ID = 'runbook-notebooks.runner';
const RESULT_MIME = 'application/vnd.runbook.result+json';

/**
 * Makes the throwaway test server ask `role` for its password (SCRAM) on loopback, where the harness
 * trusts everyone: without this a cell would run whatever password reached the server, or none.
 * The rules go first in pg_hba.conf (first match wins) and are loaded with pg_reload_conf(); the file is
 * written through a large object because COPY's text format would escape its tabs and newlines.
 * Resolves a function that puts the file back as it was.
 */
async function requirePassword(admin: Client, role: string): Promise<() => Promise<void>> {
  const file = (await admin.query<{ hba_file: string }>('SHOW hba_file')).rows[0].hba_file;
  const before = (await admin.query<{ text: string }>('SELECT pg_read_file($1) AS text', [file])).rows[0].text;
  const write = async (text: string): Promise<void> => {
    const oid = (await admin.query<{ oid: number }>("SELECT lo_from_bytea(0, convert_to($1, 'UTF8')) AS oid", [text])).rows[0].oid;
    await admin.query('SELECT lo_export($1, $2)', [oid, file]);
    await admin.query('SELECT lo_unlink($1)', [oid]);
    await admin.query('SELECT pg_reload_conf()');
  };
  const rules = ['127.0.0.1/32', '::1/128'].map((net) => `host all ${role} ${net} scram-sha-256\n`).join('');
  await write(rules + before);
  return () => write(before);
}

/** Connects as `role` with `password`; resolves the SQLSTATE of the refusal, or undefined when it got in. */
async function loginError(role: string, password: string): Promise<string | undefined> {
  const c = new Client({ ...testServer(), user: role, password });
  try {
    await c.connect();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  } finally {
    await c.end().catch(() => undefined);
  }
}

describe('Add connection', function () {
  this.timeout(90_000);
  const role = `runbook_added_${process.pid}`;
  const password = randomBytes(15).toString('base64url');
  const name = `added-${process.pid}`;
  const profilesFile = (): string => path.join(workspaceRoot(), 'runbook.connections.yaml');
  let admin: Client;
  let restoreHba: (() => Promise<void>) | undefined;
  let profilesBefore: string;
  let scratch: string | undefined;
  let notebookUri: string | undefined;

  before(async () => {
    admin = await observer();
    await admin.query(`CREATE ROLE ${admin.escapeIdentifier(role)} LOGIN PASSWORD ${admin.escapeLiteral(password)}`);
    // Only the harness's own server: a DATABASE_URL server's configuration is not the test's to change.
    if (process.env.RUNBOOK_HOST_THROWAWAY_SERVER === '1') restoreHba = await requirePassword(admin, role);
    profilesBefore = fs.readFileSync(profilesFile(), 'utf8');
  });

  after(async () => {
    const a = await vscode.extensions.getExtension<RunbookApi>(EXTENSION_ID)!.activate();
    for (const e of vscode.window.visibleNotebookEditors) if (e.notebook.isDirty) await e.notebook.save();
    if (notebookUri) await a.sessions.close(notebookUri, false);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    fs.writeFileSync(profilesFile(), profilesBefore);
    await a.connections.storePassword(name, '');
    if (scratch) fs.rmSync(scratch, { force: true });
    await restoreHba?.();
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
    await admin.query(`DROP ROLE IF EXISTS ${admin.escapeIdentifier(role)}`);
    await admin.end();
  });

  it('writes the profile to the workspace, keeps the password in secret storage only, and runs a cell on it', async () => {
    const a = await vscode.extensions.getExtension<RunbookApi>(EXTENSION_ID)!.activate();
    scratch = scratchCopy(path.join(workspaceRoot(), 'exec', 'added.runbook'), 'add');
    await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(scratch), 'runbook');
    const doc = vscode.window.activeNotebookEditor?.notebook;
    assert.ok(doc && doc.uri.fsPath === scratch, 'the scratch runbook is the active notebook');
    notebookUri = doc.uri.toString();
    await vscode.commands.executeCommand('notebook.selectKernel', { id: CONTROLLER_ID, extension: EXTENSION_ID });
    const server = testServer();
    if (restoreHba) {
      await waitFor(async () => (await loginError(role, 'not-the-password')) === '28P01', 'the server to refuse a wrong password', 10_000);
    }

    // A name already taken is refused as the input box refuses it, and nothing is written.
    a.prompts.answerNext('host-test');
    assert.strictEqual(await vscode.commands.executeCommand('runbook.addConnection'), undefined);
    assert.match(a.prompts.shown[a.prompts.shown.length - 1].refused ?? '', /A connection named host-test already exists/);
    assert.strictEqual(fs.readFileSync(profilesFile(), 'utf8'), profilesBefore);

    const first = a.prompts.shown.length;
    const uri = `postgresql://${role}@${server.host}:${server.port}/${encodeURIComponent(server.database)}`;
    a.prompts.answerNext(name, 'development', uri, password);
    assert.strictEqual(await vscode.commands.executeCommand('runbook.addConnection'), name);
    const asked = a.prompts.shown.slice(first);
    assert.deepStrictEqual(asked.map((p) => `${p.kind} ${p.title.replace(/\).*/, ')')}`), [
      'inputBox Add connection (1/4)', 'quickPick Add connection (2/4)', 'inputBox Add connection (3/4)', 'inputBox Add connection (4/4)',
    ]);
    assert.ok(asked.every((p) => p.refused === undefined), JSON.stringify(asked));
    assert.ok(asked[1].options.includes('PRODUCTION') && !asked[1].options.includes('sandbox'), `environments offered: ${asked[1].options}`);

    // The profile is in the workspace's profiles file, after what was there (comments kept); the password is not.
    const text = fs.readFileSync(profilesFile(), 'utf8');
    assert.ok(text.startsWith(profilesBefore.split('\n')[0]), 'the file\'s first comment is kept');
    assert.ok(!text.includes(password), 'no password in runbook.connections.yaml');
    const { file, profiles } = await loadProfiles(path.dirname(scratch));
    assert.strictEqual(file, profilesFile());
    assert.deepStrictEqual(profiles.map((p) => p.name), ['host-test', 'host-prod', name]);
    const added = profiles.find((p) => p.name === name)!;
    assert.strictEqual(added.environment, 'development');
    assert.strictEqual(added.url, uri);
    // The password is in SecretStorage, and that is where the resolver takes it from.
    assert.strictEqual(await a.connections.password(name), password);
    assert.strictEqual(a.connections.current(doc), name, 'the new connection is the notebook\'s');
    assert.strictEqual((await a.connections.resolve(doc, name)).passwordSource, 'the stored secret (VS Code SecretStorage)');

    const cell = doc.getCells().find((c) => c.kind === vscode.NotebookCellKind.Code)!;
    await vscode.commands.executeCommand('notebook.cell.execute', { ranges: [{ start: cell.index, end: cell.index + 1 }], document: doc.uri });
    await waitFor(() => cell.executionSummary?.success !== undefined, 'the cell on the new connection');
    const item = cell.outputs[0]?.items.find((i) => i.mime === RESULT_MIME);
    const record = item ? (JSON.parse(new TextDecoder().decode(item.data)) as { record: Output['record'] }).record : undefined;
    assert.strictEqual(cell.executionSummary?.success, true, JSON.stringify(record));
    assert.strictEqual(record?.connection, name);
    assert.strictEqual(record?.environment, 'development');

    assert.ok(await doc.save());
    const saved = fs.readFileSync(scratch, 'utf8');
    assert.ok(!saved.includes(password), 'no password in the migration log');
    const out = parseRunbook(Buffer.from(saved)).cells.find((c) => c.kind === 'sql')!.outputs[0];
    assert.strictEqual(out.record.connection, name);
    // psql's aligned format: the header is centred over the column.
    assert.match(out.body ?? '', new RegExp(`^ +who +\\n-+\\n ${role}\\n\\(1 row\\)$`), `the cell ran as the new profile's role: ${out.body}`);
  });
});
