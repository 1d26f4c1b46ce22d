// Helpers shared by the extension-host tests: workspace paths, opening notebooks, collecting disposables.
import * as fs from 'fs';
import * as path from 'path';
import { Client } from 'pg';
import * as vscode from 'vscode';
import { settleWithin } from '../../src/run/deadline';

/** The extension's id: `publisher.name` from package.json. */
export const EXTENSION_ID = 'runbook-notebooks.runbook-notebooks';

/** Root folder of the temporary workspace the run was started on (test/host/run.mjs). */
export function workspaceRoot(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new Error('the extension-host tests need a workspace folder (test/host/run.mjs opens one)');
  return folder.uri.fsPath;
}

/** Every `.runbook` file under the given workspace-relative folders, sorted, as absolute paths. */
export function runbookFiles(...folders: string[]): string[] {
  const out: string[] = [];
  for (const f of folders) {
    const dir = path.join(workspaceRoot(), f);
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir).sort()) if (name.endsWith('.runbook')) out.push(path.join(dir, name));
  }
  return out;
}

/** Copies a workspace file to a fresh name beside it so a test may change it freely; returns the copy's path. */
export function scratchCopy(file: string, tag: string): string {
  const copy = path.join(path.dirname(file), `${path.basename(file, '.runbook')}.${tag}.${process.pid}.${Date.now()}.runbook`);
  fs.copyFileSync(file, copy);
  return copy;
}

/** Activates the extension and opens a `.runbook` file as a notebook (without showing it). */
export async function openRunbook(file: string): Promise<vscode.NotebookDocument> {
  await vscode.extensions.getExtension(EXTENSION_ID)?.activate();
  return vscode.workspace.openNotebookDocument(vscode.Uri.file(file));
}

/** Makes a notebook dirty without changing its content (same metadata written back), so save() writes it. */
export async function touch(doc: vscode.NotebookDocument): Promise<void> {
  const edit = new vscode.WorkspaceEdit();
  edit.set(doc.uri, [vscode.NotebookEdit.updateNotebookMetadata({ ...doc.metadata })]);
  if (!(await vscode.workspace.applyEdit(edit))) throw new Error(`could not edit ${doc.uri.fsPath}`);
}

/** Polls `predicate` every 20 ms until it is true; fails after `timeoutMs` with `what` in the message. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Awaits `step`, or throws after `timeoutMs` naming `what`: a host test's step that never settles (a command waiting
 * on a dialog nobody answers) fails with its name instead of the test's timeout. The step itself is not cancelled.
 * @throws Error `timed out after N ms: what`, or whatever `step` rejects with
 */
export function within<T>(timeoutMs: number, what: string, step: Thenable<T>): Promise<T> {
  return settleWithin(step, timeoutMs, (): never => {
    throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
  });
}

/** Index of the first byte where two buffers differ and the length of their common suffix. */
export function diffWindow(a: Uint8Array, b: Uint8Array): { prefix: number; suffix: number } {
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  return { prefix, suffix };
}

/** Where the test server is: host, port, database and user of the `host-test` profile test/host/run.mjs wrote. */
export function testServer(): { host: string; port: number; database: string; user: string } {
  const yaml = fs.readFileSync(path.join(workspaceRoot(), 'runbook.connections.yaml'), 'utf8');
  const field = (k: string): string => JSON.parse(new RegExp(`host-test:[\\s\\S]*?${k}: (.*)`).exec(yaml)![1]);
  return { host: field('host'), port: Number(field('port')), database: field('database'), user: field('user') };
}

/** A second client on the test server, from the `host-test` profile (password from PGPASSWORD). */
export async function observer(): Promise<Client> {
  const c = new Client({ ...testServer(), password: process.env.PGPASSWORD || undefined });
  await c.connect();
  return c;
}
