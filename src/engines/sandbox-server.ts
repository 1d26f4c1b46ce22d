// Child-process entry of the PGlite sandbox: serves one PGlite database on a loopback port and reports it to the parent over IPC.
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

let db: PGlite | undefined;
let server: PGLiteSocketServer | undefined;
let stopping = false;

/** Closes the server and the database, then exits; at most SHUTDOWN_GRACE_MS. */
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(code), SHUTDOWN_GRACE_MS).unref();
  try {
    await server?.stop();
    // Closing flushes a data directory so the next start needs no recovery.
    await db?.close();
  } finally {
    process.exit(code);
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as SandboxServerArgs;
  // Ctrl-C in a terminal reaches the whole process group; the parent decides what a cancel means
  // (it restarts this process), so the child must not die on its own first.
  process.on('SIGINT', () => undefined);
  // The IPC channel closes when the parent exits or is killed: never outlive it.
  process.on('disconnect', () => void shutdown(0));
  process.on('message', (message: SandboxParentMessage) => {
    if (message.type === 'stop') void shutdown(0);
  });
  if (!process.connected) return void shutdown(0);

  db = await PGlite.create(args.dir !== undefined ? { dataDir: args.dir } : {});
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
