// Transaction spans: the cells between a BEGIN and the statement that ends its transaction, read from the cells'
// text before a run (where a --from may start) and followed from each statement's result while it runs.

import type { Node } from 'libpg-query';
import type { SpanFate, SpanRecord, StatementRecord } from '../format';
import { splitStatements } from '../sql/split';
import { cellLabel, type RunnableCell } from './cells';

/** What a statement does to the transaction block, from its parse tree (PostgreSQL docs, SQL Commands: BEGIN, COMMIT …). */
export type TransactionEffect = 'begin' | 'commit' | 'rollback' | 'commit-and-chain' | 'rollback-and-chain' | 'prepare' | undefined;

/** The effect of one parsed statement on the transaction block; undefined for statements that leave it alone. */
export function transactionEffect(stmt: Node): TransactionEffect {
  const t = (stmt as { TransactionStmt?: { kind?: string; chain?: boolean } }).TransactionStmt;
  if (!t) return undefined;
  switch (t.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return 'begin';
    case 'TRANS_STMT_COMMIT':
      return t.chain ? 'commit-and-chain' : 'commit';
    case 'TRANS_STMT_ROLLBACK':
      return t.chain ? 'rollback-and-chain' : 'rollback';
    case 'TRANS_STMT_PREPARE':
      return 'prepare';
    default:
      return undefined;
  }
}

/** A span as the cells' text shows it: which cell opens it and which closes it (undefined: never closed in the flow). */
export interface StaticSpan {
  opener: RunnableCell;
  closer?: RunnableCell;
  /** The cells inside, opener and closer included, in order. */
  cells: RunnableCell[];
}

/**
 * The spans of a flow of cells (the up-steps, or the rollback section), from their statements: BEGIN/START
 * TRANSACTION opens one, COMMIT/END/ROLLBACK/ABORT/PREPARE TRANSACTION closes it. Cells with
 * `{"autocommit":false}` hold their own transaction and open none. A cell that cannot be parsed is taken to leave
 * the state as it was (the run refuses it anyway).
 */
export async function staticSpans(flow: RunnableCell[]): Promise<StaticSpan[]> {
  const spans: StaticSpan[] = [];
  let open: StaticSpan | undefined;
  for (const c of flow) {
    if (open) open.cells.push(c);
    if (c.cell.kind !== 'sql' || c.cell.options.autocommit === false) continue;
    const split = await splitStatements(c.cell.source);
    if (!split.ok) continue;
    for (const s of split.statements) {
      const effect = transactionEffect(s.stmt);
      if (effect === 'begin' && !open) {
        open = { opener: c, cells: [c] };
        spans.push(open);
      } else if (open && (effect === 'commit' || effect === 'rollback' || effect === 'prepare')) {
        open.closer = c;
        open = undefined;
      } else if (open && (effect === 'commit-and-chain' || effect === 'rollback-and-chain')) {
        open.closer = c;
        open = { opener: c, cells: [c] };
        spans.push(open);
      }
    }
  }
  return spans;
}

/**
 * Why a selection may not start where it starts: its first cell is inside a span whose opener is not selected
 * and the session is not in that transaction (a resume would run the rest of the transaction in autocommit).
 * Undefined when it may.
 */
export function startInsideSpan(spans: StaticSpan[], selected: RunnableCell[], sessionInTransaction: boolean): string | undefined {
  const first = selected[0];
  if (!first || sessionInTransaction) return undefined;
  const span = spans.find((s) => s.opener !== first && s.cells.includes(first));
  if (!span || span.opener === first) return undefined;
  return `${cellLabel(first)} is inside the transaction that ${cellLabel(span.opener)} opens` +
    `${span.closer ? ` and ${cellLabel(span.closer)} ends` : ''}: started there, its statements would run outside that transaction. ` +
    `Start at the cell that opens it: --from ${span.opener.number}.`;
}

