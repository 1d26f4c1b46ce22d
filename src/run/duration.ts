// Durations written the PostgreSQL way ("500ms", "5s", "2min", "1h") or as a number of ms.

const UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds of a duration: a number is ms; a string is a number with an optional unit of
 * PostgreSQL's time units (`us`, `ms`, `s`, `min`, `h`, `d`; no unit means ms, as for
 * `statement_timeout`). Source: PostgreSQL docs, 20.1.1 "Parameter Names and Values".
 * @throws Error naming the text when it is not a duration
 */
export function durationMs(value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(value);
    if (m) return Number(m[1]) * UNITS[m[2] ?? 'ms'];
  }
  throw new Error(`not a duration: ${JSON.stringify(value)} (write e.g. "500ms", "5s", "2min" or a number of ms)`);
}
