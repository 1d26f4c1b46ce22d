// The runner: runs a runbook's cells in order against one target, stops at the first failure, and records each output durably.

import { cellStartLines, checkOptions, groupDigits, type Cell, type Problem, type Runbook } from '../format';
import { splitStatements } from '../sql/split';
import { isReadOnlyStatement } from '../sql/readonly';
import type { ChecklistItem } from '../engines/checklist';
import { RunbookStore } from './journal';
import { RunSession, runbookDir, type SqlCellHooks } from './session';
import type { SandboxEngine } from '../engines/sandbox';

/** A cell the runner may run, numbered as `runbook run --dry-run` prints it. */
export interface RunnableCell {
  /** 1-based number among the runnable (SQL, shell, checklist) cells. */
  number: number;
  /** Index in `Runbook.cells`. */
  index: number;
  cell: Cell;
  /** The `name` option, if any. */
  name?: string;
}

/** The runnable cells of a runbook, in order. */
export function runnableCells(cells: readonly Cell[]): RunnableCell[] {
  const out: RunnableCell[] = [];
  cells.forEach((cell, index) => {
    if (cell.kind === 'markdown') return;
    const r: RunnableCell = { number: out.length + 1, index, cell };
    if (typeof cell.options.name === 'string') r.name = cell.options.name;
    out.push(r);
  });
  return out;
}

/** A mistake in how the run was asked for (unknown cell, broken file): nothing has run. */
export class RunRequestError extends Error {
  override readonly name = 'RunRequestError';
}

/**
 * Finds a cell by `--from`/`--only` reference: its number (`3`, `#3`) or its name.
 * @throws Error listing the valid numbers and names when nothing matches
 */
export function findCell(cells: RunnableCell[], ref: string): RunnableCell {
  const n = /^#?(\d+)$/.exec(ref.trim());
  const hit = n ? cells.find((c) => c.number === Number(n[1])) : cells.find((c) => c.name === ref);
  if (hit) return hit;
  const names = cells.filter((c) => c.name).map((c) => c.name);
  throw new RunRequestError(`no cell "${ref}": use a number from 1 to ${cells.length}${names.length ? ` or a name (${names.join(', ')})` : ''} (runbook run --dry-run lists them)`);
}

/** Which cells a run selects: `--from`, `--only`, and the rollback section. */
export function selectCells(cells: RunnableCell[], opts: { from?: string; only?: string; rollback?: boolean }): RunnableCell[] {
  let sel = cells.filter((c) => (opts.rollback ? c.cell.options.rollback === true : c.cell.options.rollback !== true));
  if (opts.only !== undefined) {
    const c = findCell(cells, opts.only);
    return [c];
  }
  if (opts.from !== undefined) {
    const c = findCell(cells, opts.from);
    sel = sel.filter((x) => x.number >= c.number);
  }
  return sel;
}

/** Whether a cell may change data or schema (for the production guard). Unparseable SQL counts as mutating. */
export async function isMutating(cell: Cell): Promise<boolean> {
  if (cell.kind === 'shell') return true;
  if (cell.kind !== 'sql') return false;
  const r = await splitStatements(cell.source);
  if (!r.ok) return true;
  return r.statements.some((s) => !isReadOnlyStatement(s.stmt));
}

/** How a run talks to the person running it (the CLI's terminal, or nothing in CI). */
export interface RunPrompts {
  /** Yes/no question; undefined when nobody can answer. */
  confirm?(question: string): Promise<boolean>;
  /** Free-text question (type the connection name); undefined when nobody can answer. */
  ask?(question: string): Promise<string>;
  /** Checklist confirmation; resolves with the items confirmed. */
  confirmChecklist?(cell: Cell, pending: ChecklistItem[]): Promise<ChecklistItem[] | undefined>;
}

