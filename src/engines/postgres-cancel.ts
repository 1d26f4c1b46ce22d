// Server-side cancel of the statement a backend is running: a protocol CancelRequest, else pg_cancel_backend().

import { Client, ClientConfig, Connection } from 'pg';

/** What identifies a backend to the postmaster for a CancelRequest (from BackendKeyData at startup). */
export interface CancelKey {
  /** Resolved host (a directory for a Unix-domain socket) and port the session is connected to. */
  host: string;
  port: number;
  /** Backend process id and secret key from the BackendKeyData message. */
  processID: number;
  secretKey: number;
}

/**
 * Sends a CancelRequest for `key` on a new connection and resolves once the server has closed that
 * connection, i.e. once the postmaster has signalled the backend (PostgreSQL docs, 55.2.8 "Canceling
 * Requests in Progress"). Waiting for the close matters: a next statement sent before the signal lands
 * could be the one cancelled.
 *
 * The request is sent in the clear, as libpq's PQcancel does (the server takes it before any TLS or
 * pg_hba check). Rejects when the connection fails (e.g. a proxy that does not pass cancel requests);
 * `cancelBackend` then falls back to `pg_cancel_backend`.
 *
 * @param timeoutMs give up after this many ms (default 5000).
 */
export function sendCancelRequest(key: CancelKey, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    // pg's Connection can connect a bare socket and write the 16-byte CancelRequest (`cancel`), but
    // @types/pg declares neither `connect` nor `cancel`.
    const con = new Connection() as unknown as RawConnection;
    const timer = setTimeout(() => {
      con.stream.destroy();
      reject(new Error(`cancel request to ${key.host}:${key.port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    con.on('connect', () => con.cancel(key.processID, key.secretKey));
    con.on('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
    con.on('end', () => {
      clearTimeout(timer);
      resolve();
    });
    // A host starting with `/` is the directory of a Unix-domain socket, named as libpq names it.
    if (key.host.startsWith('/')) con.connect(`${key.host}/.s.PGSQL.${key.port}`);
    else con.connect(key.port, key.host);
  });
}

interface RawConnection {
  stream: { destroy(): void };
  connect(portOrSocketPath: number | string, host?: string): void;
  cancel(processID: number, secretKey: number): void;
  on(event: 'connect' | 'end', listener: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}

/**
 * Asks the server to cancel what backend `pid` is running, from a second connection with `config`:
 * `SELECT pg_cancel_backend(pid)` (PostgreSQL docs, 9.28.2 "Server Signaling Functions"). The fallback
 * when a protocol CancelRequest cannot be delivered. Resolves with whether a signal was sent.
 */
export async function cancelWithSecondConnection(config: ClientConfig, pid: number): Promise<boolean> {
  const client = new Client({ ...config, application_name: 'runbook cancel', connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const r = await client.query<{ ok: boolean }>('SELECT pg_cancel_backend($1) AS ok', [pid]);
    return r.rows[0]?.ok === true;
  } finally {
    await client.end().catch(() => undefined);
  }
}
