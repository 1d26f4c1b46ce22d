// Catalog reads of the migration-safety checks: table sizes, column types, procedure bodies, indexes and their
// validity. One query per question, only catalog reads, names as written in the runbook.

import type { Client } from 'pg';
import type { TableSize } from './findings-types';
import { modsFromTypmod, type ColumnType } from './type-change';

/** `schema.name` → `"schema"."name"`, so to_regclass() finds the relation exactly as the parser folded it. */
export function quoteName(name: string): string {
  return name.split('.').map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
}

/** Whether each table name (as written) exists on the connection: `to_regclass()`, so through its search_path. */
export async function tablesExist(client: Client, names: string[]): Promise<Map<string, boolean>> {
  if (names.length === 0) return new Map();
  const r = await client.query<{ name: string; found: boolean }>(
    'SELECT n.name, to_regclass(n.quoted) IS NOT NULL AS found FROM unnest($1::text[], $2::text[]) AS n(name, quoted)', [names, names.map(quoteName)]);
  return new Map(r.rows.map((x) => [x.name, x.found]));
}

/**
 * Sizes of tables from the catalog: `pg_class.reltuples` (the planner's row estimate; -1 before the first
 * VACUUM/ANALYZE on PostgreSQL 14+, reported as null) and `pg_total_relation_size()` (bytes). Tables that do not
 * exist on the connection are left out. Source: PostgreSQL docs, 53.11 "pg_class", 9.28.7 "Database Object
 * Management Functions".
 */
export async function tableSizes(client: Client, names: string[]): Promise<Map<string, TableSize>> {
  if (names.length === 0) return new Map();
  const r = await client.query<{ name: string; rows: number; bytes: number }>(
    `SELECT n.name, c.reltuples::float8 AS rows, pg_total_relation_size(c.oid)::float8 AS bytes
       FROM unnest($1::text[], $2::text[]) AS n(name, quoted) JOIN pg_class c ON c.oid = to_regclass(n.quoted)`,
    [names, names.map(quoteName)]);
  return new Map(r.rows.map((x) => [x.name, { name: x.name, rows: x.rows < 0 ? null : x.rows, bytes: x.bytes }]));
}

/**
 * Row estimates (`pg_class.reltuples`; null before the first VACUUM/ANALYZE) of tables by name as written. Reads only
 * pg_class: no lock on the tables, so it never waits behind one (pg_total_relation_size() opens the relation).
 */
export async function rowEstimates(client: Client, names: string[]): Promise<Map<string, number | null>> {
  if (names.length === 0) return new Map();
  const r = await client.query<{ name: string; rows: number }>(
    `SELECT n.name, c.reltuples::float8 AS rows FROM unnest($1::text[], $2::text[]) AS n(name, quoted) JOIN pg_class c ON c.oid = to_regclass(n.quoted)`,
    [names, names.map(quoteName)]);
  return new Map(r.rows.map((x) => [x.name, x.rows < 0 ? null : x.rows]));
}

/**
 * Current types of columns, by `table.column` as written: the type's name and modifiers (`pg_attribute.atttypmod`,
 * decoded), whether it is an array, and for a domain its base type and whether it has constraints. Columns not
 * found are left out. Source: PostgreSQL docs, 53.7 "pg_attribute", 53.64 "pg_type", 53.13 "pg_constraint".
 *
 * @param keys `table.column` (the table may be schema-qualified: `app.orders.total`)
 */
export async function columnTypes(client: Client, keys: string[]): Promise<Map<string, ColumnType>> {
  if (keys.length === 0) return new Map();
  const tables = keys.map((k) => quoteName(k.slice(0, k.lastIndexOf('.'))));
  const cols = keys.map((k) => k.slice(k.lastIndexOf('.') + 1));
  const r = await client.query<{ key: string; typname: string; typmod: number; array: boolean; base: string | null; basemod: number | null; constrained: boolean }>(
    `SELECT k.key, t.typname::text, a.atttypmod AS typmod, t.typcategory = 'A' AS array,
            b.typname::text AS base, CASE WHEN t.typtype = 'd' THEN t.typtypmod END AS basemod,
            (t.typtype = 'd' AND (t.typnotnull OR EXISTS (SELECT 1 FROM pg_constraint c WHERE c.contypid = t.oid))) AS constrained
       FROM unnest($1::text[], $2::text[], $3::text[]) AS k(key, tab, col)
       JOIN pg_attribute a ON a.attrelid = to_regclass(k.tab) AND a.attname = k.col AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype`,
    [keys, tables, cols]);
  const out = new Map<string, ColumnType>();
  for (const x of r.rows) {
    const type: ColumnType = { name: x.typname, mods: modsFromTypmod(x.typname, x.typmod), array: x.array };
    if (x.base !== null) type.domain = { base: { name: x.base, mods: modsFromTypmod(x.base, x.basemod ?? -1), array: false }, constrained: x.constrained };
    out.set(x.key, type);
  }
  return out;
}

