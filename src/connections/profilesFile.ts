// Finds and loads runbook.connections.yaml: validated connection profiles with file:line errors.

import { existsSync, promises as fs, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Node, type Pair } from 'yaml';
import { ConnectionConfigError, ENVIRONMENTS, SSL_MODES, type ConnectionProfile, type Environment, type SslMode } from './types';
import { isConnectionUri, parseConnectionUri } from './uri';
import { redact, stripUriPassword } from './redact';
// The shape check of `notify` is shared with the front matter (pure, no I/O: the format module's only export used here).
import { parseNotifyTargets } from '../format/notify-targets';
import { retryOptionProblems, type RetryOptionValue } from '../format/options';

/** The file name looked for in the runbook's folder and each folder above it. */
export const PROFILES_FILE_NAME = 'runbook.connections.yaml';

/** Every key a profile may have, in the order docs/connections.md lists them. */
export const PROFILE_KEYS = [
  'environment', 'url', 'host', 'port', 'database', 'user', 'service', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey',
  'lock_timeout', 'statement_timeout', 'connect_timeout', 'application_name', 'notify', 'retry', 'require_rehearsal',
  'client_connection_check_interval',
] as const;

/** Keys that would hold a secret: refused with directions to where secrets belong. */
const SECRET_KEYS = new Set(['password', 'sslpassword', 'pass', 'passwd', 'pgpassword']);

/** Where to put a password instead of the profiles file; shared by every error that mentions one. */
export const PASSWORD_HELP =
  'Passwords never go in the connections file (it sits next to runbooks and ends up in git). Supply it one of these ways: ' +
  '~/.pgpass (a line host:port:database:user:password, chmod 0600; PGPASSFILE points elsewhere), ' +
  'the PGPASSWORD environment variable, a line setting password in the pg_service.conf section the profile names with "service", ' +
  'or in VS Code the "Runbook: Add connection" command, which keeps it in VS Code\'s SecretStorage.';

function homeDir(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir();
}

/** Expands a leading `~` to the home directory and makes a relative path absolute against `baseDir`. */
export function expandPath(p: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const expanded = p === '~' ? homeDir(env) : p.startsWith('~/') ? path.join(homeDir(env), p.slice(2)) : p;
  return path.resolve(baseDir, expanded);
}

/**
 * The places a profiles file is looked for, in order; the first that exists wins:
 * `$RUNBOOK_CONNECTIONS` when set (only it, even if missing), else `runbook.connections.yaml` in
 * `startDir` and each folder above it up to the filesystem root, else
 * `$XDG_CONFIG_HOME/runbook/connections.yaml` (default `~/.config/runbook/connections.yaml`).
 */
export function profilesSearchPath(startDir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.RUNBOOK_CONNECTIONS) return [expandPath(env.RUNBOOK_CONNECTIONS, process.cwd(), env)];
  const found: string[] = [];
  let dir = path.resolve(startDir);
  for (;;) {
    found.push(path.join(dir, PROFILES_FILE_NAME));
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const xdg = env.XDG_CONFIG_HOME || path.join(homeDir(env), '.config');
  found.push(path.join(xdg, 'runbook', 'connections.yaml'));
  return found;
}

/**
 * Finds the connection profiles file for a runbook in `startDir` (see {@link profilesSearchPath}).
 * Returns `$RUNBOOK_CONNECTIONS` whenever it is set, existing or not, so that loading it can say it
 * is missing; otherwise the first existing file, or undefined when there is none.
 */
export function findProfilesFile(startDir: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = profilesSearchPath(startDir, env);
  if (env.RUNBOOK_CONNECTIONS) return candidates[0];
  return candidates.find((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  });
}

/** Levenshtein distance, for "did you mean" on a misspelt key or profile name. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** ` Did you mean "x"?` when one of `options` is close to `word`, else the empty string. */
export function didYouMean(word: string, options: readonly string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const d = distance(word.toLowerCase(), o.toLowerCase());
    if (d < bestD) {
      best = o;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(word.length / 3)) ? ` Did you mean "${best}"?` : '';
}

/** PostgreSQL time units for lock_timeout/statement_timeout (PostgreSQL docs, 19.1.1 "Parameter Names and Values"). */
const INTERVAL = /^\d+(?:\.\d+)?\s*(?:us|ms|s|min|h|d)?$/;

class Loader {
  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  fail(node: Node | null | undefined, message: string): never {
    const offset = node?.range?.[0];
    if (offset === undefined) throw new ConnectionConfigError(`${this.file}: ${message}`, { file: this.file });
    const { line, col } = this.lines.linePos(offset);
    throw new ConnectionConfigError(`${this.file}:${line}:${col}: ${message}`, { file: this.file, line, column: col });
  }