/**
 * Why a selection may not end where it ends when the session ends with the run (the CLI): its last cell leaves a
 * span open whose closer is not selected, so the transaction would be rolled back at the end. Undefined when fine.
 */
export function endInsideSpan(spans: StaticSpan[], selected: RunnableCell[]): string | undefined {
  const last = selected[selected.length - 1];
  if (!last) return undefined;
  const span = spans.find((s) => s.cells.includes(last) && s.closer !== last);
  if (!span) return undefined;
  const selectedSet = new Set(selected);
  if (span.closer && selectedSet.has(span.closer)) return undefined;
  return `the selection ends inside the transaction that ${cellLabel(span.opener)} opens` +
    `${span.closer ? ` (${cellLabel(span.closer)} ends it)` : ' (no later cell ends it)'}: the run would roll it back when it ends. ` +
    `${span.closer ? `Run through ${cellLabel(span.closer)}.` : 'Add a COMMIT.'}`;
}

/** A cell the tracker has seen in a span: enough to find its output again and name it. */
export interface SpanCell {
  number: number;
  name?: string;
  /** Index in the runbook when the cell ran. */
  index: number;
  /** The run the cell's output belongs to. */
  run: string;
  /** The front end's own handle on the cell (the CLI: its index; VS Code: the NotebookCell), for updates. */
  handle: unknown;
}

/** A span that ended: its record (fate, reason) and the cells whose outputs must now say so. */
export interface EndedSpan {
  span: SpanRecord;
  cells: SpanCell[];
  /** True when the runbook itself asked for the rollback (an explicit ROLLBACK of a healthy transaction). */
  intended: boolean;
}

interface OpenSpan {
  from: SpanCell;
  cells: SpanCell[];
  xid?: string;
  /** Set once a statement failed inside it: PostgreSQL will only roll it back (SQLSTATE 25P02 until then). */
  failed?: string;
}

/**
 * Follows the session's transaction from each statement's result (the ReadyForQuery state after it, its command
 * tag, and how a COMMIT whose connection dropped was resolved). Lives as long as the session: in VS Code a span can
 * begin in one run and end in the next.
 */
export class TxTracker {
  private open: OpenSpan | undefined;

  /** The span open now, as a record (fate `open`); undefined when the session is idle. */
  current(): SpanRecord | undefined {
    return this.open ? this.record(this.open, 'open') : undefined;
  }

  /** True while a transaction is open (or failed) on the session. */
  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  /** Cells in the open span so far. */
  openCells(): SpanCell[] {
    return this.open ? [...this.open.cells] : [];
  }

  /** Remembers the open transaction's id (for `txid_status()` after a lost connection or a killed run). */
  setXid(xid: string | undefined): void {
    if (this.open && xid) this.open.xid = xid;
  }

  /**
   * Takes a cell's statements in order, each with its record (the ReadyForQuery state after it in `tx`, the command
   * tag, `xid` before a COMMIT) and what it does to the transaction block. Returns the spans they ended (possibly
   * several: COMMIT AND CHAIN) and the span the cell's record should show (the last it took part in), if any.
   */
  observe(cell: SpanCell, statements: readonly { record: StatementRecord; effect: TransactionEffect }[], error?: string): { ended: EndedSpan[]; span?: SpanRecord } {
    const ended: EndedSpan[] = [];
    let last: SpanRecord | undefined = this.open ? this.record(this.open, 'open') : undefined;
    for (const { record: st, effect } of statements) {
      const after = st.tx;
      if (!this.open) {
        if (after === 'in transaction' || after === 'failed') {
          this.open = { from: cell, cells: [cell] };
          if (after === 'failed') this.open.failed = `${cellLabel(cell)} failed: ${error ?? 'a statement failed'}`;
          last = this.record(this.open, 'open');
        }
        continue;
      }
      const open = this.open;
      if (!open.cells.includes(cell)) open.cells.push(cell);
      if (typeof st.xid === 'string') open.xid = st.xid;
      if (after === 'failed') open.failed ??= `${cellLabel(cell)} failed inside the transaction: ${error ?? 'a statement failed'}`;
      // ROLLBACK TO SAVEPOINT is the one way out of a failed transaction block that keeps the transaction.
      else if (after === 'in transaction' && effect === undefined && st.tag === 'ROLLBACK') open.failed = undefined;
      if (after === 'idle') {
        const e = this.endFromTag(cell, typeof st.tag === 'string' ? st.tag : '');
        ended.push(e);
        last = e.span;
      } else if (after === 'in transaction' && (effect === 'commit-and-chain' || effect === 'rollback-and-chain')) {
        const e = this.endFromTag(cell, effect === 'commit-and-chain' && !open.failed ? 'COMMIT' : 'ROLLBACK');
        ended.push(e);
        this.open = { from: cell, cells: [cell] };
        last = this.record(this.open, 'open');
      } else {
        last = this.record(open, 'open');
      }
    }
    return { ended, span: last };
  }

