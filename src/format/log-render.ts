// Renders the migration log's events as Markdown that reads as a written log: per run a heading, a timeline, issues and duration.
//
// The text is a pure function of the events (no clock, no locale, no front matter), so the log section's
// visible text can be checked against its hidden events on every read (docs/format.md, "The migration log").

import type { AttemptRecord, LogEvent, RunEndRecord, RunRecord, SpanRecord, WarningRecord } from './log-model';
import { describeWindow, parseWindow } from './window';
import { commentJson } from './output-block';
import { eventJson } from './log-chain';
import { compareWithEstimate, formatDuration, parseEstimate, type EstimateVerdict } from './estimate';
import { mdCode, mdEnvironment, mdText, oneLine, utcTime } from './md-text';
import { groupDigits } from './output-block';

/** The line that opens the log section. Everything from it to the end of the file is the log. */
export const LOG_MARKER = '<!-- runbook:log -->';
/** How an event line starts (after the two spaces that put it inside a timeline item). */
export const EVENT_MARKER = '<!-- runbook:event ';
/** The lines after {@link LOG_MARKER}, before the first run. */
export const LOG_PREAMBLE: readonly string[] = [
  '## Migration log',
  '',
  'Written by `runbook` as it runs: every run and every cell attempt, in order. Do not edit it by hand: `runbook verify` checks it against its records and the outputs above.',
];

/** The hidden line of one event: its JSON in an HTML comment, escaped as output records are. */
export function eventLine(event: LogEvent): string {
  return `${EVENT_MARKER}${commentJson(event, eventJson(event))} -->`;
}

/** How text is written: Markdown for the file and `runbook log`, plain for JSON reports. */
interface Fmt {
  code(s: string): string;
  text(s: string): string;
  strong(s: string): string;
  env(e: string | undefined): string;
  time(iso: string): string;
}
const MD: Fmt = { code: mdCode, text: mdText, strong: (s) => `**${s}**`, env: mdEnvironment, time: (iso) => utcTime(iso) };
const PLAIN: Fmt = { code: oneLine, text: oneLine, strong: (s) => s, env: (e) => (e ? oneLine(e) : 'environment not recorded'), time: (iso) => utcTime(iso, oneLine) };

/** Something that went wrong in a run, as the log's "Issues" list names it. */
export type LogIssue =
  | { kind: 'attempt'; attempt: AttemptRecord }
  | { kind: 'span'; span: SpanRecord; cells: number[] }
  | { kind: 'reason'; status: string; reason: string };

/** What the log knows about one run after some of its events. */
export interface RunState {
  id: string;
  run?: RunRecord;
  attempts: AttemptRecord[];
  spans: { span: SpanRecord; cells: number[]; at?: string }[];
  end?: RunEndRecord;
  issues: LogIssue[];
  /** What the run's watchers warned about (notifications, the window, the estimate). */
  warnings: WarningRecord[];
  /** Timeline items rendered so far (attempts and spans). */
  items: number;
  /** `2026-11-28 ` of the run's start ('' when unknown), once computed. */
  day?: string;
  /** The heading for earlier runs' items settled at this run's start has been written. */
  settledHead?: boolean;
}

/** Statuses that are not an issue by themselves: `uncommitted` work is reported by its span's end. */
const QUIET_STATUSES = new Set(['ok', 'skipped', 'uncommitted']);
const BAD_FATES = new Set(['rolled back', 'unknown']);

/**
 * Walks the events in order, keeping each run's state and giving each event's lines. One instance
 * renders one log; feed it every event from the first, in order.
 */
export class LogRenderer {
  readonly runs = new Map<string, RunState>();
  private current: string | undefined;
  /** Per cell number, its figures in the up phase of the latest passing rehearsal seen so far (shown beside production's). */
  private rehearsed = new Map<number, { ms?: number; rows?: number; run: string }>();

  private state(id: string): RunState {
    let s = this.runs.get(id);
    if (!s) {
      s = { id, attempts: [], spans: [], issues: [], warnings: [], items: 0 };
      this.runs.set(id, s);
    }
    return s;
  }

  /**
   * The visible lines of an event, then the indentation of its event line (which follows them).
   * Timeline items indent the event line by two spaces so it belongs to the list item and the list
   * stays one list when rendered.
   */
  chunk(event: LogEvent): { lines: string[]; indent: string } {
    switch (event.e) {
      case 'run':
        return this.runChunk(event.run);
      case 'attempt':
        return this.attemptChunk(event.attempt);
      case 'span':
        return this.spanChunk(event.run, event.span, event.cells, event.at);
      case 'warning':
        return this.warningChunk(event.warning);
      case 'end':
        return this.endChunk(event.end);
      default:
        return { lines: ['', `Event ${mdCode(String((event as { e?: unknown }).e))} (not known to this version)`, ''], indent: '' };
    }
  }

