// Finds a service's settings in pg_service.conf files, in libpq's order (user file, then system file).

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConnectionConfigError } from './types';

/**
 * Every keyword libpq accepts in a service file (PostgreSQL docs, 32.1.2 "Parameter Key Words").
 * libpq rejects any other keyword as a syntax error, and so do we; the ones resolution does not use
 * (e.g. `keepalives`) are accepted and ignored.
 */
const LIBPQ_KEYWORDS = new Set([
  'host', 'hostaddr', 'port', 'dbname', 'user', 'password', 'passfile', 'require_auth', 'channel_binding',
  'connect_timeout', 'client_encoding', 'options', 'application_name', 'fallback_application_name',
  'keepalives', 'keepalives_idle', 'keepalives_interval', 'keepalives_count', 'tcp_user_timeout',
  'replication', 'gssencmode', 'sslmode', 'sslnegotiation', 'sslcompression', 'sslcert', 'sslkey',
  'sslkeylogfile', 'sslpassword', 'sslcertmode', 'sslrootcert', 'sslcrl', 'sslcrldir', 'sslsni', 'requirepeer',
  'ssl_min_protocol_version', 'ssl_max_protocol_version', 'min_protocol_version', 'max_protocol_version',
  'krbsrvname', 'gsslib', 'gssdelegation', 'target_session_attrs', 'load_balance_hosts',
  'scram_client_key', 'scram_server_key', 'oauth_issuer', 'oauth_client_id', 'oauth_client_secret', 'oauth_scope',
]);

/** A service section found in a file: its keywords (first occurrence wins, as in libpq) and where. */
export interface ServiceDefinition {
  name: string;
  file: string;
  settings: Record<string, string>;
}

function homeDir(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir();
}

/**
 * The service files libpq would read, in order: the per-user file (`$PGSERVICEFILE`, else
 * `~/.pg_service.conf`), then the system-wide `pg_service.conf` in `$PGSYSCONFDIR`. When PGSYSCONFDIR
 * is unset libpq uses its compile-time `sysconfdir`, which we cannot ask for without `pg_config`; we
 * look where Debian/Ubuntu's libpq (`/etc/postgresql-common`) and source builds configured with
 * `--sysconfdir=/etc` look. Source: PostgreSQL docs, 32.17 "The Connection Service File".
 */
export function serviceFileCandidates(env: NodeJS.ProcessEnv = process.env): { user: string; system: string[] } {
  const user = env.PGSERVICEFILE || path.join(homeDir(env), '.pg_service.conf');
  const system = env.PGSYSCONFDIR
    ? [path.join(env.PGSYSCONFDIR, 'pg_service.conf')]
    : ['/etc/postgresql-common/pg_service.conf', '/etc/pg_service.conf'];
  return { user, system };
}

/**
 * Reads one service's section from `file`. Returns undefined when the file does not exist or has no
 * such section. Format as libpq parses it: `[name]` starts a section, `key=value` lines (spaces
 * around both trimmed), `#` comments and blank lines ignored.
 *
 * @throws ConnectionConfigError on a line that is neither, an unknown keyword, or a nested `service=`,
 *   naming the file and line (the line's text is not quoted: it may hold a password).
 */
export async function readServiceSection(file: string, service: string): Promise<ServiceDefinition | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      return undefined;
    }
    throw new ConnectionConfigError(`Cannot read the service file ${file}: ${(err as Error).message}`, { file });
  }
  const settings: Record<string, string> = {};
  let inSection = false;
  let found = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = { file, line: i + 1 };
    if (line.startsWith('[')) {
      if (!line.endsWith(']')) {
        throw new ConnectionConfigError(`Syntax error in service file ${file}, line ${i + 1}: a section header must end with "]".`, where);
      }
      inSection = line.slice(1, -1) === service;
      found ||= inSection;
      continue;
    }
    if (!inSection) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      throw new ConnectionConfigError(`Syntax error in service file ${file}, line ${i + 1}: expected keyword=value.`, where);
    }
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === 'service') {
      throw new ConnectionConfigError(`Service file ${file}, line ${i + 1}: nested service specifications are not supported.`, where);
    }
    if (!LIBPQ_KEYWORDS.has(key)) {
      throw new ConnectionConfigError(
        `Syntax error in service file ${file}, line ${i + 1}: "${key}" is not a libpq connection keyword ` +
          `(see PostgreSQL docs, "Parameter Key Words").`,
        where,
      );
    }
    if (!(key in settings)) settings[key] = value;
  }
  return found ? { name: service, file, settings } : undefined;
}

/**
 * Finds `service` the way libpq does: the per-user file first and, only when the service is not
 * there, the system-wide file (a service in the user file hides the system one entirely).
 *
 * @throws ConnectionConfigError when no file defines the service, listing the files looked at.
 */
export async function findService(service: string, env: NodeJS.ProcessEnv = process.env): Promise<ServiceDefinition> {
  const { user, system } = serviceFileCandidates(env);
  for (const file of [user, ...system]) {
    const def = await readServiceSection(file, service);
    if (def) return def;
  }
  throw new ConnectionConfigError(
    `Definition of service "${service}" not found. Looked in ${[user, ...system].join(', ')}. ` +
      `Add a [${service}] section to ${user} (host=…, port=…, dbname=…, user=…), set PGSERVICEFILE to the ` +
      `file that has it, or remove "service" from the connection profile / unset PGSERVICE.`,
  );
}
