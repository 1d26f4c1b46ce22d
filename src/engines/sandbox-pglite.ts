// Parent side of the PGlite sandbox: forks sandbox-server.js, waits for its port, restarts and stops it.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { ClientConfig } from 'pg';
import type { Sandbox, SandboxOptions } from './sandbox';
import { PORT_IN_USE, type SandboxChildMessage, type SandboxParentMessage, type SandboxServerArgs } from './sandbox-protocol';

const HOST = '127.0.0.1';
/** PGlite accepts any user and database name in the startup message and uses these two. */
const USER = 'postgres';
const DATABASE = 'postgres';
/** Longest wait for the child to listen (ms): the first start on a machine builds the template, 3–5 s on a busy 2-core machine. */
const START_TIMEOUT_MS = 60_000;
/** Longest wait for a clean stop before SIGKILL (ms). */
const STOP_TIMEOUT_MS = 10_000;
/** Kept stderr lines, quoted when the child fails to start. */
const STDERR_LINES_KEPT = 20;

/**
 * The child entry sits next to this module both in the esbuild bundle (dist/sandbox-server.js next
 * to dist/extension.js and dist/cli.js) and in tsc output (out/src/engines/).
 */
const SERVER_SCRIPT = path.join(__dirname, 'sandbox-server.js');

/**
 * Where the freshly initialised data directory copied into every new sandbox is kept: the user's
 * cache folder, one per PGlite version (a data directory is tied to its PostgreSQL build).
 * Undefined when the version cannot be read; each new sandbox then runs initdb itself.
 */
function templateDir(): string | undefined {
  try {
    const pkg = path.join(path.dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json');
    const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
    const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
    return path.join(cache, 'runbook-notebooks', `pglite-${version}-datadir`);
  } catch {
    return undefined;
  }
}

/** Children still running, and ephemeral data folders: killed and deleted when this process exits. */
const liveChildren = new Set<ChildProcess>();
const ephemeralFolders = new Set<string>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers must be synchronous: a signal is all that can be sent here. A parent killed by
    // SIGKILL never runs this; the child then exits on its own when the IPC channel closes.
    process.on('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
      for (const folder of ephemeralFolders) rmSync(folder, { recursive: true, force: true });
    });
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

interface Started {
  child: ChildProcess;
  port: number;
  version: string;
}