  private runChunk(run: RunRecord): { lines: string[]; indent: string } {
    const s = this.state(run.id);
    s.run = run;
    this.current = run.id;
    const f = MD;
    const lines = ['', `### Run ${f.code(run.id)}: ${targetShort(run, f)}, ${f.time(run.started)}`, ''];
    lines.push(`- Operator: ${f.text(run.by)}`);
    lines.push(`- Target: ${targetLong(run, f)}`);
    lines.push(`- Command: ${f.code([run.command, ...(run.flags ?? [])].join(' '))}`);
    if (run.estimate !== undefined) {
      const e = parseEstimate(run.estimate);
      lines.push(`- Estimate: ${e.ok ? formatDuration(e.ms) : `${f.text(String(run.estimate))} (not a duration)`}`);
    }
    if (run.window !== undefined) {
      const w = parseWindow(run.window);
      lines.push(`- Window: ${w.ok ? describeWindow(w.window) : `${f.text(String(run.window))} (not an interval)`}`);
    }
    lines.push('');
    return { lines, indent: '' };
  }

  /**
   * The heading before a timeline item of run `s`: the run's **Timeline:** before its first item. An item of an
   * earlier run recorded before the current run's first own item (what a killed run left, settled as this one starts)
   * goes under one **Settled at the start of this run** heading instead, so the current run's timeline holds its own.
   */
  private timelineHead(s: RunState): string[] {
    const cur = this.current !== undefined ? this.runs.get(this.current) : undefined;
    if (cur && s !== cur && cur.items === 0) {
      if (cur.settledHead) return [];
      cur.settledHead = true;
      return ['', '**Settled at the start of this run** (left by an earlier run):', ''];
    }
    return s.items++ === 0 ? ['', '**Timeline:**', ''] : [];
  }

  private attemptChunk(a: AttemptRecord): { lines: string[]; indent: string } {
    const s = this.state(a.run);
    s.attempts.push(a);
    if (!QUIET_STATUSES.has(a.status)) s.issues.push({ kind: 'attempt', attempt: a });
    const lines = this.timelineHead(s);
    const r = s.run?.environment === 'production' ? this.rehearsed.get(a.cell) : undefined;
    const beside = r ? ` · rehearsed: ${[typeof r.ms === 'number' ? formatDuration(r.ms) : undefined, typeof r.rows === 'number' ? plural(r.rows, 'row', 'rows') : undefined].filter(Boolean).join(', ') || 'ran'} (run ${MD.code(r.run)})` : '';
    lines.push(`- ${attemptLine(a, s, a.run !== this.current, MD)}${beside}`);
    return { lines, indent: '  ' };
  }

  private spanChunk(runId: string, span: SpanRecord, cells: number[], at: string | undefined): { lines: string[]; indent: string } {
    const s = this.state(runId);
    s.spans.push({ span, cells, at });
    if (BAD_FATES.has(span.fate)) s.issues.push({ kind: 'span', span, cells });
    const lines = this.timelineHead(s);
    const parts: string[] = [];
    if (at !== undefined) parts.push(timeOfDay(at, s, MD));
    if (runId !== this.current) parts.push(`run ${MD.code(runId)}`);
    parts.push(spanText(span, cells, MD));
    lines.push(`- ${parts.join(' · ')}`);
    return { lines, indent: '  ' };
  }

  private warningChunk(w: WarningRecord): { lines: string[]; indent: string } {
    const s = this.state(w.run);
    s.warnings.push(w);
    const lines = this.timelineHead(s);
    const parts = [timeOfDay(w.at, s, MD)];
    if (w.run !== this.current) parts.push(`run ${MD.code(w.run)}`);
    parts.push(`${MD.strong('warning')} (${MD.text(w.about)}): ${MD.text(w.message)}`);
    lines.push(`- ${parts.join(' · ')}`);
    return { lines, indent: '  ' };
  }

