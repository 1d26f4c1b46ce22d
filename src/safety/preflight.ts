// Pre-flight check before a cell that takes a strong lock: who holds or waits for locks on its tables, long and
// idle-in-transaction sessions, and vacuums running on those tables — read on a second connection.

import type { Client } from 'pg';
import { analyzeStatement, conflicts, fromPgLocksMode, isStrongLock, stronger, type LockMode, type TableLock } from '../sql/analyze';
import { loadParser, splitCell } from '../sql/analyze-statements';
import { redact } from '../connections/redact';
import { dropInvalidIndexSql, formatAgeMs, invalidIndexesOn, type IndexState } from '../sql/catalog';
import { timeoutOn } from '../sql/findings';

/** A session seen by the pre-flight check. Ages are ms. */
export interface PreflightSession {
  pid: number;
  user: string | null;
  application: string | null;
  /** `pg_stat_activity.state`: `active`, `idle in transaction`, … */
  state: string | null;
  /** Time since its transaction started (ms); null outside a transaction. */
  xactAgeMs: number | null;
  /** Time since its state last changed (ms): for `idle in transaction`, how long it has been idle. */
  stateAgeMs: number | null;
  /** Time since its current (or, when idle, last) query started (ms), `pg_stat_activity.query_start`. */
  queryAgeMs?: number | null;
  /** Its current or last query, cut to 500 characters. */
  query: string | null;
  /** Locks it holds or waits for on the cell's tables. */
  locks: { table: string; mode: string; granted: boolean }[];
  /** True when one of its locks conflicts with a lock the cell needs: the cell would wait for it. */
  wouldBlockCell: boolean;
}

/** A VACUUM or autovacuum working on one of the cell's tables (`pg_stat_progress_vacuum`). */
export interface PreflightVacuum {
  pid: number;
  table: string;
  phase: string;
  autovacuum: boolean;
  /** Autovacuum started to prevent transaction ID wraparound: it does not cancel itself for a lock request. */
  wraparound: boolean;
  ageMs: number | null;
}

/** What the pre-flight check found. */
export interface PreflightResult {
  /** The tables (and lock modes) the cell will lock, strongest per table. */
  tables: { table: string; mode: LockMode; exists: boolean }[];
  /** Sessions holding or waiting for locks on those tables. */
  lockers: PreflightSession[];
  /** Sessions `idle in transaction` (anywhere in the database). */
  idleInTransaction: PreflightSession[];
  /** Sessions whose transaction is older than `longTransactionMs`. */
  longTransactions: PreflightSession[];
  vacuums: PreflightVacuum[];
  /** Invalid indexes (`pg_index.indisvalid = false`) on those tables: left by a failed CREATE INDEX CONCURRENTLY, or
   *  being built now (`buildingPid`). */
  invalidIndexes: IndexState[];
  /** The `lock_timeout` the cell runs with, as given in the options (undefined: not told). */
  lockTimeout?: string;
  /** The cell SETs its own lock_timeout before its strong locks (as given in the options). */
  lockTimeoutSetByCell?: boolean;
  /** Ready to show and record. */
  text: string;
}

/** Options of {@link preflight}. */
export interface PreflightOptions {
  /** Backend pids not to report (the runbook's own session). */
  excludePids?: number[];
  /** A transaction older than this is "long", ms; default 60 000. */
  longTransactionMs?: number;
  /** The `lock_timeout` in force for the cell (the cell option, else the session's: PostgreSQL interval text, `0` =
   *  off), so the advice about a blocker says what will happen rather than asking to set it. */
  lockTimeout?: string;
  /** True when the cell itself SETs lock_timeout before each statement that takes a strong lock (the lint's analysis). */
  lockTimeoutSetByCell?: boolean;
  /** Tables whose invalid indexes to list, besides the locked ones (e.g. those of a CREATE INDEX CONCURRENTLY). */
  indexTables?: string[];
}

