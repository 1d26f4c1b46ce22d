// Resolves a connection profile name or URI into a pg client config, libpq variables and a safe display name.

import * as os from 'node:os';
import type { ClientConfig } from 'pg';
import { DEFAULT_APPLICATION_NAME, DEFAULT_CONNECT_TIMEOUT_S, TIMEOUT_DEFAULTS } from './defaults';
import { lookupPgpass, writePgpassFile, type TempPgpass } from './pgpass';
import { didYouMean, expandPath, loadProfiles, PASSWORD_HELP, PROFILES_FILE_NAME, profilesSearchPath } from './profilesFile';
import { findService, type ServiceDefinition } from './serviceFile';
import { sslOption } from './ssl';
import {
  ConnectionConfigError, ENVIRONMENTS, SSL_MODES,
  type ConnectionProfile, type Environment, type ResolvedConnection, type SslMode,
} from './types';
import { isConnectionUri, parseConnectionUri, type UriKeywords } from './uri';
import { stripUriPassword } from './redact';

/** Options of {@link resolveConnection}. */
export interface ResolveOptions {
  /** The runbook's folder: where the search for `runbook.connections.yaml` starts. */
  startDir: string;
  /** Environment to read PG* variables, HOME, RUNBOOK_CONNECTIONS and RUNBOOK_ENVIRONMENT from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Supplies a stored password for a profile (the VS Code extension's SecretStorage); undefined when none is stored. */
  secret?: (profileName: string) => Promise<string | undefined>;
}

/** The libpq settings resolution works out, each with the environment variable that can supply it
 *  (PostgreSQL docs, 32.15 "Environment Variables"). */
const ENV_VARS = {
  host: 'PGHOST',
  port: 'PGPORT',
  dbname: 'PGDATABASE',
  user: 'PGUSER',
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  application_name: 'PGAPPNAME',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  options: 'PGOPTIONS',
} as const;
type Keyword = keyof typeof ENV_VARS;

/**
 * libpq variables that choose a server, an identity or a secret. A shell cell gets none of these from
 * the parent process, only the resolved ones, so `psql` in a cell reaches the same server as the SQL
 * cells (an inherited PGSERVICE, for instance, would override PGHOST: a service file setting beats
 * the environment in libpq). Session variables such as PGTZ and PGDATESTYLE are left alone.
 */
export const LIBPQ_CONNECTION_VARS: readonly string[] = [
  'PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'PGPASSFILE', 'PGSERVICE', 'PGSERVICEFILE',
  'PGOPTIONS', 'PGAPPNAME', 'PGSSLMODE', 'PGREQUIRESSL', 'PGSSLNEGOTIATION', 'PGSSLCOMPRESSION', 'PGSSLCERT',
  'PGSSLKEY', 'PGSSLCERTMODE', 'PGSSLROOTCERT', 'PGSSLCRL', 'PGSSLCRLDIR', 'PGSSLSNI', 'PGREQUIREPEER',
  'PGSSLMINPROTOCOLVERSION', 'PGSSLMAXPROTOCOLVERSION', 'PGGSSENCMODE', 'PGKRBSRVNAME', 'PGGSSLIB',
  'PGGSSDELEGATION', 'PGCONNECT_TIMEOUT', 'PGTARGETSESSIONATTRS', 'PGLOADBALANCEHOSTS', 'PGREQUIREAUTH',
  'PGCHANNELBINDING',
];

function osUser(env: NodeJS.ProcessEnv): string {
  try {
    return os.userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): libpq would fail; fall back to the shell's idea.
    return env.USER || env.LOGNAME || 'postgres';
  }
}

function environmentFromEnv(env: NodeJS.ProcessEnv): Environment {
  const value = env.RUNBOOK_ENVIRONMENT;
  if (value === undefined || value === '') return 'development';
  if (!(ENVIRONMENTS as readonly string[]).includes(value)) {
    throw new ConnectionConfigError(`RUNBOOK_ENVIRONMENT is "${value}"; use one of ${ENVIRONMENTS.join(', ')}.`);
  }
  return value as Environment;
}

