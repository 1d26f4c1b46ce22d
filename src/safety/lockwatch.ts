// Live lock view: while a cell runs, a second connection samples pg_locks, pg_stat_activity and pg_blocking_pids()
// to show whom the cell waits for, who waits behind it, and which strong locks it holds and for how long.

import type { Client } from 'pg';

/** A session the cell's backend waits for. */
export interface Blocker {
  pid: number;
  user: string | null;
  state: string | null;
  query: string | null;
  /** Age of its transaction, ms. */
  xactAgeMs: number | null;
}

/** A session waiting behind the cell's backend. */
export interface BlockedSession {
  pid: number;
  query: string | null;
  /** How long it has waited for its lock, ms (`pg_locks.waitstart` on PostgreSQL 14+, else since its query started). */
  waitMs: number;
}

/** One sample. */
export interface LockSample {
  /** ms since the watch started. */
  at: number;
  /** The cell's backend is waiting for a lock (`wait_event_type = 'Lock'`) since this many ms; null when not waiting. */
  cellWaitMs: number | null;
  waitingFor: Blocker[];
  blocked: BlockedSession[];
  /**
   * Strong relation locks (SHARE and stronger) the cell's backend holds: the relation as `name` (schema `public`) or
   * `schema.name`, and the `pg_locks` mode name. Relations only the cell's transaction can see (a table it created,
   * the TOAST table of a new column, the transient copy of a rewrite) are left out: no other session can be blocked
   * on them. So are catalogs and temporary tables.
   */
  strongLocks: { table: string; mode: string }[];
}

/** A strong lock the cell held, with when the watch first and last saw it. */
export interface HeldLockRecord {
  table: string;
  mode: string;
  /** ms since the watch started. */
  firstSeenMs: number;
  lastSeenMs: number;
  /** lastSeen − firstSeen, ms (a lower bound: the lock may be taken up to one interval before it is seen). */
  heldMs: number;
  /** Still held when the watch stopped (the transaction is still open). */
  stillHeld: boolean;
}

/** What the runner writes into the output record. */
export interface LockSummary {
  /** False on connections without a second session (the PGlite sandbox) or when sampling failed at once. */
  available: boolean;
  /** Why it is unavailable, or the last sampling error. */
  reason?: string;
  intervalMs: number;
  samples: number;
  /** Most sessions seen waiting behind the cell at once. */
  peakBlocked: number;
  /** Longest wait seen of a session behind the cell, ms. */
  longestWaitMs: number;
  /** Longest the cell itself was seen waiting for a lock, ms. */
  cellWaitedMs: number;
  /** Every session the cell was seen waiting for. */
  blockersSeen: (Blocker & { firstSeenMs: number })[];
  /** Distinct sessions seen waiting behind the cell. */
  blockedSeen: number[];
  strongLocks: HeldLockRecord[];
}

/** Options of {@link start}. */
export interface LockWatchOptions {
  /** Time between samples, ms; default 250. */
  intervalMs?: number;
  /** Time before the first sample, ms; default 0 (at once). A watch stopped sooner has sent no query at all. */
  delayMs?: number;
  /** The server's major version (e.g. 16) when known: saves asking for it (`pg_locks.waitstart` needs 14+). */
  serverMajor?: number;
  /** Called after each sample (the CLI's progress line, the VS Code status bar). */
  onSample?: (sample: LockSample, summary: LockSummary) => void;
}

/** A running watch. */
export interface LockWatch {
  /**
   * Stops and returns the summary. Takes a last sample first (the locks still held after the cell: its transaction
   * stays open) when the watch has sampled already or `lastSample` is true (the default). Never throws.
   */
  stop(options?: { lastSample?: boolean }): Promise<LockSummary>;
}

/**
 * Where samples are taken: a connected client other than the session, or a function that runs a query function on
 * one (`MonitorConnection.use`: the connection is opened at the first sample, so a watch that never samples opens none).
 */
export type SampleConnection = Client | (<T>(fn: (client: Client) => Promise<T>) => Promise<T>);

/** The summary for a connection where the live view cannot run. */
export function lockWatchUnavailable(reason: string, intervalMs = 250): LockSummary {
  return { available: false, reason, intervalMs, samples: 0, peakBlocked: 0, longestWaitMs: 0, cellWaitedMs: 0, blockersSeen: [], blockedSeen: [], strongLocks: [] };
}

interface SampleRow {
  cell_wait_ms: number | null;
  waiting_for: Blocker[] | null;
  blocked: BlockedSession[] | null;
  strong: { table: string; mode: string }[] | null;
}

/** The sampling query. pg_blocking_pids() also names sessions ahead in the lock queue whose requests conflict
 *  (soft blocks), which is how a waiting ALTER blocks later readers. Relations are named from pg_class on this
 *  connection (same database): a relation whose catalog row is not committed yet is invisible here, hence the join
 *  rather than `relation::regclass`, which prints such a relation as a bare OID. Source: PostgreSQL docs, 9.27
 *  "System Information Functions" (pg_blocking_pids), 53.12 "pg_locks" (waitstart, PostgreSQL 14+). */