/**
 * The tables a cell locks with a strong lock (SHARE or stronger: blocks writes), strongest mode per table.
 * Empty when the cell takes none: no pre-flight needed.
 */
export async function strongLocksOfCell(sql: string, serverMajor = 18): Promise<TableLock[]> {
  await loadParser();
  const byTable = new Map<string, TableLock>();
  for (const st of splitCell(sql)) {
    for (const l of analyzeStatement(st.stmt, serverMajor).locks) {
      const key = l.table;
      const prev = byTable.get(key);
      byTable.set(key, prev ? { ...prev, mode: stronger(prev.mode, l.mode) } : l);
    }
  }
  return [...byTable.values()].filter((l) => isStrongLock(l.mode));
}

function quoteName(name: string): string {
  return name.split('.').map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
}

interface ActivityRow {
  pid: number; usename: string | null; application_name: string | null; state: string | null; query: string | null;
  xact_ms: number | null; state_ms: number | null; query_ms: number | null;
}

function toSession(r: ActivityRow): PreflightSession {
  return {
    pid: r.pid, user: r.usename, application: r.application_name, state: r.state,
    xactAgeMs: r.xact_ms === null ? null : Math.round(r.xact_ms), stateAgeMs: r.state_ms === null ? null : Math.round(r.state_ms),
    queryAgeMs: r.query_ms === null ? null : Math.round(r.query_ms),
    query: r.query, locks: [], wouldBlockCell: false,
  };
}

const ACTIVITY_COLUMNS = `a.pid, a.usename::text, a.application_name, a.state, left(a.query, 500) AS query,
  (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::float8 AS xact_ms,
  (extract(epoch FROM clock_timestamp() - a.state_change) * 1000)::float8 AS state_ms,
  (extract(epoch FROM clock_timestamp() - a.query_start) * 1000)::float8 AS query_ms`;

/**
 * Runs the pre-flight check on `client`, which must be a connection other than the runbook's session (the
 * session may be inside the transaction whose locks matter).
 *
 * Sources: PostgreSQL docs, 27.2.3 "pg_stat_activity", 53.12 "pg_locks", 27.4.5 "VACUUM Progress Reporting";
 * autovacuum cancels itself when it blocks a lock request unless it runs to prevent wraparound (24.1.6).
 *
 * @param locks the tables the cell locks and how (see {@link strongLocksOfCell})
 * @throws whatever pg raises for the catalog queries (e.g. connection lost)
 */
