// Checks a runbook's migration log against itself and its cells: the hash chain, the log's text, and each cell's output and source.

import type { Runbook } from './model';
import type { LogEvent } from './log-model';
import { bodyHash, eventHash, recordHash, sourceHash } from './log-chain';
import { logLines, splitLogSection } from './log';
import { cellStartLines, countLineBreaks } from './lines';

/** What kind of break `runbook verify` found. */
export type BreakKind =
  | 'malformed-event'
  | 'edited-event'
  | 'removed-event'
  | 'log-text-edited'
  | 'output-summary-edited'
  | 'unknown-run'
  | 'edited-record'
  | 'edited-body'
  | 'stale-output'
  | 'moved-cell'
  | 'source-changed'
  | 'removed-output'
  | 'removed-cell'
  | 'unlogged-output'
  | 'rewritten-log';

/** One place where the file no longer says what the tool wrote. `line` is 1-based in the file. */
export interface LogBreak {
  line: number;
  kind: BreakKind;
  message: string;
}

/** Result of {@link verifyRunbook}: breaks in file order (the first is the first break), and notes that are not breaks. */
export interface VerifyResult {
  breaks: LogBreak[];
  notes: string[];
  /** Events in the log, and outputs compared with it. */
  events: number;
  outputsChecked: number;
}

/** An event of the log with the file line of its event line. */
interface Located {
  event: LogEvent;
  line: number;
}

/** What the log says a cell's current output and source should be: the latest event that wrote its output. */
interface Expected {
  rec: string;
  out?: string;
  src?: string;
  run: string;
  line: number;
}

const PARSE_BREAKS: Record<string, BreakKind> = { 'malformed-log-event': 'malformed-event', 'log-text-edited': 'log-text-edited', 'output-summary-edited': 'output-summary-edited' };

/** The log's events with their lines (1-based, in the file the runbook was parsed from). */
function locateEvents(rb: Runbook, firstLine: number): Located[] {
  const log = rb.log;
  if (log?.raw === undefined) return (log?.events ?? []).map((event) => ({ event, line: 0 }));
  const known = logLines(log)?.lines ?? splitLogSection(log.raw).entries.filter((e) => e.event).map((e) => firstLine + e.line);
  // Events appended in memory after parsing have no line in the file yet.
  return log.events.map((event, i) => ({ event, line: known[i] ?? 0 }));
}

function checkChain(events: Located[], breaks: LogBreak[]): void {
  let prevHash: string | undefined;
  let prevLine = 0;
  for (const [i, { event, line }] of events.entries()) {
    const at = line > 0 ? `line ${line}` : `event ${i + 1}`;
    if (event.h === undefined) breaks.push({ line, kind: 'edited-event', message: `the log event at ${at} carries no hash: it was not written by runbook, or its hash was removed` });
    else if (eventHash(event) !== event.h) breaks.push({ line, kind: 'edited-event', message: `the log event at ${at} was edited after it was written: its hash no longer matches its content` });
    if (event.prev !== prevHash) {
      breaks.push({
        line,
        kind: 'removed-event',
        message: i === 0 ? `the log's first event (${at}) follows an event that is no longer in the file: events were removed from the start of the log` : `the log event at ${at} does not follow the one at line ${prevLine}: an event between them was removed, or events were reordered`,
      });
    }
    prevHash = event.h ?? eventHash(event);
    prevLine = line;
  }
}

function checkRuns(events: Located[], breaks: LogBreak[]): void {
  const started = new Set<string>();
  for (const { event, line } of events) {
    if (event.e === 'run') {
      if (started.has(event.run.id)) breaks.push({ line, kind: 'unknown-run', message: `run ${event.run.id} starts twice in the log (line ${line})` });
      started.add(event.run.id);
      continue;
    }
    const run = event.e === 'attempt' ? event.attempt.run : event.e === 'span' ? event.run : event.e === 'warning' ? event.warning.run : event.end.run;
    if (!started.has(run)) breaks.push({ line, kind: 'unknown-run', message: `the log event at line ${line} belongs to run ${JSON.stringify(run)}, which does not start earlier in the log` });
  }
}

