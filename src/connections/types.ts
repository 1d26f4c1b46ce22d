// Shapes shared by the connections module: environments, connection profiles, resolved connections, errors.

import type { ClientConfig } from 'pg';
import type { NotifyTarget } from '../format/notify-targets';
import type { RetryOptionValue } from '../format/options';

/** Where a connection points, in increasing order of care. `production` turns on the guards. */
export type Environment = 'sandbox' | 'development' | 'staging' | 'production';

/** Every environment, in increasing order of care. */
export const ENVIRONMENTS: readonly Environment[] = ['sandbox', 'development', 'staging', 'production'];

/** libpq's SSL modes. Source: PostgreSQL docs, 32.19 "SSL Support", table "SSL Mode Descriptions". */
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** Every SSL mode libpq knows. */
export const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/**
 * A named connection profile, as written in `runbook.connections.yaml` (docs/connections.md).
 * It never holds a password. Fields left out are filled at resolution time from pg_service.conf,
 * libpq environment variables and libpq's defaults, in libpq's order.
 */
export interface ConnectionProfile {
  /** The profile's key in the file, or the password-free URI for an ad-hoc `--connection URI`. */
  name: string;
  environment: Environment;
  host?: string;
  /** TCP port, 1–65535. */
  port?: number;
  database?: string;
  user?: string;
  /** A section of pg_service.conf to take the rest from. */
  service?: string;
  sslmode?: SslMode;
  /** Absolute path (the loader expands `~` and resolves relative paths against the file's folder), or `system`. */
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  /** PostgreSQL interval text for `SET lock_timeout`, e.g. `5s`; `0` turns it off. */
  lockTimeout?: string;
  /** PostgreSQL interval text for `SET statement_timeout`, e.g. `15min`; `0` turns it off. */
  statementTimeout?: string;
  /** Shown in `pg_stat_activity.application_name`. */
  applicationName?: string;
  /**
   * Default of the `retry` cell option for SQL cells on this connection (`retry: {attempts: 3}` in the file): retry
   * on lock_timeout, SQLSTATE 55P03 (docs/run.md, "Lock-timeout retries"). A cell's own `retry` wins.
   */
  retry?: RetryOptionValue;
  /** `require_rehearsal: true`: `runbook run` refuses (instead of asking) a runbook whose content has no passing rehearsal (docs/rehearse.md). */
  requireRehearsal?: boolean;
  /**
   * `client_connection_check_interval` set on a run's session where the server is 14+ (`10s` when unset, `0`: not
   * set): how often the server checks, while a statement runs, that the client is still there (docs/run.md).
   */
  connectionCheckInterval?: string;
  /** Seconds to wait for the connection to open (libpq's `connect_timeout`); 0 waits forever. */
  connectTimeout?: number;
  /** A `postgres://` / `postgresql://` URI without a password; fields above override its parts. */
  url?: string;
  /** Webhooks told about runs on this connection (docs/connections.md, "Notifications"); each names the variable holding its URL. */
  notify?: NotifyTarget[];
  /** Where the profile was defined, for error messages: `file:line`. Absent for ad-hoc URIs. */
  source?: string;
}

/** Where a setting of the resolved connection came from, for records and error messages. */
export type SettingSource = 'profile' | 'uri' | 'service' | 'environment' | 'default';

/** A connection ready to open: a pg client config, the libpq variables for shell cells, and a safe display text. */
export interface ResolvedConnection {
  /** The profile with `lockTimeout`, `statementTimeout` and `applicationName` always filled (defaults per environment). */
  profile: ConnectionProfile & { lockTimeout: string; statementTimeout: string; applicationName: string };
  /** Ready for `new pg.Client(clientConfig)`. `password` is a string when one was found, else a function that
   *  fails with an explanation if the server asks for one. Keep in memory only. */
  clientConfig: ClientConfig;
  /** NON-secret libpq variables for shell cells (PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLMODE, …). */
  libpqEnv: Record<string, string>;
  /** The password, when one was found; in memory only, never written. */
  password?: string;
  /** Where the password came from (no value), e.g. `~/.pgpass` or `PGPASSWORD`. */
  passwordSource?: string;
  /** Where the timeouts came from: the profile or the environment's defaults. */
  timeoutSource: { lockTimeout: 'profile' | 'default'; statementTimeout: 'profile' | 'default' };
  /** Safe to print: `prod-main (production) migrator@db.internal:5432/app`. */
  display: string;
  /** For a URI: the profile whose host, port and database it names (its environment and timeouts apply). */
  matchedProfile?: string;
}

/**
 * A mistake in connection configuration: the profiles file, a pg_service.conf, a URI or a profile name.
 * The message says what is wrong, where, and what to do; it never contains a password.
 */
export class ConnectionConfigError extends Error {
  override readonly name = 'ConnectionConfigError';
  /** The file at fault, when there is one. */
  readonly file?: string;
  /** 1-based line and column in `file`, when known. */
  readonly line?: number;
  readonly column?: number;

  constructor(message: string, where?: { file?: string; line?: number; column?: number }) {
    super(message);
    this.file = where?.file;
    this.line = where?.line;
    this.column = where?.column;
  }
}
