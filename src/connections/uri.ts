// Parses `postgres://` / `postgresql://` connection URIs into libpq keywords, with pg-connection-string.

import { parse } from 'pg-connection-string';
import { ConnectionConfigError } from './types';
import { stripUriPassword } from './redact';
import { splitUri } from './uri-parts';

/** libpq keywords a URI may carry (PostgreSQL docs, 32.1.2 "Parameter Key Words"), the ones this tool honours. */
export const URI_KEYWORDS = [
  'host', 'port', 'dbname', 'user', 'password', 'service', 'application_name', 'connect_timeout',
  'sslmode', 'sslrootcert', 'sslcert', 'sslkey',
] as const;

/** A URI's settings as libpq keywords; absent when the URI does not say. */
export type UriKeywords = Partial<Record<(typeof URI_KEYWORDS)[number], string>>;

/** True when `text` is a PostgreSQL connection URI (the two schemes libpq accepts). */
export function isConnectionUri(text: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(text.trim());
}

/** Query parameters naming files: split off before pg-connection-string sees them, because it reads
 *  those files itself, synchronously, without `~` expansion; resolution reads them instead. */
const FILE_PARAMS = new Set(['sslrootcert', 'sslcert', 'sslkey', 'sslmode']);

/**
 * Parses a connection URI (PostgreSQL docs, 32.1.1.2 "Connection URIs") into libpq keywords.
 * Percent-encoding is decoded (`p%40ss` → `p@ss`); empty parts are left out. The user info is found
 * as libpq finds it (the last `@` before the first `/`, see uri-parts.ts) and decoded here, so a
 * password may hold `?`, `#`, `:`, spaces or an unencoded `@` as written.
 *
 * @throws ConnectionConfigError when the text is not a URI, cannot be parsed, or carries a query
 *   parameter this tool does not support; the message shows the URI without its password, and no
 *   part of a URI whose user info cannot be told apart from its host.
 */
export function parseConnectionUri(uri: string): UriKeywords {
  const shown = stripUriPassword(uri.trim());
  if (!isConnectionUri(uri)) {
    throw new ConnectionConfigError(`"${shown}" is not a connection URI: it must start with postgres:// or postgresql://.`);
  }
  const parts = splitUri(uri.trim());
  if (!parts || parts.suspect) {
    throw new ConnectionConfigError(
      `Cannot read the connection URI "${shown}": its user name or password seems to hold a "/", which ends the host part of a URI. ` +
        'Encode / as %2F (and @ as %40) in user names and passwords.',
    );
  }
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw new ConnectionConfigError(`Connection URI "${shown}" has a badly percent-encoded user name or password; write % as %25.`);
    }
  };
  // The user info is taken off before pg-connection-string (a WHATWG URL parser) sees the URI: there a
  // `?`, `#` or `/` in a password would end it, and the rest of the password would become host or query.
  const user = parts.user !== undefined ? decode(parts.user) : undefined;
  const password = parts.password !== undefined ? decode(parts.password) : undefined;
  const rest = parts.rest;
  const hashAt = rest.indexOf('#');
  const noFragment = hashAt >= 0 ? rest.slice(0, hashAt) : rest;
  const queryAt = noFragment.indexOf('?');
  const base = parts.scheme + (queryAt >= 0 ? noFragment.slice(0, queryAt) : noFragment);
  const kept: string[] = [];
  const out: UriKeywords = {};
  const allowed = new Set<string>(URI_KEYWORDS);
  if (queryAt >= 0) {
    for (const pair of noFragment.slice(queryAt + 1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      let key: string;
      let value: string;
      try {
        key = decodeURIComponent(eq >= 0 ? pair.slice(0, eq) : pair);
        value = eq >= 0 ? decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' ')) : '';
      } catch {
        throw new ConnectionConfigError(`Connection URI "${shown}" has a badly percent-encoded parameter; write % as %25.`);
      }
      if (!allowed.has(key)) {
        throw new ConnectionConfigError(
          `Connection URI "${shown}" has the parameter ${JSON.stringify(key)}, which runbook does not support. ` +
            `Supported: ${URI_KEYWORDS.join(', ')}.`,
        );
      }
      if (FILE_PARAMS.has(key)) out[key as keyof UriKeywords] = value;
      else kept.push(pair);
    }
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(kept.length ? `${base}?${kept.join('&')}` : base);
  } catch (err) {
    // pg-connection-string already hides the input in its error; say what to check instead.
    throw new ConnectionConfigError(
      `Cannot parse the connection URI "${shown}" (${(err as Error).message}). ` +
        `Expected postgresql://[user[:password]@][host][:port][/dbname][?param=value&...]; ` +
        `encode @ : / in user names and passwords as %40 %3A %2F.`,
    );
  }
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const set = (key: keyof UriKeywords, v: unknown) => {
    const s = str(v);
    if (s !== undefined) out[key] = s;
  };
  set('host', parsed.host);
  set('port', parsed.port);
  set('dbname', parsed.database ?? parsed.dbname);
  // A `user=` or `password=` query parameter overrides the user info, as in libpq.
  set('user', str(parsed.user) ?? user);
  set('password', str(parsed.password) ?? password);
  set('service', parsed.service);
  set('application_name', parsed.application_name);
  set('connect_timeout', parsed.connect_timeout);
  if (out.port !== undefined && !/^\d+$/.test(out.port)) {
    throw new ConnectionConfigError(`Connection URI "${shown}" has the port ${JSON.stringify(out.port)}, which is not a number.`);
  }
  return out;
}