/** Progress events for a front end. */
export interface RunReporter {
  target?(display: string, recovered: number): void;
  cellStart?(c: RunnableCell, total: number): void;
  progress?(c: RunnableCell, p: { elapsedMs: number; rows?: number; statement?: number; text?: string }): void;
  output?(c: RunnableCell, chunk: string): void;
  cellEnd?(c: RunnableCell, status: string, ms: number, summary: string): void;
  message?(text: string): void;
}

/** Options of {@link runRunbook}. */
export interface RunOptions {
  file: string;
  /** Profile name or URI; default: the front matter's `connection`, else the sandbox. */
  connection?: string;
  from?: string;
  only?: string;
  /** Run the rollback section instead of the up-steps. */
  rollback?: boolean;
  confirmChecklists?: boolean;
  /** Production guard answered in advance: must equal the connection name. */
  confirmProduction?: string;
  /** Re-run cells that already succeeded on production without asking. */
  rerun?: boolean;
  maxRows?: number;
  sandboxDir?: string;
  sandboxEngine?: SandboxEngine;
  env?: NodeJS.ProcessEnv;
  operator: string;
  prompts?: RunPrompts;
  reporter?: RunReporter;
  sqlHooks?: SqlCellHooks;
  /** Builds the hooks from the runbook as read for this run (used when `sqlHooks` is not given). */
  sqlHooksFor?: (rb: Runbook) => SqlCellHooks | undefined;
  /** Aborting it cancels the running cell and stops the run. */
  signal?: AbortSignal;
  /** Journal fsync after each cell (default false: durable against kill, fsync at checkpoints). */
  fsyncEachCell?: boolean;
  checkpointMs?: number;
}

/** What a run did. */
export interface RunSummary {
  target: string;
  environment: string;
  selected: number;
  ran: number;
  ok: number;
  failed: number;
  cancelled: number;
  skipped: number;
  /** Why the run stopped before the end, if it did. */
  stopped?: { cell: RunnableCell; reason: string };
  /** Outputs folded in from an interrupted run's journal. */
  recovered: number;
  ms: number;
}

/**
 * Runs a runbook file: cells in order against one pinned session, stopping at the first failure
 * and at every unconfirmed checklist; each output is recorded durably before the next cell starts
 * (see journal.ts) and the file is rewritten atomically. Never writes credentials: bodies are
 * redacted and records name the connection, not its URI.
 *
 * @throws ConnectionConfigError / Error when the target cannot be opened or a cell reference is
 *   unknown (nothing has run then)
 */