  where(node: Node | null | undefined): string {
    const offset = node?.range?.[0];
    return offset === undefined ? this.file : `${this.file}:${this.lines.linePos(offset).line}`;
  }

  scalarText(pair: Pair<unknown, unknown>, key: string, profile: string): string {
    const v = pair.value as Node | null;
    if (!isScalar(v) || v.value === null || typeof v.value === 'object') {
      this.fail(v ?? (pair.key as Node), `"${key}" of connection "${profile}" must be a single value.`);
    }
    const text = String(v.value).trim();
    if (text === '') this.fail(v, `"${key}" of connection "${profile}" is empty.`);
    return text;
  }

  /** The `retry:` mapping of a profile (the default of the `retry` cell option), checked as the cell option is. */
  retry(node: Node | null, profile: string): RetryOptionValue {
    if (!isMap(node)) this.fail(node, `"retry" of connection "${profile}" must be a mapping such as {attempts: 3} (optionally backoff: 500ms, max_delay: 10s).`);
    const value: unknown = node.toJSON();
    const problems = retryOptionProblems(value);
    if (problems.length) this.fail(node, `"retry" of connection "${profile}": ${problems.join('; ')}.`);
    return value as RetryOptionValue;
  }

  profile(name: string, nameNode: Node, body: Node | null): ConnectionProfile {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      this.fail(nameNode, `The connection name "${name}" may only hold letters, digits, ".", "_" and "-", and must start with a letter or digit.`);
    }
    if (!isMap(body)) {
      this.fail(body ?? nameNode, `Connection "${name}" must be a mapping of keys (environment, host, port, …).`);
    }
    const p: Partial<ConnectionProfile> = { name, source: this.where(nameNode) };
    for (const pair of body.items) {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      if (SECRET_KEYS.has(key.toLowerCase())) {
        this.fail(keyNode, `Connection "${name}" has a "${key}" key. ${PASSWORD_HELP}`);
      }
      if (!(PROFILE_KEYS as readonly string[]).includes(key)) {
        this.fail(
          keyNode,
          `Connection "${name}" has an unknown key "${key}".${didYouMean(key, PROFILE_KEYS)} Known keys: ${PROFILE_KEYS.join(', ')}.`,
        );
      }
      const valueNode = pair.value as Node;
      if (key === 'notify') {
        const n = parseNotifyTargets(isNode(valueNode) ? valueNode.toJSON() : valueNode);
        if (!n.ok) this.fail(valueNode ?? keyNode, `"notify" of connection "${name}": ${n.error}.`);
        p.notify = n.targets;
        continue;
      }
      if (key === 'retry') {
        p.retry = this.retry(valueNode, name);
        continue;
      }
      const text = this.scalarText(pair, key, name);
      switch (key) {
        case 'environment':
          if (!(ENVIRONMENTS as readonly string[]).includes(text)) {
            this.fail(valueNode, `Connection "${name}" has environment "${text}"; use one of ${ENVIRONMENTS.join(', ')}.`);
          }
          p.environment = text as Environment;
          break;
        case 'url': {
          if (!isConnectionUri(text)) {
            this.fail(valueNode, `"url" of connection "${name}" must start with postgres:// or postgresql:// (got "${stripUriPassword(redact(text))}").`);
          }
          let parts;
          try {
            parts = parseConnectionUri(text);
          } catch (err) {
            this.fail(valueNode, (err as Error).message);
          }
          if (parts.password !== undefined) {
            this.fail(valueNode, `"url" of connection "${name}" holds a password (${stripUriPassword(text)} is the URL without it). ${PASSWORD_HELP}`);
          }
          p.url = text;
          break;
        }
        case 'host':
          p.host = text;
          break;
        case 'port': {
          const port = Number(text);
          if (!/^\d+$/.test(text) || port < 1 || port > 65535) {
            this.fail(valueNode, `"port" of connection "${name}" must be a whole number from 1 to 65535 (got "${text}").`);
          }
          p.port = port;
          break;
        }
        case 'database':
          p.database = text;
          break;
        case 'user':
          p.user = text;
          break;
        case 'service':
          p.service = text;
          break;
        case 'sslmode':
          if (!(SSL_MODES as readonly string[]).includes(text)) {
            this.fail(valueNode, `"sslmode" of connection "${name}" is "${text}"; use one of ${SSL_MODES.join(', ')}.`);
          }
          p.sslmode = text as SslMode;
          break;
        case 'sslrootcert':
          p.sslrootcert = text === 'system' ? text : expandPath(text, path.dirname(this.file), this.env);
          break;
        case 'sslcert':
          p.sslcert = expandPath(text, path.dirname(this.file), this.env);
          break;
        case 'sslkey':
          p.sslkey = expandPath(text, path.dirname(this.file), this.env);
          break;
        case 'lock_timeout':
        case 'statement_timeout': {
          // A bare number is milliseconds, as PostgreSQL reads it for these two settings.
          if (!INTERVAL.test(text)) {
            this.fail(valueNode, `"${key}" of connection "${name}" is "${text}"; write a number with a unit (us, ms, s, min, h, d) such as 5s or 15min, or 0 for no limit.`);
          }
          if (key === 'lock_timeout') p.lockTimeout = text.replace(/\s+/g, '');
          else p.statementTimeout = text.replace(/\s+/g, '');
          break;
        }
        case 'connect_timeout': {
          if (!/^\d+$/.test(text)) {
            this.fail(valueNode, `"connect_timeout" of connection "${name}" is "${text}"; write whole seconds, e.g. 10 (0 waits forever).`);
          }
          p.connectTimeout = Number(text);
          break;
        }
        case 'application_name':
          p.applicationName = text;
          break;
        case 'client_connection_check_interval':
          if (!INTERVAL.test(text)) this.fail(valueNode, `"client_connection_check_interval" of connection "${name}" is "${text}"; write a number with a unit (ms, s, min) such as 10s, or 0 not to set it.`);
          p.connectionCheckInterval = text.replace(/\s+/g, '');
          break;
        case 'require_rehearsal':
          if (text !== 'true' && text !== 'false') this.fail(valueNode, `"require_rehearsal" of connection "${name}" is "${text}"; write true or false.`);
          p.requireRehearsal = text === 'true';
          break;
      }
    }
    if (!p.environment) {
      this.fail(nameNode, `Connection "${name}" has no "environment"; add one of ${ENVIRONMENTS.join(', ')} (production turns on the confirmations).`);
    }
    return p as ConnectionProfile;
  }
}

