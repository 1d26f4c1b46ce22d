// `runbook log FILE [--format markdown|json]`: prints a runbook's migration log as its events say it.

import { readFileBytes } from './read-file';
import type { Command } from 'commander';
import { parseRunbook, renderLogMarkdown, summarizeRuns } from '../format';
import { journalWarning } from './journal-warning';

/** Options of the `log` command. */
export interface LogCommandOptions {
  format?: string;
}

/**
 * Prints the migration log of one file: Markdown (the log section's text without its hidden event
 * lines) or JSON (`{"file", "runs": [...]}`, see `RunSummary` in src/format/log-render.ts). The text is
 * rendered from the events, so a hand edit of the file's log text does not show; it is reported.
 * @returns 0 when printed, 1 when the file cannot be read, 2 on an unknown --format
 */
export function runLog(file: string, opts: LogCommandOptions, out: (s: string) => void, err: (s: string) => void): number {
  const format = opts.format ?? 'markdown';
  if (format !== 'markdown' && format !== 'json') {
    err(`runbook log: unknown --format ${format} (use markdown or json)`);
    return 2;
  }
  const read = readFileBytes(file);
  if ('error' in read) {
    err(`${file}: cannot read: ${read.error}`);
    return 1;
  }
  const bytes = read.bytes;
  const rb = parseRunbook(bytes);
  for (const p of rb.problems) {
    if (p.code === 'malformed-log-event' || p.code === 'log-text-edited') err(`${file}:${p.line}: ${p.severity}: ${p.message} [${p.code}]`);
  }
  const notice = journalWarning(file, rb);
  if (notice) err(`${file}: warning: ${notice}`);
  const events = rb.log?.events ?? [];
  if (format === 'json') out(JSON.stringify({ file, runs: summarizeRuns(events) }, null, 2) + '\n');
  else {
    const title = rb.frontMatter?.data?.title;
    out(renderLogMarkdown(events, typeof title === 'string' ? title : undefined));
  }
  return 0;
}

/** Adds `runbook log` to the program. */
export function registerLogCommand(program: Command): void {
  program
    .command('log')
    .description('Print a runbook\'s migration log: every run (target, operator, flags, result), its timeline of cell attempts, issues, and duration against the estimate.')
    .argument('<file>', 'an executed .runbook file')
    .option('-f, --format <format>', 'markdown or json', 'markdown')
    .addHelpText('after', '\nExit status: 0 when printed, 1 when the file cannot be read, 2 on usage errors. `runbook verify` checks that the log is intact.')
    .action((file: string, opts: LogCommandOptions) => {
      process.exitCode = runLog(file, opts, (s) => process.stdout.write(s), (s) => process.stderr.write(s + '\n'));
    });
}