/**
 * Bodies of procedures, by name as written in `CALL` (`pg_proc.prosrc`, through the search_path when unqualified):
 * the body, or null when it cannot be told which procedure is meant (overloads) or its body is not source text (a C
 * function, a SQL-standard `BEGIN ATOMIC` body). Procedures not found are left out. Source: PostgreSQL docs, 53.39
 * "pg_proc".
 */
export async function procedureBodies(client: Client, names: string[]): Promise<Map<string, string | null>> {
  if (names.length === 0) return new Map();
  const parts = names.map((n) => { const i = n.lastIndexOf('.'); return i < 0 ? ['', n] : [n.slice(0, i), n.slice(i + 1)]; });
  const r = await client.query<{ name: string; n: number; src: string | null; lang: string | null }>(
    `SELECT k.name, count(p.oid)::int AS n, min(p.prosrc) AS src, min(l.lanname) AS lang
       FROM unnest($1::text[], $2::text[], $3::text[]) AS k(name, schema, proc)
       JOIN pg_proc p ON p.prokind = 'p' AND p.proname = k.proc
        AND p.pronamespace = ANY (CASE WHEN k.schema = '' THEN (SELECT array_agg(to_regnamespace(s)) FROM unnest(current_schemas(true)) AS s)
                                       ELSE ARRAY[to_regnamespace(k.schema)] END)
       LEFT JOIN pg_language l ON l.oid = p.prolang
      GROUP BY k.name`, [names, parts.map((p) => p[0]), parts.map((p) => p[1])]);
  return new Map(r.rows.map((x) => [x.name, x.n === 1 && x.lang !== 'c' && x.lang !== 'internal' && x.src ? x.src : null]));
}

/** An index as the invalid-index checks see it. */
export interface IndexState {
  /** The index, as `regclass` prints it (schema-qualified when not on the search_path). */
  index: string;
  table: string;
  /** `pg_index.indisvalid`: usable by queries. */
  valid: boolean;
  /** `pg_index.indisready`: kept up to date by writes (and, if unique, enforcing uniqueness). */
  ready: boolean;
  unique: boolean;
  /** Backend building it right now (`pg_stat_progress_create_index`, PostgreSQL 12+), else null. */
  buildingPid: number | null;
  /** `pg_get_indexdef()`: the CREATE INDEX statement that would make it again. */
  definition: string;
}

const INDEX_COLUMNS = `i.indexrelid::regclass::text AS index, i.indrelid::regclass::text AS table, i.indisvalid AS valid,
  i.indisready AS ready, i.indisunique AS unique, pg_get_indexdef(i.indexrelid) AS definition,
  (SELECT p.pid FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid LIMIT 1) AS "buildingPid"`;

/**
 * Indexes by name as written (`app.orders_total_idx`, or unqualified through the search_path), for those that exist.
 * Source: PostgreSQL docs, 53.26 "pg_index", 27.4.4 "CREATE INDEX Progress Reporting".
 */
export async function indexesByName(client: Client, names: string[]): Promise<Map<string, IndexState>> {
  if (names.length === 0) return new Map();
  const r = await client.query<IndexState & { name: string }>(
    `SELECT n.name, ${INDEX_COLUMNS} FROM unnest($1::text[], $2::text[]) AS n(name, quoted) JOIN pg_index i ON i.indexrelid = to_regclass(n.quoted)`,
    [names, names.map(quoteName)]);
  return new Map(r.rows.map(({ name, ...x }) => [name, x]));
}

/**
 * Invalid indexes (`NOT indisvalid`) on these tables, including those being built right now. A name may be an index
 * (REINDEX INDEX): it stands for its table. Names as written; those not found are ignored.
 */
export async function invalidIndexesOn(client: Client, tables: string[]): Promise<IndexState[]> {
  if (tables.length === 0) return [];
  const r = await client.query<IndexState>(
    `SELECT ${INDEX_COLUMNS} FROM pg_index i
      WHERE NOT i.indisvalid AND i.indrelid = ANY (
        SELECT coalesce((SELECT x.indrelid FROM pg_index x WHERE x.indexrelid = to_regclass(q)), to_regclass(q)) FROM unnest($1::text[]) AS q)
      ORDER BY 1`, [tables.map(quoteName)]);
  return r.rows;
}