function unknownProfileError(name: string, file: string | undefined, profiles: ConnectionProfile[], searched: string[]): ConnectionConfigError {
  if (!file) {
    return new ConnectionConfigError(
      `No connection named "${name}": no connections file was found. Looked for:\n  ${searched.join('\n  ')}\n` +
        `Create ${PROFILES_FILE_NAME} next to the runbook (or in a folder above it), for example:\n` +
        `connections:\n  ${/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) ? name : 'my-db'}:\n    environment: development\n` +
        `    host: localhost\n    port: 5432\n    database: app\n    user: app\n` +
        `Or pass a URI instead of a name: --connection postgresql://user@host/db. See docs/connections.md.`,
    );
  }
  const known = profiles.map((p) => `${p.name} (${p.environment})`);
  return new ConnectionConfigError(
    `No connection named "${name}" in ${file}.` +
      didYouMean(name, profiles.map((p) => p.name)) +
      (known.length ? ` Known connections: ${known.join(', ')}.` : ' The file defines no connections.') +
      ` Add it under "connections:" there, or pass a postgresql:// URI instead.`,
    { file },
  );
}

/** Explicit settings of a profile as libpq keywords: its URL's parts, overridden by its own keys. */
function profileKeywords(p: ConnectionProfile): UriKeywords {
  const k: UriKeywords = p.url ? parseConnectionUri(p.url) : {};
  const set = (key: keyof UriKeywords, v: string | number | undefined) => {
    if (v !== undefined) k[key] = String(v);
  };
  set('host', p.host);
  set('port', p.port);
  set('dbname', p.database);
  set('user', p.user);
  set('service', p.service);
  set('sslmode', p.sslmode);
  set('sslrootcert', p.sslrootcert);
  set('sslcert', p.sslcert);
  set('sslkey', p.sslkey);
  set('application_name', p.applicationName);
  set('connect_timeout', p.connectTimeout);
  return k;
}

/**
 * Resolves `nameOrUri` into a connection ready to open, the way libpq would
 * (PostgreSQL docs, 32.15 "Environment Variables", 32.16 "The Password File", 32.17 "The Connection Service File"):
 *
 * 1. `nameOrUri` is a `postgres://`/`postgresql://` URI (as `psql` accepts): an ad-hoc profile named by
 *    the URI without its password, environment `$RUNBOOK_ENVIRONMENT` or `development`.
 *    Otherwise it names a profile in the profiles file found from `startDir`.
 * 2. Each setting is taken from the first that has it: the profile's keys (then its `url`), the
 *    pg_service.conf section named by the profile's `service` or `$PGSERVICE`, the PG* environment
 *    variable, libpq's default (host `localhost`, port 5432, user = OS user, database = user).
 * 3. The password from the first that has one: the URI, `secret(profileName)`, the service section,
 *    `$PGPASSWORD`, the password file (`passfile` of the service, `$PGPASSFILE`, `~/.pgpass`).
 *    When none has one, `clientConfig.password` is a function that fails, if the server asks,
 *    with a message saying where it looked and how to supply one.
 * 4. `lock_timeout`/`statement_timeout` default per environment (see defaults.ts).
 *
 * @throws ConnectionConfigError for an unknown profile name (listing the known ones and the file),
 *   a bad profiles file, a missing service, a bad URI, an invalid PG* value or an unreadable certificate
 */
