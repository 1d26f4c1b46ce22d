// Durations a runbook's author writes as estimates (`15m`, `1h30m`, `90s`), and how the log prints durations.

/** Result of reading an estimate: its milliseconds, or why it is not one. */
export type EstimateParse = { ok: true; ms: number } | { ok: false; error: string };

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, min: 60_000, s: 1000 };
// Hours, then minutes, then seconds, each at most once and in that order: `1h30m`, `1h 30m`, `90s`, `45min`.
const ESTIMATE = /^(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*(m|min))?\s*(?:(\d+(?:\.\d+)?)\s*s)?$/;

/**
 * Reads an estimate: hours, minutes and seconds in that order, each a number followed by its unit
 * (`h`, `m` or `min`, `s`): `15m`, `1h30m`, `1h 30m`, `90s`, `1.5h`. Anything else — free text, a
 * bare number (minutes or seconds?), `0m` — is refused with a message that says what to write.
 * Never throws.
 *
 * @param value the front matter's `estimate`, or a cell's `estimate` option, as parsed from YAML/JSON
 */
export function parseEstimate(value: unknown): EstimateParse {
  const hint = 'write a duration such as 15m, 1h30m or 90s';
  if (typeof value === 'number') return { ok: false, error: `estimate ${value} has no unit: ${hint}` };
  if (typeof value !== 'string') return { ok: false, error: `estimate must be a duration, got ${JSON.stringify(value) ?? String(value)}: ${hint}` };
  const text = value.trim();
  const m = text === '' ? null : ESTIMATE.exec(text);
  if (!m || (m[1] === undefined && m[2] === undefined && m[4] === undefined)) {
    return { ok: false, error: `estimate ${JSON.stringify(value)} is not a duration: ${hint}` };
  }
  const ms = Number(m[1] ?? 0) * UNIT_MS.h + Number(m[2] ?? 0) * UNIT_MS.m + Number(m[4] ?? 0) * UNIT_MS.s;
  if (!(ms > 0)) return { ok: false, error: `estimate ${JSON.stringify(value)} is zero: ${hint}` };
  return { ok: true, ms: Math.round(ms) };
}

/**
 * A duration for people: `850 ms`, `1.8 s`, `42 s`, `12 min 5 s`, `1 h 30 min`. Seconds are dropped
 * from an hour or more (the log compares against estimates written in minutes).
 * @param ms milliseconds (negative is printed as 0)
 */
export function formatDuration(ms: number): string {
  const t = Math.max(0, Math.round(ms));
  if (t < 1000) return `${t} ms`;
  if (t < 10_000) return `${(Math.floor(t / 100) / 10).toFixed(1)} s`;
  if (t < 60_000) return `${Math.floor(t / 1000)} s`;
  const s = Math.floor(t / 1000);
  if (s < 3600) {
    const min = Math.floor(s / 60);
    const sec = s % 60;
    return sec === 0 ? `${min} min` : `${min} min ${sec} s`;
  }
  const h = Math.floor(s / 3600);
  const min = Math.floor((s % 3600) / 60);
  return min === 0 ? `${h} h` : `${h} h ${min} min`;
}

/** How a duration compares with its estimate: `within`, `over` (more than the estimate), `twice` (more than twice it). */
export type EstimateVerdict = 'within' | 'over' | 'twice';

/**
 * Compares an actual duration with an estimate. More than twice the estimate is the usual buffer of a
 * migration window, so it is called out on its own.
 */
export function compareWithEstimate(actualMs: number, estimateMs: number): EstimateVerdict {
  if (actualMs > 2 * estimateMs) return 'twice';
  if (actualMs > estimateMs) return 'over';
  return 'within';
}
