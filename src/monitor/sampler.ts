// The monitoring sampler: a RunObserver that samples the server on the monitoring connection while a run goes on,
// shows each sample live (CLI line, VS Code view) and writes the peaks into the run's end event.

import type { Client } from 'pg';
import type { RunObserver } from '../run/loop';
import { takeSample, type ActivitySample, type LongestTransaction } from './sample';
import { snapshotStatements, statementGrowth, statementsUnavailable, type StatementGrowth, type StatementsSnapshot } from './statements';

/** Default time between samples, ms. */
export const MONITOR_INTERVAL_MS = 1_000;
/** The interval never grows beyond this, ms. */
export const MONITOR_MAX_INTERVAL_MS = 10_000;
/** A sample query taking more than this share of the interval doubles the interval (the sampler stays cheap). */
const ADAPT_SHARE = 0.05;

/** Runs `fn` on the monitoring connection (`MonitorConnection.use`). */
export type UseMonitor = <T>(fn: (client: Client) => Promise<T>) => Promise<T>;

/** What the live views show: the latest sample, or why there is none. */
export interface MonitorView {
  available: boolean;
  /** Why monitoring is unavailable here (the sandbox), or the last sampling error. */
  reason?: string;
  sample?: ActivitySample;
  /** The interval in force now, ms (it grows when sampling is slow). */
  intervalMs: number;
}

/** The peaks of a run, written into its end event under `monitor` (docs/run.md, "Monitoring"). */
export interface MonitorPeaks {
  /** False where the server cannot be watched from a second connection (the PGlite sandbox) or sampling never worked. */
  available: boolean;
  reason?: string;
  /** Interval asked for, ms, and the last in force (larger when sampling was slow). */
  intervalMs: number;
  lastIntervalMs?: number;
  samples: number;
  /** Most client connections at once, and most in each notable state. */
  connections?: { max: number; active: number; idleInTransaction: number };
  /** Most sessions seen waiting for a lock at once. */
  lockWaiting?: number;
  /** The longest transaction seen (its age when last seen). */
  longestTransaction?: LongestTransaction;
  /** Replication: replicas seen and the largest lag; `none` when pg_stat_replication was empty (no replica to lag). */
  replication?: { replicas: number; maxLagBytes: number | null; maxReplayLagMs: number | null } | { none: string };
  /** Statements whose time grew most during the run (pg_stat_statements), or why they are not known. */
  statements?: { top: StatementGrowth[] } | { unavailable: string };
  /** Longest a sample query took, ms. */
  maxQueryMs?: number;
  /** The last sampling error, when there was one. */
  error?: string;
}

/** Options of {@link MonitorSampler}. */
export interface MonitorSamplerOptions {
  /** The monitoring connection; undefined where there is none (the PGlite sandbox): `unavailable` says why. */
  use?: UseMonitor;
  unavailable?: string;
  /** Time between samples, ms (default {@link MONITOR_INTERVAL_MS}). */
  intervalMs?: number;
  /** Told after each sample (and once when unavailable): the CLI's live line, VS Code's live view. */
  onView?: (view: MonitorView) => void;
  /** Read pg_stat_statements at the start and end of the run (default true). */
  statements?: boolean;
}

/**
 * Samples the server every `intervalMs` while a run goes on, one query per sample ({@link takeSample}), never in the
 * run's way: sampling runs beside the cells (not awaited by them), its errors are recorded, not thrown, and when a
 * sample takes more than 5% of the interval the interval doubles (up to 10 s). The peaks go into the run's end event
 * ({@link RunObserver.runEnding}).
 */
export class MonitorSampler implements RunObserver {
  private readonly intervalMs: number;
  private interval: number;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private stopped = false;
  private t0 = 0;
  private before: Promise<StatementsSnapshot | string> | undefined;
  readonly peaks: MonitorPeaks;

  constructor(private readonly options: MonitorSamplerOptions) {
    this.intervalMs = options.intervalMs ?? MONITOR_INTERVAL_MS;
    this.interval = this.intervalMs;
    this.peaks = { available: options.use !== undefined, intervalMs: this.intervalMs, samples: 0 };
    if (!options.use) this.peaks.reason = options.unavailable ?? 'no monitoring connection';
  }