/** Forks the child and resolves when it listens. Rejects with the child's own reason (and `code`). */
function spawnServer(args: SandboxServerArgs, onLog: (line: string) => void): Promise<Started> {
  const child = fork(SERVER_SCRIPT, [JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // Never inherit --inspect or loaders from the parent (mocha, VS Code's extension host).
    execArgv: [],
  });
  trackChild(child);
  const recentStderr: string[] = [];
  if (child.stdout) createInterface({ input: child.stdout }).on('line', onLog);
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      recentStderr.push(line);
      if (recentStderr.length > STDERR_LINES_KEPT) recentStderr.shift();
      onLog(line);
    });
  }
  return new Promise<Started>((resolve, reject) => {
    const fail = (err: Error & { code?: string }): void => {
      cleanup();
      child.kill('SIGKILL');
      reject(err);
    };
    const onMessage = (message: SandboxChildMessage): void => {
      if (message.type === 'ready') {
        cleanup();
        resolve({ child, port: message.port, version: message.version });
      } else {
        fail(Object.assign(new Error(`PGlite sandbox failed to start: ${message.message}`), { code: message.code }));
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      const why = signal ? `signal ${signal}` : `exit code ${code}`;
      const tail = recentStderr.length ? `\n${recentStderr.join('\n')}` : '';
      fail(new Error(`PGlite sandbox process ended (${why}) before it was ready.${tail}`));
    };
    const onError = (err: Error): void => fail(new Error(`Cannot start the PGlite sandbox process ${SERVER_SCRIPT}: ${err.message}`));
    const timer = setTimeout(
      () => fail(new Error(`PGlite sandbox did not start within ${START_TIMEOUT_MS / 1000} s.`)),
      START_TIMEOUT_MS,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.on('error', onError);
  });
}

class PgliteSandbox implements Sandbox {
  private readonly template = templateDir();
  readonly engine = 'pglite' as const;
  readonly host = HOST;
  readonly user = USER;
  readonly database = DATABASE;
  readonly supportsCancel = false;
  readonly supportsSecondConnection = false;
  readonly supportsTimeouts = false;
  /** Ephemeral data lives in a temporary folder, so a restart keeps it until stop(). */
  readonly losesDataOnRestart = false;
  private child: ChildProcess | undefined;
  private expectExit = false;
  private currentPort = 0;
  private version = '';
  private stopped = false;
  /** restart() and stop() run one after the other: a stop during a restart must not leave a child running. */
  private lifecycle: Promise<unknown> = Promise.resolve();

  constructor(
    /** The kept data directory asked for; undefined for an ephemeral sandbox. */
    readonly dir: string | undefined,
    /** Where the data is: `dir`, or a temporary folder deleted by stop(). */
    private readonly dataDir: string,
    /** The ephemeral sandbox's temporary folder (holds dataDir). */
    private readonly tempFolder: string | undefined,
    private readonly onLog: (line: string) => void,
  ) {
    if (tempFolder) ephemeralFolders.add(tempFolder);
  }

  get port(): number {
    return this.currentPort;
  }

  get serverVersion(): string {
    return this.version;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  clientConfig(): ClientConfig {
    return { host: this.host, port: this.currentPort, user: this.user, database: this.database };
  }

  /** Starts the child on `port`, falling back to any free port when that one is taken. */
  async launch(port: number): Promise<void> {
    let started: Started;
    try {
      started = await spawnServer(this.serverArgs(port), this.onLog);
    } catch (err) {
      if (port === 0 || (err as { code?: string }).code !== PORT_IN_USE) throw err;
      this.onLog(`port ${port} is taken; the sandbox moves to a free port`);
      started = await spawnServer(this.serverArgs(0), this.onLog);
    }
    this.child = started.child;
    this.currentPort = started.port;
    this.version = started.version;
    this.expectExit = false;
    const child = started.child;
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (!this.expectExit) this.onLog(`PGlite sandbox process ${child.pid} ended unexpectedly (${signal ?? `exit code ${code}`})`);
    });
  }

  private serverArgs(port: number): SandboxServerArgs {
    return { dir: this.dataDir, port, template: this.template, removeOnShutdown: this.tempFolder };
  }

  private serialized(step: () => Promise<void>): Promise<void> {
    const next = this.lifecycle.then(step, step);
    this.lifecycle = next.catch(() => undefined);
    return next;
  }

  restart(): Promise<void> {
    return this.serialized(async () => {
      if (this.stopped) throw new Error('The PGlite sandbox was stopped; start a new one.');
      const child = this.child;
      if (child) {
        this.expectExit = true;
        // SIGKILL, not a 'stop' message: a statement in progress keeps the child's only thread busy,
        // so nothing sent over IPC would be read before it finishes.
        child.kill('SIGKILL');
        await exited(child);
      }
      await this.launch(this.currentPort);
    });
  }

  stop(): Promise<void> {
    return this.serialized(async () => {
      this.stopped = true;
      const child = this.child;
      if (child) {
        this.expectExit = true;
        // Ephemeral data is deleted anyway, and a child busy with a statement would read a 'stop'
        // message only when the statement ends: kill it. A kept data directory is closed cleanly.
        const stopMessage: SandboxParentMessage = { type: 'stop' };
        if (!this.tempFolder && child.connected) child.send(stopMessage);
        else child.kill('SIGKILL');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited(child);
        clearTimeout(timer);
        this.child = undefined;
      }
      if (this.tempFolder) {
        rmSync(this.tempFolder, { recursive: true, force: true });
        ephemeralFolders.delete(this.tempFolder);
      }
    });
  }
}

/**
 * Starts PGlite in a child process and serves it on a free loopback port (see `startSandbox`).
 * An ephemeral sandbox keeps its data in a temporary folder rather than in PGlite's memory
 * filesystem: a new data directory is then a file copy of a cached template (about 0.3 s, where
 * PGlite's in-memory initdb takes about 2 s), statements run as fast, and a restart to cancel a
 * statement keeps what was committed.
 * @throws Error when the child does not report a listening port within 60 s or exits first.
 */
export async function startPgliteSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const dir = opts.dir === undefined ? undefined : path.resolve(opts.dir);
  const tempFolder = dir === undefined ? mkdtempSync(path.join(os.tmpdir(), 'runbook-pglite-')) : undefined;
  const dataDir = dir ?? path.join(tempFolder as string, 'data');
  mkdirSync(dataDir, { recursive: true });
  const sandbox = new PgliteSandbox(dir, dataDir, tempFolder, opts.onLog ?? (() => undefined));
  try {
    await sandbox.launch(0);
  } catch (err) {
    await sandbox.stop();
    throw err;
  }
  return sandbox;
}
