// The log section of a `.runbook` file: reading its events back, checking its text, and writing new events after it.
//
// Layout (docs/format.md, "The migration log"): a `<!-- runbook:log -->` line, a short preamble, then one chunk
// per event — its visible Markdown, then `<!-- runbook:event {JSON} -->`. Everything from the marker line to the
// end of the file belongs to the log; parse.ts decides where it starts.

import type { Problem } from './model';
import type { LogEvent, RunbookLog } from './log-model';
import { EVENT_MARKER, LOG_MARKER, LOG_PREAMBLE, LogRenderer, renderChunk } from './log-render';

const EVENT_LINE = /^( *)<!-- runbook:event (.*) -->[ \t]*$/;
const LOG_MARKER_LINE = /^<!-- runbook:log -->[ \t]*$/;

/** True when a line (without its line break) is the log's opening line. */
export function isLogMarkerLine(line: string): boolean {
  return LOG_MARKER_LINE.test(line);
}

/** UTF-16 offsets of every line that could open the log (parse.ts keeps the first that is a top-level block). */
export function logMarkerOffsets(text: string): number[] {
  const out: number[] = [];
  for (let i = text.indexOf(LOG_MARKER); i >= 0; i = text.indexOf(LOG_MARKER, i + 1)) {
    if (i > 0 && text[i - 1] !== '\n' && text[i - 1] !== '\r') continue;
    const m = /\r\n|\r|\n/.exec(text.slice(i, i + 200));
    const end = m ? i + m.index : Math.min(text.length, i + 200);
    if (isLogMarkerLine(text.slice(i, end))) out.push(i);
  }
  return out;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const optStr = (v: unknown): boolean => v === undefined || isStr(v);
const optNum = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v));
const optStrs = (v: unknown): boolean => v === undefined || (Array.isArray(v) && v.every(isStr));

function spanProblem(span: unknown): string | undefined {
  if (!isObj(span)) return '"span" is not an object';
  if (typeof span.from !== 'number' || !isStr(span.fate) || !optNum(span.to) || !optStr(span.reason) || !optStr(span.xid)) return '"span" needs a number "from" and a string "fate"';
  return undefined;
}

/** Why a parsed JSON value is not a log event this version can read (the fields the log's text uses), or undefined. */
export function eventProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'not a JSON object';
  if (!optStr(v.prev) || !optStr(v.h)) return '"prev" and "h" must be strings';
  switch (v.e) {
    case 'run': {
      const r = v.run;
      if (!isObj(r) || !isStr(r.id) || !isStr(r.connection) || !isStr(r.by) || !isStr(r.command) || !isStr(r.started)) return 'a run event needs "run" with string "id", "connection", "by", "command" and "started"';
      if (!optStr(r.environment) || !optStr(r.server) || !optStr(r.database) || !optStr(r.system) || !optStr(r.estimate) || !optStr(r.window) || !optStrs(r.flags)) return 'a run event has a field of the wrong type';
      return undefined;
    }
    case 'attempt': {
      const a = v.attempt;
      if (!isObj(a) || !isStr(a.run) || typeof a.cell !== 'number' || !isStr(a.status)) return 'an attempt event needs "attempt" with a string "run", a number "cell" and a string "status"';
      if (!optStr(a.name) || !optStr(a.started) || !optNum(a.ms) || !optNum(a.rows) || !optStrs(a.ack) || !optStr(a.error) || !optNum(a.waitedMs) || !optNum(a.blocked) || !optNum(a.retries) || !optStr(a.estimate)) return 'an attempt event has a field of the wrong type';
      if (a.span !== undefined && spanProblem(a.span)) return `an attempt's ${spanProblem(a.span)}`;
      if (!optStr(v.src) || !optStr(v.rec) || !optStr(v.out)) return 'an attempt event\'s hashes must be strings';
      return undefined;
    }
    case 'span':
      if (!isStr(v.run) || !Array.isArray(v.cells) || !v.cells.every((c) => typeof c === 'number') || !optStr(v.at)) return 'a span event needs a string "run", "span" and a list of cell numbers "cells"';
      if (v.after !== undefined && !(Array.isArray(v.after) && v.after.every((x) => isObj(x) && typeof x.cell === 'number'))) return 'a span event\'s "after" must list {"cell": number, …}';
      return spanProblem(v.span);
    case 'end': {
      const n = v.end;
      // An interrupted run's end is written by a later run: the killed process's exit status is not known.
      const exitOk = isObj(n) && (typeof n.exit === 'number' || (n.exit === undefined && n.status === 'interrupted'));
      if (!isObj(n) || !isStr(n.run) || !isStr(n.ended) || !isStr(n.status) || !exitOk) return 'an end event needs "end" with string "run", "ended", "status" and a number "exit" (which only an interrupted run may lack)';
      if (!optStrs(n.reasons) || !(n.cells === undefined || isObj(n.cells)) || !(n.window === undefined || (isObj(n.window) && isStr(n.window.interval) && isStr(n.window.verdict)))) return 'an end event has a field of the wrong type';
      return undefined;
    }
    case 'warning': {
      const w = v.warning;
      if (!isObj(w) || !isStr(w.run) || !isStr(w.at) || !isStr(w.about) || !isStr(w.message)) return 'a warning event needs "warning" with string "run", "at", "about" and "message"';
      return undefined;
    }
    default:
      return `unknown event kind ${JSON.stringify(v.e)}`;
  }
}

