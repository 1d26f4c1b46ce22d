// Child-process entry of the PGlite sandbox: serves one PGlite database on a loopback port and reports it to the parent over IPC.
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { SandboxChildMessage, SandboxParentMessage, SandboxServerArgs } from './sandbox-protocol';

const HOST = '127.0.0.1';
/** How long a clean shutdown may take before the child exits anyway (ms). */
const SHUTDOWN_GRACE_MS = 5000;

function send(message: SandboxChildMessage): void {
  process.send?.(message);
}

/**
 * PGlite has one backend, shared by every connection the socket server accepts in turn. Without a
 * reset, `SET`, temp tables, prepared statements and advisory locks of one connection would leak
 * into the next; DISCARD ALL gives each connection a fresh session, as a real server does.
 * (https://www.postgresql.org/docs/current/sql-discard.html)
 */
async function resetSession(db: PGlite): Promise<void> {
  // A connection dropped inside a transaction is rolled back by pglite-socket, possibly not yet.
  if (db.isInTransaction()) await db.exec('ROLLBACK');
  await db.exec('DISCARD ALL');
}

/** True when `dir` holds a PostgreSQL data directory. */
function isDataDir(dir: string): boolean {
  return existsSync(path.join(dir, 'PG_VERSION'));
}

/**
 * Builds the template by initdb into a folder of its own, then renames it into place: a crash or a
 * concurrent sandbox never leaves a half-made template, and the loser of a race keeps the winner's.
 */
async function buildTemplate(template: string): Promise<void> {
  mkdirSync(path.dirname(template), { recursive: true });
  const building = mkdtempSync(`${template}.building-`);
  try {
    const fresh = await PGlite.create({ dataDir: building });
    await fresh.close();
    renameSync(building, template);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    if (!isDataDir(template)) throw err;
  }
}

/** Fills a new data directory from the template (PostgreSQL data directories can be moved as files). */
async function prepareDataDir(dir: string, template: string | undefined): Promise<void> {
  if (isDataDir(dir) || template === undefined) return;
  if (!isDataDir(template)) await buildTemplate(template);
  cpSync(template, dir, { recursive: true });
}

let removeOnShutdown: string | undefined;
let db: PGlite | undefined;
let server: PGLiteSocketServer | undefined;
let stopping = false;

/**
 * Closes the server and the database, then exits; at most SHUTDOWN_GRACE_MS. `removeData` deletes
 * an ephemeral sandbox's folder: only when the parent is gone, as otherwise the parent owns it.
 */
async function shutdown(code: number, removeData = false): Promise<void> {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(code), SHUTDOWN_GRACE_MS).unref();
  try {
    await server?.stop();
    // Closing flushes a data directory so the next start needs no recovery.
    await db?.close();
  } finally {
    if (removeData && removeOnShutdown) rmSync(removeOnShutdown, { recursive: true, force: true });
    process.exit(code);
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as SandboxServerArgs;
  removeOnShutdown = args.removeOnShutdown;
  // Ctrl-C in a terminal reaches the whole process group; the parent decides what a cancel means
  // (it restarts this process), so the child must not die on its own first.
  process.on('SIGINT', () => undefined);
  // The IPC channel closes when the parent exits or is killed: never outlive it.
  process.on('disconnect', () => void shutdown(0, true));
  process.on('message', (message: SandboxParentMessage) => {
    if (message.type === 'stop') void shutdown(0);
  });
  if (!process.connected) return void shutdown(0, true);

  await prepareDataDir(args.dir, args.template);
  db = await PGlite.create({ dataDir: args.dir });
  const version = (await db.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version;
  // maxConnections 1: pglite-socket can queue several connections onto the one backend, but their
  // statements would interleave inside each other's transactions.
  server = new PGLiteSocketServer({ db, host: HOST, port: args.port, maxConnections: 1 });
  const backend = db;
  server.addEventListener('connection', () => {
    resetSession(backend).catch((err: unknown) => process.stderr.write(`session reset failed: ${String(err)}\n`));
  });
  try {
    await server.start();
  } catch (err) {
    send({ type: 'error', message: `cannot listen on ${HOST}:${args.port}: ${String(err)}`, code: (err as NodeJS.ErrnoException).code });
    server = undefined;
    return shutdown(1);
  }
  const port = Number(server.getServerConn().split(':').pop());
  send({ type: 'ready', port, version });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  void shutdown(1);
});
