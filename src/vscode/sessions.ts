// One pinned RunSession per notebook and connection: opened on first use, kept across cells, closed (or kept with its transaction) when the notebook closes.
import * as vscode from 'vscode';
import type { TransactionState } from '../format/model';
import type { RunSession } from '../run/session';
import type { EndedSpan } from '../run/spans';
import { notebookDir, SANDBOX, type Connections } from './connections';
import type { Prompts } from './prompts';
import type { SessionStateSource } from './statusBar';

interface Entry {
  notebook: string;
  connection: string;
  session: Promise<RunSession>;
  /** The session once open, for synchronous reads (status bar). */
  resolved?: RunSession;
  /** The operator typed the production connection's name in this session (productionGuard.ts). */
  productionConfirmed: boolean;
}

/** The operator recorded as `by`: the `runbook.operator` setting, else git user.name, else the OS user. */
export async function operatorFor(notebook: vscode.NotebookDocument): Promise<string> {
  const configured = vscode.workspace.getConfiguration('runbook', notebook.uri).get<string>('operator', '').trim();
  return configured || (await import('../run/operator')).operatorName(notebookDir(notebook));
}

/**
 * Keeps `BEGIN` in one cell and `COMMIT` in a later one working: every cell of a notebook that runs
 * against the same connection goes to the same RunSession (and so the same PostgreSQL backend).
 * Sessions are keyed by notebook URI, so a session kept open when its notebook closed is found again
 * when the notebook reopens.
 */
export class Sessions implements SessionStateSource, vscode.Disposable {
  private readonly entries = new Map<string, Entry>();
  private readonly changed = new vscode.EventEmitter<vscode.NotebookDocument>();
  readonly onDidChangeState = this.changed.event;
  private readonly subscriptions: vscode.Disposable[] = [];
  /** Marks an ended span on the cells of an open notebook (set by the controller, which owns cell executions). */
  markInNotebook?: (notebook: vscode.NotebookDocument, ended: EndedSpan) => Promise<void>;

  constructor(
    private readonly connections: Connections,
    private readonly prompts: Prompts,
  ) {
    this.subscriptions.push(vscode.workspace.onDidCloseNotebookDocument((nb) => void this.onClosed(nb)));
  }

  private key(notebook: vscode.NotebookDocument | string, connection: string): string {
    return `${typeof notebook === 'string' ? notebook : notebook.uri.toString()}\n${connection}`;
  }

  /**
   * The notebook's session on `connection`, opened on first use (a profile is resolved, or the
   * sandbox started). A failed open is forgotten so the next cell tries again.
   * @throws ConnectionConfigError / Error from RunSession.open (unknown profile, sandbox failure)
   */
  async get(notebook: vscode.NotebookDocument, connection: string): Promise<{ session: RunSession; entry: Entry }> {
    const k = this.key(notebook, connection);
    let entry = this.entries.get(k);
    if (!entry) {
      // The engine (pg, the SQL parser, the sandbox) loads on the first cell run, not at activation.
      const opening = (async () =>
        (await import('../run/session')).RunSession.open({
          runbookDir: notebookDir(notebook),
          connection: connection === SANDBOX ? undefined : connection,
          secret: async (name) => this.connections.password(name),
          operator: await operatorFor(notebook),
        }))();
      entry = { notebook: notebook.uri.toString(), connection, session: opening, productionConfirmed: false };
      this.entries.set(k, entry);
      const e = entry;
      opening.then((s) => (e.resolved = s), () => this.entries.delete(k));
    }
    const session = await entry.session;
    entry.resolved = session;
    return { session, entry };
  }

  /** The session if it is open (never opens one). */
  private peek(notebook: vscode.NotebookDocument | string, connection: string): Entry | undefined {
    return this.entries.get(this.key(notebook, connection));
  }

  /** Transaction state of the notebook's open PostgreSQL session on `connection`; undefined when none is open. */
  txState(notebook: vscode.NotebookDocument, connection: string): TransactionState | undefined {
    const pg = this.peek(notebook, connection)?.resolved?.session;
    return pg && !pg.closed ? pg.txState : undefined;
  }

  /** Tells listeners (the status bar) that a cell ran and the transaction state may have changed. */
  notify(notebook: vscode.NotebookDocument): void {
    this.changed.fire(notebook);
  }

  /** Open sessions of a notebook with an open or failed transaction. */
  openTransactions(notebookUri: string): { connection: string; state: TransactionState; entry: Entry }[] {
    const out: { connection: string; state: TransactionState; entry: Entry }[] = [];
    for (const e of this.entries.values()) {
      const pg = e.resolved?.session;
      if (e.notebook === notebookUri && pg && !pg.closed && pg.txState !== 'idle') out.push({ connection: e.connection, state: pg.txState, entry: e });
    }
    return out;
  }

  /**
   * Rolls back what is open (if asked) and closes every session of a notebook. The cells of a span rolled back are
   * marked: in the notebook while it is open, else in the file on disk (src/run/mark.ts).
   */
  async close(notebookUri: string, rollback: boolean, why = 'the session was closed'): Promise<void> {
    for (const [k, e] of [...this.entries]) {
      if (e.notebook !== notebookUri) continue;
      this.entries.delete(k);
      const s = await e.session.catch(() => undefined);
      if (!s) continue;
      const pg = s.session;
      // Closing the connection would also make the server roll back; an explicit ROLLBACK says so in the server log.
      if (pg && !pg.closed && pg.txState !== 'idle' && s.tx.inTransaction) {
        if (rollback) await pg.executeCell('ROLLBACK').catch(() => undefined);
        const ended = s.tx.end('rolled back', `${why}: ${rollback ? 'rolled back' : 'closing the session rolls back its open transaction'}`);
        if (ended) await this.mark(notebookUri, ended).catch((err: Error) => void vscode.window.showErrorMessage(`Runbook: the rollback could not be recorded in the runbook: ${err.message}`));
      }
      await s.close();
    }
  }

  private async mark(notebookUri: string, ended: EndedSpan): Promise<void> {
    const open = vscode.workspace.notebookDocuments.find((d) => d.uri.toString() === notebookUri && !d.isClosed);
    if (open && this.markInNotebook) return this.markInNotebook(open, ended);
    const uri = vscode.Uri.parse(notebookUri);
    if (uri.scheme !== 'file') return;
    const { markSpanInFile } = await import('../run/mark');
    markSpanInFile(uri.fsPath, ended, ended.cells[ended.cells.length - 1]?.run ?? 'vscode');
  }

  /**
   * A notebook closed: with no transaction open its sessions close. With one open, the operator
   * chooses: roll back (and close), or keep the session and its transaction for when the notebook
   * is opened again (the default when the question is dismissed: never lose work silently).
   */
  private async onClosed(nb: vscode.NotebookDocument): Promise<void> {
    const uri = nb.uri.toString();
    const open = this.openTransactions(uri);
    if (open.length === 0) {
      await this.close(uri, false);
      return;
    }
    const which = open.map((o) => `${o.connection} (${o.state})`).join(', ');
    const answer = await this.prompts.ask(
      `${vscode.workspace.asRelativePath(nb.uri)} was closed with an open transaction on ${which}.`,
      'Roll back ends the transaction and closes the session. Keep leaves the session and its locks open until you reopen the runbook and COMMIT or ROLLBACK.',
      'Roll Back',
      'Keep Open',
    );
    if (answer === 'Roll Back') await this.close(uri, true, 'the notebook was closed with "Roll Back"');
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    for (const e of this.entries.values()) void e.session.then((s) => s.close(), () => undefined);
    this.entries.clear();
    this.changed.dispose();
  }
}