/** One event line found in a log section, with where its chunk starts and ends (offsets in the section). */
export interface LogEntry {
  /** 0-based line of the event line in the section. */
  line: number;
  /** The event, when its line parsed; else why not. */
  event?: LogEvent;
  error?: string;
  /** Offsets of the chunk: from the end of the previous event line (or the section's start) to the end of this one. */
  from: number;
  to: number;
}

/** A log section cut into event lines and chunks. `tail` is the text after the last event line. */
export interface LogSplit {
  entries: LogEntry[];
  tailFrom: number;
}

/** Cuts a log section's text (starting at its marker line) into chunks, one per event line. Never throws. */
export function splitLogSection(raw: string): LogSplit {
  const entries: LogEntry[] = [];
  const re = /\r\n|\r|\n/g;
  let start = 0;
  let line = 0;
  let chunkFrom = 0;
  for (;;) {
    const m = re.exec(raw);
    const end = m ? m.index : raw.length;
    const next = m ? end + m[0].length : raw.length;
    const text = raw.slice(start, end);
    if (text.trimStart().startsWith('<!-- runbook:event')) {
      const entry: LogEntry = { line, from: chunkFrom, to: next };
      const em = EVENT_LINE.exec(text);
      if (!em) entry.error = 'a log event must be one line: <!-- runbook:event {JSON} -->';
      else {
        try {
          const v: unknown = JSON.parse(em[2]);
          const why = eventProblem(v);
          if (why) entry.error = `log event ${why}`;
          else entry.event = v as LogEvent;
        } catch (e) {
          entry.error = `log event is not valid JSON (${(e as Error).message})`;
        }
      }
      entries.push(entry);
      chunkFrom = next;
    }
    if (!m) break;
    start = next;
    line++;
  }
  return { entries, tailFrom: chunkFrom };
}

/**
 * Reads the log section (from its marker line to the end of the file). Never throws: a malformed
 * event line is an error (`malformed-log-event`), visible text that no longer says what its events
 * say is a warning (`log-text-edited`); the section's text is kept byte for byte either way.
 *
 * @param raw the section's exact text
 * @param firstLine 1-based line of the marker in the file (for problems)
 * @param eol the runbook's line break, with which the text was rendered
 */
