// A record that could not be written (disk full, a folder made read-only): which cell's effect has no record, and what
// happened to that effect, in one typed error the front ends print.

import { cellLabel, type RunnableCell } from './cells';

/**
 * What happened to the effect of the cell whose record could not be written:
 * - `committed`: its statements ran in autocommit (or as their own transaction) and committed: the database has them;
 * - `rolled back`: it ran inside a transaction span that the runner then rolled back (nothing of the span stays);
 * - `ran`: a shell cell ran (its effect, if any, is outside the database) or a checklist was confirmed;
 * - `failed`: it failed before changing anything that stays (an error in autocommit rolls back its own statement);
 * - `not run`: the run stopped before it ran (its start could not be journaled);
 * - `recorded`: its own record was written; what followed it (a span's fate on earlier cells, a log event) was not;
 * - `unknown`: the tool cannot know (a COMMIT whose connection was lost).
 */
export type RecordLostEffect = 'committed' | 'rolled back' | 'ran' | 'failed' | 'not run' | 'recorded' | 'unknown';

/** Where the write failed: appending to the journal, or rewriting the runbook at a checkpoint (the journal then has it). */
export type RecordWriteStage = 'journal' | 'checkpoint';

/** A system error while writing a record, with where it happened (thrown by RunbookStore). */
export class RecordWriteError extends Error {
  override readonly name = 'RecordWriteError';
  constructor(
    message: string,
    /** The errno name: `ENOSPC`, `EACCES`, `EROFS`, `EIO`, `EDQUOT`… */
    readonly code: string,
    readonly stage: RecordWriteStage,
    /** The journal (`FILE.journal`): after a failed checkpoint it holds every record of the run. */
    readonly journal: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What {@link RecordLostError} carries. */
export interface RecordLost {
  /** The cell the run was at: `number` is 1-based among runnable cells. */
  cell: { number: number; name?: string };
  effect: RecordLostEffect;
  /** The errno name (`ENOSPC`) and the system's words for it. */
  code: string;
  detail: string;
  /** The target's name as records spell it (never credentials). */
  target: string;
  stage: RecordWriteStage;
  /** The journal holding the records written before the failure (and, after a failed checkpoint, this one too). */
  journal: string;
  /** The cells of its span: rolled back with it (`rolled back`), or committed by it (`committed`, a COMMIT cell). */
  span?: number[];
}

/**
 * A record could not be written during a run: the run stopped before the next cell, rolled back an open span and
 * released its session. The message says which cell's effect has no record and what the database has of it. The CLI
 * prints it and exits 1; VS Code shows it in an error message.
 */
export class RecordLostError extends Error {
  override readonly name = 'RecordLostError';
  constructor(
    readonly lost: RecordLost,
    options?: { cause?: unknown },
  ) {
    super(recordLostMessage(lost), options);
  }
}

/** The words of a {@link RecordLostError}. */
export function recordLostMessage(l: RecordLost): string {
  const label = cellLabel(l.cell);
  const why = `${l.code}: ${l.detail}`;
  const next = 'The run stopped before the next cell and closed its session. Make room (or make the folder writable), check the database, then run again.';
  if (l.stage === 'checkpoint') {
    return `${label}: the runbook could not be rewritten (${why}); its record and every earlier one of this run are in ${l.journal}, which the next \`runbook run\` folds in. ${next}`;
  }
  const span = l.span?.length ? `cells ${l.span.join(', ')}` : label;
  const says: Record<RecordLostEffect, string> = {
    committed: l.span?.length
      ? `${label} committed the transaction of ${span} on ${l.target} but its record could not be written (${why}): the database has the effect of ${span}, this file does not say so (it may show the earlier ones uncommitted).`
      : `${label} committed on ${l.target} but its record could not be written (${why}): the database has its effect, this file does not say so.`,
    'rolled back': `${label} ran in the transaction of ${span} on ${l.target} but its record could not be written (${why}): the runner rolled the transaction back, so the database has nothing of ${span}; this file does not record the rollback.`,
    ran: `${label} ran but its record could not be written (${why}): what it did stands, this file does not say so.`,
    failed: `${label} failed on ${l.target} and its record could not be written (${why}): nothing of it stays in the database; this file does not say it ran.`,
    'not run': `${label} did not run: the run could not write its journal before it (${why}).`,
    recorded: `${label}'s own record was written, but what followed it (a transaction's fate on earlier cells, a log event) could not be (${why}): the file may show earlier cells of a span as uncommitted.`,
    unknown: `${label}'s record could not be written (${why}) and what happened to its effect on ${l.target} is unknown: check the database.`,
  };
  return `${says[l.effect]} Records written before it are in the file or in ${l.journal}. ${next}`;
}

/** The cell part of a {@link RecordLost} from a runnable cell. */
export function lostCell(c: RunnableCell): RecordLost['cell'] {
  return c.name ? { number: c.number, name: c.name } : { number: c.number };
}
