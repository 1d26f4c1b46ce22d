// Which cells a run can run and selects: runnable-cell numbers (what --from takes), --from/--only, the rollback section.

import { cellStartLines, checkOptions, type Cell, type Problem, type Runbook } from '../format';
import { splitStatements } from '../sql/split';
import { isReadOnlyStatement } from '../sql/readonly';

/** A cell the runner may run, numbered as `runbook run --dry-run` prints it. */
export interface RunnableCell {
  /** 1-based number among the runnable (SQL, shell, checklist) cells: the number `--from` takes. */
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

/** A mistake in how the run was asked for (unknown cell, broken file): nothing has run. Exit status 2. */
export class RunRequestError extends Error {
  override readonly name = 'RunRequestError';
}

/** `cell 3 (add-column)`: how every message names a cell. */
export function cellLabel(c: Pick<RunnableCell, 'number' | 'name'>): string {
  return `cell ${c.number}${c.name ? ` (${c.name})` : ''}`;
}

/**
 * Finds a cell by `--from`/`--only` reference: its number (`3`, `#3`) or its name.
 * @throws RunRequestError listing the valid numbers and names when nothing matches
 */
export function findCell(cells: RunnableCell[], ref: string): RunnableCell {
  const n = /^#?(\d+)$/.exec(ref.trim());
  const hit = n ? cells.find((c) => c.number === Number(n[1])) : cells.find((c) => c.name === ref);
  if (hit) return hit;
  const names = cells.filter((c) => c.name).map((c) => c.name);
  throw new RunRequestError(`no cell "${ref}": use a number from 1 to ${cells.length}${names.length ? ` or a name (${names.join(', ')})` : ''} (runbook run --dry-run lists them)`);
}

/** What a run selects. */
export interface Selection {
  from?: string;
  only?: string;
  /** Run the rollback section (cells with `{"rollback":true}`) instead of the up-steps. */
  rollback?: boolean;
}

/**
 * The cells a run selects, in order: the up-steps (or, with `rollback`, the rollback section), from `from`
 * on, or just `only` (whichever section it is in).
 * @throws RunRequestError for an unknown cell reference
 */
export function selectCells(cells: RunnableCell[], opts: Selection): RunnableCell[] {
  if (opts.only !== undefined) {
    const c = findCell(cells, opts.only);
    if (isRehearsalCell(c)) throw new RunRequestError(`${cellLabel(c)} is a rehearsal cell ({"rehearsal":true}): only \`runbook rehearse\` runs it (docs/rehearse.md)`);
    return [c];
  }
  // Rehearsal cells (data an application would write between the change and a rollback) never run in a plain run.
  let sel = cells.filter((c) => !isRehearsalCell(c) && (opts.rollback ? c.cell.options.rollback === true : c.cell.options.rollback !== true));
  if (opts.from !== undefined) {
    const c = findCell(cells, opts.from);
    sel = sel.filter((x) => x.number >= c.number);
  }
  return sel;
}

/** Whether the cell is marked `{"rehearsal":true}`: run by `runbook rehearse` only (docs/rehearse.md). */
export function isRehearsalCell(c: RunnableCell): boolean {
  return c.cell.options.rehearsal === true;
}

/**
 * The cells in the same flow as a selection, in order: the rollback section for a rollback run, the up-steps
 * otherwise (for transaction spans, which never cross from one section into the other).
 */
export function flowOf(cells: RunnableCell[], selected: RunnableCell[]): RunnableCell[] {
  const rollback = selected.length > 0 && selected.every((c) => c.cell.options.rollback === true);
  return cells.filter((c) => (c.cell.options.rollback === true) === rollback);
}

/** Whether a cell may change data or schema (for the production guard). Unparseable SQL counts as mutating. */
export async function isMutating(cell: Cell): Promise<boolean> {
  if (cell.kind === 'shell') return true;
  if (cell.kind !== 'sql') return false;
  const r = await splitStatements(cell.source);
  if (!r.ok) return true;
  return r.statements.some((s) => !isReadOnlyStatement(s.stmt));
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
    for (const p of checkOptions(c.cell.kind, c.cell.options)) out.push({ line: starts[c.index], severity: 'error', code: p.code, message: `${cellLabel(c)}: ${p.message}` });
  }
  return out.sort((a, b) => a.line - b.line);
}