  private endChunk(end: RunEndRecord): { lines: string[]; indent: string } {
    const s = this.state(end.run);
    s.end = end;
    for (const reason of end.reasons ?? []) s.issues.push({ kind: 'reason', status: end.status, reason });
    const f = MD;
    const lines: string[] = [];
    if (end.run !== this.current) lines.push('', `**End of run ${f.code(end.run)}** (recorded after a later run started)`);
    if (s.items === 0) lines.push('', '**Timeline:** no cell ran.');
    lines.push('', `**Result:** ${resultText(end, s, f)}`, '');
    if (end.window && typeof end.window === 'object') lines.push(`**Window:** ${windowText(end.window, f)}`, '');
    lines.push(...this.rehearsalLines(end, f));
    if (s.issues.length === 0) lines.push('**Issues:** none');
    else lines.push('**Issues:**', '', ...s.issues.map((i) => `- ${issueText(i, f)}`));
    lines.push('', `**Duration:** ${durationText(s, f)}`, '');
    const mon = monitorText(end.monitor, f);
    if (mon) lines.push(`**Monitoring:** ${mon}`, '');
    if (end.run === this.current) this.current = undefined;
    return { lines, indent: '' };
  }

  /** A rehearsal's verdict and phases (docs/rehearse.md); a passing one's up-phase figures are kept for later production attempts. */
  private rehearsalLines(end: RunEndRecord, f: Fmt): string[] {
    const r = rehearsalOf(end);
    if (!r) return [];
    const schema = r.schema === 'same' ? 'the schema came back' : r.schema === 'differs' ? 'the schema did NOT come back' : 'the schema was not compared';
    const lines = [`**Rehearsal:** ${f.strong(r.passed ? 'passed' : 'failed')} · content ${f.code(r.hash)} · ${schema}`, ''];
    for (const p of r.phases) {
      const why = p.failed && typeof p.failed.reason === 'string' ? `: ${typeof p.failed.cell === 'number' ? `#${p.failed.cell} ` : ''}${f.text(p.failed.reason.split('\n')[0])}` : '';
      lines.push(`- ${f.text(String(p.phase))}: ${f.strong(f.text(String(p.status)))}${typeof p.ms === 'number' ? ` · ${formatDuration(p.ms)}` : ''}${why}`);
    }
    lines.push('');
    if (r.passed) {
      const upPhase = r.phases.find((p) => p.phase === 'up');
      this.rehearsed = new Map();
      for (const c of upPhase?.cells ?? []) if (typeof c.cell === 'number') this.rehearsed.set(c.cell, { ms: typeof c.ms === 'number' ? c.ms : undefined, rows: typeof c.rows === 'number' ? c.rows : undefined, run: end.run });
    }
    return lines;
  }
}

type RehearsalPhase = { phase?: unknown; status?: unknown; ms?: unknown; cells?: { cell?: unknown; ms?: unknown; rows?: unknown }[]; failed?: { cell?: unknown; reason?: unknown } };

/** The rehearsal an end event records (`runbook rehearse`), if it is one; well-formed enough to show. */
function rehearsalOf(end: RunEndRecord): { passed: boolean; hash: string; schema: string; phases: RehearsalPhase[] } | undefined {
  const r = end.rehearsal as { passed?: unknown; hash?: unknown; schema?: unknown; phases?: unknown } | undefined;
  if (!r || typeof r !== 'object' || !Array.isArray(r.phases)) return undefined;
  return { passed: r.passed === true, hash: String(r.hash), schema: String(r.schema), phases: r.phases as RehearsalPhase[] };
}

function targetShort(t: RunRecord, f: Fmt): string {
  return `${f.code(t.connection)} (${f.env(t.environment)})`;
}

function targetLong(t: RunRecord, f: Fmt): string {
  const parts = [f.code(t.connection), f.env(t.environment)];
  if (t.server) parts.push(`PostgreSQL ${f.text(t.server)}`);
  if (t.database) parts.push(`database ${f.code(t.database)}`);
  if (t.system) parts.push(`system identifier ${f.code(t.system)}`);
  return parts.join(' · ');
}

/** `02:08:03 UTC` on the run's start day, else the full date and time. */
function timeOfDay(iso: string, s: RunState, f: Fmt): string {
  const full = f.time(iso);
  s.day ??= (s.run ? /^\d{4}-\d\d-\d\d /.exec(f.time(s.run.started))?.[0] : undefined) ?? '';
  const day = s.day || undefined;
  return day !== undefined && full.startsWith(day) && full.endsWith(' UTC') ? full.slice(day.length) : full;
}

function cellLabel(cell: number, name: string | undefined, f: Fmt): string {
  return name ? `#${cell} ${f.code(name)}` : `#${cell}`;
}