export async function resolveConnection(nameOrUri: string, opts: ResolveOptions): Promise<ResolvedConnection> {
  const env = opts.env ?? process.env;
  const input = nameOrUri.trim();
  let profile: ConnectionProfile;
  let explicit: UriKeywords;
  let uriPassword: string | undefined;
  let matched: ConnectionProfile | undefined;
  if (isConnectionUri(input)) {
    explicit = parseConnectionUri(input);
    uriPassword = explicit.password;
    delete explicit.password;
    const shown = stripUriPassword(input);
    // A URI to a server and database a profile names is that profile's environment: a URI to the production
    // server is production, with its guards and timeouts.
    matched = await profileForServer(explicit, opts.startDir, env);
    profile = matched
      ? { name: shown, environment: matched.environment, url: shown, lockTimeout: matched.lockTimeout, statementTimeout: matched.statementTimeout, ...(matched.notify ? { notify: matched.notify } : {}), ...(matched.retry ? { retry: matched.retry } : {}) }
      : { name: shown, environment: environmentFromEnv(env), url: shown };
  } else {
    if (input === '') {
      throw new ConnectionConfigError('The connection name is empty: give a profile name from the connections file or a postgresql:// URI.');
    }
    const { file, profiles } = await loadProfiles(opts.startDir, env);
    const found = profiles.find((p) => p.name === input);
    if (!found) throw unknownProfileError(input, file, profiles, profilesSearchPath(opts.startDir, env));
    profile = found;
    explicit = profileKeywords(found);
  }

  const serviceName = explicit.service ?? (env.PGSERVICE || undefined);
  const service: ServiceDefinition | undefined = serviceName ? await findService(serviceName, env) : undefined;
  const from = (kw: Keyword): string | undefined => {
    const v = (explicit as Record<string, string | undefined>)[kw] ?? service?.settings[kw] ?? env[ENV_VARS[kw]];
    return v === undefined || v === '' ? undefined : v;
  };
  const label = profile.name;

  const host = from('host') ?? 'localhost';
  if (host.includes(',')) {
    throw new ConnectionConfigError(`Connection ${label} lists several hosts (${host}); runbook connects to one host. Name a single host.`);
  }
  const portText = from('port') ?? '5432';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new ConnectionConfigError(`Connection ${label} has the port "${portText}" (from the profile, service or PGPORT), which is not a port number.`);
  }
  const user = from('user') ?? osUser(env);
  const database = from('dbname') ?? user;
  const sslmodeText = from('sslmode');
  if (sslmodeText !== undefined && !(SSL_MODES as readonly string[]).includes(sslmodeText)) {
    throw new ConnectionConfigError(`Connection ${label} has sslmode "${sslmodeText}" (from the service or PGSSLMODE); use one of ${SSL_MODES.join(', ')}.`);
  }
  const sslmode = sslmodeText as SslMode | undefined;
  const filePath = (kw: 'sslrootcert' | 'sslcert' | 'sslkey'): string | undefined => {
    const v = from(kw);
    return v === undefined || (kw === 'sslrootcert' && v === 'system') ? v : expandPath(v, process.cwd(), env);
  };
  const sslrootcert = filePath('sslrootcert');
  const sslcert = filePath('sslcert');
  const sslkey = filePath('sslkey');
  const applicationName = from('application_name') ?? DEFAULT_APPLICATION_NAME;
  const connectTimeoutText = from('connect_timeout') ?? String(DEFAULT_CONNECT_TIMEOUT_S);
  const connectTimeout = /^\d+$/.test(connectTimeoutText) ? Number(connectTimeoutText) : DEFAULT_CONNECT_TIMEOUT_S;
  const options = from('options');

  const defaults = TIMEOUT_DEFAULTS[profile.environment];
  const resolvedProfile: ResolvedConnection['profile'] = {
    ...profile,
    lockTimeout: profile.lockTimeout ?? defaults.lockTimeout,
    statementTimeout: profile.statementTimeout ?? defaults.statementTimeout,
    applicationName,
  };
  // A URI given as the connection is its own name; when it already says the host and database, saying them again is noise.
  const saysWhere = isConnectionUri(profile.name) && profile.name.includes(String(host)) && profile.name.includes(`/${database}`);
  const where = saysWhere ? '' : ` ${user}@${host}:${port}/${database}`;
  const display = `${profile.name} (${profile.environment}${matched ? `, the server and database of profile ${matched.name}` : ''})${where}`;

  // Password, first found wins; only where it came from is kept for messages.
  const looked: string[] = [];
  let password: string | undefined;
  let passwordSource: string | undefined;
  const take = (value: string | undefined, source: string) => {
    if (password === undefined && value !== undefined && value !== '') {
      password = value;
      passwordSource = source;
    }
  };
  take(uriPassword, 'the connection URI');
  if (opts.secret && password === undefined) {
    looked.push('the stored secret (VS Code SecretStorage)');
    take(await opts.secret(profile.name), 'the stored secret (VS Code SecretStorage)');
  }
  if (service && password === undefined) {
    looked.push(`service "${service.name}" in ${service.file}`);
    take(service.settings.password, `service "${service.name}" in ${service.file}`);
  }
  if (password === undefined) {
    looked.push('PGPASSWORD');
    take(env.PGPASSWORD, 'PGPASSWORD');
  }
  let pgpassWarning: string | undefined;
  if (password === undefined) {
    const passfileEnv = service?.settings.passfile ? { ...env, PGPASSFILE: expandPath(service.settings.passfile, process.cwd(), env) } : env;
    const found = await lookupPgpass({ host, port, database, user }, passfileEnv);
    looked.push(`password file ${found.file}`);
    pgpassWarning = found.warning;
    take(found.password, `password file ${found.file}`);
  }

  const ssl = await sslOption({ mode: sslmode, rootcert: sslrootcert, cert: sslcert, key: sslkey }, host, display, env);
  const missingPassword = async (): Promise<string> => {
    throw new ConnectionConfigError(
      `The server asked for a password for ${display}, and none was found. Looked at: ${looked.join(', ')}.` +
        (pgpassWarning ? ` Note: ${pgpassWarning}.` : '') +
        ` For example add this line to ~/.pgpass and chmod 0600 it: ${host.startsWith('/') ? 'localhost' : host}:${port}:${database}:${user}:YOUR_PASSWORD. ` +
        PASSWORD_HELP,
    );
  };
  const clientConfig: ClientConfig = {
    host,
    port,
    database,
    user,
    password: password ?? missingPassword,
    ssl,
    application_name: applicationName,
    connectionTimeoutMillis: connectTimeout * 1000,
  };
  if (options !== undefined) clientConfig.options = options;

  const libpqEnv: Record<string, string> = {
    PGHOST: host,
    PGPORT: String(port),
    PGDATABASE: database,
    PGUSER: user,
    PGAPPNAME: applicationName,
    PGCONNECT_TIMEOUT: String(connectTimeout),
  };
  if (sslmode) libpqEnv.PGSSLMODE = sslmode;
  if (sslrootcert) libpqEnv.PGSSLROOTCERT = sslrootcert;
  if (sslcert) libpqEnv.PGSSLCERT = sslcert;
  if (sslkey) libpqEnv.PGSSLKEY = sslkey;
  if (options !== undefined) libpqEnv.PGOPTIONS = options;

  return {
    profile: resolvedProfile,
    ...(matched ? { matchedProfile: matched.name } : {}),
    clientConfig,
    libpqEnv,
    password,
    passwordSource,
    timeoutSource: {
      lockTimeout: profile.lockTimeout !== undefined ? 'profile' : 'default',
      statementTimeout: profile.statementTimeout !== undefined ? 'profile' : 'default',
    },
    display,
  };
}

