// Decides from a statement's parse tree whether it can return rows, so only those pay for a cursor.

import type { Node } from 'libpg-query';

/**
 * True when the statement can send rows back (RowDescription + DataRow) and is safe to stream through a
 * portal (`pg-cursor`, extended protocol): SELECT without INTO, VALUES, TABLE, EXPLAIN, SHOW, FETCH, and
 * INSERT/UPDATE/DELETE/MERGE … RETURNING.
 *
 * Everything else runs as one simple Query message: one round trip, the same as psql, which keeps
 * per-statement overhead small. That includes CALL and EXECUTE, which may return a few rows but are
 * kept off the extended protocol (a procedure that COMMITs cannot run inside a portal), so their rows
 * are buffered; they are small by nature.
 */
export function returnsRows(node: Node): boolean {
  const [kind, body] = Object.entries(node)[0] ?? [];
  const b = (body ?? {}) as Record<string, unknown>;
  switch (kind) {
    case 'SelectStmt':
      return b.intoClause === undefined;
    case 'ExplainStmt':
    case 'VariableShowStmt':
      return true;
    case 'FetchStmt':
      return b.ismove !== true;
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      return b.returningClause !== undefined || b.returningList !== undefined;
    default:
      return false;
  }
}

/**
 * True for `COPY … FROM STDIN`: it waits for data the client sends (psql's inline data or `\copy`), and
 * a SQL cell has none to send.
 */
export function isCopyFromStdin(node: Node): boolean {
  const copy = (node as { CopyStmt?: { is_from?: boolean; filename?: string; is_program?: boolean } }).CopyStmt;
  return copy?.is_from === true && copy.filename === undefined && copy.is_program !== true;
}

/** True for `COPY … TO STDOUT`, whose data comes back as CopyData messages rather than rows. */
export function isCopyToStdout(node: Node): boolean {
  const copy = (node as { CopyStmt?: { is_from?: boolean; filename?: string; is_program?: boolean } }).CopyStmt;
  return copy !== undefined && copy.is_from !== true && copy.filename === undefined && copy.is_program !== true;
}