export function parseLogSection(raw: string, firstLine: number, eol: '\n' | '\r\n', problems: Problem[]): RunbookLog {
  const split = splitLogSection(raw);
  const events: LogEvent[] = [];
  let textChecked = false;
  const r = new LogRenderer();
  for (const [k, entry] of split.entries.entries()) {
    if (!entry.event) {
      problems.push({ line: firstLine + entry.line, severity: 'error', code: 'malformed-log-event', message: `${entry.error ?? 'malformed log event'}: kept as it is; \`runbook verify\` fails on it` });
      textChecked = true; // the text around a malformed event cannot be checked against it
      continue;
    }
    events.push(entry.event);
    const expected = (k === 0 ? [LOG_MARKER, ...LOG_PREAMBLE].join(eol) + eol : '') + renderChunk(r, entry.event, eol);
    const actual = raw.slice(entry.from, entry.to);
    if (!textChecked && !sameChunk(actual, expected, entry.to === raw.length)) {
      textChecked = true;
      problems.push({ line: firstLine + firstDifferentLine(actual, expected) + lineOfOffset(raw, entry.from), severity: 'warning', code: 'log-text-edited', message: 'the migration log\'s text here does not say what its event records say (edited by hand?): `runbook log` prints what the records say, `runbook verify` fails' });
    }
  }
  if (split.entries.length === 0) {
    problems.push({ line: firstLine, severity: 'warning', code: 'log-text-edited', message: 'a `<!-- runbook:log -->` line opens the migration log, but no event follows it: everything from here to the end of the file is kept as the log, not read as cells' });
  } else if (!textChecked && split.tailFrom < raw.length && raw.slice(split.tailFrom).trim() !== '') {
    problems.push({ line: firstLine + lineOfOffset(raw, split.tailFrom), severity: 'warning', code: 'log-text-edited', message: 'text after the migration log\'s last event is not part of the log (and no cell): move it above the `<!-- runbook:log -->` line' });
  }
  const log: RunbookLog = { events, raw, rawEvents: events.length };
  parsedLines.set(log, { firstLine, lines: split.entries.filter((e) => e.event).map((e) => firstLine + e.line) });
  return log;
}

// Where each event read from a file stands (1-based lines), for `runbook verify`'s messages; kept beside the
// model rather than in it, so the model stays the plain JSON VS Code's notebook metadata holds.
const parsedLines = new WeakMap<RunbookLog, { firstLine: number; lines: number[] }>();

/** The 1-based line of the log's marker and of each event line, for a log as `parseLogSection` read it. */
export function logLines(log: RunbookLog): { firstLine: number; lines: number[] } | undefined {
  return parsedLines.get(log);
}

/**
 * A chunk equals its rendering, whatever its line breaks (a checkout with `core.autocrlf`, a file whose
 * first line break changed); the file's very last line may lack its line break.
 */
function sameChunk(actual: string, expected: string, atEnd: boolean): boolean {
  if (actual === expected) return true;
  const a = actual.replace(/\r\n?/g, '\n');
  const b = expected.replace(/\r\n?/g, '\n');
  return a === b || (atEnd && a === b.replace(/\n$/, ''));
}

function lineOfOffset(text: string, offset: number): number {
  return (text.slice(0, offset).match(/\r\n|\r|\n/g) ?? []).length;
}

function firstDifferentLine(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return lineOfOffset(a, i);
}

// Rendering the events appended since the section was read, cached per log object so that writing the
// file at every checkpoint of a long run renders each event once (the WeakMap keeps the model plain JSON
// for VS Code's notebook metadata).
const appendCache = new WeakMap<RunbookLog, { eol: string; count: number; renderer: LogRenderer; text: string }>();

/**
 * Text of the log section for writing: the text as read (byte for byte), then the chunks of the events
 * appended since. A log made in memory gets its marker and preamble first.
 */
export function serializeLogSection(log: RunbookLog, eol: '\n' | '\r\n'): string {
  const from = log.raw === undefined ? 0 : (log.rawEvents ?? log.events.length);
  let cache = appendCache.get(log);
  if (!cache || cache.eol !== eol || cache.count > log.events.length) {
    const renderer = new LogRenderer();
    for (let i = 0; i < from; i++) renderer.chunk(log.events[i]);
    cache = { eol, count: from, renderer, text: '' };
    appendCache.set(log, cache);
  }
  const parts = [cache.text];
  for (let i = cache.count; i < log.events.length; i++) parts.push(renderChunk(cache.renderer, log.events[i], eol));
  cache.text = parts.join('');
  cache.count = log.events.length;
  if (log.raw === undefined) return [LOG_MARKER, ...LOG_PREAMBLE].join(eol) + eol + cache.text;
  const raw = log.raw;
  const sep = cache.text !== '' && raw !== '' && !/[\r\n]$/.test(raw) ? eol : '';
  return raw + sep + cache.text;
}

export { EVENT_MARKER, LOG_MARKER };
