// Adds or replaces a connection profile in a profiles file, keeping its comments and layout (for "Add connection").

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isMap, parseDocument, Document } from 'yaml';
import { parseProfiles, PASSWORD_HELP } from './profilesFile';
import { ConnectionConfigError, type ConnectionProfile } from './types';
import { parseConnectionUri } from './uri';

/** A profile's keys as written in the file (snake_case), in the documented order; absent keys left out. */
function fileShape(p: ConnectionProfile): Record<string, string | number> {
  const out: Record<string, string | number> = { environment: p.environment };
  const put = (key: string, v: string | number | undefined) => {
    if (v !== undefined) out[key] = v;
  };
  put('url', p.url);
  put('host', p.host);
  put('port', p.port);
  put('database', p.database);
  put('user', p.user);
  put('service', p.service);
  put('sslmode', p.sslmode);
  put('sslrootcert', p.sslrootcert);
  put('sslcert', p.sslcert);
  put('sslkey', p.sslkey);
  put('lock_timeout', p.lockTimeout);
  put('statement_timeout', p.statementTimeout);
  put('connect_timeout', p.connectTimeout);
  put('application_name', p.applicationName);
  return out;
}

/**
 * Writes `profile` under `connections:` in `file` (created when missing), keeping the file's comments
 * and the other profiles as they are. The write is atomic (temporary file, then rename). The result
 * is read back with the same validation as loading, so a profile that could not be loaded is never
 * written. The password is not part of a profile: store it with SecretStorage, ~/.pgpass or the like.
 *
 * @param opts.replace overwrite an existing profile of that name (default: refuse)
 * @throws ConnectionConfigError when the profile exists and `replace` is not set, when its `url` holds
 *   a password, when the file is invalid, or when the result would not load
 */
export async function saveProfile(file: string, profile: ConnectionProfile, opts: { replace?: boolean } = {}): Promise<void> {
  if (profile.url !== undefined && parseConnectionUri(profile.url).password !== undefined) {
    throw new ConnectionConfigError(`The URL of connection "${profile.name}" holds a password. ${PASSWORD_HELP}`);
  }
  let text = '';
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // Validate what is there first: never rewrite a file we could not read correctly.
  const existing = parseProfiles(text, file);
  if (existing.some((p) => p.name === profile.name) && !opts.replace) {
    throw new ConnectionConfigError(`${file} already has a connection named "${profile.name}".`, { file });
  }
  const doc = text.trim() === '' ? new Document({ connections: {} }) : parseDocument(text);
  if (!isMap(doc.get('connections'))) doc.set('connections', doc.createNode({}));
  doc.setIn(['connections', profile.name], doc.createNode(fileShape(profile)));
  const out = doc.toString();
  parseProfiles(out, file);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, out, { mode: 0o644 });
  await fs.rename(tmp, file);
}