export async function runRunbook(opts: RunOptions): Promise<RunSummary> {
  const t0 = Date.now();
  const { store, recovered } = RunbookStore.open(opts.file, { fsyncEachCell: opts.fsyncEachCell, checkpointMs: opts.checkpointMs });
  const rb = store.runbook;
  const all = runnableCells(rb.cells);
  const selected = selectCells(all, opts);
  opts = opts.sqlHooks || !opts.sqlHooksFor ? opts : { ...opts, sqlHooks: opts.sqlHooksFor(rb) };
  const blocking = blockingProblems(rb, selected);
  if (blocking.length) {
    store.close();
    throw new RunRequestError(`${opts.file} has problems to fix before it runs (nothing was run):\n${blocking.map((p) => `  line ${p.line}: ${p.message}`).join('\n')}\n(runbook check ${opts.file} lists them all)`);
  }
  const fmConnection = typeof rb.frontMatter?.data?.connection === 'string' ? rb.frontMatter.data.connection : undefined;
  const session = await RunSession.open({
    runbookDir: runbookDir(opts.file),
    connection: opts.connection ?? fmConnection,
    sandboxDir: opts.sandboxDir,
    sandboxEngine: opts.sandboxEngine,
    env: opts.env,
    operator: opts.operator,
  });
  // Connect before the first cell: a checklist must not be confirmed against a server nobody reached.
  if (selected.some((c) => c.cell.kind === 'sql' || c.cell.kind === 'shell')) {
    try {
      await session.sql();
    } catch (e) {
      store.close();
      await opts.sqlHooks?.close?.().catch(() => undefined);
    await session.close();
      throw new Error(`could not connect to ${session.target.display}: ${(e as Error).message} (nothing was run)`, { cause: e });
    }
  }
  const summary: RunSummary = { target: session.target.name, environment: session.target.environment, selected: selected.length, ran: 0, ok: 0, failed: 0, cancelled: 0, skipped: 0, recovered, ms: 0 };
  opts.reporter?.target?.(session.target.display, recovered);
  const fmEnv = rb.frontMatter?.data?.environment;
  if (typeof fmEnv === 'string' && fmEnv !== session.target.environment) {
    opts.reporter?.message?.(`note: the runbook says environment "${fmEnv}" but ${session.target.name} is "${session.target.environment}"`);
  }
  const production = session.target.environment === 'production';
  let productionConfirmed = false;
  try {
    for (const c of selected) {
      if (opts.signal?.aborted) {
        summary.stopped = { cell: c, reason: 'cancelled' };
        break;
      }
      const cell = rb.cells[c.index];
      // Production guards: a cell that already succeeded there, and the first mutating cell.
      if (production && cell.kind !== 'checklist') {
        const before = cell.outputs.find((o) => o.record.status === 'ok' && o.record.environment === 'production' && o.record.connection === session.target.name);
        if (before && !opts.rerun) {
          const ok = (await opts.prompts?.confirm?.(`Cell ${c.number}${c.name ? ` (${c.name})` : ''} already succeeded on ${session.target.name} at ${String(before.record.started)}. Run it again?`)) ?? false;
          if (!ok) {
            summary.stopped = { cell: c, reason: `cell ${c.number} already succeeded on production at ${String(before.record.started)}; pass --rerun to run it again, or --from ${c.number + 1} to resume after it` };
            break;
          }
        }
        if (!productionConfirmed && (await isMutating(cell))) {
          let typed = opts.confirmProduction;
          const fromFlag = typed !== undefined;
          if (typed === undefined && opts.prompts?.ask) typed = await opts.prompts.ask(`Cell ${c.number} changes PRODUCTION (${session.target.name}). Type the connection name to go on: `);
          if (typed !== session.target.name) {
            summary.stopped = {
              cell: c,
              reason:
                typed === undefined ? `cell ${c.number} changes production: confirm by typing the connection name (interactive), or pass --confirm-production ${session.target.name}`
                : fromFlag ? `--confirm-production ${typed} does not match the connection name ${session.target.name}`
                : `the name typed does not match the connection name ${session.target.name}`,
            };
            break;
          }
          productionConfirmed = true;
        }
      }
      opts.reporter?.cellStart?.(c, selected.length);
      const exec = await session.execute(cell, {
        signal: opts.signal,
        maxRows: opts.maxRows,
        index: c.index,
        sqlHooks: opts.sqlHooks,
        onProgress: (p) => opts.reporter?.progress?.(c, p),
        onOutput: (chunk) => opts.reporter?.output?.(c, chunk),
        confirmChecklist: async (cl, pending) => (opts.confirmChecklists ? pending : opts.prompts?.confirmChecklist ? opts.prompts.confirmChecklist(cl, pending) : undefined),
      });
      if (exec.source !== undefined) cell.source = exec.source;
      if (cell.kind === 'checklist' && opts.confirmChecklists && exec.source !== undefined) exec.output.record.confirmed_with = '--confirm-checklists';
      cell.outputs = [exec.output];
      store.record(c.index, exec.source !== undefined);
      summary.ran++;
      const status = String(exec.output.record.status);
      const ms = typeof exec.output.record.ms === 'number' ? exec.output.record.ms : 0;
      opts.reporter?.cellEnd?.(c, status, ms, describe(exec.output.record));
      if (status === 'ok') summary.ok++;
      else if (status === 'skipped') summary.skipped++;
      else if (status === 'cancelled') {
        summary.cancelled++;
        summary.stopped = { cell: c, reason: 'cancelled' };
        break;
      } else {
        summary.failed++;
        const why = exec.pending?.length ? `checklist not confirmed: ${exec.pending.map((p) => p.text).join('; ')} (confirm interactively, or pass --confirm-checklists)` : errorText(exec.output.record);
        summary.stopped = { cell: c, reason: why };
        break;
      }
    }
    // Cells after the stop keep no output of an earlier run: read under this run's failure, an old
    // "ok" would say validation passed after the change failed.
    if (summary.stopped) {
      const stopAt = summary.stopped.cell.number;
      const reason = `not run: the run stopped at cell ${stopAt}${summary.stopped.cell.name ? ` (${summary.stopped.cell.name})` : ''}`;
      for (const c of selected) {
        if (c.number <= stopAt) continue;
        const cell = rb.cells[c.index];
        if (cell.outputs.length === 0) continue;
        cell.outputs = [{ record: { status: 'skipped', started: new Date().toISOString(), by: opts.operator, connection: session.target.name, environment: session.target.environment, reason } }];
        store.record(c.index);
      }
    }
  } finally {
    store.close();
    await opts.sqlHooks?.close?.().catch(() => undefined);
    await session.close();
  }
  summary.ms = Date.now() - t0;
  return summary;
}

