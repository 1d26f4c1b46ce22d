// The run's monitoring connection: one second connection to the target, opened on first need and shared by the
// lint's catalog reads, pre-flight, the live lock view and the rewrite check, closed when the run ends.

import { Socket } from 'node:net';
import { Client, type ClientConfig } from 'pg';

/**
 * `lock_timeout` of catalog connections (the monitoring connection: pre-flight, live lock view, monitoring sampler,
 * the run's lint; and `runbook lint --connection`), ms. A catalog read that opens a table (pg_total_relation_size,
 * EXPLAIN) gives up after this long behind a lock instead of queueing behind it (docs/safety.md, "Timeouts").
 */
export const CATALOG_LOCK_TIMEOUT_MS = 2_000;

/**
 * `statement_timeout` of catalog connections, ms: no catalog or statistics query of ours may run longer, whatever
 * it waits for (a lock the lock_timeout does not cover, a slow catalog, I/O). Each of those queries takes
 * milliseconds on a healthy server.
 */
export const CATALOG_STATEMENT_TIMEOUT_MS = 5_000;

/**
 * The client settings every catalog connection gets, over the profile's: its own short `lock_timeout` and
 * `statement_timeout` (never the profile's, which may be `0`: off). pg sends them as startup parameters.
 */
export function catalogClientConfig(config: ClientConfig): ClientConfig {
  return { ...config, lock_timeout: CATALOG_LOCK_TIMEOUT_MS, statement_timeout: CATALOG_STATEMENT_TIMEOUT_MS };
}

/** Options of {@link MonitorConnection}. */
export interface MonitorOptions {
  /**
   * Close the connection after this long without use, ms (default 5 000; 0: never): tidiness for a caller that
   * never calls {@link MonitorConnection.close} (a long-lived VS Code window). Reopening costs one connection
   * set-up, paid only after a pause this long (a shell cell, a checklist waiting for the operator).
   */
  idleCloseMs?: number;
  /** `application_name` of the connection (shown in `pg_stat_activity`); default `runbook monitor`. */
  applicationName?: string;
}

/**
 * A lazily opened second connection. Catalog and statistics queries only: never the runbook's own session (that one
 * is busy running the cell, and may be inside the transaction whose locks matter).
 *
 * Queries of several users are sent one after another ({@link MonitorConnection.serial}).
 */
export class MonitorConnection {
  private client: Client | undefined;
  /** The TCP (or Unix) socket under the client, TLS or not: unreferenced while unused (see {@link setRef}). */
  private socket: Socket | undefined;
  private connecting: Promise<Client> | undefined;
  private users = 0;
  private idle: NodeJS.Timeout | undefined;
  private readonly idleCloseMs: number;
  /** Connections opened so far (tests and benchmarks count them). */
  opened = 0;

  constructor(private readonly config: ClientConfig, private readonly options: MonitorOptions = {}) {
    this.idleCloseMs = options.idleCloseMs ?? 5_000;
  }

  /**
   * Runs `fn` with the connected client, connecting first when needed (a connection the server ended is replaced).
   * The idle timer does not run while `fn` does.
   *
   * @throws whatever pg raises when it cannot connect, and whatever `fn` throws
   */
  async use<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    this.users++;
    if (this.idle) { clearTimeout(this.idle); this.idle = undefined; }
    try {
      const c = await this.connect();
      this.setRef(true);
      return await fn(this.serial(c));
    } finally {
      this.users--;
      this.armIdle();
    }
  }

  /** The last query issued through {@link serial}, settled or not: the next one waits for it. */
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * The client as users get it: its `query` calls are sent one after another across users. pg 8 queues a query
   * issued while another runs, but warns on the terminal that pg 9 will not ("Calling client.query() when the client
   * is already executing a query is deprecated", node-postgres lib/client.js); the lock view, the sampler and the
   * safety checks share this connection and do overlap.
   */
  private serial(c: Client): Client {
    return new Proxy(c, {
      get: (target, prop, receiver) => {
        if (prop !== 'query') return Reflect.get(target, prop, receiver);
        return (...args: unknown[]): Promise<unknown> => {
          // Client.query's overloads (text, config, submittable, callback) are passed through as they came.
          const run = this.tail.then(() => (target.query as (...a: unknown[]) => Promise<unknown>).apply(target, args));
          this.tail = run.catch(() => undefined);
          return run;
        };
      },
    });
  }

  /** Closes the connection if open. The next {@link use} opens a new one. Never throws. */
  async close(): Promise<void> {
    if (this.idle) { clearTimeout(this.idle); this.idle = undefined; }
    const pending = this.connecting;
    const c = this.client;
    // Closing is work the process must wait for: an unreferenced socket would let it exit before the server's goodbye
    // (with nothing else left, e.g. after the session was lost, the CLI ended mid-close with exit status 0).
    this.socket?.ref();
    this.client = undefined;
    this.socket = undefined;
    this.connecting = undefined;
    const end = async (x: Client | undefined): Promise<void> => { await x?.end().catch(() => undefined); };
    await end(c);
    if (pending && !c) await end(await pending.catch(() => undefined));
  }

  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    // pg's own Node stream is a plain net.Socket (pg/lib/stream.js); made here to keep a handle on it, under TLS too.
    const socket = new Socket();
    // lock_timeout: a catalog read that opens a relation (pg_total_relation_size) must never queue behind a lock on it,
    // least of all one the runbook's own session holds; it fails after CATALOG_LOCK_TIMEOUT_MS instead. statement_timeout
    // bounds every query of ours, whatever it waits for.
    const c = new Client({
      ...catalogClientConfig(this.config), application_name: this.options.applicationName ?? 'runbook monitor', stream: () => socket,
    });
    // A connection the server ends (restart, pg_terminate_backend) must not crash the run: forget it, reopen on next use.
    const forget = (): void => { if (this.client === c) { this.client = undefined; this.socket = undefined; } };
    c.on('error', forget);
    c.on('end', forget);
    const p: Promise<Client> = c.connect().then(
      () => {
        this.opened++;
        // close() during the connect: hand the client to this caller only (close() ends it), keep nothing.
        if (this.connecting === p) { this.client = c; this.socket = socket; this.connecting = undefined; }
        return c;
      },
      (err: unknown) => {
        if (this.connecting === p) this.connecting = undefined;
        throw err;
      },
    );
    this.connecting = p;
    return this.connecting;
  }

  /**
   * An unused monitoring connection must not keep the process alive: `runbook run` ends when its work is done even
   * if nobody called {@link close} (the server then sees the connection end, outside any transaction).
   */
  private setRef(inUse: boolean): void {
    if (inUse) this.socket?.ref(); else this.socket?.unref();
  }

  private armIdle(): void {
    if (this.users === 0) this.setRef(false);
    if (this.users > 0 || this.idleCloseMs <= 0 || (!this.client && !this.connecting)) return;
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => { this.idle = undefined; if (this.users === 0) void this.close(); }, this.idleCloseMs);
    // The timer alone must not keep a process alive (the socket does, until the timer closes it).
    this.idle.unref();
  }
}
