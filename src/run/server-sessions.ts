// One run of a runbook at a time on a database, and the sessions earlier runs left there: the session-level advisory
// lock keyed on the runbook, the run's name in `application_name`, and finding and cancelling a dead run's backends.

import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { Runbook } from '../format';
import type { PostgresSession } from '../engines/postgres';

/** What the advisory lock is keyed on, and the key. */
export interface AdvisoryKey {
  /** `title:<front matter title>`, else `file:<base name of the runbook file>`. */
  identity: string;
  /** The first 8 bytes of SHA-256(`runbook:` + identity), as a signed 64-bit integer (what `bigint` takes), in decimal. */
  key: string;
}

/**
 * The advisory lock key of a runbook: stable across machines and copies of the file, from its front matter `title`
 * (trimmed) when it has one, else the file's base name (`add-status.runbook`). Two runbooks with the same title share
 * a key on purpose: they are meant to be the same migration.
 */
export function advisoryKeyOf(rb: Runbook, file: string | undefined): AdvisoryKey {
  const title = rb.frontMatter?.data?.title;
  const identity = typeof title === 'string' && title.trim() ? `title:${title.trim()}` : `file:${path.basename(file ?? 'runbook')}`;
  const digest = createHash('sha256').update(`runbook:${identity}`).digest();
  return { identity, key: digest.readBigInt64BE(0).toString() };
}

/** The pg_locks columns of a bigint advisory key: the high half in `classid`, the low half in `objid`, objsubid 1. */
function lockColumns(key: string): { classid: string; objid: string } {
  const k = BigInt.asUintN(64, BigInt(key));
  return { classid: (k >> 32n).toString(), objid: (k & 0xffffffffn).toString() };
}

/**
 * `pg_try_advisory_lock(key)` on the run's session: a session-level lock, held until `pg_advisory_unlock` or the
 * session ends (PostgreSQL docs, 9.28.10 "Advisory Lock Functions"); never waits.
 * @returns whether the lock was taken
 * @throws Error when the query fails (the session is gone, the transaction has failed)
 */