function plural(n: number, one: string, many: string): string {
  return `${groupDigits(n)} ${n === 1 ? one : many}`;
}

function attemptLine(a: AttemptRecord, s: RunState, otherRun: boolean, f: Fmt): string {
  const parts: string[] = [];
  if (a.started !== undefined) parts.push(timeOfDay(a.started, s, f));
  if (otherRun) parts.push(`run ${f.code(a.run)}`);
  parts.push(cellLabel(a.cell, a.name, f));
  parts.push(f.strong(f.text(a.status)) + (a.error ? `: ${f.text(a.error)}` : ''));
  if (typeof a.ms === 'number') parts.push(formatDuration(a.ms));
  if (typeof a.rows === 'number') parts.push(plural(a.rows, 'row', 'rows'));
  if (typeof a.phase === 'string') parts.push(`rehearsal phase ${f.text(a.phase)}`);
  if (a.span) parts.push(a.span.fate === 'open' ? `in transaction from #${a.span.from}` : a.span.fate === 'unknown' ? 'commit unknown' : f.text(a.span.fate));
  if (a.ack && a.ack.length > 0) parts.push(`acknowledged ${a.ack.map((r) => f.code(r)).join(', ')}`);
  if (typeof a.waitedMs === 'number' && a.waitedMs > 0) parts.push(`waited ${formatDuration(a.waitedMs)} for locks`);
  if (typeof a.blocked === 'number' && a.blocked > 0) parts.push(`${plural(a.blocked, 'session', 'sessions')} waited behind it`);
  if (typeof a.retries === 'number' && a.retries > 0) parts.push(plural(a.retries, 'retry', 'retries'));
  if (a.estimate !== undefined && typeof a.ms === 'number') {
    const e = parseEstimate(a.estimate);
    if (e.ok) {
      const v = compareWithEstimate(a.ms, e.ms);
      if (v === 'over') parts.push(`over its estimate of ${formatDuration(e.ms)}`);
      if (v === 'twice') parts.push(f.strong(`more than twice its estimate of ${formatDuration(e.ms)}`));
    }
  }
  return parts.join(' · ');
}

function spanRange(span: SpanRecord): string {
  return span.to !== undefined && span.to !== span.from ? `#${span.from}–#${span.to}` : `#${span.from}`;
}

function spanText(span: SpanRecord, cells: number[], f: Fmt): string {
  const reason = span.reason ? ` (${f.text(span.reason)})` : '';
  const which = cells.length > 0 ? cells.map((c) => `#${c}`).join(', ') : 'no cell';
  switch (span.fate) {
    case 'committed':
      return `transaction of ${spanRange(span)} ${f.strong('committed')}${reason}`;
    case 'rolled back':
      return `transaction of ${spanRange(span)} ${f.strong('rolled back')}${reason}: the work of ${which} is undone`;
    case 'unknown':
      return `transaction of ${spanRange(span)}: ${f.strong('unknown')} whether it committed${reason}; check ${which} on the server`;
    default:
      return `transaction from #${span.from} ${f.strong(f.text(span.fate))}${reason}`;
  }
}

/** One issue, as a line of the run's "Issues" list. */
export function issueText(i: LogIssue, f: Fmt = MD): string {
  switch (i.kind) {
    case 'attempt':
      return `${cellLabel(i.attempt.cell, i.attempt.name, f)} ${f.strong(f.text(i.attempt.status))}${i.attempt.error ? `: ${f.text(i.attempt.error)}` : ''}`;
    case 'span':
      return spanText(i.span, i.cells, f);
    default:
      return `${f.text(i.status)}: ${f.text(i.reason)}`;
  }
}

/** Counts by cell status: the end record's, else counted from the run's attempts. */
function cellCounts(end: RunEndRecord, s: RunState): [string, number][] {
  if (end.cells) return Object.entries(end.cells).filter(([, n]) => typeof n === 'number');
  const counts = new Map<string, number>();
  for (const a of s.attempts) {
    const status = a.status === 'uncommitted' ? settledStatus(a, s) : a.status;
    counts.set(status, (counts.get(status) ?? 0) + 1);
  }
  return [...counts];
}

/**
 * What an `uncommitted` attempt of an interrupted run came to, from the span event that settled its transaction
 * later (committed work is `ok`, as the record says once its span commits); `uncommitted` when none did.
 */
