// Lock-timeout retries: the policy a cell runs under (its `retry` option, else its connection profile's default),
// the jittered exponential backoff between attempts, and a wait that a cancel ends.

import type { Cell } from '../format';
import { optionDurationMs, type RetryOptionValue } from '../format/options';

/** SQLSTATE of `lock_timeout` expiring (PostgreSQL docs, Appendix A: 55P03 lock_not_available). */
export const LOCK_NOT_AVAILABLE = '55P03';
/** First wait when the option gives no `backoff`, ms. */
export const DEFAULT_BACKOFF_MS = 500;
/** Longest wait when the option gives no `max_delay`, ms. */
export const DEFAULT_MAX_DELAY_MS = 10_000;

/** How a cell retries: tries in all (the first included) and the bounds of the waits, ms. */
export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
  maxDelayMs: number;
  /** Where it came from: the cell's option or the connection profile's `retry`. */
  source: 'cell' | 'profile';
}

/** One try of a retried cell (or span), as the record keeps it. */
export interface AttemptEntry {
  /** 1-based. */
  attempt: number;
  /** The cell whose statement failed (span replays: the span's cells are run again from its first). */
  cell?: number;
  started: string;
  ms: number;
  status: string;
  error?: { message: string; sqlstate?: string };
  /** The wait after this try before the next one, ms (absent on the last). */
  wait_ms?: number;
}

/**
 * The retry policy of a cell: its `retry` option, else the profile's default; undefined when neither asks for more
 * than one try. The option is assumed checked (retryOptionProblems); bad values fall back to the defaults.
 */
export function retryPolicy(cell: Cell, profileDefault: RetryOptionValue | undefined): RetryPolicy | undefined {
  const own = cell.options.retry as RetryOptionValue | undefined;
  const v = own ?? profileDefault;
  if (!v || typeof v !== 'object' || !Number.isInteger(v.attempts) || v.attempts <= 1) return undefined;
  const backoffMs = optionDurationMs(v.backoff) ?? DEFAULT_BACKOFF_MS;
  const maxDelayMs = Math.max(optionDurationMs(v.max_delay) ?? DEFAULT_MAX_DELAY_MS, 0);
  return { attempts: v.attempts, backoffMs, maxDelayMs, source: own ? 'cell' : 'profile' };
}

/**
 * The wait after failed try `attempt` (1-based), ms: "equal jitter" exponential backoff,
 * `d = min(max_delay, backoff × 2^(attempt−1))`, wait = `d/2 + random × d/2`, so it lies in `[d/2, d]` and never
 * exceeds `max_delay`. `random` in [0, 1) (tests pass their own). Source: AWS Architecture Blog, "Exponential
 * Backoff And Jitter" (2015).
 */
export function backoffMs(policy: Pick<RetryPolicy, 'backoffMs' | 'maxDelayMs'>, attempt: number, random: number = Math.random()): number {
  const d = Math.min(policy.maxDelayMs, policy.backoffMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(d / 2 + random * (d / 2));
}

/** True for an error a retry can help: lock_timeout expired (SQLSTATE 55P03). */
export function isLockTimeout(error: { sqlstate?: string } | undefined): boolean {
  return error?.sqlstate === LOCK_NOT_AVAILABLE;
}

/**
 * Waits `ms`, unless `signal` aborts first. Resolves the ms actually waited and whether the wait was cut short by
 * the signal (then the retry must not happen).
 */
export function waitOrCancel(ms: number, signal: AbortSignal | undefined): Promise<{ waitedMs: number; cancelled: boolean }> {
  const t0 = Date.now();
  if (signal?.aborted) return Promise.resolve({ waitedMs: 0, cancelled: true });
  return new Promise((resolve) => {
    const done = (cancelled: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve({ waitedMs: Date.now() - t0, cancelled });
    };
    const onAbort = (): void => done(true);
    const timer = setTimeout(() => done(false), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
