// The run loop's API to the migration log: summarize a cell's output as an attempt, and append events with their hash chain.

import type { Cell, OutputRecord, Runbook } from './model';
import type { AttemptRecord, CellHashes, LogEvent, SpanRecord } from './log-model';
import { bodyHash, eventHash, recordHash, sealEvent, sourceHash } from './log-chain';
import { parseEstimate } from './estimate';
import { frontMatterWindow } from './front-matter';
import { oneLine } from './md-text';
import { LOG_MARKER } from './log-render';
import { parseRunbook } from './parse';
import { logSeparator, serializeRunbook } from './serialize';

/** The log cannot be added to this runbook's text (nothing was changed). */
export class LogPlacementError extends Error {
  override readonly name = 'LogPlacementError';
}

/** What an event recorded about a cell, when the runbook model does not hold it (yet). */
export interface AppendContext {
  /** The cell's source as it ran; default: the source of runnable cell `attempt.cell` in the runbook. */
  source?: string;
  /** The output body written for the attempt (without its final line break); default: the cell's last output's. */
  body?: string;
  /** Its fence language (default `text`). */
  bodyLang?: string;
  /** The output record written for the attempt; default: the cell's last output's, if it names the attempt's run. */
  record?: OutputRecord;
  /** Clock for a span event's `at` (default: now). */
  now?: () => Date;
}

/** The runnable (SQL, shell, checklist) cell with this 1-based number, as `--from` numbers them. */
export function runnableCell(rb: Runbook, n: number): Cell | undefined {
  let k = 0;
  for (const c of rb.cells) if (c.kind !== 'markdown' && ++k === n) return c;
  return undefined;
}

/** The hashes of a cell's latest output when that output was written by `run` (or is `ctx.record`). */
function outputHashes(cell: Cell | undefined, run: string, ctx: AppendContext): Pick<CellHashes, 'rec' | 'out'> {
  if (ctx.record) return { rec: recordHash(ctx.record), out: bodyHash({ body: ctx.body, bodyLang: ctx.bodyLang }) };
  const last = cell?.outputs[cell.outputs.length - 1];
  if (!last || last.record.run !== run) return {};
  return { rec: recordHash(last.record), out: bodyHash({ body: ctx.body ?? last.body, bodyLang: ctx.body !== undefined ? ctx.bodyLang : last.bodyLang }) };
}

function validEstimate(v: unknown): string | undefined {
  return typeof v === 'string' && parseEstimate(v).ok ? v : undefined;
}

/** Keys `appendLogEvent` writes itself; a caller's copies are dropped so the chain is computed here only. */
const CHAIN_KEYS = new Set(['prev', 'h', 'src', 'rec', 'out', 'after']);

function withoutChain(event: LogEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(event)) if (!CHAIN_KEYS.has(k)) out[k] = v;
  return out;
}

/** A copy of the event with what the log adds: the run's estimate, the cell's hashes, the span's time. */
function completeEvent(rb: Runbook, event: LogEvent, ctx: AppendContext): Record<string, unknown> {
  const out = withoutChain(event);
  switch (event.e) {
    case 'run': {
      const estimate = event.run.estimate ?? validEstimate(rb.frontMatter?.data?.estimate);
      const window = event.run.window ?? frontMatterWindow(rb.frontMatter?.data)?.iso;
      out.run = { ...event.run, ...(estimate === undefined ? {} : { estimate }), ...(window === undefined ? {} : { window }) };
      break;
    }
    case 'attempt': {
      const cell = runnableCell(rb, event.attempt.cell);
      const estimate = event.attempt.estimate ?? validEstimate(cell?.options.estimate);
      out.attempt = estimate === undefined ? { ...event.attempt } : { ...event.attempt, estimate };
      if (cell) out.src = sourceHash({ kind: cell.kind, options: cell.options, source: ctx.source ?? cell.source });
      Object.assign(out, outputHashes(cell, event.attempt.run, ctx));
      break;
    }
    case 'span': {
      if (out.at === undefined) out.at = (ctx.now ? ctx.now() : new Date()).toISOString();
      out.after = event.cells.map((n) => ({ cell: n, ...outputHashes(runnableCell(rb, n), event.run, {}) }));
      break;
    }
    default:
      break;
  }
  return out;
}

/**
 * Checks that a log section written after the runbook's text would read back as one: the text must
 * not leave a fence or HTML block open, nor hold the marker line already.
 * @throws LogPlacementError saying what to fix
 */
