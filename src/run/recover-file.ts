// `runbook recover FILE`: folds the journal an interrupted run left into the runbook, without running anything.

import { acquireRunLock, takeoverMessage } from './run-lock';
import * as fs from 'node:fs';
import { parseRunbook } from '../format';
import { checkRunbookWritable, journalBacklog, journalPath, journalPresent, RunbookStore, type ShellGroup, type UnfinishedCell } from './journal';
import { newRunId } from './run';

/** What {@link recoverRunbook} did. */
export interface RecoverResult {
  /** The runbook written (a link's target with `followSymlink`). */
  file: string;
  /** Whether there was a journal to fold. */
  hadJournal: boolean;
  /** Outputs put back on their cells that the file did not have yet. */
  outputs: number;
  /** Log events appended (events the file's log already held are not counted: they are skipped). */
  events: number;
  /** Cells the interrupted run started and never finished: kept in the journal for the next run to settle. */
  unfinished: UnfinishedCell[];
  /** Shell process groups it journaled: kept in the journal for the next run to check. */
  groups: ShellGroup[];
  /** Records of cells edited or deleted since, kept rather than dropped (journal.ts keptWarnings). */
  warnings: string[];
  /** Whether `FILE.journal` is still there (it then holds only what needs the next run). */
  journalLeft: boolean;
  /** Said when the lock of a run that died was taken over (run-lock.ts takeoverMessage). */
  takeover?: string;
}

/**
 * Folds `FILE.journal` into `file` as a run would before its first statement: outputs onto their cells, log events
 * appended once, records of edited or deleted cells kept. It connects to nothing: what became of a cell started and
 * never finished, and whether a shell group outlived the run, need the database and this host's processes, so those
 * journal lines stay for the next `runbook run`. Takes the run lock beside the file for the time it writes.
 * @throws RunLockedError when a run of the file holds the lock; RunbookWriteError when the file cannot be written
 *   (a link without `followSymlink`, a read-only file or folder); the system error when it cannot be read
 */
export function recoverRunbook(file: string, opts: { operator: string; followSymlink?: boolean }): RecoverResult {
  const target = checkRunbookWritable(file, { followSymlink: opts.followSymlink }).path;
  const lock = acquireRunLock(target, { run: `recover-${newRunId()}`, operator: opts.operator });
  try {
    const hadJournal = journalPresent(journalPath(target));
    // What the journal holds that the file lacks, counted before the fold (which puts an output back even when the
    // file already had it).
    const backlog = hadJournal ? journalBacklog(target, parseRunbook(fs.readFileSync(target))) : undefined;
    const opened = RunbookStore.open(target);
    opened.store.close();
    return {
      file: target,
      hadJournal,
      outputs: backlog?.outputs ?? 0,
      events: opened.events,
      unfinished: opened.unfinished,
      groups: opened.groups,
      warnings: opened.warnings,
      journalLeft: journalPresent(journalPath(target)),
      ...(takeoverMessage(lock) ? { takeover: takeoverMessage(lock) } : {}),
    };
  } finally {
    lock.release();
  }
}
