// Runs squawk (the PostgreSQL migration linter) once over many files and maps its rules to our severities.

import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Severity } from './findings-types';

/**
 * One violation exactly as squawk's JSON reporter writes it (squawk 2.x `--reporter json`; kept as parsed, no copy:
 * a lint of thousands of files has tens of thousands of them). Lines and columns are 0-based.
 */
export interface SquawkViolation {
  file: string;
  line: number;
  column: number;
  line_end?: number;
  column_end?: number;
  /** squawk's level: `Warning` or `Error`. */
  level: string;
  message: string;
  help?: string | null;
  rule_name: string;
}

/** Options for {@link runSquawk}. */
export interface SquawkOptions {
  /** PostgreSQL version to lint for, `major.minor` (squawk's `--pg-version`); rules such as adding-field-with-default
   *  only fire on versions where the statement is dangerous. */
  pgVersion?: string;
  /** Rule ids to turn off (`--exclude`). */
  exclude?: string[];
  /** Path of the squawk binary; default: the one shipped in the `squawk-cli` package. */
  binary?: string;
}

/** Thrown when squawk could not run or wrote something that is not its JSON report. */
export class SquawkError extends Error {
  override readonly name = 'SquawkError';
}

/**
 * Path of the squawk binary from the `squawk-cli` package. Calling the binary directly skips the package's
 * Node wrapper (one process instead of two).
 *
 * @throws SquawkError when the platform package is missing
 */
export function squawkBinary(): string {
  try {
    // squawk-cli ships no types and no "main"; js/index.js exports getBinaryPath().
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('squawk-cli/js/index.js') as { getBinaryPath(): string };
    return mod.getBinaryPath();
  } catch (err) {
    throw new SquawkError(`squawk is not installed for this platform (${process.platform}-${process.arch}): ${err instanceof Error ? err.message : String(err)}. Reinstall with optional dependencies (npm install --include=optional).`);
  }
}

/** `16.4` → `16.4`, `18beta1` → `18.0`, `9.6.24` → `9.6`; undefined when it cannot be read. */
export function squawkPgVersion(serverVersion: string | undefined): string | undefined {
  const m = /^(\d+)(?:\.(\d+))?/.exec(serverVersion?.trim() ?? '');
  if (!m) return undefined;
  return `${m[1]}.${m[2] ?? '0'}`;
}

/** Squawk's arguments: one call takes every path; the shell is never involved. */
export function squawkArgs(paths: string[], options: SquawkOptions = {}): string[] {
  const args = ['--reporter', 'json', '--no-error-on-unmatched-pattern'];
  if (options.pgVersion) args.push('--pg-version', options.pgVersion);
  if (options.exclude?.length) args.push(`--exclude=${options.exclude.join(',')}`);
  return args.concat(paths);
}

// Linux caps argv+environment at ARG_MAX (usually 2 MiB); stay well below it and split only if needed.
const MAX_ARGS_BYTES = 512 * 1024;

/**
 * Lints `paths` with one squawk process (more only when the argument list would exceed ~512 KiB) and returns
 * every violation. The report goes to a temporary file rather than a pipe so that squawk never waits for the
 * caller, who may be busy parsing the same files meanwhile.
 *
 * Exit codes (squawk 2.x): 0 no violation, 1 violations found; anything else, or output that is not JSON, is
 * a failure.
 *
 * @throws SquawkError when squawk cannot be started or fails
 */
export async function runSquawk(paths: string[], options: SquawkOptions = {}): Promise<SquawkViolation[]> {
  if (paths.length === 0) return [];
  const chunks: string[][] = [[]];
  let size = 0;
  for (const p of paths) {
    if (size + p.length + 1 > MAX_ARGS_BYTES && chunks[chunks.length - 1].length > 0) { chunks.push([]); size = 0; }
    chunks[chunks.length - 1].push(p);
    size += p.length + 1;
  }
  const results = await Promise.all(chunks.map((c) => runOnce(c, options)));
  return results.flat();
}