/**
 * Problems that stop a run before anything runs: error-level parse problems anywhere (bad front
 * matter, malformed records, unclosed fences) and any unknown or ill-typed option on a selected cell
 * (a misspelt `lock_timeout` must not silently run without its limit).
 */
export function blockingProblems(rb: Runbook, selected: RunnableCell[]): Problem[] {
  const out = rb.problems.filter((p) => p.severity === 'error');
  const starts = cellStartLines(rb);
  for (const c of selected) {
    for (const p of checkOptions(c.cell.kind, c.cell.options)) out.push({ line: starts[c.index], severity: 'error', code: p.code, message: p.message });
  }
  return out.sort((a, b) => a.line - b.line);
}


function errorText(record: Record<string, unknown>): string {
  const e = record.error as { message?: string; sqlstate?: string; line?: number } | undefined;
  if (!e?.message) return `failed (${String(record.status)})`;
  return `${e.message}${e.sqlstate ? ` (SQLSTATE ${e.sqlstate})` : ''}${e.line ? ` at line ${e.line}` : ''}`;
}

/** One-line description of an output record: `3 statements, 1,204 rows` / `exit 0` / `2 items confirmed`. */
export function describe(record: Record<string, unknown>): string {
  const base = describeResult(record);
  if (!Array.isArray(record.findings) || record.findings.length === 0) return base;
  const fs = record.findings as { severity?: string; acknowledged?: boolean }[];
  const errors = fs.filter((f) => f.severity === 'error' && !f.acknowledged).length;
  const warnings = fs.filter((f) => f.severity === 'warning' && !f.acknowledged).length;
  const acked = fs.filter((f) => f.acknowledged).length;
  const parts = [errors && `${errors} error${errors > 1 ? 's' : ''}`, warnings && `${warnings} warning${warnings > 1 ? 's' : ''}`, acked && `${acked} acknowledged`].filter(Boolean);
  return parts.length ? `${base}  [findings: ${parts.join(', ')}]` : base;
}

function describeResult(record: Record<string, unknown>): string {
  if (Array.isArray(record.statements)) {
    const st = record.statements as { rows?: number; tag?: string }[];
    const rows = st.reduce((a, s) => a + (s.rows ?? 0), 0);
    const last = st[st.length - 1]?.tag;
    return st.length === 1 ? `${last ?? ''}${rows && !/\d$/.test(last ?? '') ? `, ${rows} rows` : ''}` : `${st.length} statements, ${groupDigits(rows)} rows`;
  }
  if (typeof record.exit === 'number') return `exit ${record.exit}`;
  if (typeof record.signal === 'string') return `killed by ${record.signal}`;
  if (Array.isArray(record.items)) return `${record.items.length} item${record.items.length === 1 ? '' : 's'} confirmed`;
  return '';
}
