// `runbook recover FILE`: folds an interrupted run's journal into the runbook without running anything.

import type { Command } from 'commander';
import { redact } from '../connections/redact';
import { runbookDir } from '../run/session';
import { operatorName } from '../run/operator';
import { recoverRunbook, type RecoverResult } from '../run/recover-file';
import { terminalLines } from './terminal-text';

/** What `runbook recover` says about one result, line by line (file names as given). */
export function recoverLines(file: string, r: RecoverResult): string[] {
  if (!r.hadJournal) return [`${file}: no journal beside it (${file}.journal): nothing to recover.`];
  const lines: string[] = [];
  if (r.takeover) lines.push(r.takeover);
  const folded = r.outputs + r.events;
  lines.push(
    folded
      ? `${file}: folded ${r.outputs} output${r.outputs === 1 ? '' : 's'} and ${r.events} log event${r.events === 1 ? '' : 's'} from an interrupted run's journal into the file.`
      : `${file}: the file already held every record of the journal (the run ended after writing it, before removing the journal).`,
  );
  lines.push(...r.warnings);
  for (const u of r.unfinished) {
    lines.push(`${file}: cell ${u.number} started at ${u.at} in run ${u.run} and never finished: whether its work was done is for the database to say. The next \`runbook run ${file}\` against the same database records it as unknown, and settles any transaction it left (the journal keeps it until then).`);
  }
  if (r.groups.length) lines.push(`${file}: ${r.groups.length} shell process group${r.groups.length === 1 ? '' : 's'} of the interrupted run ${r.groups.length === 1 ? 'is' : 'are'} kept in the journal: the next \`runbook run\` looks for what outlived the run.`);
  if (!r.journalLeft) lines.push(`${file}: the journal is removed: the file holds the whole record.`);
  return lines;
}

/** Adds `runbook recover` to the program. */
export function registerRecover(program: Command): void {
  program
    .command('recover')
    .description('Fold the journal an interrupted run left (FILE.journal) into the runbook, without running anything or connecting to a database.')
    .argument('<file>', 'the .runbook file whose run was interrupted')
    .option('--follow-symlink', 'write the target of a runbook that is a symbolic link (refused otherwise)')
    .addHelpText('after', '\nExit status: 0 when the file holds what the journal held (or there was no journal), 1 when the file cannot be written or a run of it is going on.\nCells started and never finished stay in the journal: the next `runbook run` settles them against the database (docs/run.md).')
    .action((file: string, opts: { followSymlink?: boolean }) => {
      try {
        const r = recoverRunbook(file, { operator: operatorName(runbookDir(file)), followSymlink: opts.followSymlink });
        for (const line of recoverLines(file, r)) process.stdout.write(terminalLines(redact(line), '  ') + '\n');
        process.exitCode = 0;
      } catch (e) {
        process.stderr.write(`runbook recover: ${terminalLines(redact((e as Error).message ?? String(e)), '  ')}\n`);
        process.exitCode = 1;
      }
    });
}