function settledStatus(a: AttemptRecord, s: RunState): string {
  const ended = s.spans.find((x) => x.span.fate !== 'open' && x.cells.includes(a.cell) && (a.span === undefined || x.span.from === a.span.from));
  if (!ended) return a.status;
  return ended.span.fate === 'committed' ? 'ok' : ended.span.fate;
}

function resultText(end: RunEndRecord, s: RunState, f: Fmt): string {
  const counts = cellCounts(end, s);
  const cells = counts.length > 0 ? ` · cells: ${counts.map(([k, n]) => `${groupDigits(n)} ${f.text(k)}`).join(', ')}` : '';
  // A run a later one found interrupted was last seen then; when it ended (killed, crashed, or stopped unable to write its
  // records), and with what exit status, is not known.
  if (end.exit === undefined) return `${f.strong(f.text(end.status))}, exit status unknown (its end was never recorded), last seen ${f.time(end.ended)}${cells}`;
  return `${f.strong(f.text(end.status))}, exit status ${end.exit}, ended ${f.time(end.ended)}${cells}`;
}

/** The run against its window: `2026-12-03 02:00:00 UTC – … (2 h): within it`, with who overrode it. */
function windowText(w: NonNullable<RunEndRecord['window']>, f: Fmt): string {
  const parsed = parseWindow(String(w.interval));
  const interval = parsed.ok ? describeWindow(parsed.window) : f.text(String(w.interval));
  const verdict = w.verdict === 'within' ? 'ended within it' : w.verdict === 'overran' ? f.strong('overran it') : w.verdict === 'started outside' ? f.strong('started outside it') : f.text(String(w.verdict));
  const override = w.override && typeof w.override === 'object' ? `, allowed by ${f.text(String(w.override.by))} (${f.code(String(w.override.with))})` : '';
  return `${interval}: ${verdict}${override}`;
}

/** A run's duration (start to end, ms) and its estimate (ms), when the log holds them. */
export function runTimes(s: RunState): { durationMs?: number; estimateMs?: number; verdict?: EstimateVerdict } {
  const out: { durationMs?: number; estimateMs?: number; verdict?: EstimateVerdict } = {};
  const start = s.run ? Date.parse(s.run.started) : NaN;
  const end = s.end ? Date.parse(s.end.ended) : NaN;
  if (Number.isFinite(start) && Number.isFinite(end)) out.durationMs = Math.max(0, end - start);
  if (s.run?.estimate !== undefined) {
    const e = parseEstimate(s.run.estimate);
    if (e.ok) out.estimateMs = e.ms;
  }
  if (out.durationMs !== undefined && out.estimateMs !== undefined) out.verdict = compareWithEstimate(out.durationMs, out.estimateMs);
  return out;
}

/**
 * The monitoring sampler's peaks in one line (src/monitor/sampler.ts `MonitorPeaks`, read defensively: the format
 * imports nothing of ours, and an edited log may hold anything). Undefined when the end event has none.
 */
function monitorText(m: unknown, f: Fmt): string | undefined {
  if (m === null || typeof m !== 'object') return undefined;
  const p = m as Record<string, unknown>;
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  if (p.available !== true) return `unavailable: ${f.text(typeof p.reason === 'string' ? p.reason : 'no reason recorded')}`;
  const parts: string[] = [`${num(p.samples) ?? 0} samples`];
  const c = p.connections as Record<string, unknown> | undefined;
  if (c && num(c.max) !== undefined) parts.push(`peak ${num(c.max)} connections (${num(c.active) ?? 0} active, ${num(c.idleInTransaction) ?? 0} idle in transaction)`);
  parts.push(`at most ${num(p.lockWaiting) ?? 0} waiting on locks`);
  const lt = p.longestTransaction as Record<string, unknown> | undefined;
  if (lt && num(lt.ms) !== undefined) parts.push(`longest transaction ${formatDuration(num(lt.ms)!)} (pid ${num(lt.pid) ?? '?'}${typeof lt.application === 'string' && lt.application ? `, ${f.text(lt.application)}` : ''})`);
  const r = p.replication as Record<string, unknown> | undefined;
  if (r && typeof r.none === 'string') parts.push(f.text(r.none));
  else if (r && num(r.replicas) !== undefined) parts.push(`${num(r.replicas)} replica(s), max lag ${num(r.maxLagBytes) === undefined ? '?' : `${groupDigits(num(r.maxLagBytes)!)} bytes`}`);
  const st = p.statements as Record<string, unknown> | undefined;
  const top = st && Array.isArray(st.top) ? (st.top as Record<string, unknown>[]) : undefined;
  if (top?.length) parts.push(`most time: ${top.slice(0, 3).map((t) => `${f.code(oneLine(String(t.query ?? '')).slice(0, 80))} ${formatDuration(num(t.ms) ?? 0)}`).join(', ')}`);
  else if (st && typeof st.unavailable === 'string') parts.push('statement statistics unavailable (pg_stat_statements)');
  return parts.join('; ');
}

