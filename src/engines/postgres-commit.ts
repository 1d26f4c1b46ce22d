// Whether a transaction committed, asked on a new connection after the one that sent its COMMIT was lost.

import { Client, ClientConfig } from 'pg';
import type { Node } from 'libpg-query';

/** What became of a transaction whose COMMIT got no answer. */
export type CommitOutcome = 'committed' | 'aborted' | 'unknown';

/** The answer of `resolveTransactionStatus`: the outcome and, in words for the record, how it was found or why it is unknown. */
export interface TransactionStatus {
  commit: CommitOutcome;
  /** One sentence for the record and the operator, e.g. `pg_xact_status('1234') on a new connection: committed`. */
  detail: string;
}

/** Options of `resolveTransactionStatus`; all times in ms. */
export interface ResolveOptions {
  /**
   * How long to keep asking while the server says `in progress` (default 5000): the old backend may
   * still be finishing its commit, or not have noticed yet that its client is gone. Past it: `unknown`.
   */
  waitMs?: number;
  /** Pause between two asks (default 100). */
  pollMs?: number;
  /** Limit for opening the new connection (default 5000). */
  connectTimeoutMs?: number;
  /** The lost session's backend pid: when the status stays `in progress`, the detail says what that backend is doing. */
  pid?: number;
}

const DEFAULTS = { waitMs: 5000, pollMs: 100, connectTimeoutMs: 5000 };

/**
 * Asks, on a NEW connection made with `config`, whether transaction `xid` committed: `pg_xact_status(xid8)`
 * on PostgreSQL 13 and later, `txid_status(bigint)` on 10–12 (PostgreSQL docs, 9.27 "System
 * Information Functions", "Transaction ID and Snapshot Information Functions"). `xid` is the
 * epoch-qualified id that `pg_current_xact_id()`/`txid_current()` return, as text.
 *
 * While the server says `in progress` it asks again every `pollMs` until `waitMs` has passed. The
 * whole call gives up after `connectTimeoutMs + waitMs + 2000` ms (12 s with the defaults), whatever
 * hangs.
 *
 * Never throws: `unknown` when the new connection fails, the server is older than 10, the status is NULL
 * (the transaction is too old for the server to remember), the server refuses the id (e.g. in the
 * future: another server), or it is still in progress at the bound; `detail` says which.
 */
export async function resolveTransactionStatus(config: ClientConfig, xid: string, opts: ResolveOptions = {}): Promise<TransactionStatus> {
  const o = { ...DEFAULTS, ...opts };
  if (!/^\d+$/.test(xid)) return { commit: 'unknown', detail: `"${xid}" is not a transaction id` };
  const client = new Client({ ...config, application_name: 'runbook commit check', connectionTimeoutMillis: o.connectTimeoutMs });
  // A connection error after connect() would otherwise be an unhandled 'error' event.
  client.on('error', () => undefined);
  const limitMs = o.connectTimeoutMs + o.waitMs + HARD_LIMIT_MARGIN_MS;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<TransactionStatus>((resolve) => {
    timer = setTimeout(() => resolve({ commit: 'unknown', detail: `no answer about transaction ${xid} on a new connection within ${Math.round(limitMs / 1000)} s` }), limitMs);
  });
  try {
    return await Promise.race([ask(client, xid, o), limit]);
  } finally {
    clearTimeout(timer);
    await client.end().catch(() => undefined);
  }
}

/** Slack past `connectTimeoutMs + waitMs` for the last queries before `resolveTransactionStatus` gives up (ms). */
const HARD_LIMIT_MARGIN_MS = 2000;

/** The connect-and-poll part of `resolveTransactionStatus`; never throws. */
async function ask(client: Client, xid: string, o: typeof DEFAULTS & ResolveOptions): Promise<TransactionStatus> {
  try {
    await client.connect();
  } catch (e) {
    return { commit: 'unknown', detail: `a new connection to ask whether transaction ${xid} committed could not be opened: ${(e as Error).message}` };
  }
  try {
    const v = Number((await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0].v);
    if (v < 100000) return { commit: 'unknown', detail: `the server (version ${v}) has no txid_status(): it needs PostgreSQL 10 or later` };
    const fn = v >= 130000 ? 'pg_xact_status' : 'txid_status';
    const sql = v >= 130000 ? 'SELECT pg_xact_status($1::xid8) AS status' : 'SELECT txid_status($1::bigint) AS status';
    const started = performance.now();
    for (;;) {
      const status = (await client.query<{ status: string | null }>(sql, [xid])).rows[0].status;
      const asked = `${fn}('${xid}') on a new connection`;
      if (status === 'committed' || status === 'aborted') return { commit: status, detail: `${asked}: ${status}` };
      if (status === null) return { commit: 'unknown', detail: `${asked} is NULL: the server no longer keeps the status of a transaction this old` };
      if (performance.now() - started >= o.waitMs) return { commit: 'unknown', detail: `${asked}: still ${status} after ${Math.round(o.waitMs / 1000)} s${await oldBackend(client, o.pid)}` };
      await new Promise((r) => setTimeout(r, o.pollMs));
    }
  } catch (e) {
    return { commit: 'unknown', detail: `asking whether transaction ${xid} committed failed: ${(e as Error).message}` };
  }
}