function sampleSql(hasWaitStart: boolean): string {
  const waitStart = hasWaitStart ? `coalesce((SELECT min(w.waitstart) FROM pg_locks w WHERE w.pid = a.pid AND NOT w.granted), a.query_start)` : 'a.query_start';
  return `SELECT
  (SELECT (extract(epoch FROM clock_timestamp() - ${waitStart}) * 1000)::float8 FROM pg_stat_activity a WHERE a.pid = $1 AND a.wait_event_type = 'Lock') AS cell_wait_ms,
  (SELECT json_agg(json_build_object('pid', a.pid, 'user', a.usename, 'state', a.state, 'query', left(a.query, 500),
          'xactAgeMs', (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::float8) ORDER BY a.pid)
     FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids($1))) AS waiting_for,
  (SELECT json_agg(json_build_object('pid', a.pid, 'query', left(a.query, 500),
          'waitMs', (extract(epoch FROM clock_timestamp() - ${waitStart}) * 1000)::float8) ORDER BY a.pid)
     FROM pg_stat_activity a WHERE a.wait_event_type = 'Lock' AND $1 = ANY (pg_blocking_pids(a.pid))) AS blocked,
  (SELECT json_agg(json_build_object('table', CASE WHEN n.nspname = 'public' THEN quote_ident(c.relname)
            ELSE quote_ident(n.nspname) || '.' || quote_ident(c.relname) END, 'mode', l.mode) ORDER BY l.relation, l.mode)
     FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE l.pid = $1 AND l.granted AND l.locktype = 'relation'
      AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
      AND n.nspname NOT IN ('pg_catalog', 'pg_toast') AND c.relpersistence <> 't') AS strong`;
}

/**
 * Starts watching backend `pid` on a second connection to the same database (not the session that runs the cell:
 * that one is busy running it). Samples after `delayMs`, then every `intervalMs`, until `stop()`.
 *
 * @param connection a connected pg client other than the session, or a function running queries on one
 * @param pid the session's backend pid (`pg_backend_pid()` on the session)
 */
export function start(connection: SampleConnection, pid: number, options: LockWatchOptions = {}): LockWatch {
  const intervalMs = options.intervalMs ?? 250;
  const onConnection: <T>(fn: (client: Client) => Promise<T>) => Promise<T> = typeof connection === 'function' ? connection : (fn) => fn(connection);
  const t0 = Date.now();
  const summary: LockSummary = { ...lockWatchUnavailable('', intervalMs), available: true };
  delete summary.reason;
  const held = new Map<string, HeldLockRecord>();
  const blockers = new Map<number, Blocker & { firstSeenMs: number }>();
  const blocked = new Set<number>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let sql: string | undefined = options.serverMajor === undefined ? undefined : sampleSql(options.serverMajor >= 14);

  const take = async (): Promise<LockSample | undefined> => {
    try {
      const row = await onConnection(async (client) => {
        if (!sql) {
          const v = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
          sql = sampleSql(Number(v.rows[0]?.v ?? 0) >= 140000);
        }
        return (await client.query<SampleRow>(sql, [pid])).rows[0];
      });
      const at = Date.now() - t0;
      const sample: LockSample = {
        at,
        cellWaitMs: row.cell_wait_ms === null ? null : Math.round(row.cell_wait_ms),
        waitingFor: (row.waiting_for ?? []).map((b) => ({ ...b, xactAgeMs: b.xactAgeMs === null ? null : Math.round(b.xactAgeMs) })),
        blocked: (row.blocked ?? []).map((b) => ({ ...b, waitMs: Math.round(b.waitMs ?? 0) })),
        strongLocks: row.strong ?? [],
      };
      summary.samples++;
      summary.peakBlocked = Math.max(summary.peakBlocked, sample.blocked.length);
      for (const b of sample.blocked) { summary.longestWaitMs = Math.max(summary.longestWaitMs, b.waitMs); blocked.add(b.pid); }
      summary.cellWaitedMs = Math.max(summary.cellWaitedMs, sample.cellWaitMs ?? 0);
      for (const b of sample.waitingFor) if (!blockers.has(b.pid)) blockers.set(b.pid, { ...b, firstSeenMs: at });
      const seen = new Set<string>();
      for (const l of sample.strongLocks) {
        const key = `${l.table}\u0000${l.mode}`;
        seen.add(key);
        const h = held.get(key);
        if (h) { h.lastSeenMs = at; h.heldMs = at - h.firstSeenMs; h.stillHeld = true; } else held.set(key, { ...l, firstSeenMs: at, lastSeenMs: at, heldMs: 0, stillHeld: true });
      }
      for (const [k, h] of held) if (!seen.has(k)) h.stillHeld = false;
      summary.blockersSeen = [...blockers.values()];
      summary.blockedSeen = [...blocked].sort((a, b) => a - b);
      summary.strongLocks = [...held.values()];
      options.onSample?.(sample, summary);
      return sample;
    } catch (err) {
      summary.reason = `sampling failed: ${err instanceof Error ? err.message : String(err)}`;
      if (summary.samples === 0) summary.available = false;
      return undefined;
    }
  };

  const loop = (): void => {
    if (stopped) return;
    const began = Date.now();
    inFlight = take().then(() => {
      if (stopped) return;
      // Keep the cadence: a slow sample shortens the next pause instead of adding to it.
      timer = setTimeout(loop, Math.max(0, intervalMs - (Date.now() - began)));
    });
  };
  if ((options.delayMs ?? 0) > 0) timer = setTimeout(loop, options.delayMs);
  else loop();

  return {
    async stop(opts: { lastSample?: boolean } = {}): Promise<LockSummary> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
      // One last look: locks still held now belong to a transaction that stays open after the cell.
      if (summary.samples > 0 || summary.reason || opts.lastSample !== false) await take();
      return summary;
    },
  };
}

/** Same as {@link start}; the name the runner imports. */
export const startLockWatch = start;
