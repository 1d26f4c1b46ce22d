// Default session timeouts and names per environment, used when a connection profile leaves them out.

import type { Environment } from './types';

/** Session timeouts applied with `SET` when a profile does not give its own (docs/connections.md, "Defaults"). */
export interface TimeoutDefaults {
  /** `lock_timeout`: how long one statement may wait for a lock before failing with SQLSTATE 55P03. */
  lockTimeout: string;
  /** `statement_timeout`: how long one statement may run before failing with SQLSTATE 57014. */
  statementTimeout: string;
}

/**
 * Why these numbers: a DDL statement waiting for an ACCESS EXCLUSIVE lock queues every later reader
 * behind it (PostgreSQL docs, 13.3.1 "Table-Level Locks": conflicting requests wait in order), so on
 * shared databases a short `lock_timeout` turns an outage into a retryable error. Staging gets the same
 * limits as production so a rehearsal meets the failures the night would. Developer databases get room
 * to work; the sandbox is private to the run, so nothing else can be blocked and nothing is limited.
 * `0` means "off" for both settings (PostgreSQL docs, 19.11.1 "Statement Behavior").
 */
export const TIMEOUT_DEFAULTS: Readonly<Record<Environment, TimeoutDefaults>> = {
  production: { lockTimeout: '5s', statementTimeout: '15min' },
  staging: { lockTimeout: '5s', statementTimeout: '15min' },
  development: { lockTimeout: '30s', statementTimeout: '0' },
  sandbox: { lockTimeout: '0', statementTimeout: '0' },
};

/** `application_name` when neither the profile, the URI, a service nor PGAPPNAME sets one, so DBAs can
 *  spot the migration in `pg_stat_activity`. */
export const DEFAULT_APPLICATION_NAME = 'runbook';

/** Seconds to wait for a connection when nothing sets `connect_timeout`: a dead host fails fast at 2 a.m. */
export const DEFAULT_CONNECT_TIMEOUT_S = 10;
