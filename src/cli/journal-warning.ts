// What check, verify and log say when an interrupted run left a journal beside the file they read.

import type { Runbook } from '../format';
import { journalBacklog, journalNotice } from '../run/journal';

/**
 * The notice about `FILE.journal` when it holds records the file lacks (journal.ts journalNotice), else undefined.
 * Something other than a plain file at the journal's path is named too (a run would refuse it).
 */
export function journalWarning(file: string, rb: Runbook): string | undefined {
  try {
    return journalNotice(file, journalBacklog(file, rb));
  } catch (e) {
    return (e as Error).message;
  }
}
