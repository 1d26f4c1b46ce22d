// Reads passwords from the libpq password file (~/.pgpass) and gives shell cells a temporary one that no crash leaves on disk.

import { createReadStream, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getFileName, getPassword } from 'pgpass/lib/helper';
import { ConnectionConfigError } from './types';

/** The connection fields a password file line is matched on (PostgreSQL docs, 32.16 "The Password File"). */
export interface PgpassKey {
  host?: string;
  port: number;
  database: string;
  user: string;
}

/** What a password file lookup found: the password if a line matched, the file read, and why it was skipped. */
export interface PgpassResult {
  file: string;
  password?: string;
  /** Set when the file exists but libpq would ignore it (not a plain file, or readable by group/others). */
  warning?: string;
}

/**
 * libpq matches Unix-socket connections (host empty or an absolute path) against `localhost` lines.
 * Source: PostgreSQL docs, 32.16 "The Password File".
 */
export function pgpassHost(host: string | undefined): string {
  return !host || host.startsWith('/') ? 'localhost' : host;
}

/**
 * Looks the connection up in the password file libpq would read: `$PGPASSFILE`, else `~/.pgpass`.
 * Matching and line parsing are the `pgpass` package's (the one `pg` itself uses); the file checks are
 * done here so they honour `env` rather than `process.env`. Like libpq, a file readable by group or
 * others is ignored (mode must be 0600 or less), and a file that does not exist is not an error.
 *
 * @param env environment to read PGPASSFILE and HOME from
 * @returns the file consulted, and the password of the first matching line if any
 */
export async function lookupPgpass(key: PgpassKey, env: NodeJS.ProcessEnv = process.env): Promise<PgpassResult> {
  const file = getFileName({ ...env, HOME: env.HOME || os.homedir() });
  let stat: import('node:fs').Stats;
  try {
    stat = await fs.stat(file);
  } catch {
    return { file };
  }
  if (!stat.isFile()) return { file, warning: `password file "${file}" is not a plain file; it was ignored` };
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    return {
      file,
      warning: `password file "${file}" has group or world access, so it was ignored as libpq does; run: chmod 0600 ${file}`,
    };
  }
  const password = await new Promise<string | undefined>((resolve) => {
    const stream = createReadStream(file);
    getPassword({ host: pgpassHost(key.host), port: key.port, database: key.database, user: key.user }, stream, resolve);
  });
  return { file, password };
}

/** Escapes `:` and `\` inside a password file field. Source: PostgreSQL docs, 32.16 "The Password File". */
function pgpassField(value: string): string {
  return value.replace(/[\\:]/g, '\\$&');
}

/** A temporary password file: point PGPASSFILE at `path`; `dispose()` removes it (safe to call twice). */
export interface TempPgpass {
  path: string;
  /**
   * False (Linux) when no name of the file exists on disk: `path` is `/proc/<pid>/fd/<n>`, an open
   * descriptor of this process for a file already unlinked, which the kernel frees when the process
   * ends, `kill -9` included. True where that is not available: a file in a 0700 folder, removed by
   * `dispose()` or, after a crash, by {@link removeStalePgpassFiles} at the next start.
   */
  onDisk: boolean;
  dispose(): Promise<void>;
}

/** Prefix of the folders holding temporary password files: `runbook-pgpass-<pid>-<random>` in the OS temp folder. */
export const PGPASS_DIR_PREFIX = 'runbook-pgpass-';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, as another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temporary password folders that a killed run left: named `runbook-pgpass-<pid>-…` in the
 * OS temp folder, owned by us, whose process is gone. Runs at the start of each
 * {@link writePgpassFile}; the run loop may call it at start too. Never throws.
 *
 * @returns the folders removed
 */
export async function removeStalePgpassFiles(tmpdir: string = os.tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fs.readdir(tmpdir);
  } catch {
    return removed;
  }
  const me = process.geteuid?.();
  for (const name of names) {
    const m = /^runbook-pgpass-(\d+)-[A-Za-z0-9]+$/.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    const dir = path.join(tmpdir, name);
    try {
      const st = await fs.lstat(dir);
      if (!st.isDirectory() || (me !== undefined && st.uid !== me)) continue;
      await fs.rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // Gone meanwhile, or not ours to remove.
    }
  }
  return removed;
}

/**
 * The password file of this process as `/proc/<pid>/fd/<n>` after its name is removed, if libpq will
 * take it: a plain file of mode 0600 (libpq stat()s the path and ignores anything else: PostgreSQL
 * docs 32.16; fe-connect.c passwordFromFile), which Linux's /proc reopens with the content intact.
 * A pipe (`PGPASSFILE=/dev/fd/3` fed by the parent) is refused by libpq: "is not a plain file".
 */
async function unlinkedView(fd: number, file: string, content: string): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  const view = `/proc/${process.pid}/fd/${fd}`;
  try {
    await fs.unlink(file);
    await fs.rmdir(path.dirname(file));
    const st = await fs.stat(view);
    if (!st.isFile() || (st.mode & 0o077) !== 0 || (await fs.readFile(view, 'utf8')) !== content) return undefined;
    return view;
  } catch {
    return undefined;
  }
}

/**
 * Gives `password` to `psql` and `pg_dump` in shell cells through `PGPASSFILE`, never through the
 * cell's environment, its command line or the runbook: one line `host:port:*:user:password` (any
 * database on that server and user matches, so `psql -d postgres` works too).
 *
 * No copy of the password outlives the process: on Linux the file is unlinked at once and reached as
 * `/proc/<pid>/fd/<n>` while this process keeps it open (see {@link TempPgpass.onDisk}); elsewhere it
 * is a 0600 file in a 0700 folder named after our pid, removed by `dispose()` or at the next start.
 *
 * @returns undefined when there is no password to pass on
 * @throws ConnectionConfigError when the password contains a line break (a password file cannot hold one)
 */
export async function writePgpassFile(
  key: { host?: string; port: number; user: string },
  password: string | undefined,
): Promise<TempPgpass | undefined> {
  if (password === undefined || password === '') return undefined;
  if (/[\r\n]/.test(password)) {
    throw new ConnectionConfigError(
      'The password contains a line break, which a password file cannot hold, so shell cells cannot be given it. ' +
        'Change the password or connect from shell cells with your own PGPASSFILE.',
    );
  }
  await removeStalePgpassFiles();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `${PGPASS_DIR_PREFIX}${process.pid}-`));
  await fs.chmod(dir, 0o700);
  const file = path.join(dir, 'pgpass');
  const content = `${[pgpassHost(key.host), String(key.port), '*', key.user, password].map(pgpassField).join(':')}\n`;
  const handle = await fs.open(file, 'wx', 0o600);
  let view: string | undefined;
  try {
    await handle.writeFile(content);
    view = await unlinkedView(handle.fd, file, content);
  } catch (e) {
    await handle.close().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
  if (!view) await handle.close();
  let disposed = false;
  return {
    path: view ?? file,
    onDisk: view === undefined,
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (view) await handle.close().catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