export async function preflight(client: Client, locks: TableLock[], options: PreflightOptions = {}): Promise<PreflightResult> {
  const exclude = options.excludePids ?? [];
  const longMs = options.longTransactionMs ?? 60_000;
  const names = locks.map((l) => l.table);
  // Index names (DROP INDEX, REINDEX INDEX) stand for their table: the lock that waits is on the table.
  const t = await client.query<{ name: string; oid: number | null }>(
    `SELECT x.name, coalesce(i.indrelid, r.oid)::int8 AS oid
       FROM unnest($1::text[], $2::text[]) AS x(name, quoted)
       LEFT JOIN LATERAL (SELECT to_regclass(x.quoted) AS oid) r ON true
       LEFT JOIN pg_index i ON i.indexrelid = r.oid`, [names, names.map(quoteName)]);
  const oids = t.rows.filter((r) => r.oid !== null).map((r) => Number(r.oid));
  const tables = locks.map((l) => ({ table: l.table, mode: l.mode, exists: t.rows.some((r) => r.name === l.table && r.oid !== null) }));
  const modeByOid = new Map<number, LockMode>();
  for (const r of t.rows) if (r.oid !== null) {
    const l = locks.find((x) => x.table === r.name);
    if (l) modeByOid.set(Number(r.oid), stronger(modeByOid.get(Number(r.oid)) ?? 'ACCESS SHARE', l.mode));
  }

  const lockRows = await client.query<ActivityRow & { relation: number; table: string; mode: string; granted: boolean }>(
    `SELECT ${ACTIVITY_COLUMNS}, l.relation::int8 AS relation, l.relation::regclass::text AS table, l.mode, l.granted
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'relation' AND l.relation = ANY($1::oid[])
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.pid <> ALL($2::int[]) AND l.pid <> pg_backend_pid()
      ORDER BY a.xact_start NULLS LAST, a.pid, l.mode`, [oids, exclude]);
  const byPid = new Map<number, PreflightSession>();
  for (const r of lockRows.rows) {
    let s = byPid.get(r.pid);
    if (!s) { s = toSession(r); byPid.set(r.pid, s); }
    s.locks.push({ table: r.table, mode: r.mode, granted: r.granted });
    const held = fromPgLocksMode(r.mode);
    const wanted = modeByOid.get(Number(r.relation));
    // A waiting request ahead in the queue blocks too (PostgreSQL grants table locks in arrival order).
    if (held && wanted && conflicts(held, wanted)) s.wouldBlockCell = true;
  }

  const activity = await client.query<ActivityRow>(
    `SELECT ${ACTIVITY_COLUMNS} FROM pg_stat_activity a
      WHERE a.datname = current_database() AND a.backend_type = 'client backend'
        AND a.pid <> ALL($1::int[]) AND a.pid <> pg_backend_pid()
        AND (a.state LIKE 'idle in transaction%' OR a.xact_start < clock_timestamp() - make_interval(secs => $2::float8 / 1000))
      ORDER BY a.xact_start NULLS LAST, a.pid`, [exclude, longMs]);
  const idleInTransaction = activity.rows.filter((r) => r.state?.startsWith('idle in transaction')).map(toSession);
  const longTransactions = activity.rows.filter((r) => (r.xact_ms ?? 0) >= longMs).map(toSession);

  const vac = await client.query<{ pid: number; table: string; phase: string; query: string | null; backend_type: string | null; xact_ms: number | null }>(
    `SELECT p.pid, p.relid::regclass::text AS table, p.phase, a.query, a.backend_type,
            (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::float8 AS xact_ms
       FROM pg_stat_progress_vacuum p LEFT JOIN pg_stat_activity a ON a.pid = p.pid
      WHERE p.relid = ANY($1::oid[])`, [oids]);
  const vacuums = vac.rows.map((r) => ({
    pid: r.pid, table: r.table, phase: r.phase, autovacuum: r.backend_type === 'autovacuum worker' || (r.query ?? '').startsWith('autovacuum:'),
    wraparound: /to prevent wraparound/.test(r.query ?? ''), ageMs: r.xact_ms === null ? null : Math.round(r.xact_ms),
  }));

  const invalidIndexes = await invalidIndexesOn(client, [...new Set([...names, ...(options.indexTables ?? [])])]);
  const result: Omit<PreflightResult, 'text'> = { tables, lockers: [...byPid.values()], idleInTransaction, longTransactions, vacuums, invalidIndexes, lockTimeout: options.lockTimeout, lockTimeoutSetByCell: options.lockTimeoutSetByCell };
  return { ...result, text: preflightText(result, longMs) };
}

/** `12.3 s`, `4 min 5 s` (the catalog module's {@link formatAgeMs}, under the name the safety modules use). */
export const formatAge = formatAgeMs;

function oneLine(q: string | null): string {
  // Redacted before it is cut: a cut `PASSWORD '…` no longer matches the pattern that finds it.
  const t = redact(q ?? '').replace(/\s+/g, ' ').trim();
  return t.length > 120 ? t.slice(0, 117) + '...' : t;
}

