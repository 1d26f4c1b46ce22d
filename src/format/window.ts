// A runbook's maintenance window (front matter `window`): reading it, and where a moment stands against it.
//
// ISO 8601 intervals are read by luxon (`Interval.fromISO`, ISO 8601-1:2019 §5.5.4.1: `start/end`, `start/duration`,
// `duration/end`); a time without an offset is UTC, never the machine's local time.

import { DateTime, Duration, Interval } from 'luxon';
import { formatDuration, parseEstimate } from './estimate';

/** A maintenance window: when a production run may start, and by when it should be over. */
export interface RunWindow {
  /** Start, ms since the epoch (UTC). */
  startMs: number;
  /** End, ms since the epoch (UTC); always after the start. */
  endMs: number;
  /** The window as an ISO 8601 interval in UTC: `2026-12-03T02:00:00.000Z/2026-12-03T04:00:00.000Z` (what records keep). */
  iso: string;
}

/** Result of reading a window: the window, or why it is not one (a sentence saying what to write). */
export type WindowParse = { ok: true; window: RunWindow } | { ok: false; error: string };

const HINT = 'write an ISO 8601 interval such as 2026-12-03T02:00Z/2026-12-03T04:00Z or 2026-12-03T02:00Z/PT2H, or {start: 2026-12-03T02:00Z, duration: 2h}; times without an offset are UTC';

function fromInterval(i: Interval, written: string): WindowParse {
  if (!i.isValid || !i.start || !i.end) {
    const why = i.invalidReason === 'end before start' ? 'ends before it starts' : 'is not an ISO 8601 interval';
    return { ok: false, error: `window ${JSON.stringify(written)} ${why}: ${HINT}` };
  }
  const startMs = i.start.toMillis();
  const endMs = i.end.toMillis();
  if (!(endMs > startMs)) return { ok: false, error: `window ${JSON.stringify(written)} is empty (it ends when it starts): ${HINT}` };
  return { ok: true, window: { startMs, endMs, iso: `${new Date(startMs).toISOString()}/${new Date(endMs).toISOString()}` } };
}

/** A duration written as ISO 8601 (`PT2H`) or as an estimate is (`2h`, `90m`, `1h30m`), in ms; undefined if neither. */
function durationMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^P/i.test(text)) {
    const d = Duration.fromISO(text.toUpperCase());
    return d.isValid ? d.as('milliseconds') : undefined;
  }
  const e = parseEstimate(text);
  return e.ok ? e.ms : undefined;
}

function startOf(value: unknown): DateTime | undefined {
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? DateTime.fromJSDate(value, { zone: 'utc' }) : undefined;
  if (typeof value !== 'string') return undefined;
  const t = DateTime.fromISO(value.trim(), { zone: 'utc' });
  return t.isValid ? t : undefined;
}

/**
 * Reads the front matter's `window`: an ISO 8601 interval string (`start/end`, `start/duration`, `duration/end`), or a
 * mapping `{start, duration}` whose start is an ISO 8601 date-time and whose duration is ISO 8601 (`PT2H`) or written
 * as an estimate is (`2h`). Times without an offset are UTC (`2026-12-03T02:00` is 02:00 UTC); an offset is honoured
 * (`02:00+01:00` is 01:00 UTC). Never throws.
 *
 * @param value the front matter's `window` as parsed from YAML (a string, a mapping, anything else is refused)
 */
export function parseWindow(value: unknown): WindowParse {
  if (typeof value === 'string') return fromInterval(Interval.fromISO(value.trim(), { zone: 'utc' }), value);
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)) {
    const m = value as Record<string, unknown>;
    const unknown = Object.keys(m).filter((k) => k !== 'start' && k !== 'duration');
    if (unknown.length) return { ok: false, error: `window has ${unknown.length === 1 ? 'an unknown key' : 'unknown keys'} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (it takes start and duration): ${HINT}` };
    const start = startOf(m.start);
    if (!start) return { ok: false, error: `window's start ${JSON.stringify(m.start) ?? 'is missing and'} is not an ISO 8601 date-time: ${HINT}` };
    const ms = durationMs(m.duration);
    if (ms === undefined || !(ms > 0)) return { ok: false, error: `window's duration ${JSON.stringify(m.duration) ?? 'is missing and'} is not a duration (PT2H, 2h, 90m): ${HINT}` };
    return fromInterval(Interval.after(start, ms), `${String(m.start)} + ${String(m.duration)}`);
  }
  return { ok: false, error: `window must be an interval, got ${JSON.stringify(value) ?? String(value)}: ${HINT}` };
}

/** Where a moment stands against a window. */
export type WindowPosition =
  | { state: 'before'; /** ms until it opens. */ opensInMs: number }
  | { state: 'inside'; /** ms until it closes. */ leftMs: number }
  | { state: 'after'; /** ms since it closed. */ closedMs: number };

/** Where `nowMs` (ms since the epoch) stands against the window: before it, inside it (start included, end excluded), or after it. */
export function windowPosition(w: RunWindow, nowMs: number): WindowPosition {
  if (nowMs < w.startMs) return { state: 'before', opensInMs: w.startMs - nowMs };
  if (nowMs < w.endMs) return { state: 'inside', leftMs: w.endMs - nowMs };
  return { state: 'after', closedMs: nowMs - w.endMs };
}

/** `2026-12-03 02:00:00 UTC`. */
function utc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
}

/** The window for people: `2026-12-03 02:00:00 UTC – 2026-12-03 04:00:00 UTC (2 h)`. */
export function describeWindow(w: RunWindow): string {
  return `${utc(w.startMs)} – ${utc(w.endMs)} (${formatDuration(w.endMs - w.startMs)})`;
}

/** A short text of where now stands (the VS Code status bar): `window: 1 h 20 min left`, `window opens in 3 h`, `window closed 10 min ago`. */
export function windowStatusText(w: RunWindow, nowMs: number): string {
  const p = windowPosition(w, nowMs);
  if (p.state === 'before') return `window opens in ${formatDuration(p.opensInMs)}`;
  if (p.state === 'inside') return `window: ${formatDuration(p.leftMs)} left`;
  return `window closed ${formatDuration(p.closedMs)} ago`;
}

/** How a run went against its window: `within` it, `started outside` it (an override), or `overran` it (ended after it closed). */
export type WindowVerdict = 'within' | 'started outside' | 'overran';

/** The run's verdict against the window, from its start and end (ms since the epoch). */
export function windowVerdict(w: RunWindow, startedMs: number, endedMs: number): WindowVerdict {
  if (windowPosition(w, startedMs).state !== 'inside') return 'started outside';
  return endedMs > w.endMs ? 'overran' : 'within';
}