async function runOnce(paths: string[], options: SquawkOptions): Promise<SquawkViolation[]> {
  const binary = options.binary ?? squawkBinary();
  const dir = mkdtempSync(join(tmpdir(), 'runbook-squawk-out-'));
  const outPath = join(dir, 'report.json');
  const fd = openSync(outPath, 'w');
  try {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      // cwd in the temporary folder: a .squawk.toml in the user's folder must not silently change our rule set.
      const child = spawn(binary, squawkArgs(paths, options), { cwd: dir, stdio: ['ignore', fd, 'pipe'] });
      let err = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (d: string) => { if (err.length < 16384) err += d; });
      child.on('error', (e) => reject(new SquawkError(`could not start squawk (${binary}): ${e.message}`)));
      child.on('close', (c) => resolve({ code: c, stderr: err }));
    });
    closeSync(fd);
    const text = readFileSync(outPath, 'utf8');
    if (code !== 0 && code !== 1) throw new SquawkError(`squawk failed (exit ${String(code)}): ${stderr.trim() || text.slice(0, 500)}`);
    try {
      // No trim(): it would copy a report of several MB just to test for emptiness.
      return /^\s*$/.test(text) ? [] : (JSON.parse(text) as SquawkViolation[]);
    } catch {
      throw new SquawkError(`squawk wrote something that is not its JSON report (exit ${String(code)}): ${(stderr || text).slice(0, 500)}`);
    }
  } finally {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How we treat one squawk rule. */
export interface SquawkRuleInfo {
  severity: Severity;
  /** Our safe rewrite when squawk's own `help` is empty. */
  help?: string;
  /** A lock or rewrite hazard: meaningless on a table created earlier in the same runbook (nobody else uses it yet). */
  lockHazard?: boolean;
}

/**
 * Severity of each squawk rule (squawk reports almost everything as "Warning"; docs/safety.md explains the
 * mapping). Rules not listed are `warning`. Rule ids: https://squawkhq.com/docs/rules.
 */
export const SQUAWK_RULES: Readonly<Record<string, SquawkRuleInfo>> = {
  // Will fail when run.
  'syntax-error': { severity: 'error', help: 'Fix the statement: PostgreSQL will reject it.' },
  'ban-concurrent-index-creation-in-transaction': { severity: 'error', help: 'Run CREATE INDEX CONCURRENTLY in its own cell, outside BEGIN … COMMIT.' },
  'ban-drop-database': { severity: 'error', help: 'Drop databases by hand, outside a migration.' },
  // Scan, rewrite or index build while writes (or reads) of an existing table are blocked.
  'adding-field-with-default': { severity: 'error', lockHazard: true, help: 'Add the column without a default (or with a non-volatile one on PostgreSQL 11+), then backfill in batches.' },
  'adding-not-nullable-field': { severity: 'error', lockHazard: true, help: 'On PostgreSQL 12+: ADD CONSTRAINT … CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT; then SET NOT NULL (no scan); then drop the CHECK. Each step in its own transaction.' },
  'adding-serial-primary-key-field': { severity: 'error', lockHazard: true, help: 'Create a unique index CONCURRENTLY, then ADD CONSTRAINT … PRIMARY KEY USING INDEX.' },
  'adding-foreign-key-constraint': { severity: 'error', lockHazard: true },
  'constraint-missing-not-valid': { severity: 'error', lockHazard: true },
  'changing-column-type': { severity: 'error', lockHazard: true, help: 'Add a new column of the new type, backfill it in batches, switch readers and writers, then drop the old column. Changing varchar(n) to text or to a larger n does not rewrite.' },
  'disallowed-unique-constraint': { severity: 'error', lockHazard: true },
  'require-concurrent-index-creation': { severity: 'error', lockHazard: true },
  'require-concurrent-index-deletion': { severity: 'warning', lockHazard: true },
  // Break clients or lose data.
  'ban-drop-column': { severity: 'warning', help: 'Stop reading and writing the column in the application first, deploy, then drop it.' },
  'ban-drop-table': { severity: 'warning', help: 'Make sure no client uses the table any more (and keep a backup), then drop it in its own step.' },
  'ban-drop-not-null': { severity: 'warning', help: 'Make sure every client handles NULL in the column before dropping NOT NULL.' },
  'ban-truncate-cascade': { severity: 'warning', help: 'TRUNCATE the tables you mean by name, without CASCADE.' },
  'renaming-column': { severity: 'warning', lockHazard: true, help: 'Add the new column, write both, backfill, switch readers, then drop the old one; or use a view for the transition.' },
  'renaming-table': { severity: 'warning', lockHazard: true, help: 'Rename in a release where no client uses the old name, or leave a view with the old name.' },
  'adding-required-field': { severity: 'warning', help: 'Add the column nullable or with a default, backfill, then add NOT NULL in the safe form.' },
  'ban-alter-domain-with-add-constraint': { severity: 'warning' },
  'ban-create-domain-with-constraint': { severity: 'warning' },
  'identifier-too-long': { severity: 'warning', help: 'PostgreSQL truncates identifiers to 63 bytes: shorten the name.' },
  // Advice.
  'prefer-robust-stmts': { severity: 'info', help: 'Use IF [NOT] EXISTS so the step can be run again after a partial failure.' },
  'prefer-bigint-over-int': { severity: 'info', help: 'Use bigint: int runs out at 2,147,483,647 and widening later rewrites the table.' },
  'prefer-bigint-over-smallint': { severity: 'info', help: 'Use bigint: widening later rewrites the table.' },
  'prefer-big-int': { severity: 'info' },
  'prefer-identity': { severity: 'info', help: 'Use GENERATED … AS IDENTITY instead of serial.' },
  'prefer-text-field': { severity: 'info' },
  'prefer-timestamptz': { severity: 'info' },
  'ban-char-field': { severity: 'info' },
  'require-statement-timeout': { severity: 'info', help: "SET statement_timeout = '…' before the statement (or rely on the connection profile's statement_timeout)." },
  'require-enum-value-ordering': { severity: 'info', help: "Say where the value goes: ADD VALUE 'x' BEFORE 'y' / AFTER 'y'." },
};

/**
 * Squawk rules we turn off because the runbook-level analysis makes them with the cells in order and the
 * profile's defaults in view (docs/safety.md):
 * - `require-lock-timeout`: squawk sees one cell at a time, reports only the first statement of a file and
 *   does not know the connection profile's lock_timeout; our rule of the same id does.
 * - `ban-uncommitted-transaction`: BEGIN in one cell and COMMIT in a later one is normal in a runbook; we report
 *   a transaction still open at the end of the runbook instead (`transaction-left-open`).
 * - `transaction-nesting`: squawk judges BEGIN/COMMIT within one file; a COMMIT in a later cell than its BEGIN is
 *   normal here. Our rule of the same id follows the transaction across cells.
 * (`require-timeout-settings`, the old name of both timeout rules, must not be excluded: squawk expands it to
 * both, which would turn off `require-statement-timeout` too.)
 */
export const SQUAWK_EXCLUDED = ['require-lock-timeout', 'ban-uncommitted-transaction', 'transaction-nesting'];

/** Our severity and extras for a squawk rule. */
export function squawkRule(rule: string): SquawkRuleInfo {
  return SQUAWK_RULES[rule] ?? { severity: 'warning' };
}