/** For each runnable cell number, the latest event that wrote its output; and every (record hash → cell, line) seen. */
function expectations(events: Located[]): { latest: Map<number, Expected>; seen: Map<string, { cell: number; line: number }[]>; attempted: Map<number, number> } {
  const latest = new Map<number, Expected>();
  const seen = new Map<string, { cell: number; line: number }[]>();
  const attempted = new Map<number, number>();
  const note = (rec: string, cell: number, line: number): void => {
    const list = seen.get(rec) ?? [];
    list.push({ cell, line });
    seen.set(rec, list);
  };
  for (const { event, line } of events) {
    if (event.e === 'attempt') {
      attempted.set(event.attempt.cell, line);
      if (event.rec === undefined) continue;
      latest.set(event.attempt.cell, { rec: event.rec, out: event.out, src: event.src, run: event.attempt.run, line });
      note(event.rec, event.attempt.cell, line);
    } else if (event.e === 'span') {
      for (const a of event.after ?? []) {
        if (a.rec === undefined) continue;
        const before = latest.get(a.cell);
        latest.set(a.cell, { rec: a.rec, out: a.out, src: before?.src, run: event.run, line });
        note(a.rec, a.cell, line);
      }
    }
  }
  return { latest, seen, attempted };
}

/** 1-based lines of each output's record and of its body's opening fence, from the text the parser kept. */
function outputLines(rb: Runbook): { rec: number; body: number }[][] {
  const starts = cellStartLines(rb);
  return rb.cells.map((c, i) => {
    const raw = c.raw;
    if (!raw) return c.outputs.map(() => ({ rec: 0, body: 0 }));
    let line = starts[i] + countLineBreaks(raw.source);
    return raw.outputs.map((o) => {
      const at = Math.max(0, o.text.indexOf('<!-- runbook:output'));
      const rec = line + countLineBreaks(o.text.slice(0, at));
      const fence = /^ {0,3}(?:`{3,}|~{3,})/m.exec(o.text.slice(at));
      const body = fence ? rec + countLineBreaks(o.text.slice(at, at + fence.index)) : rec + 1;
      line += countLineBreaks(o.text);
      return { rec, body };
    });
  });
}

function checkCells(rb: Runbook, events: Located[], breaks: LogBreak[], notes: string[], strict: boolean): number {
  const { latest, seen, attempted } = expectations(events);
  const runsSeen = new Set(events.flatMap(({ event }) => (event.e === 'run' ? [event.run.id] : [])));
  // Line numbers are only needed to name a break: counted once, when the first one is found.
  let lineCache: { starts: number[]; outs: { rec: number; body: number }[][] } | undefined;
  const linesOf = () => (lineCache ??= { starts: cellStartLines(rb), outs: outputLines(rb) });
  let n = 0;
  let checked = 0;
  let uncovered = 0;
  const hasLog = events.length > 0;
  rb.cells.forEach((cell, index) => {
    if (cell.kind === 'markdown') return;
    n++;
    const exp = latest.get(n);
    const last = cell.outputs[cell.outputs.length - 1];
    const startLine = () => linesOf().starts[index];
    const outLines = () => linesOf().outs[index][cell.outputs.length - 1] ?? { rec: startLine(), body: startLine() };
    const label = `cell ${n}${typeof cell.options.name === 'string' ? ` (${cell.options.name})` : ''}`;
    if (!last) {
      if (exp) breaks.push({ line: startLine(), kind: 'removed-output', message: `${label} has no output, but the log's event at line ${exp.line} (run ${exp.run}) wrote one: the output was removed` });
      return;
    }
    const rec = recordHash(last.record);
    if (!exp) {
      const elsewhere = seen.get(rec)?.[0];
      if (elsewhere) breaks.push({ line: outLines().rec, kind: 'moved-cell', message: `the output of ${label} was recorded for cell ${elsewhere.cell} (log line ${elsewhere.line}): cells were added, removed or moved after the run` });
      else if (typeof last.record.run === 'string') breaks.push({ line: outLines().rec, kind: 'unlogged-output', message: `the output of ${label} names run ${last.record.run}, but ${hasLog ? 'the log has no attempt of this cell that wrote it' : 'the file has no migration log: it was removed'}` });
      else if (strict) breaks.push({ line: outLines().rec, kind: 'unlogged-output', message: `the output of ${label} is not covered by the migration log (written before the log, or by hand)` });
      else uncovered++;
      return;
    }
    checked++;
    if (rec !== exp.rec) {
      const others = seen.get(rec) ?? [];
      const moved = others.find((o) => o.cell !== n);
      const older = others.find((o) => o.cell === n);
      const named = typeof last.record.run === 'string' && last.record.run !== exp.run ? last.record.run : undefined;
      if (moved) breaks.push({ line: outLines().rec, kind: 'moved-cell', message: `the output of ${label} was recorded for cell ${moved.cell} (log line ${moved.line}): cells were added, removed or moved after the run` });
      else if (older) breaks.push({ line: outLines().rec, kind: 'stale-output', message: `${label} shows an older output (log line ${older.line}); the log's latest attempt that wrote one (line ${exp.line}, run ${exp.run}) wrote another: the newer output was replaced` });
      else if (named && !runsSeen.has(named)) breaks.push({ line: outLines().rec, kind: 'unlogged-output', message: `the output of ${label} names run ${named}, which is not in the log: the run was removed from the log, or the output was pasted from another file` });
      else if (named) breaks.push({ line: outLines().rec, kind: 'unlogged-output', message: `the output of ${label} names run ${named}, but the log has no attempt of this cell in that run that wrote it: the attempt was removed from the log, or the output was edited` });
      else breaks.push({ line: outLines().rec, kind: 'edited-record', message: `the output record of ${label} was edited after run ${exp.run} wrote it (log line ${exp.line})` });
      return;
    }
    if (exp.out !== undefined && bodyHash(last) !== exp.out) {
      breaks.push({ line: outLines().body, kind: 'edited-body', message: `the output body of ${label} was edited after run ${exp.run} wrote it (log line ${exp.line})` });
    }
    if (exp.src !== undefined && sourceHash(cell) !== exp.src) {
      breaks.push({ line: startLine(), kind: 'source-changed', message: `the source of ${label} changed after it ran in run ${exp.run} (log line ${exp.line}), and no run since: run it again, or undo the edit` });
    }
  });
  for (const [cellNo, line] of attempted) {
    if (cellNo > n) breaks.push({ line, kind: 'removed-cell', message: `the log's attempt at line ${line} ran cell ${cellNo}, but the runbook has ${n} runnable cell${n === 1 ? '' : 's'}: a cell that ran was removed` });
  }
  if (uncovered > 0) notes.push(`${uncovered} output${uncovered === 1 ? ' is' : 's are'} not covered by the migration log (written before the log existed); --strict fails on them`);
  return checked;
}

/** Options of {@link verifyRunbook}. */
export interface VerifyOptions {
  /** Outputs the log does not cover (no `run` in their record) are breaks too. */
  strict?: boolean;
  /** The same file's log at a base commit: it must be a prefix of this one (the log only ever grows). */
  base?: Runbook;
}

/**
 * Verifies a runbook parsed from a file: the log's events are well-formed and chained (each `prev` is
 * the previous event's `h`, each `h` its content's hash), its text says what its events say, every event
 * belongs to a run that started, and each runnable cell's latest output, output body and source are the
 * ones the log's latest event for that cell hashed. Never throws.
 */
export function verifyRunbook(rb: Runbook, opts: VerifyOptions = {}): VerifyResult {
  const breaks: LogBreak[] = [];
  const notes: string[] = [];
  for (const p of rb.problems) {
    const kind = PARSE_BREAKS[p.code];
    if (kind) breaks.push({ line: p.line, kind, message: p.message });
  }
  const firstLine = rb.log ? (logLines(rb.log)?.firstLine ?? logFirstLine(rb)) : 0;
  const events = locateEvents(rb, firstLine);
  checkChain(events, breaks);
  checkRuns(events, breaks);
  const outputsChecked = checkCells(rb, events, breaks, notes, opts.strict ?? false);
  if (opts.base) checkAppendOnly(opts.base, events, firstLine, breaks);
  if (events.length === 0) notes.push('no migration log: no run recorded');
  breaks.sort((a, b) => a.line - b.line);
  return { breaks, notes, events: events.length, outputsChecked };
}

/** 1-based line of the log's marker in the file, from the text before it (the runbook's cells as parsed). */
function logFirstLine(rb: Runbook): number {
  const starts = cellStartLines(rb);
  const lastIdx = rb.cells.length - 1;
  let line: number;
  if (lastIdx < 0) line = 1 + countLineBreaks(rb.frontMatter?.raw ?? '');
  else {
    const c = rb.cells[lastIdx];
    line = starts[lastIdx] + countLineBreaks(c.raw?.source ?? '') + (c.raw?.outputs ?? []).reduce((k, o) => k + countLineBreaks(o.text), 0);
  }
  return line + countLineBreaks(rb.trailing);
}

function checkAppendOnly(base: Runbook, events: Located[], firstLine: number, breaks: LogBreak[]): void {
  const old = base.log?.events ?? [];
  for (let i = 0; i < old.length; i++) {
    const now = events[i];
    if (!now) {
      breaks.push({ line: firstLine, kind: 'rewritten-log', message: `the log has ${events.length} event${events.length === 1 ? '' : 's'}, the base had ${old.length}: events were removed since the base` });
      return;
    }
    if ((now.event.h ?? eventHash(now.event)) !== (old[i].h ?? eventHash(old[i]))) {
      breaks.push({ line: now.line, kind: 'rewritten-log', message: `the log event at line ${now.line} differs from the base's event ${i + 1}: the log was rewritten, not appended to` });
      return;
    }
  }
}
