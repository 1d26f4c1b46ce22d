// Which connection each notebook runs against: profiles from runbook.connections.yaml, the remembered choice, passwords in SecretStorage.
import * as path from 'path';
import * as vscode from 'vscode';
import { isConnectionUri, loadProfiles, resolveConnection, type ConnectionProfile, type Environment, type ResolvedConnection } from '../connections';

/** Name of the embedded sandbox choice: what a runbook runs on when no connection is configured (DESIGN.md, "Embedded default"). */
export const SANDBOX = 'sandbox';

/** A connection a notebook may run against, as the picker lists it. */
export interface ConnectionChoice {
  /** Profile name, or {@link SANDBOX}. */
  name: string;
  environment: Environment;
  /** Safe to show: host, port, database, user; never a password. */
  detail: string;
  /** `file:line` of the profile, when it comes from a profiles file. */
  source?: string;
  /** The profile's own timeouts (PostgreSQL interval text), when it sets them. */
  lockTimeout?: string;
  statementTimeout?: string;
}

const STATE_PREFIX = 'runbook.connection:';
const SECRET_PREFIX = 'runbook.password:';

/** The folder a notebook's profiles are looked up from (its own folder, as the CLI does). */
export function notebookDir(notebook: vscode.NotebookDocument): string {
  if (notebook.uri.scheme === 'file') return path.dirname(notebook.uri.fsPath);
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
}

function describe(p: ConnectionProfile): string {
  if (p.url) return p.url;
  const where = `${p.host ?? 'localhost'}${p.port ? `:${p.port}` : ''}/${p.database ?? ''}`;
  const parts = [p.user ? `${p.user}@${where}` : where];
  if (p.service) parts.push(`service ${p.service}`);
  return parts.join(' · ');
}

/**
 * The per-notebook connection choice and the passwords the extension keeps.
 * The choice is remembered in workspaceState by notebook URI; without one, the runbook's front
 * matter `connection:` applies, else the sandbox. Passwords live only in SecretStorage, keyed by
 * profile name, and reach the connection resolver through its `secret` callback.
 */
export class Connections implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.NotebookDocument>();
  /** Fires when a notebook's chosen connection changes. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly context: vscode.ExtensionContext) {}

  dispose(): void {
    this.changed.dispose();
  }

  /** The profiles a notebook can use, plus the sandbox, in file order.
   *  @throws ConnectionConfigError when the profiles file is invalid (message says file:line). */
  async choices(notebook: vscode.NotebookDocument): Promise<{ file?: string; choices: ConnectionChoice[] }> {
    const { file, profiles } = await loadProfiles(notebookDir(notebook));
    const choices: ConnectionChoice[] = profiles.map((p) => ({
      name: p.name, environment: p.environment, detail: describe(p), source: p.source, lockTimeout: p.lockTimeout, statementTimeout: p.statementTimeout,
    }));
    choices.push({ name: SANDBOX, environment: 'sandbox', detail: 'embedded PostgreSQL, private to this notebook, discarded when closed' });
    return { file, choices };
  }

  /** The connection name the runbook names in its front matter, if any. */
  frontMatterConnection(notebook: vscode.NotebookDocument): string | undefined {
    const fm = (notebook.metadata?.runbook as { frontMatter?: { data?: Record<string, unknown> } } | undefined)?.frontMatter;
    const c = fm?.data?.connection;
    return typeof c === 'string' && c.trim() !== '' ? c.trim() : undefined;
  }

  /**
   * True when `connection` is the front matter's and a URI, not chosen by the operator: a runbook from a repository
   * must not choose the server that receives the password (the run is refused; choosing it in the picker is fine).
   */
  isFrontMatterUri(notebook: vscode.NotebookDocument, connection: string): boolean {
    const chosen = this.context.workspaceState.get<string>(STATE_PREFIX + notebook.uri.toString());
    return chosen === undefined && connection === this.frontMatterConnection(notebook) && isConnectionUri(connection);
  }

  /** The connection a notebook runs against: the remembered choice, else front matter, else the sandbox. */
  current(notebook: vscode.NotebookDocument): string {
    return this.context.workspaceState.get<string>(STATE_PREFIX + notebook.uri.toString()) ?? this.frontMatterConnection(notebook) ?? SANDBOX;
  }

  /** Remembers a notebook's connection (workspaceState survives restarts). */
  async choose(notebook: vscode.NotebookDocument, name: string): Promise<void> {
    await this.context.workspaceState.update(STATE_PREFIX + notebook.uri.toString(), name);
    this.changed.fire(notebook);
  }

  /** A connection name's entry in the profiles file (the sandbox's for {@link SANDBOX}); undefined when unknown or the file is invalid. */
  async choiceOf(notebook: vscode.NotebookDocument, name: string): Promise<ConnectionChoice | undefined> {
    try {
      return (await this.choices(notebook)).choices.find((c) => c.name === name);
    } catch {
      return undefined;
    }
  }

  /** Environment of a connection name, from the profiles file; `sandbox` for the sandbox; undefined when unknown. */
  async environmentOf(notebook: vscode.NotebookDocument, name: string): Promise<Environment | undefined> {
    if (name === SANDBOX) return 'sandbox';
    return (await this.choiceOf(notebook, name))?.environment;
  }

  /** The stored password of a profile; undefined when none was stored. */
  password(profileName: string): Thenable<string | undefined> {
    return this.context.secrets.get(SECRET_PREFIX + profileName);
  }

  /** Stores (or with '' deletes) a profile's password in SecretStorage. */
  async storePassword(profileName: string, password: string): Promise<void> {
    if (password === '') await this.context.secrets.delete(SECRET_PREFIX + profileName);
    else await this.context.secrets.store(SECRET_PREFIX + profileName, password);
  }

  /** Resolves a profile for a notebook with the stored password offered to the resolver.
   *  @throws ConnectionConfigError for an unknown profile or a bad profiles file. */
  resolve(notebook: vscode.NotebookDocument, name: string): Promise<ResolvedConnection> {
    return resolveConnection(name, { startDir: notebookDir(notebook), secret: async (n) => this.password(n) });
  }
}