function checkPlacement(rb: Runbook): void {
  // A block left open at the end of the text swallows everything after it, so it is in the last cell: only that
  // cell (with the text after it) is probed — unless a cell's text holds the marker line somewhere.
  const last = rb.cells[rb.cells.length - 1];
  const marker = rb.cells.some((c) => c.kind !== 'sql' && c.kind !== 'shell' && c.source.includes(LOG_MARKER)) || rb.trailing.includes(LOG_MARKER);
  const tail: Runbook = { cells: last ? [last] : [], trailing: rb.trailing, eol: rb.eol, problems: [] };
  const text = serializeRunbook(marker || !last ? { ...rb, log: undefined } : tail);
  const probe = text + logSeparator(text, rb.eol) + LOG_MARKER + rb.eol;
  const back = parseRunbook(probe, { skipOptionChecks: true });
  if (back.log?.raw === LOG_MARKER + rb.eol) return;
  if (back.log) throw new LogPlacementError(`cannot add the migration log: a \`${LOG_MARKER}\` line is already in the runbook's text (it is reserved for the log); remove it or put it in a code block`);
  const open = rb.problems.find((p) => p.code === 'unterminated-fence');
  throw new LogPlacementError(`cannot add the migration log after this runbook's text: ${open ? `the fence opened at line ${open.line} is never closed` : 'the end of the file is inside a block that never closes (an unclosed ``` fence, `<!--` comment or `<pre>`)'}; close it and run again`);
}

/**
 * Appends one event to the runbook's migration log, creating the log when the runbook has none, and
 * returns the event as stored: a copy with the hash chain (`prev`, `h`) and what the log adds —
 * a `run` gets the front matter's `estimate`; an `attempt` gets the cell's `estimate` option and the
 * hashes of the cell's source (`src`), output record (`rec`) and body (`out`); a `span` gets `at`
 * (now) and, in `after`, the hashes of each of its cells' outputs.
 *
 * Call it after writing the output it describes into the runbook (an attempt's output, a span's fate
 * in its cells' records): the hashes are taken from the runbook's cells then, unless `ctx` gives them.
 * An attempt whose output record does not name the attempt's run wrote no output (a refused attempt):
 * it gets no `rec`/`out`, and `runbook verify` keeps comparing the cell with the attempt before it.
 *
 * @throws LogPlacementError when the runbook has no log yet and one cannot follow its text (nothing changed)
 */
export function appendLogEvent(rb: Runbook, event: LogEvent, ctx: AppendContext = {}): LogEvent {
  if (!rb.log) {
    checkPlacement(rb);
    rb.log = { events: [] };
  }
  const events = rb.log.events;
  const stored = completeEvent(rb, event, ctx);
  const last = events[events.length - 1];
  if (last) stored.prev = last.h ?? eventHash(last);
  const ev = stored as unknown as LogEvent;
  sealEvent(ev);
  events.push(ev);
  return ev;
}

/** One line of an error message for the log: the first line, at most 300 characters. */
function shortError(text: string): string {
  const first = oneLine(text.split(/\r\n|\r|\n/)[0] ?? '').trim();
  return first.length > 300 ? first.slice(0, 299) + '…' : first;
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * The log's summary of a cell's output record: run (the record's `run`), cell number and name,
 * status, start, duration (ms), rows (summed over the statements that report a count), span,
 * acknowledged rules, a one-line error (`message (SQLSTATE x)`, `exit status N`, `killed by SIG…`),
 * lock waits (`locks.cellWaitedMs`, `locks.peakBlocked`) and retries, each only when the record has it.
 */
export function attemptOf(record: OutputRecord, cell: { number: number; name?: string }): AttemptRecord {
  const a: AttemptRecord = { run: typeof record.run === 'string' ? record.run : '', cell: cell.number, ...(cell.name !== undefined ? { name: cell.name } : {}), status: String(record.status) };
  if (typeof record.started === 'string') a.started = record.started;
  if (isNum(record.ms)) a.ms = record.ms;
  const counted = (record.statements ?? []).filter((s) => isNum(s.rows));
  if (counted.length > 0) a.rows = counted.reduce((n, s) => n + (s.rows as number), 0);
  const span = record.span as SpanRecord | undefined;
  if (span && typeof span === 'object' && typeof span.from === 'number' && typeof span.fate === 'string') a.span = span;
  const ack = record.ack;
  if (typeof ack === 'string') a.ack = [ack];
  else if (Array.isArray(ack) && ack.every((x) => typeof x === 'string') && ack.length > 0) a.ack = ack as string[];
  if (record.error && typeof record.error.message === 'string') a.error = shortError(record.error.message) + (record.error.sqlstate ? ` (SQLSTATE ${record.error.sqlstate})` : '');
  else if (isNum(record.exit) && record.exit !== 0) a.error = `exit status ${record.exit}`;
  else if (typeof record.signal === 'string') a.error = `killed by ${record.signal}`;
  if (isNum(record.exit)) a.exit = record.exit;
  const locks = record.locks as { cellWaitedMs?: unknown; peakBlocked?: unknown } | undefined;
  if (locks && isNum(locks.cellWaitedMs) && locks.cellWaitedMs > 0) a.waitedMs = locks.cellWaitedMs;
  if (locks && isNum(locks.peakBlocked) && locks.peakBlocked > 0) a.blocked = locks.peakBlocked;
  if (isNum(record.retries) && record.retries > 0) a.retries = record.retries;
  return a;
}
