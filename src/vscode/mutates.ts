// Whether a SQL cell changes data or schema, for the production guard; the judgement comes from src/sql's statement facts.
import type { Node } from 'libpg-query';
import { analyzeStatement } from '../sql/analyze';
import { loadParser, splitCell } from '../sql/analyze-statements';

/**
 * Statement kinds that neither write nor take a lock stronger than ACCESS SHARE: reading, showing,
 * explaining, transaction control and session settings. Anything else — including a statement the
 * parser cannot read — counts as a change, so the guard errs on the side of asking. A SELECT calling
 * a function that writes (`SELECT nextval(…)`) is not caught: the parse tree does not say what a
 * function does.
 */
const READ_ONLY = new Set(['SelectStmt', 'VariableShowStmt', 'TransactionStmt', 'VariableSetStmt', 'ExplainStmt']);

interface ExplainNode {
  query?: Node;
  options?: { DefElem?: { defname?: string; arg?: { String?: { sval?: string } } } }[];
}

function statementMutates(stmt: Node | undefined): boolean {
  if (!stmt) return true;
  const facts = analyzeStatement(stmt, 99);
  if (!READ_ONLY.has(facts.kind)) return true;
  if (facts.creates.length > 0 || facts.locks.some((l) => l.mode !== 'ACCESS SHARE')) return true;
  if (facts.kind === 'ExplainStmt') {
    // EXPLAIN ANALYZE executes its statement (PostgreSQL docs, EXPLAIN: "the statement is actually executed").
    const e = (stmt as unknown as { ExplainStmt: ExplainNode }).ExplainStmt;
    const analyze = e.options?.find((o) => o.DefElem?.defname === 'analyze')?.DefElem;
    const off = /^(false|off|0)$/i.test(analyze?.arg?.String?.sval ?? '');
    if (analyze && !off) return statementMutates(e.query);
  }
  return false;
}

/** True when any statement of the SQL cell may change data or schema (see {@link READ_ONLY}). */
export async function sqlCellMutates(source: string): Promise<boolean> {
  await loadParser();
  return splitCell(source).some((s) => statementMutates(s.stmt));
}
