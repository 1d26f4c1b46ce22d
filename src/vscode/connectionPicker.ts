// Connection picker and "Add connection": quick picks over the profiles; the new profile goes to runbook.connections.yaml, its password to SecretStorage.
import * as path from 'path';
import * as vscode from 'vscode';
import { ENVIRONMENTS, findProfilesFile, isConnectionUri, parseConnectionUri, PROFILES_FILE_NAME, saveProfile, stripUriPassword } from '../connections';
import { notebookDir, SANDBOX, type Connections } from './connections';
import type { Prompts } from './prompts';

const ADD = '$(add) Add connection…';

/** Label shown for an environment; production in capitals so it cannot be missed in a list. */
export function environmentLabel(env: string): string {
  return env === 'production' ? 'PRODUCTION' : env;
}

/**
 * Shows the profiles (with environment and where they point) and remembers the pick for the
 * notebook. Returns the chosen name, or undefined when dismissed.
 */
export async function pickConnection(connections: Connections, prompts: Prompts, notebook: vscode.NotebookDocument): Promise<string | undefined> {
  let listed;
  try {
    listed = await connections.choices(notebook);
  } catch (e) {
    void vscode.window.showErrorMessage(`Runbook: cannot read the connection profiles. ${(e as Error).message}`);
    return undefined;
  }
  const current = connections.current(notebook);
  type Item = vscode.QuickPickItem & { name?: string };
  const items: Item[] = listed.choices.map((c) => ({
    name: c.name,
    label: `${c.name === current ? '$(check) ' : ''}${c.name === SANDBOX ? 'Sandbox' : c.name}`,
    description: environmentLabel(c.environment),
    detail: c.detail,
  }));
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator }, { label: ADD, detail: `Adds a profile to ${listed.file ?? PROFILES_FILE_NAME}; the password goes to VS Code's secret storage` });
  const pick = await prompts.pick(items, {
    title: 'Runbook: select the connection for this notebook',
    placeHolder: listed.file ? `Profiles from ${vscode.workspace.asRelativePath(listed.file)}` : `No ${PROFILES_FILE_NAME} found: add a connection or use the sandbox`,
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!pick) return undefined;
  const name = pick.name ?? (await addConnection(connections, prompts, notebook));
  if (name) await connections.choose(notebook, name);
  return name;
}

/** Where a new profile is written: the profiles file the notebook already uses, else one in the workspace folder (or the notebook's folder). */
function profilesFileFor(notebook: vscode.NotebookDocument): string {
  const found = findProfilesFile(notebookDir(notebook));
  if (found) return found;
  const folder = vscode.workspace.getWorkspaceFolder(notebook.uri)?.uri.fsPath ?? notebookDir(notebook);
  return path.join(folder, PROFILES_FILE_NAME);
}

/**
 * Asks for a name, an environment, a URI and a password (through `prompts`, so host tests can answer);
 * writes the profile (without password) and stores the password in SecretStorage. Returns the new
 * profile's name, or undefined when cancelled or the profiles file could not be written (the error is shown).
 */
export async function addConnection(connections: Connections, prompts: Prompts, notebook: vscode.NotebookDocument): Promise<string | undefined> {
  const existing = new Set((await connections.choices(notebook).catch(() => ({ choices: [] }))).choices.map((c) => c.name));
  const name = await prompts.input({
    title: 'Add connection (1/4): name',
    prompt: 'The profile name runbooks refer to, e.g. prod-main',
    validateInput: (v) =>
      !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v) ? 'Letters, digits, "_", "." and "-", starting with a letter or digit.'
      : existing.has(v) ? `A connection named ${v} already exists.` : undefined,
  });
  if (!name) return undefined;
  const envPick = await prompts.pick(
    ENVIRONMENTS.filter((e) => e !== 'sandbox').map((e) => ({ label: environmentLabel(e), env: e, detail: e === 'production' ? 'Changes ask you to type the connection name first' : undefined })),
    { title: 'Add connection (2/4): environment' },
  );
  if (!envPick) return undefined;
  const uri = await prompts.input({
    title: 'Add connection (3/4): where',
    prompt: 'PostgreSQL connection URI without the password, e.g. postgresql://migrator@db.internal:5432/app?sslmode=require',
    validateInput: (v) => {
      if (!isConnectionUri(v)) return 'Starts with postgres:// or postgresql://';
      try {
        parseConnectionUri(v);
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    },
  });
  if (!uri) return undefined;
  const inUri = parseConnectionUri(uri).password;
  const password = await prompts.input({
    title: 'Add connection (4/4): password',
    prompt: 'Kept in VS Code\'s secret storage, never in a file. Leave empty to use ~/.pgpass, PGPASSWORD or pg_service.conf.',
    password: true,
    value: inUri ?? '',
  });
  if (password === undefined) return undefined;
  const file = profilesFileFor(notebook);
  try {
    // saveProfile keeps the file's comments and refuses a URL with a password; the password goes to SecretStorage below.
    await saveProfile(file, { name, environment: envPick.env, url: stripUriPassword(uri) });
  } catch (e) {
    void vscode.window.showErrorMessage(`Runbook: could not add ${name} to ${file}: ${(e as Error).message}`);
    return undefined;
  }
  await connections.storePassword(name, password);
  void vscode.window.showInformationMessage(`Runbook: added ${name} (${environmentLabel(envPick.env)}) to ${vscode.workspace.asRelativePath(file)}${password ? '; password kept in secret storage' : ''}.`);
  return name;
}
