// Types for the parts of the `pgpass` package (a dependency of `pg`) that the connections module uses.

declare module 'pgpass/lib/helper' {
  import type { Readable } from 'node:stream';

  /** The fields a ~/.pgpass line is matched on; `port` compared as a number, `*` matches anything. */
  export interface PgpassConnInfo {
    host?: string;
    port?: number | string;
    database?: string;
    user?: string;
  }
  /** The password file libpq would read: `$PGPASSFILE`, else `~/.pgpass` (`%APPDATA%\postgresql\pgpass.conf` on Windows). */
  export function getFileName(env?: NodeJS.ProcessEnv): string;
  /** Reads `stream` line by line and calls `cb` with the password of the first matching line, or undefined. */
  export function getPassword(connInfo: PgpassConnInfo, stream: Readable, cb: (password: string | undefined) => void): void;
}
