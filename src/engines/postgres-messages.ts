// Formats server notices and errors as psql prints them (`ERROR:  …`, `LINE n:` with a caret, `DETAIL:`, `HINT:`).

import { codePointsToIndex } from '../sql/split';
import { displayWidth } from './result-table';

/** The fields of a PostgreSQL ErrorResponse/NoticeResponse we show (pg's DatabaseError and NoticeMessage have them). */
export interface ServerMessageFields {
  severity?: string;
  message?: string;
  detail?: string;
  hint?: string;
  /** `W`: the context (PL/pgSQL call stack) the message came from. */
  where?: string;
  internalQuery?: string;
  internalPosition?: string;
}

/**
 * A notice as psql prints it at the default verbosity: `NOTICE:  text`, then `DETAIL:` and `HINT:` lines.
 * (psql shows CONTEXT for errors only, `\set SHOW_CONTEXT errors`.)
 */
export function formatNotice(n: ServerMessageFields): string {
  const lines = [`${n.severity ?? 'NOTICE'}:  ${n.message ?? ''}`];
  if (n.detail) lines.push(`DETAIL:  ${n.detail}`);
  if (n.hint) lines.push(`HINT:  ${n.hint}`);
  return lines.join('\n');
}

/**
 * An error as psql prints it: `ERROR:  message`, the `LINE n:` excerpt with a caret under the position,
 * `DETAIL:`, `HINT:`, `QUERY:` and `CONTEXT:` lines (libpq's pqBuildErrorMessage3, default verbosity).
 *
 * `at` locates the error in the cell: psql numbers lines within the statement it sent; we number them
 * within the cell, which is what the reader of the runbook can find.
 */
export function formatServerError(e: ServerMessageFields, at?: { text: string; offset: number }): string {
  const lines = [`${e.severity ?? 'ERROR'}:  ${e.message ?? ''}`];
  if (at) lines.push(...positionExcerpt(at.text, at.offset));
  else if (e.internalQuery && e.internalPosition) {
    // Positions count characters, 1-based (PostgreSQL docs, 55.8 "Error and Notice Message Fields").
    lines.push(...positionExcerpt(e.internalQuery, codePointsToIndex(e.internalQuery, Number(e.internalPosition) - 1)));
  }
  if (e.detail) lines.push(`DETAIL:  ${e.detail}`);
  if (e.hint) lines.push(`HINT:  ${e.hint}`);
  if (e.internalQuery) lines.push(`QUERY:  ${e.internalQuery}`);
  if (e.where) lines.push(`CONTEXT:  ${e.where}`);
  return lines.join('\n');
}

// libpq's reportErrorPosition() limits the excerpt to 60 display columns, keeping 10 right of the caret.
const DISPLAY_SIZE = 60;
const MIN_RIGHT_CUT = 10;

/**
 * `LINE n: <the line holding offset>` and a caret line under `offset` (UTF-16 index into `text`), cut with
 * `...` when the line is long, as libpq's reportErrorPosition() does. Tabs are shown as one space there too.
 */
export function positionExcerpt(text: string, offset: number): string[] {
  offset = Math.max(0, Math.min(offset, text.length));
  let lineNo = 1;
  let begin = 0;
  for (let i = 0; i < offset; i++) {
    if (text[i] === '\n') {
      lineNo++;
      begin = i + 1;
    }
  }
  let finish = text.indexOf('\n', offset);
  if (finish === -1) finish = text.length;
  if (finish > begin && text[finish - 1] === '\r') finish--;
  const chars = Array.from(text.slice(begin, finish).replace(/[\t\r]/g, ' '));
  const caretChar = Array.from(text.slice(begin, offset)).length;
  // Screen column where each character starts; cols[chars.length] is the line's width.
  const cols = [0];
  for (const ch of chars) cols.push(cols[cols.length - 1] + displayWidth(ch));
  let ibeg = 0;
  let iend = chars.length;
  let begTrunc = false;
  let endTrunc = false;
  const loc = Math.min(caretChar, chars.length);
  if (cols[iend] > DISPLAY_SIZE) {
    if (cols[ibeg] + DISPLAY_SIZE >= cols[loc] + MIN_RIGHT_CUT) {
      while (cols[iend] - cols[ibeg] > DISPLAY_SIZE) iend--;
      endTrunc = true;
    } else {
      while (cols[loc] + MIN_RIGHT_CUT < cols[iend]) {
        iend--;
        endTrunc = true;
      }
      while (cols[iend] - cols[ibeg] > DISPLAY_SIZE) {
        ibeg++;
        begTrunc = true;
      }
    }
  }
  const prefix = `LINE ${lineNo}: `;
  const shown = (begTrunc ? '...' : '') + chars.slice(ibeg, iend).join('') + (endTrunc ? '...' : '');
  const caretCol = prefix.length + cols[loc] - cols[ibeg] + (begTrunc ? 3 : 0);
  return [prefix + shown, ' '.repeat(caretCol) + '^'];
}