  runStarted(): void {
    const use = this.options.use;
    if (!use) {
      this.options.onView?.({ available: false, reason: this.peaks.reason, intervalMs: this.intervalMs });
      return;
    }
    this.t0 = Date.now();
    if (this.options.statements !== false) {
      this.before = use(async (c) => (await statementsUnavailable(c)) ?? (await snapshotStatements(c)))
        .catch((e: unknown) => `pg_stat_statements could not be read: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.loop();
  }

  /** Stops sampling and gives the run's end event its `monitor` field. */
  async runEnding(): Promise<Record<string, unknown>> {
    await this.stop();
    const use = this.options.use;
    if (use && this.before) {
      const before = await this.before;
      if (typeof before === 'string') this.peaks.statements = { unavailable: before };
      else {
        try {
          this.peaks.statements = { top: statementGrowth(before, await use((c) => snapshotStatements(c))) };
        } catch (e) {
          this.peaks.statements = { unavailable: `pg_stat_statements could not be read at the end: ${e instanceof Error ? e.message : String(e)}` };
        }
      }
    }
    if (this.peaks.available && this.peaks.samples === 0) {
      this.peaks.available = false;
      this.peaks.reason ??= this.peaks.error ? `sampling failed: ${this.peaks.error}` : 'the run ended before the first sample';
    }
    return { monitor: this.peaks };
  }

  async runFinished(): Promise<void> {
    await this.stop();
  }

  /** Stops the timer and waits for a sample in flight. Never throws. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  private loop(): void {
    if (this.stopped) return;
    const began = Date.now();
    this.inFlight = this.sampleOnce().then(() => {
      if (this.stopped) return;
      this.timer = setTimeout(() => this.loop(), Math.max(0, this.interval - (Date.now() - began)));
      // Sampling alone never keeps the process alive.
      this.timer.unref();
    });
  }

  private async sampleOnce(): Promise<void> {
    try {
      const s = await this.options.use!((c) => takeSample(c, this.t0));
      this.record(s);
      if (s.queryMs > this.interval * ADAPT_SHARE) this.interval = Math.min(MONITOR_MAX_INTERVAL_MS, this.interval * 2);
      this.peaks.lastIntervalMs = this.interval;
      this.options.onView?.({ available: true, sample: s, intervalMs: this.interval });
    } catch (e) {
      this.peaks.error = e instanceof Error ? e.message : String(e);
      this.options.onView?.({ available: this.peaks.samples > 0, reason: `sampling failed: ${this.peaks.error}`, intervalMs: this.interval });
    }
  }

  private record(s: ActivitySample): void {
    const p = this.peaks;
    p.samples++;
    const c = p.connections ?? { max: 0, active: 0, idleInTransaction: 0 };
    const idleTx = (s.byState['idle in transaction'] ?? 0) + (s.byState['idle in transaction (aborted)'] ?? 0);
    p.connections = { max: Math.max(c.max, s.connections), active: Math.max(c.active, s.byState.active ?? 0), idleInTransaction: Math.max(c.idleInTransaction, idleTx) };
    p.lockWaiting = Math.max(p.lockWaiting ?? 0, s.lockWaiting);
    if (s.longestTransaction && (!p.longestTransaction || s.longestTransaction.ms > p.longestTransaction.ms)) p.longestTransaction = s.longestTransaction;
    const reps = s.replication.replicas;
    if (reps.length) {
      const prev = p.replication && 'replicas' in p.replication ? p.replication : { replicas: 0, maxLagBytes: null, maxReplayLagMs: null };
      const max = (a: number | null, xs: (number | null)[]): number | null => xs.reduce<number | null>((m, x) => (x === null ? m : m === null ? x : Math.max(m, x)), a);
      p.replication = { replicas: Math.max(prev.replicas, reps.length), maxLagBytes: max(prev.maxLagBytes, reps.map((r) => r.lagBytes)), maxReplayLagMs: max(prev.maxReplayLagMs, reps.map((r) => r.replayLagMs)) };
    } else if (!p.replication) {
      p.replication = { none: s.replication.standby ? 'this server is a standby: replication lag is measured on its primary' : 'no replicas (pg_stat_replication is empty)' };
    }
    p.maxQueryMs = Math.max(p.maxQueryMs ?? 0, Math.round(s.queryMs * 10) / 10);
  }
}

/** Why the sampler cannot watch a run's target: the PGlite sandbox serves one connection at a time. */
export const SANDBOX_UNAVAILABLE = 'the PGlite sandbox serves one connection at a time: it cannot show other sessions (pg_stat_activity), locks waited for, replication or pg_stat_statements';
