// The `runbook` command line: parses arguments with commander and dispatches to one module per command.

import { Command, CommanderError } from 'commander';
import { runCheck } from './check';
import { registerRun } from './run';
import { registerLint } from './lint';
import { registerVerify } from './verify';
import { registerLogCommand } from './log';
import { registerRehearse } from './rehearse';
import { registerRecover } from './recover';

/** Exit status for usage errors (bad flags, missing arguments), as most Unix tools do. */
export const EXIT_USAGE = 2;

/** Builds the `runbook` program. Commands set `process.exitCode`; nothing here calls process.exit. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('runbook')
    .description('Run PostgreSQL migration runbooks (.runbook Markdown files of SQL, shell and checklist cells) and record every output in the file.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('check')
    .description('Parse runbooks, report problems with line numbers, and verify that writing each file back leaves it byte-identical.')
    .argument('<file...>', '.runbook files to check')
    .option('--strict', 'also fail (exit 1) on error-level problems such as a malformed output record')
    .option('-q, --quiet', 'print only problems and failures')
    .addHelpText('after', '\nExit status: 0 when every file round-trips, 1 when one would change (or cannot be read, or --strict and a problem is an error), 2 on usage errors.\nFormat reference: docs/format.md')
    .action((files: string[], opts: { strict?: boolean; quiet?: boolean }) => {
      process.exitCode = runCheck(files, opts, (s) => process.stdout.write(s + '\n'), (s) => process.stderr.write(s + '\n'));
    });

  registerRun(program);
  registerLint(program);
  registerVerify(program);
  registerLogCommand(program);
  registerRehearse(program);
  registerRecover(program);
  for (const register of extraCommands) register(program);
  return program;
}

declare const __RUNBOOK_VERSION__: string | undefined;
const VERSION = typeof __RUNBOOK_VERSION__ === 'string' ? __RUNBOOK_VERSION__ : '0.1.0';

/** Other modules add their commands here before `main` runs (keeps main.ts small). */
export const extraCommands: ((program: Command) => void)[] = [];

/** Entry point: parses `argv`, maps commander's usage errors to exit status 2. */
export async function main(argv: string[]): Promise<void> {
  // `runbook run x --dry-run | head`: a closed pipe is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end with exit code 0; everything else commander rejects is a usage error.
      process.exitCode = e.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv).catch((e: unknown) => {
    process.stderr.write(`runbook: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
