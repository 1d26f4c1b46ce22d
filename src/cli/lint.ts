// `runbook lint FILE... [--connection NAME] [--format text|json|sarif]`: migration-safety findings before anything runs.

import { dirname, resolve } from 'node:path';
import { Client, type ClientConfig } from 'pg';
import type { Command } from 'commander';
import { resolveConnection as defaultResolve } from '../connections';
import { lintFiles, type Finding, type LintContext, type Severity, type TimeoutDefaults } from '../sql/lint';
import { formatJson, formatSarif, formatText } from '../sql/findings-format';
import { Redactor } from '../connections/redact';
import { escapeJsonUnsafe } from '../format';
import { terminalLines } from './terminal-text';
import { catalogClientConfig } from '../safety/monitor';

/** Resolves a connection profile name or URI without connecting (src/connections `resolveConnection`). */
export type ResolveForLint = (nameOrUri: string, opts: { startDir: string }) => Promise<{
  profile: { name: string; environment?: string; lockTimeout?: string; statementTimeout?: string };
  clientConfig: ClientConfig;
}>;

/** What `runbook lint` needs from the rest of the program; injectable for tests and for the VS Code host. */
export interface LintDeps {
  resolveConnection?: ResolveForLint;
  out?: (text: string) => void;
  err?: (text: string) => void;
}

/** The timeout defaults the lint (and `runbook run --dry-run`) assumes for a runbook, and where they came from. */
export interface LintDefaults extends TimeoutDefaults {
  /** The connection profile they come from (`--connection`, else the front matter's `connection:`); undefined: none. */
  connection?: string;
  /** Set when the profile could not be resolved: the defaults are then unknown (undefined), and this says why. */
  problem?: string;
}

/**
 * The `lock_timeout`/`statement_timeout` defaults of the connection a runbook will run on, resolved WITHOUT connecting
 * (the profiles file, pg_service.conf and the environment are read; nothing is sent): the one given (`--connection`),
 * else the one its front matter names, as `runbook run` picks it. The resolved profile carries the environment's
 * defaults where it sets none (docs/connections.md), exactly what `runbook run` sets on its session. `sandbox` or no
 * connection: the sandbox's (both off). `runbook run --dry-run` can use it for its findings too.
 *
 * @param startDir where the profiles file is searched from (the runbook's folder)
 * @returns never throws: an unknown profile or a bad file is reported in `problem`, with no defaults
 */
export async function lintDefaultsFor(connection: string | undefined, startDir: string, resolveConn: ResolveForLint = defaultResolve): Promise<LintDefaults> {
  if (!connection || connection === 'sandbox') return {};
  try {
    const conn = await resolveConn(connection, { startDir });
    return { connection: conn.profile.name, lockTimeoutDefault: conn.profile.lockTimeout, statementTimeoutDefault: conn.profile.statementTimeout };
  } catch (e) {
    return { connection, problem: e instanceof Error ? e.message : String(e) };
  }
}

/** Options of the `lint` command. */
export interface LintCommandOptions {
  connection?: string;
  format?: string;
  minSeverity?: string;
}

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/**
 * Lints files and writes the report.
 *
 * @returns the exit status: 0 no unacknowledged error-level finding, 1 at least one, 2 when linting could not be
 *   done (unreadable file, unknown connection, squawk missing)
 */