/** What the lost session's backend is doing, as a clause for the detail (empty when unknown). */
async function oldBackend(client: Client, pid: number | undefined): Promise<string> {
  if (!pid) return '';
  try {
    const r = await client.query<{ state: string | null }>('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid]);
    if (r.rows.length === 0) return `; the old session (pid ${pid}) has ended`;
    return `; the old session (pid ${pid}) is still open (${r.rows[0].state ?? 'state unknown'}): look at it in pg_stat_activity; pg_terminate_backend(${pid}) rolls it back if it has not committed`;
  } catch {
    return '';
  }
}

/** How a transaction-control statement ends the transaction, for the statements whose outcome is at stake. */
export type CommitKind = 'commit' | 'prepare' | 'commit-prepared';

/**
 * `commit` for COMMIT, END and COMMIT AND CHAIN; `prepare` for PREPARE TRANSACTION; `commit-prepared`
 * for COMMIT PREPARED; undefined for anything else.
 */
export function commitKind(stmt: Node): CommitKind | undefined {
  switch ((stmt as { TransactionStmt?: { kind?: string } }).TransactionStmt?.kind) {
    case 'TRANS_STMT_COMMIT':
      return 'commit';
    case 'TRANS_STMT_PREPARE':
      return 'prepare';
    case 'TRANS_STMT_COMMIT_PREPARED':
      return 'commit-prepared';
    default:
      return undefined;
  }
}

/**
 * The query that returns the open transaction's id if one was assigned, without assigning one:
 * `pg_current_xact_id_if_assigned()` on 13+, `txid_current_if_assigned()` on 10–12 (PostgreSQL docs,
 * 9.27); undefined before 10 (no such function) or when the version is unknown.
 */
export function xidQuery(serverVersion: string): string | undefined {
  const major = Number(/^(\d+)/.exec(serverVersion)?.[1]);
  if (!Number.isFinite(major) || major < 10) return undefined;
  return major >= 13 ? 'SELECT pg_current_xact_id_if_assigned()::text AS xid' : 'SELECT txid_current_if_assigned()::text AS xid';
}

/**
 * The cell's error message and the body's last paragraph for a statement (`verb`: `COMMIT`, `END`,
 * `PREPARE TRANSACTION`, `COMMIT PREPARED`) whose connection was lost before its answer came, e.g.
 * `connection lost during COMMIT (Connection terminated unexpectedly); on a new connection transaction 1234 is committed`.
 *
 * @param reason what the client saw (the socket error or the server's FATAL message).
 */
export function describeLostCommit(verb: string, reason: string, xid: string | undefined, status: TransactionStatus, serverVersion: string): { message: string; advice: string } {
  const head = `connection lost during ${verb} (${reason})`;
  const tx = xid ? `transaction ${xid}` : 'the transaction';
  switch (status.commit) {
    case 'committed':
      return {
        message: `${head}; on a new connection ${tx} is committed`,
        advice: `The connection was lost while ${verb} was in flight. On a new connection, ${tx} is committed: its changes are kept. This session is gone; reconnect to continue.`,
      };
    case 'aborted':
      return {
        message: `${head}; ${xid ? `on a new connection ${tx} is` : `${tx} was`} rolled back (${status.detail})`,
        advice: `The connection was lost while ${verb} was in flight, and ${tx} was rolled back: none of its changes were kept. Reconnect, and run the transaction again from its BEGIN.`,
      };
    default: {
      const check = xid ? `: SELECT ${Number(/^\d+/.exec(serverVersion)?.[0]) >= 13 || !serverVersion ? `pg_xact_status('${xid}')` : `txid_status(${xid})`}` : '';
      return {
        message: `${head}; whether ${tx} committed is unknown: ${status.detail}`,
        advice: `The connection was lost while ${verb} was in flight, and whether ${tx} committed is unknown: ${status.detail}. Check on the server before running anything again${check}.`,
      };
    }
  }
}