/** The statement that removes an invalid index without blocking writes, for messages and records. */
export function dropInvalidIndexSql(index: string): string {
  return `DROP INDEX CONCURRENTLY IF EXISTS ${index};`;
}

/** A session holding (or queued ahead with) an ACCESS EXCLUSIVE lock on a table a catalog read needed. */
export interface LockHolder {
  table: string;
  pid: number;
  /** `pg_stat_activity.application_name` ('' when the client set none). */
  application: string | null;
  user: string | null;
  state: string | null;
  /** false: it waits for the lock itself, queued ahead of every later request (PostgreSQL grants in arrival order). */
  granted: boolean;
  /** Age of its current (or, when idle, last) query, ms. */
  queryAgeMs: number | null;
  /** Age of its transaction, ms; null outside one. */
  xactAgeMs: number | null;
}

/**
 * The sessions whose ACCESS EXCLUSIVE lock (held, or requested ahead in the queue) on these tables makes a catalog
 * read that opens them (`pg_total_relation_size()`, EXPLAIN) wait: asked after such a read failed with SQLSTATE 55P03
 * at the catalog connection's `lock_timeout`, so the message can name who holds the table. Reads only pg_locks and
 * pg_stat_activity (no lock on the tables). Names as written; those not found are ignored. Source: PostgreSQL docs,
 * 53.12 "pg_locks", 27.2.3 "pg_stat_activity", 13.3.1 Table 13.2 (ACCESS SHARE conflicts with ACCESS EXCLUSIVE only).
 */
export async function lockHoldersOn(client: Client, tables: string[]): Promise<LockHolder[]> {
  if (tables.length === 0) return [];
  const r = await client.query<LockHolder>(
    `SELECT n.name AS table, a.pid, a.application_name AS application, a.usename::text AS "user", a.state, l.granted,
            (extract(epoch FROM clock_timestamp() - a.query_start) * 1000)::float8 AS "queryAgeMs",
            (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::float8 AS "xactAgeMs"
       FROM unnest($1::text[], $2::text[]) AS n(name, quoted)
       JOIN pg_locks l ON l.locktype = 'relation' AND l.relation = to_regclass(n.quoted) AND l.mode = 'AccessExclusiveLock'
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.pid <> pg_backend_pid()
      ORDER BY n.name, l.granted DESC, a.pid`, [tables, tables.map(quoteName)]);
  return r.rows.map((h) => ({ ...h, queryAgeMs: h.queryAgeMs === null ? null : Math.round(h.queryAgeMs), xactAgeMs: h.xactAgeMs === null ? null : Math.round(h.xactAgeMs) }));
}

/** `12.3 s`, `4 min 5 s`, `2 h 3 min`; `–` for null. */
export function formatAgeMs(ms: number | null): string {
  if (ms === null) return '–';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * One line naming the holders: `big is locked ACCESS EXCLUSIVE by pid 4711 (application psql, user app, idle in
 * transaction, query started 3 min 2 s ago, transaction 3 min 5 s)`. Undefined when none was found (it ended since).
 */
export function lockHoldersText(holders: LockHolder[]): string | undefined {
  if (holders.length === 0) return undefined;
  const byTable = new Map<string, LockHolder[]>();
  for (const h of holders) byTable.set(h.table, [...(byTable.get(h.table) ?? []), h]);
  const who = (h: LockHolder): string => `pid ${h.pid} (application ${h.application ? JSON.stringify(h.application) : 'not set'}, user ${h.user ?? '?'}, ${h.state ?? '?'}, query started ${formatAgeMs(h.queryAgeMs)} ago${h.xactAgeMs !== null ? `, transaction ${formatAgeMs(h.xactAgeMs)}` : ''})`;
  return [...byTable].map(([t, hs]) => {
    const held = hs.filter((h) => h.granted);
    const queued = hs.filter((h) => !h.granted);
    const parts = [];
    if (held.length) parts.push(`locked ACCESS EXCLUSIVE by ${held.map(who).join(', ')}`);
    if (queued.length) parts.push(`${held.length ? 'with' : 'has'} ACCESS EXCLUSIVE requested ahead in the lock queue by ${queued.map(who).join(', ')}`);
    return `${t} is ${parts.join(' ')}`.replace(/ is has /, ' has ');
  }).join('; ');
}
