// One monitoring sample of the whole server, in ONE query on the monitoring connection: connections by state, sessions
// waiting on locks, the longest transaction, and replication lag where there are replicas.

import type { Client } from 'pg';

/** The longest open transaction seen (other than the monitoring connection's). */
export interface LongestTransaction {
  pid: number;
  /** `pg_stat_activity.application_name` ('' when the client set none). */
  application: string;
  state: string | null;
  /** Age of its transaction, ms. */
  ms: number;
}

/** A replica as `pg_stat_replication` shows it on the primary. */
export interface ReplicaLag {
  /** Its `application_name` (the standby's `cluster_name` or `primary_conninfo` application_name). */
  name: string;
  /** `streaming`, `catchup`, … */
  state: string | null;
  /** WAL not yet replayed on it: `pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)`, bytes. */
  lagBytes: number | null;
  /** `replay_lag` (PostgreSQL 10+; null when the replica is idle and fully caught up), ms. */
  replayLagMs: number | null;
}

/** One sample. */
export interface ActivitySample {
  /** ms since the sampler started. */
  at: number;
  /** Client backends connected to the server (all databases), the monitoring connection left out. */
  connections: number;
  /** Those connections by `pg_stat_activity.state` (`active`, `idle`, `idle in transaction`, …). */
  byState: Record<string, number>;
  /** Sessions waiting for a lock (`wait_event_type = 'Lock'`). */
  lockWaiting: number;
  longestTransaction: LongestTransaction | null;
  /**
   * Replicas and their lag; `standby`: this server is itself a standby (pg_stat_replication of a standby lists only
   * cascaded replicas; the lag that matters is measured on the primary).
   */
  replication: { replicas: ReplicaLag[]; standby: boolean };
  /** How long the sample query took, ms (the sampler's own cost, and how it adapts its interval). */
  queryMs: number;
}

interface SampleRow {
  by_state: Record<string, number> | null;
  lock_waiting: number;
  longest: LongestTransaction | null;
  standby: boolean;
  replicas: ReplicaLag[] | null;
}

/**
 * The sample query. Marked with a leading comment so the statement statistics of the run (pg_stat_statements) can
 * leave the monitor's own queries out. Sources: PostgreSQL docs, 27.2.3 "pg_stat_activity" (state, wait_event_type,
 * xact_start, backend_type), 27.2.4 "pg_stat_replication" (replay_lsn, replay_lag), 9.27.4 "pg_current_wal_lsn",
 * 9.28.1 "pg_is_in_recovery" (pg_current_wal_lsn() raises on a standby, hence the CASE).
 */
export const SAMPLE_SQL = `/* runbook monitor */ SELECT
  (SELECT json_object_agg(s.state, s.n) FROM (SELECT coalesce(state, 'unknown') AS state, count(*)::int AS n
     FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1) s) AS by_state,
  (SELECT count(*)::int FROM pg_stat_activity WHERE wait_event_type = 'Lock') AS lock_waiting,
  (SELECT json_build_object('pid', pid, 'application', application_name, 'state', state,
          'ms', (extract(epoch FROM clock_timestamp() - xact_start) * 1000)::float8)
     FROM pg_stat_activity WHERE xact_start IS NOT NULL AND backend_type = 'client backend' AND pid <> pg_backend_pid()
    ORDER BY xact_start LIMIT 1) AS longest,
  pg_is_in_recovery() AS standby,
  (SELECT json_agg(json_build_object('name', application_name, 'state', state,
          'lagBytes', CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 END,
          'replayLagMs', (extract(epoch FROM replay_lag) * 1000)::float8) ORDER BY application_name)
     FROM pg_stat_replication) AS replicas`;

/**
 * Takes one sample on `client` (the monitoring connection, never the runbook's session).
 *
 * @param t0 `Date.now()` when the sampler started (for `at`)
 * @throws whatever pg raises (connection lost, statement_timeout)
 */
export async function takeSample(client: Client, t0: number): Promise<ActivitySample> {
  const began = performance.now();
  const row = (await client.query<SampleRow>(SAMPLE_SQL)).rows[0];
  const queryMs = performance.now() - began;
  const byState = row.by_state ?? {};
  const longest = row.longest ? { ...row.longest, ms: Math.round(row.longest.ms) } : null;
  return {
    at: Date.now() - t0,
    connections: Object.values(byState).reduce((a, b) => a + b, 0),
    byState,
    lockWaiting: row.lock_waiting,
    longestTransaction: longest,
    replication: {
      standby: row.standby,
      replicas: (row.replicas ?? []).map((r) => ({ ...r, lagBytes: r.lagBytes === null ? null : Math.round(r.lagBytes), replayLagMs: r.replayLagMs === null ? null : Math.round(r.replayLagMs) })),
    },
    queryMs,
  };
}