export async function tryAdvisoryLock(pg: PostgresSession, key: string): Promise<boolean> {
  const rows = await pg.inspect('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key]);
  return rows[0]?.ok === 't' || rows[0]?.ok === 'true';
}

/** Releases the run's advisory lock (`pg_advisory_unlock`); never throws (a closed session released it already). */
export async function releaseAdvisoryLock(pg: PostgresSession | undefined, key: string): Promise<void> {
  if (!pg || pg.closed) return;
  await pg.inspect('SELECT pg_advisory_unlock($1::bigint) AS ok', [key]).catch(() => undefined);
}

/** A backend of this database, as pg_stat_activity shows it. */
export interface Backend {
  pid: number;
  application: string;
  /** `client_addr` (empty for a Unix socket). */
  client: string;
  backendStart: string;
  state: string;
  queryStart: string;
  /** The run id named in `application_name` (`runbook <run id>`), when there is one. */
  run?: string;
  /** The statement text (`query`), not yet redacted nor cut. */
  query: string;
  /** Whether it holds this runbook's advisory lock. */
  holdsLock: boolean;
}

/** A run id at the end of `application_name`: `runbook 20261128T020041Z-7f3a`, or `<profile's name> runbook …`. */
const RUN_IN_NAME = /(?:^| )runbook (\d{8}T\d{6}Z-[0-9a-f]{4})$/;

/**
 * The `application_name` of a run's session: `runbook <run id>`; a profile's own name (other than the default
 * `runbook`) is kept in front: `<name> runbook <run id>`, cut on a character boundary so the whole stays within
 * PostgreSQL's 63 bytes (NAMEDATALEN - 1: longer names are truncated by the server, docs 20.8 "application_name").
 */
export function runApplicationName(own: string | undefined, runId: string): string {
  const suffix = `runbook ${runId}`;
  if (!own || own === 'runbook') return suffix;
  const room = 63 - Buffer.byteLength(suffix) - 1;
  let head = own;
  while (Buffer.byteLength(head) > room) head = Array.from(head).slice(0, -1).join('');
  return head ? `${head} ${suffix}` : suffix;
}

/**
 * The other backends of this database that belong to runs (their `application_name` names a run id other than
 * `ownRun`) or hold advisory lock `key`: pg_stat_activity joined to pg_locks (PostgreSQL docs, 27.2.3
 * "pg_stat_activity", 53.12 "pg_locks").
 */
export async function runBackends(pg: PostgresSession, key: string | undefined, ownRun: string): Promise<Backend[]> {
  const cols = key ? lockColumns(key) : { classid: '0', objid: '0' };
  const rows = await pg.inspect(
    `SELECT a.pid::text AS pid, coalesce(a.application_name, '') AS application, coalesce(host(a.client_addr), '') AS client,
            to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS backend_start,
            coalesce(a.state, '') AS state,
            coalesce(to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), '') AS query_start,
            coalesce(a.query, '') AS query,
            EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
                      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 1 AND $3::boolean) AS holds
       FROM pg_stat_activity a
      WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'`,
    [cols.classid, cols.objid, key ? 'true' : 'false'],
  );
  const out: Backend[] = [];
  for (const r of rows) {
    const application = r.application ?? '';
    const run = RUN_IN_NAME.exec(application)?.[1];
    const holdsLock = r.holds === 't' || r.holds === 'true';
    if ((!run || run === ownRun) && !holdsLock) continue;
    const b: Backend = { pid: Number(r.pid), application, client: r.client ?? '', backendStart: r.backend_start ?? '', state: r.state ?? '', queryStart: r.query_start ?? '', query: r.query ?? '', holdsLock };
    if (run) b.run = run;
    out.push(b);
  }
  return out;
}

/** The statement text for a message: on one line, at most `max` characters (after redaction by the caller). */
export function cutStatement(text: string, max = 120): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** A backend as one line: pid, run, application, client, since, state, query start, statement (redacted by `redact`). */
export function describeBackend(b: Backend, redact: (s: string) => string): string {
  const who = [`pid ${b.pid}`, b.run ? `run ${b.run}` : undefined, `application_name "${b.application}"`, `client ${b.client || 'local socket'}`, `connected since ${b.backendStart}`, `state ${b.state || 'unknown'}`].filter(Boolean).join(', ');
  const stmt = b.query ? `; ${b.state === 'active' ? 'running' : 'last statement'} since ${b.queryStart}: ${cutStatement(redact(b.query))}` : '';
  return `${who}${stmt}`;
}

/** ms to wait for a cancelled backend to go before terminating it, and for a terminated one to go. */
export const CANCEL_WAIT_MS = 2000;

/**
 * Stops backend `pid`: `pg_cancel_backend` (its running statement is cancelled; the backend of a dead client then
 * fails to answer and ends), then, if it is still there after `waitMs`, `pg_terminate_backend` (PostgreSQL docs,
 * 9.28.2 "Server Signaling Functions").
 * @returns how it went: `cancelled` (gone after the cancel), `terminated`, or `still there`
 * @throws Error when the queries fail (no permission to signal it: another role without pg_signal_backend)
 */
export async function stopBackend(pg: PostgresSession, pid: number, waitMs: number = CANCEL_WAIT_MS): Promise<'cancelled' | 'terminated' | 'still there'> {
  const there = async (): Promise<boolean> => (await pg.inspect('SELECT 1 AS x FROM pg_stat_activity WHERE pid = $1::int', [String(pid)])).length > 0;
  const gone = async (): Promise<boolean> => {
    const until = Date.now() + waitMs;
    while (await there()) {
      if (Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    return true;
  };
  const ok = (rows: Record<string, string | null>[]): boolean => rows[0]?.ok === 't' || rows[0]?.ok === 'true';
  if (!ok(await pg.inspect('SELECT pg_cancel_backend($1::int) AS ok', [String(pid)]))) return (await there()) ? 'still there' : 'cancelled';
  if (await gone()) return 'cancelled';
  await pg.inspect('SELECT pg_terminate_backend($1::int) AS ok', [String(pid)]);
  return (await gone()) ? 'terminated' : 'still there';
}