  private endFromTag(cell: SpanCell, tag: string): EndedSpan {
    const open = this.open!;
    this.open = undefined;
    let fate: SpanFate;
    let reason: string;
    let intended = false;
    if (tag === 'COMMIT') {
      fate = 'committed';
      reason = `COMMIT in ${cellLabel(cell)}`;
    } else if (tag === 'ROLLBACK') {
      fate = 'rolled back';
      // A COMMIT of a failed transaction answers ROLLBACK (PostgreSQL docs, COMMIT): the work is lost either way.
      intended = open.failed === undefined;
      reason = open.failed ? `${open.failed}; ended by ${cellLabel(cell)}` : `ROLLBACK in ${cellLabel(cell)}`;
    } else if (tag === 'PREPARE TRANSACTION') {
      fate = 'unknown';
      reason = `PREPARE TRANSACTION in ${cellLabel(cell)}: committed or rolled back later by COMMIT PREPARED / ROLLBACK PREPARED`;
    } else {
      fate = 'unknown';
      reason = `the transaction ended in ${cellLabel(cell)} (${tag || 'no command tag'})`;
    }
    const span = this.record(open, fate, reason, cell);
    return { span, cells: open.cells, intended };
  }

  /**
   * Ends the open span from outside the statements: the runner rolled it back, the connection was lost, a COMMIT
   * in flight was resolved on a new connection. Returns undefined when nothing was open.
   */
  end(fate: SpanFate, reason: string, opts: { by?: SpanCell; intended?: boolean } = {}): EndedSpan | undefined {
    const open = this.open;
    if (!open) return undefined;
    this.open = undefined;
    if (opts.by && !open.cells.includes(opts.by)) open.cells.push(opts.by);
    return { span: this.record(open, fate, reason, opts.by), cells: open.cells, intended: opts.intended ?? false };
  }

  /** Why the open transaction can only roll back (a statement failed in it), if it can. */
  get failure(): string | undefined {
    return this.open?.failed;
  }

  private record(open: OpenSpan, fate: SpanFate, reason?: string, to?: SpanCell): SpanRecord {
    const r: SpanRecord = { from: open.from.number, fate };
    if (to) r.to = to.number;
    if (reason) r.reason = reason;
    if (open.xid) r.xid = open.xid;
    return r;
  }
}

/**
 * The status a cell's record takes from its span: work in an open span is `uncommitted`; when the span rolled
 * back it is `rolled back`; when its fate is unknown, `unknown`. A failed, cancelled or skipped cell keeps its own
 * status (the span says what happened to the rest).
 */
export function statusInSpan(status: string, span: SpanRecord | undefined): string {
  if (!span || (status !== 'ok' && status !== 'uncommitted')) return status;
  switch (span.fate) {
    case 'open':
      return 'uncommitted';
    case 'committed':
      return 'ok';
    case 'rolled back':
      return 'rolled back';
    default:
      return 'unknown';
  }
}
