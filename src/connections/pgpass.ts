// Reads passwords from the libpq password file (~/.pgpass) and writes temporary ones for shell cells.

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

/** A temporary password file: point PGPASSFILE at `path`; `dispose()` deletes it (safe to call twice). */
export interface TempPgpass {
  path: string;
  dispose(): Promise<void>;
}

/**
 * Writes `password` into a new password file (mode 0600, in a fresh 0700 directory under the OS temp
 * directory) with one line `host:port:*:user:password`, so `psql` and `pg_dump` in a shell cell
 * authenticate through `PGPASSFILE` and the password is never in the cell's environment, its command
 * line or the runbook. Any database on that server and user matches, so `psql -d postgres` works too.
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
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'runbook-pgpass-'));
  await fs.chmod(dir, 0o700);
  const file = path.join(dir, 'pgpass');
  const line = [pgpassHost(key.host), String(key.port), '*', key.user, password].map(pgpassField).join(':');
  await fs.writeFile(file, `${line}\n`, { mode: 0o600, flag: 'wx' });
  let disposed = false;
  return {
    path: file,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
