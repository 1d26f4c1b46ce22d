// Statement statistics over a run: pg_stat_statements read at the start and at the end, and the statements whose
// total execution time grew most in between.

import type { Client } from 'pg';

/** One statement's counters at a moment. */
interface StatementCounters {
  query: string;
  calls: number;
  /** `total_exec_time` (PostgreSQL 13+; `total_time` before), ms. */
  totalMs: number;
}

/** A snapshot of pg_stat_statements for the current database, by `queryid` and `userid`. */
export type StatementsSnapshot = Map<string, StatementCounters>;

/** A statement whose time grew during the run. */
export interface StatementGrowth {
  queryid: string;
  /** The normalized text pg_stat_statements keeps (constants as `$1`), cut to 200 characters. */
  query: string;
  /** Calls during the run. */
  calls: number;
  /** Execution time during the run, ms. */
  ms: number;
}

/** Why statement statistics cannot be had here, or undefined when they can (the extension is installed and loaded). */
export async function statementsUnavailable(client: Client): Promise<string | undefined> {
  const r = await client.query<{ installed: boolean }>(`/* runbook monitor */ SELECT to_regclass('pg_stat_statements') IS NOT NULL AS installed`);
  return r.rows[0]?.installed ? undefined : 'pg_stat_statements is not installed in this database (CREATE EXTENSION pg_stat_statements; it must also be in shared_preload_libraries)';
}

/**
 * Reads pg_stat_statements for the current database. The monitor's own queries (marked `/* runbook monitor *\/`) are
 * left out. Source: PostgreSQL docs, F.32 "pg_stat_statements" (queryid, calls, total_exec_time since 13).
 *
 * @throws whatever pg raises: notably "pg_stat_statements must be loaded via shared_preload_libraries" (55000)
 */
export async function snapshotStatements(client: Client): Promise<StatementsSnapshot> {
  const v = await client.query<{ v: string }>("/* runbook monitor */ SELECT current_setting('server_version_num') AS v");
  const total = Number(v.rows[0]?.v ?? 0) >= 130000 ? 'total_exec_time' : 'total_time';
  const r = await client.query<{ key: string; query: string; calls: string; ms: number }>(
    `/* runbook monitor */ SELECT s.queryid::text || '/' || s.userid::text AS key, left(s.query, 200) AS query, s.calls::text AS calls, s.${total}::float8 AS ms
       FROM pg_stat_statements s
      WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.queryid IS NOT NULL
        AND s.query NOT LIKE '/* runbook monitor */%'`);
  return new Map(r.rows.map((x) => [x.key, { query: x.query, calls: Number(x.calls), totalMs: x.ms }]));
}

/**
 * The `top` statements whose execution time grew most from `before` to `after` (a statement first seen in `after`
 * counts whole). A reset of the statistics in between shows as no growth for the statements it reset.
 */
export function statementGrowth(before: StatementsSnapshot, after: StatementsSnapshot, top = 5): StatementGrowth[] {
  const out: StatementGrowth[] = [];
  for (const [key, a] of after) {
    const b = before.get(key);
    const ms = a.totalMs - (b?.totalMs ?? 0);
    const calls = a.calls - (b?.calls ?? 0);
    if (ms > 0 && calls > 0) out.push({ queryid: key.split('/')[0], query: a.query, calls, ms: Math.round(ms * 10) / 10 });
  }
  return out.sort((x, y) => y.ms - x.ms).slice(0, top);
}
