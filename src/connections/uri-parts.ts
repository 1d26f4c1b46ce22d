// Splits a connection URI's user info (user and password) from the rest, the way libpq finds it, so no password leaks into a name or a message.

/** A URI cut at its user info. Every field is the text as written (percent-encoding not decoded). */
export interface UriParts {
  /** `postgresql://` or `postgres://`, as written. */
  scheme: string;
  /** Text before the `@` that ends the user info; undefined when the URI has none. */
  userinfo?: string;
  /** The user name: user info up to its first `:`. */
  user?: string;
  /** The password: user info after its first `:`; undefined when there is no `:`. */
  password?: string;
  /** Everything after the user info's `@` (host, port, path, query, fragment), or after the scheme when there is none. */
  rest: string;
  /**
   * True when no user info was found but the text looks like a password holding a raw `/` (which ends
   * the host part for libpq): `postgresql://app:pa/ss@db/x`. Such a URI must not be shown or parsed.
   */
  suspect: boolean;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)/;

/**
 * Cuts `uri` at its user info. libpq looks for the `@` before the first `/` after the scheme
 * (PostgreSQL docs, 32.1.1.2 "Connection URIs"; fe-connect.c conninfo_uri_parse_options): so a
 * password may hold `?`, `#`, `:` and spaces as written; the last such `@` is taken, so an unencoded
 * `@` inside the password stays in the password instead of becoming part of the host.
 *
 * @returns undefined when `uri` does not start with `scheme://`
 */
export function splitUri(uri: string): UriParts | undefined {
  const m = SCHEME.exec(uri);
  if (!m) return undefined;
  const scheme = m[1];
  const body = uri.slice(scheme.length);
  const slash = body.indexOf('/');
  const end = slash < 0 ? body.length : slash;
  const at = body.lastIndexOf('@', end - 1);
  if (at >= 0 && at < end) {
    const userinfo = body.slice(0, at);
    const colon = userinfo.indexOf(':');
    const parts: UriParts = { scheme, userinfo, user: colon < 0 ? userinfo : userinfo.slice(0, colon), rest: body.slice(at + 1), suspect: false };
    if (colon >= 0) parts.password = userinfo.slice(colon + 1);
    return parts;
  }
  // No user info by libpq's rule. `app:pa/ss@db`: the text before the first `/` has a `:` that is not a
  // port (`host:5432`), and an `@` follows: a password with a raw `/`, most likely.
  const head = body.slice(0, end);
  const colon = head.indexOf(':');
  const suspect = slash >= 0 && colon >= 0 && !/^\d*$/.test(head.slice(colon + 1)) && !head.startsWith('[') && body.indexOf('@', end) >= 0;
  return { scheme, rest: body, suspect };
}