function durationText(s: RunState, f: Fmt): string {
  const t = runTimes(s);
  if (t.durationMs === undefined) return s.run ? 'unknown (the run\'s start or end is not a time)' : 'unknown (the run\'s start is not in the log)';
  // An interrupted run's end is when it was last seen: it ran at least that long.
  const d = s.end?.status === 'interrupted' && s.end.exit === undefined ? `at least ${formatDuration(t.durationMs)} (to when it was last seen)` : formatDuration(t.durationMs);
  if (t.estimateMs === undefined) return `${d} (no estimate)`;
  const est = `(estimated ${formatDuration(t.estimateMs)})`;
  if (t.verdict === 'twice') return `${d} ${est}: ${f.strong('more than twice the estimate')}, the usual buffer of a migration window`;
  if (t.verdict === 'over') return `${d} ${est}: over the estimate`;
  return `${d} ${est}`;
}

/**
 * Text of one event's chunk in the log section: its visible lines, then its event line, each ended
 * by `eol`. Updates `r`.
 */
export function renderChunk(r: LogRenderer, event: LogEvent, eol: string): string {
  const { lines, indent } = r.chunk(event);
  lines.push(indent + eventLine(event));
  return lines.join(eol) + eol;
}

/** Text of a whole log section for `events` (marker, preamble, every chunk), as the file holds it. */
export function renderLogSection(events: readonly LogEvent[], eol: string): string {
  const r = new LogRenderer();
  return [LOG_MARKER, ...LOG_PREAMBLE].join(eol) + eol + events.map((e) => renderChunk(r, e, eol)).join('');
}

/**
 * The log as Markdown for a reader — `runbook log`, VS Code's "Show Migration Log": the section's
 * visible text without its hidden event lines. `title` heads it when given (the runbook's title).
 */
export function renderLogMarkdown(events: readonly LogEvent[], title?: string): string {
  const r = new LogRenderer();
  const lines: string[] = [title ? `## Migration log: ${mdText(title)}` : LOG_PREAMBLE[0]];
  if (events.length === 0) lines.push('', 'No run recorded yet.');
  for (const e of events) lines.push(...r.chunk(e).lines);
  // Chunks end and start with blank lines around the event lines left out: keep one.
  const out: string[] = [];
  for (const l of lines) if (!(l === '' && out[out.length - 1] === '')) out.push(l);
  while (out[out.length - 1] === '') out.pop();
  return out.join('\n') + '\n';
}

/** One run of the log, summarized for JSON (`runbook log --format json`, reports). */
export interface RunSummary {
  id: string;
  run?: RunRecord;
  attempts: AttemptRecord[];
  spans: { span: SpanRecord; cells: number[]; at?: string }[];
  end?: RunEndRecord;
  /** Start to end, ms; absent while the run has no end in the log. */
  durationMs?: number;
  /** The run's estimate, ms. */
  estimateMs?: number;
  /** `within`, `over` or `twice` (more than twice the estimate). */
  estimate?: EstimateVerdict;
  /** Failures, refusals, rollbacks, in plain text. */
  issues: string[];
  /** What the run's watchers warned about (undelivered notifications, the window, the estimate). */
  warnings?: WarningRecord[];
}

/** The runs of a log, in the order they started, with their attempts, spans, end and issues. */
export function summarizeRuns(events: readonly LogEvent[]): RunSummary[] {
  const r = new LogRenderer();
  for (const e of events) r.chunk(e);
  return [...r.runs.values()].map((s) => {
    const t = runTimes(s);
    const sum: RunSummary = { id: s.id, attempts: s.attempts, spans: s.spans, issues: s.issues.map((i) => issueText(i, PLAIN)) };
    if (s.run) sum.run = s.run;
    if (s.end) sum.end = s.end;
    if (s.warnings.length) sum.warnings = s.warnings;
    if (t.durationMs !== undefined) sum.durationMs = t.durationMs;
    if (t.estimateMs !== undefined) sum.estimateMs = t.estimateMs;
    if (t.verdict !== undefined) sum.estimate = t.verdict;
    return sum;
  });
}