export async function runLint(files: string[], opts: LintCommandOptions, deps: LintDeps = {}): Promise<number> {
  const format = opts.format ?? 'text';
  // Findings quote the files and the server: redacted (the connection's password, the patterns) and,
  // as text, with control characters shown as escapes; JSON and SARIF keep the values, escaped as JSON.
  const redactor = new Redactor();
  redactor.addConnectionText(opts.connection);
  const printOut = deps.out ?? ((s: string) => process.stdout.write(s));
  const printErr = deps.err ?? ((s: string) => process.stderr.write(s + '\n'));
  const out = (s: string): void => printOut(format === 'text' ? terminalLines(s) : escapeJsonUnsafe(s));
  const err = (s: string): void => printErr(terminalLines(redactor.redact(s), '  '));
  if (!['text', 'json', 'sarif'].includes(format)) {
    err(`runbook lint: unknown --format ${format} (use text, json or sarif)`);
    return 2;
  }
  const min = (opts.minSeverity ?? 'info') as Severity;
  if (!Object.hasOwn(RANK, min)) {
    err(`runbook lint: unknown --min-severity ${String(opts.minSeverity)} (use error, warning or info)`);
    return 2;
  }
  const ctx: LintContext = { note: (text) => err(`runbook lint: note: ${text}.`) };
  let client: Client | undefined;
  try {
    if (!opts.connection) {
      // Each runbook's own front matter names where it runs: its profile's timeouts, read without connecting.
      const resolveConn = deps.resolveConnection ?? defaultResolve;
      const seen = new Map<string, Promise<LintDefaults>>();
      ctx.fileDefaults = async (file, named) => {
        const key = `${dirname(resolve(file))}\0${named ?? ''}`;
        let d = seen.get(key);
        if (!d) {
          d = lintDefaultsFor(named, dirname(resolve(file)), resolveConn);
          seen.set(key, d);
          const got = await d;
          if (got.problem) err(`runbook lint: note: ${file} names connection "${named}" in its front matter, but it cannot be read (${got.problem}); linting without its lock_timeout/statement_timeout defaults.`);
        }
        return d;
      };
    }
    if (opts.connection) {
      const resolveConn = deps.resolveConnection ?? defaultResolve;
      const conn = await resolveConn(opts.connection, { startDir: dirname(resolve(files[0] ?? '.')) });
      if (typeof conn.clientConfig.password === 'string') redactor.addSecret(conn.clientConfig.password);
      // Catalog reads only, and none of them may queue behind a lock on a table (docs/safety.md).
      client = new Client(catalogClientConfig(conn.clientConfig));
      await client.connect();
      ctx.client = client;
      ctx.serverVersion = (await client.query<{ v: string }>('SHOW server_version')).rows[0]?.v ?? undefined;
      ctx.lockTimeoutDefault = conn.profile.lockTimeout;
      ctx.statementTimeoutDefault = conn.profile.statementTimeout;
    }
    let findings: Finding[] = await lintFiles(files, ctx);
    findings = findings.filter((f) => RANK[f.severity] <= RANK[min]).map((f) => redactor.redactValue(f));
    out(format === 'json' ? formatJson(findings) : format === 'sarif' ? formatSarif(findings) : formatText(findings));
    return findings.some((f) => f.severity === 'error' && !f.acknowledged) ? 1 : 0;
  } catch (e) {
    err(`runbook lint: ${redactor.errorMessage(e)}`);
    return 2;
  } finally {
    if (client) await client.end().catch(() => undefined);
  }
}

/** Adds `runbook lint` to the program; the lead's main.ts calls it. */
export function registerLint(program: Command, deps: LintDeps = {}): void {
  program
    .command('lint')
    .description('Find dangerous statements before they run: squawk\'s rules plus runbook-level rules (transactions across cells, locks held, lock_timeout, enum values, batches), with table sizes when a connection is given.')
    .argument('<file...>', '.runbook or .sql files (a .sql file is linted as one SQL cell)')
    .option('-c, --connection <name>', 'connection profile name or URI to connect to for catalog reads: its server version, lock_timeout/statement_timeout defaults, table sizes, column types, invalid indexes and the planner check. Without it, each runbook\'s front matter connection gives the timeout defaults (no connection is made)')
    .option('-f, --format <format>', 'text, json or sarif (SARIF 2.1.0)', 'text')
    .option('--min-severity <level>', 'hide findings below this severity: error, warning or info', 'info')
    .addHelpText('after', '\nExit status: 0 when no unacknowledged error-level finding, 1 when there is one, 2 when linting failed.\nAcknowledge a rule on a cell with {"ack": ["rule-id"]} on its fence. Rules: docs/safety.md')
    .action(async (files: string[], opts: LintCommandOptions) => {
      process.exitCode = await runLint(files, opts, deps);
    });
}