/** Host names that are this machine's loopback: the same server when the port is the same. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

function sameHost(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x === y || (LOOPBACK.has(x) && LOOPBACK.has(y));
}

/**
 * The profile whose host, port and database are those of a URI's, if one is. Each profile is resolved as far as
 * those three go (its keys, its URL, its service section, PG* variables, libpq's defaults).
 * @throws ConnectionConfigError when the profiles file is invalid: whether the URI is a production server cannot be told
 */
async function profileForServer(uri: UriKeywords, startDir: string, env: NodeJS.ProcessEnv): Promise<ConnectionProfile | undefined> {
  let profiles: ConnectionProfile[];
  try {
    profiles = (await loadProfiles(startDir, env)).profiles;
  } catch (err) {
    throw new ConnectionConfigError(`${(err as Error).message}\n(Read to tell whether the connection URI points at a profile's server, such as a production one.)`, err instanceof ConnectionConfigError ? { file: err.file, line: err.line, column: err.column } : undefined);
  }
  const pick = (k: UriKeywords, service: ServiceDefinition | undefined, kw: 'host' | 'port' | 'dbname' | 'user'): string | undefined =>
    k[kw] ?? service?.settings[kw] ?? (env[ENV_VARS[kw]] || undefined);
  const where = async (k: UriKeywords): Promise<{ host: string; port: string; database: string }> => {
    const serviceName = k.service ?? (env.PGSERVICE || undefined);
    const service = serviceName ? await findService(serviceName, env).catch(() => undefined) : undefined;
    const user = pick(k, service, 'user') ?? osUser(env);
    return { host: pick(k, service, 'host') ?? 'localhost', port: pick(k, service, 'port') ?? '5432', database: pick(k, service, 'dbname') ?? user };
  };
  const target = await where(uri);
  for (const p of profiles) {
    const w = await where(profileKeywords(p));
    if (sameHost(w.host, target.host) && w.port === target.port && w.database === target.database) return p;
  }
  return undefined;
}

/**
 * Writes the resolved password into a temporary 0600 password file for shell cells (see
 * {@link writePgpassFile}); pass its path as PGPASSFILE, e.g. through {@link connectionShellEnv}.
 * @returns undefined when the connection has no password (psql then finds ~/.pgpass itself, as we did)
 */
export async function writeTempPgpass(conn: ResolvedConnection): Promise<TempPgpass | undefined> {
  const c = conn.clientConfig;
  return writePgpassFile({ host: c.host, port: c.port ?? 5432, user: c.user ?? '' }, conn.password);
}

/**
 * The environment for a shell cell on `conn`: `base` without any inherited libpq connection variable
 * ({@link LIBPQ_CONNECTION_VARS}), plus the connection's non-secret `libpqEnv`, plus `PGPASSFILE` when
 * a temporary password file is given. Never contains PGPASSWORD.
 */
export function connectionShellEnv(conn: ResolvedConnection, base: NodeJS.ProcessEnv = process.env, pgpassFile?: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...base };
  for (const name of LIBPQ_CONNECTION_VARS) delete out[name];
  Object.assign(out, conn.libpqEnv);
  if (pgpassFile) out.PGPASSFILE = pgpassFile;
  return out;
}