function sessionLine(s: PreflightSession): string {
  const age = s.state?.startsWith('idle in transaction') ? `idle for ${formatAge(s.stateAgeMs)}` : `transaction ${formatAge(s.xactAgeMs)}`;
  const locks = s.locks.length ? ` ${s.locks.map((l) => `${l.granted ? 'holds' : 'waits for'} ${l.mode} on ${l.table}`).join(', ')};` : '';
  const app = s.application ? ` application ${JSON.stringify(oneLine(s.application))}` : '';
  const queryAge = s.queryAgeMs !== undefined && s.queryAgeMs !== null ? `, query started ${formatAge(s.queryAgeMs)} ago` : '';
  return `  pid ${s.pid}  ${s.user ?? '?'}${app}  ${s.state ?? '?'} (${age}${queryAge});${locks} ${oneLine(s.query)}`;
}

/** The human-readable block of a pre-flight result. */
export function preflightText(r: Omit<PreflightResult, 'text'>, longMs = 60_000): string {
  const out: string[] = [];
  out.push(`Pre-flight: the cell locks ${r.tables.map((t) => `${t.table} (${t.mode}${t.exists ? '' : ', not found on this connection'})`).join(', ') || 'no table'}.`);
  const blockers = r.lockers.filter((s) => s.wouldBlockCell);
  if (r.lockers.length === 0) out.push('No other session holds or waits for a lock on these tables.');
  else {
    out.push(`Sessions holding or waiting for locks on these tables (${blockers.length} would make the cell wait):`);
    for (const s of r.lockers) out.push(sessionLine(s) + (s.wouldBlockCell ? '  ← the cell would wait for it' : ''));
  }
  if (r.idleInTransaction.length) {
    out.push('Idle in transaction (their locks stay held until they end):');
    for (const s of r.idleInTransaction) out.push(sessionLine(s));
  }
  if (r.longTransactions.length) {
    out.push(`Transactions older than ${formatAge(longMs)}:`);
    for (const s of r.longTransactions) out.push(sessionLine(s));
  }
  for (const v of r.vacuums) {
    out.push(`${v.autovacuum ? 'Autovacuum' : 'VACUUM'} on ${v.table} (pid ${v.pid}, phase ${v.phase}, ${formatAge(v.ageMs)})${v.wraparound ? ': to prevent wraparound, it will not give way to the cell' : v.autovacuum ? ': it cancels itself when the cell asks for a conflicting lock' : ''}.`);
  }
  const invalid = r.invalidIndexes ?? [];
  if (invalid.length) {
    out.push('Invalid indexes (pg_index.indisvalid = false; queries do not use them):');
    for (const i of invalid) {
      out.push(`  ${i.index} on ${i.table}${i.buildingPid !== null ? `: being built by pid ${i.buildingPid}` : `: left by a failed or cancelled CREATE INDEX CONCURRENTLY${i.ready ? '; every write still updates it' : ''}. To retry: ${dropInvalidIndexSql(i.index)} then build it again`}`);
    }
  }
  if (blockers.length) {
    const pids = blockers.map((b) => b.pid).join(', ');
    const lt = r.lockTimeout;
    out.push(r.lockTimeoutSetByCell && !timeoutOn(lt)
      ? `The cell would wait for pid ${pids}: it sets its own lock_timeout before taking the lock, so it gives up when that runs out (SQLSTATE 55P03), and until then every new query on these tables queues behind it. End those sessions first, or run the cell again later.`
      : lt === undefined
      ? `The cell would wait for pid ${pids}; while it waits, every new query on these tables queues behind it. Make sure lock_timeout is set, or end those sessions first.`
      : timeoutOn(lt)
        ? `The cell would wait for pid ${pids}: with lock_timeout ${lt} it gives up after ${lt} (SQLSTATE 55P03), and until then every new query on these tables queues behind it. End those sessions first, or run the cell again later.`
        : `The cell would wait for pid ${pids} with no lock_timeout in force (it is 0): it waits as long as they hold their locks, and every new query on these tables queues behind it. Set a lock_timeout for the cell ({"lock_timeout": "5s"}), or end those sessions first.`);
  }
  return out.join('\n');
}