/**
 * Parses the text of a profiles file. Shape: a top-level `connections:` mapping of profile name to
 * profile (keys in {@link PROFILE_KEYS}; see docs/connections.md).
 *
 * @param file the file's path, for messages and for resolving relative certificate paths
 * @throws ConnectionConfigError naming `file:line:column` for YAML syntax errors, unknown keys, bad
 *   values, a missing `environment`, and any password (a `password` key or a URL holding one)
 */
export function parseProfiles(text: string, file: string, env: NodeJS.ProcessEnv = process.env): ConnectionProfile[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    // yaml's message may quote the offending line, which could hold a password: keep only its first line.
    const message = redact(e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''));
    const offset = e.pos[0];
    const { line, col } = lines.linePos(offset);
    throw new ConnectionConfigError(`${file}:${line}:${col}: not valid YAML: ${message}.`, { file, line, column: col });
  }
  // Annotated so TypeScript narrows after `loader.fail()` (a `never` call narrows only through an explicit type).
  const loader: Loader = new Loader(file, lines, env);
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) return [];
  if (!isMap(root)) loader.fail(root, 'The file must be a mapping with a "connections:" key.');
  const profiles: ConnectionProfile[] = [];
  for (const pair of root.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    if (key !== 'connections') {
      loader.fail(keyNode, `Unknown top-level key "${key}"; the file holds one key, "connections:", mapping names to profiles.`);
    }
    const conns = pair.value as Node | null;
    if (conns === null || (isScalar(conns) && conns.value === null)) continue;
    if (!isMap(conns)) loader.fail(conns, '"connections" must map connection names to profiles.');
    for (const item of conns.items) {
      const nameNode = item.key as Node;
      const name = isScalar(nameNode) ? String(nameNode.value) : '';
      profiles.push(loader.profile(name, nameNode, item.value as Node | null));
    }
  }
  return profiles;
}

/**
 * Finds and loads the connection profiles for a runbook in `startDir`.
 *
 * @returns `file` undefined and no profiles when no profiles file exists anywhere it is looked for
 * @throws ConnectionConfigError when `$RUNBOOK_CONNECTIONS` names a missing file, the file cannot be
 *   read, or its content is invalid (see {@link parseProfiles})
 */
export async function loadProfiles(
  startDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ file?: string; profiles: ConnectionProfile[] }> {
  const file = findProfilesFile(startDir, env);
  if (!file) return { profiles: [] };
  if (!existsSync(file)) {
    throw new ConnectionConfigError(
      `RUNBOOK_CONNECTIONS is set to ${env.RUNBOOK_CONNECTIONS}, but ${file} does not exist. ` +
        `Create it (see docs/connections.md) or unset RUNBOOK_CONNECTIONS to use ${PROFILES_FILE_NAME} next to the runbook.`,
      { file },
    );
  }
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new ConnectionConfigError(`Cannot read the connections file ${file}: ${(err as Error).message}`, { file });
  }
  return { file, profiles: parseProfiles(text, file, env) };
}
