// `runbook verify FILE... [--strict] [--base REF]`: checks each file's migration log chain against its records, outputs and sources.

import { execFileSync } from 'node:child_process';
import { readFileBytes } from './read-file';
import * as path from 'node:path';
import type { Command } from 'commander';
import { parseRunbook, verifyRunbook, type Runbook } from '../format';
import { journalWarning } from './journal-warning';

/** Options of the `verify` command. */
export interface VerifyCommandOptions {
  /** Outputs the log does not cover are breaks too. */
  strict?: boolean;
  /** A git revision: each file's log there must be a prefix of its log now. */
  base?: string;
  quiet?: boolean;
}

/** Exit status when verifying could not be done (bad --base revision, git missing). */
const EXIT_CANNOT = 2;

/**
 * The file as committed at `ref`, parsed; undefined when the file does not exist there (a new runbook).
 * @throws Error naming the revision when git cannot read it (not a repository, unknown revision)
 */
function readAtRevision(file: string, ref: string): Runbook | undefined {
  const dir = path.dirname(path.resolve(file));
  try {
    // `REV:./PATH` is relative to the working directory (git-rev-parse(1), "<rev>:<path>").
    const bytes = execFileSync('git', ['show', `${ref}:./${path.basename(file)}`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
    return parseRunbook(bytes);
  } catch (e) {
    const stderr = String((e as { stderr?: Buffer }).stderr ?? '');
    if (/does not exist in|exists on disk, but not in/.test(stderr)) return undefined;
    throw new Error(`cannot read ${file} at ${ref} with git: ${stderr.trim().split('\n')[0] || (e as Error).message}`, { cause: e });
  }
}

/**
 * Verifies files and prints what it finds: one line per file, then one line per break (`FILE:LINE: kind: message`).
 * @returns 0 when every file is consistent, 1 when one has a break (or cannot be read, or an interrupted run's journal
 *   beside it holds records it lacks), 2 when `--base` cannot be read
 */
export function runVerify(files: string[], opts: VerifyCommandOptions, out: (s: string) => void, err: (s: string) => void): number {
  let status = 0;
  for (const file of files) {
    const read = readFileBytes(file);
    if ('error' in read) {
      err(`${file}: cannot read: ${read.error}`);
      status = Math.max(status, 1);
      continue;
    }
    const bytes = read.bytes;
    let base: Runbook | undefined;
    if (opts.base) {
      try {
        base = readAtRevision(file, opts.base);
      } catch (e) {
        err(`runbook verify: ${(e as Error).message}`);
        return EXIT_CANNOT;
      }
    }
    const rb = parseRunbook(bytes);
    const r = verifyRunbook(rb, { strict: opts.strict, base });
    // A journal beside the file holds records it lacks: the file alone is not the whole record of its runs.
    const notice = journalWarning(file, rb);
    if (notice) status = Math.max(status, 1);
    if (r.breaks.length > 0) {
      status = Math.max(status, 1);
      const first = r.breaks[0];
      out(`${file}: FAILED: first break at line ${first.line}: ${first.message}`);
      for (const b of r.breaks) err(`${file}:${b.line}: ${b.kind}: ${b.message}`);
      if (notice) err(`${file}: INCOMPLETE: ${notice}`);
    } else if (notice) {
      out(`${file}: INCOMPLETE: ${notice}`);
    } else if (!opts.quiet) {
      const what = r.events === 0 ? 'no migration log yet' : `${r.events} log event${r.events === 1 ? '' : 's'} chained, ${r.outputsChecked} output${r.outputsChecked === 1 ? '' : 's'} match the log`;
      out(`${file}: ok: ${what}${opts.base ? (base ? `, appended to ${opts.base}'s log` : `, new since ${opts.base}`) : ''}`);
    }
    if (!opts.quiet) for (const n of r.notes) err(`${file}: note: ${n}`);
  }
  return status;
}

/** Adds `runbook verify` to the program. */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('Check that each runbook\'s migration log is intact: every event chained to the one before, the log\'s text matching its records, and every cell\'s output and source matching the log\'s latest attempt.')
    .argument('<file...>', '.runbook files to verify')
    .option('--strict', 'also fail on outputs the log does not cover (written before the log existed, or by hand)')
    .option('--base <rev>', 'a git revision (e.g. origin/main): each file\'s log there must be a prefix of its log now')
    .option('-q, --quiet', 'print only failures')
    .addHelpText('after', '\nExit status: 0 when every file is consistent, 1 when a file has a break (the first is named), cannot be read, or has an interrupted run\'s journal beside it with records not yet in it (`runbook recover FILE`), 2 on usage errors or when --base cannot be read.\nWhat it proves and what it does not: docs/format.md, "Tamper evidence". In CI: docs/ci.md')
    .action((files: string[], opts: VerifyCommandOptions) => {
      process.exitCode = runVerify(files, opts, (s) => process.stdout.write(s + '\n'), (s) => process.stderr.write(s + '\n'));
    });
}
