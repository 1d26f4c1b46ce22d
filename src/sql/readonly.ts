// Tells read-only statements from mutating ones, for the production guard (confirm before the first mutating cell).

import type { Node } from 'libpg-query';

/**
 * True when a statement cannot change data or schema: SELECT without INTO and without a locking
 * clause, VALUES, TABLE, SHOW, EXPLAIN without ANALYZE (EXPLAIN ANALYZE executes the statement),
 * and session-only statements (SET, RESET, BEGIN, COMMIT, ROLLBACK…). Everything else counts as
 * mutating, including DO blocks, CALL and functions with unknown effects — when in doubt, ask.
 */
export function isReadOnlyStatement(node: Node): boolean {
  const [kind, body] = Object.entries(node)[0] ?? [];
  const b = (body ?? {}) as Record<string, unknown>;
  switch (kind) {
    case 'SelectStmt':
      // A writable CTE (WITH x AS (DELETE …)) mutates too.
      return b.intoClause === undefined && b.lockingClause === undefined && !JSON.stringify(b.withClause ?? {}).match(/"(InsertStmt|UpdateStmt|DeleteStmt|MergeStmt)"/);
    case 'ExplainStmt':
      return !JSON.stringify(b.options ?? []).includes('"analyze"');
    case 'VariableShowStmt':
    case 'VariableSetStmt':
    case 'TransactionStmt':
      return true;
    default:
      return false;
  }
}
