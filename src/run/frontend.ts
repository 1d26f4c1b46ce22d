// What differs between running in the CLI and in VS Code, behind three small interfaces: where outputs go, how the
// person is asked, and how progress is shown. The run loop (loop.ts) talks only to these.

import type { Cell, LogEvent, Output } from '../format';
import type { ChecklistAnswer, ChecklistItem } from '../engines/checklist';
import type { RunnableCell } from './cells';
import type { CellRun } from './session';
import type { MonitorView } from '../monitor/sampler';

/**
 * Where a run's outputs and log events go: the runbook file through its journal (CLI), or the open notebook
 * (VS Code). Every method that records something resolves only once it is recorded durably (CLI: appended to the
 * journal with one write(2)); it rejects when it could not be recorded, and the run then stops before the next cell.
 */
export interface RunSink {
  /** The front end's own handle on the runbook cell at `index` as the run starts (CLI: the index; VS Code: the NotebookCell). */
  handle(index: number): unknown;
  /**
   * The cell as it is now (VS Code: its text may have been edited during the run), or undefined when it is gone.
   * The loop compares it with the cell it planned.
   */
  cellNow(handle: unknown): Cell | undefined;
  /** The cell's current output (the latest), if any. */
  outputOf(handle: unknown): Output | undefined;
  /** A cell is about to run: the CLI journals a `started` entry (a kill now is found by the next run). */
  cellStarted(c: RunnableCell, handle: unknown, runId: string): Promise<void>;
  /**
   * A COMMIT of transaction `xid` is about to be sent by cell `c` (synchronous: it happens between two statements).
   * The CLI journals it, so that if the process dies with the COMMIT in flight the next run can ask `txid_status()`.
   */
  commitXid?(c: RunnableCell, handle: unknown, runId: string, xid: string): void;
  /**
   * A shell cell's bash started in its own process group `pgid` (synchronous: right after the spawn). The CLI journals
   * it, so that if the run is killed the next run can find what the group left running (src/run/shell-groups.ts).
   */
  shellGroup?(c: RunnableCell, handle: unknown, runId: string, pgid: number): void;
  /**
   * The cell's output, replacing its outputs; `source` is its new text when running changed it (ticked items);
   * `ran` is what the engine returned (VS Code draws result tables from its rows); `attempt` is the log event that
   * records it, appended after the output is in the cell (the CLI journals both in one write, so neither is ever
   * recorded without the other).
   */
  cellOutput(c: RunnableCell, handle: unknown, output: Output, source?: string, ran?: CellRun, attempt?: LoggedEvent): Promise<void>;
  /** The cell's run is over (VS Code ends its execution). `success`: whether it ran as asked. */
  cellEnded(handle: unknown, success: boolean): void;
  /**
   * Earlier cells' outputs changed, with the log event that records why (a span's fate, the attempt that says a cell
   * was not run, a killed run's cell settled as unknown): the CLI journals them all in one write(2), so a kill never
   * leaves the record holding the outputs without the event, or the event without the outputs.
   */
  amend(changes: readonly { handle: unknown; output: Output }[], event: LoggedEvent): Promise<void>;
  /** Appends an event to the migration log; `ctx` gives what a chained attempt hashes. */
  log(event: LogEvent, ctx?: { source?: string; body?: string }): Promise<void>;
  /** Makes everything recorded so far durable in the runbook itself (CLI: a checkpoint). */
  flush(): Promise<void>;
}

/** A log event with what a chained attempt hashes. */
export interface LoggedEvent {
  event: LogEvent;
  ctx?: { source?: string; body?: string };
}

/** How a run asks the person running it. A missing method means nobody can answer that kind of question here. */
export interface RunAsker {
  /** A yes/no question; resolves false for no or a dismissed question. */
  confirm?(question: string, detail?: string): Promise<boolean>;
  /** Asks to type `expected` (the production connection's name) to go on; resolves what was typed, undefined when dismissed. */
  typeName?(question: string, expected: string): Promise<string | undefined>;
  /** Asks to confirm checklist items; resolves each confirmed item with the time it was confirmed. */
  confirmChecklist?(cell: Cell, pending: ChecklistItem[]): Promise<ChecklistAnswer[] | undefined>;
}

/** Live progress of a cell (the CLI's progress line, VS Code's live output). */
export interface CellProgress {
  /** ms since the cell started. */
  elapsedMs: number;
  /** Rows received so far by the running statement. */
  rows?: number;
  /** 0-based index of the running statement. */
  statement?: number;
  /** What the safety hooks see (whom the cell waits for, who waits behind it), or a shell cell's last line. */
  text?: string;
}

/** How a run shows progress. Every method is optional. */
export interface RunReporter {
  /** The target was reached (`display` is safe to print); `recovered` outputs came from an interrupted run's journal. */
  target?(display: string, recovered: number): void;
  cellStart?(c: RunnableCell, position: number, total: number): void;
  progress?(c: RunnableCell, p: CellProgress): void;
  /** Shell output as it arrives (already redacted). */
  output?(c: RunnableCell, chunk: string): void;
  /** `summary`: one line (`SELECT 3`, `exit 0`, `2 items confirmed`, findings). */
  cellEnd?(c: RunnableCell, status: string, ms: number, summary: string): void;
  /** A note for the person (a span rolled back, a session reopened, a refusal). */
  message?(text: string): void;
  /** A notice or warning the server sent while the cell ran (`NOTICE: relation "x" already exists, skipping`). */
  notice?(c: RunnableCell, text: string): void;
  /** The monitoring sampler's latest sample of the server, or why there is none (src/monitor/sampler.ts). */
  monitor?(view: MonitorView): void;
}
