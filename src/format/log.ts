// The migration log section: appending events to a runbook's log, and the attempt summary of a cell's record.

import type { AttemptRecord, LogEvent, RunbookLog } from './log-model';
import type { OutputRecord, Runbook } from './model';

/**
 * Appends an event to the runbook's log (creating the log when the file has none). `ctx` is what a chained attempt
 * hashes (the cell's source and output body).
 */
export function appendLogEvent(rb: Runbook, event: LogEvent, ctx: { source?: string; body?: string } = {}): RunbookLog {
  void ctx;
  rb.log ??= { events: [] };
  rb.log.events.push(event);
  return rb.log;
}

/** The log's summary of one cell attempt: status, time, duration, rows, span, acknowledged rules, the error in one line. */
export function attemptOf(record: OutputRecord, cell: { number: number; name?: string }): AttemptRecord {
  const a: AttemptRecord = { run: typeof record.run === 'string' ? record.run : '', cell: cell.number, status: String(record.status) };
  if (cell.name) a.name = cell.name;
  if (typeof record.started === 'string') a.started = record.started;
  if (typeof record.ms === 'number') a.ms = record.ms;
  if (Array.isArray(record.statements)) {
    let rows = 0;
    let any = false;
    for (const s of record.statements) if (typeof s.rows === 'number') { rows += s.rows; any = true; }
    if (any) a.rows = rows;
  }
  if (record.span && typeof record.span === 'object') a.span = record.span as AttemptRecord['span'];
  if (Array.isArray(record.ack)) a.ack = record.ack as string[];
  if (record.error && typeof record.error.message === 'string') a.error = record.error.message.split('\n')[0];
  return a;
}
