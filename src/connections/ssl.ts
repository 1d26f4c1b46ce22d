// Turns libpq SSL settings (sslmode, sslrootcert, sslcert, sslkey) into node-postgres' `ssl` option.

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { ConnectionConfigError, type SslMode } from './types';

/** libpq SSL settings after resolution; file paths absolute. */
export interface SslSettings {
  mode?: SslMode;
  rootcert?: string;
  cert?: string;
  key?: string;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readRequired(file: string, what: string, connection: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new ConnectionConfigError(`Cannot read the ${what} ${file} for connection ${connection}: ${(err as Error).message}.`, { file });
  }
}

/**
 * The `ssl` option for `new pg.Client()` that gives libpq's meaning to `sslmode`
 * (PostgreSQL docs, 32.19.1 "Client Verification of Server Certificates", table "SSL Mode Descriptions"):
 *
 * | sslmode | here |
 * |---|---|
 * | unset, `disable`, `allow` | no SSL. libpq's default `prefer` falls back to plain text when SSL fails; node-postgres cannot, so an unset mode means plain text, as in node-postgres |
 * | `prefer`, `require` | SSL, server certificate not checked (with `sslrootcert` set, `require` checks it as `verify-ca` does, like libpq) |
 * | `verify-ca` | SSL, certificate chain checked against `sslrootcert`, host name not checked |
 * | `verify-full` | SSL, chain and host name checked |
 *
 * `sslrootcert` defaults to `~/.postgresql/root.crt` as in libpq; `system` uses Node's trusted CAs.
 * `sslcert`/`sslkey` default to `~/.postgresql/postgresql.crt`/`.key` when those exist. Unix-socket
 * hosts never use SSL.
 *
 * @param connection display name for error messages
 * @throws ConnectionConfigError when a named certificate file cannot be read, or verify-ca/verify-full
 *   has no root certificate to check against
 */
export async function sslOption(
  s: SslSettings,
  host: string | undefined,
  connection: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<false | ConnectionOptions> {
  const mode = s.mode;
  if (!mode || mode === 'disable' || mode === 'allow' || (host && host.startsWith('/'))) return false;
  const home = env.HOME || os.homedir();
  const pgDir = path.join(home, '.postgresql');
  const opts: ConnectionOptions = {};
  const cert = s.cert ? await readRequired(s.cert, 'client certificate (sslcert)', connection) : await readIfExists(path.join(pgDir, 'postgresql.crt'));
  if (cert !== undefined) {
    opts.cert = cert;
    opts.key = s.key
      ? await readRequired(s.key, 'client key (sslkey)', connection)
      : await readRequired(path.join(pgDir, 'postgresql.key'), 'client key (sslkey, default ~/.postgresql/postgresql.key)', connection);
  }
  let ca: string | undefined;
  let caIsSystem = false;
  if (s.rootcert === 'system') caIsSystem = true;
  else if (s.rootcert) ca = await readRequired(s.rootcert, 'root certificate (sslrootcert)', connection);
  else if (mode === 'verify-ca' || mode === 'verify-full') ca = await readIfExists(path.join(pgDir, 'root.crt'));

  const verifyCa = mode === 'verify-ca' || mode === 'verify-full' || (mode === 'require' && s.rootcert !== undefined);
  if (!verifyCa) return { ...opts, rejectUnauthorized: false };
  if (ca === undefined && !caIsSystem) {
    throw new ConnectionConfigError(
      `Connection ${connection} uses sslmode=${mode}, which checks the server's certificate, but there is no root certificate: ` +
        `~/.postgresql/root.crt does not exist. Set sslrootcert to the CA file, or "sslrootcert: system" to trust the usual public CAs.`,
    );
  }
  if (ca !== undefined) opts.ca = ca;
  opts.rejectUnauthorized = true;
  // verify-ca checks the chain only: skip Node's host-name check, which it does by default.
  if (mode !== 'verify-full') opts.checkServerIdentity = () => undefined;
  return opts;
}
