// Lint rules about the rollback section (docs/safety.md, "rollback-*"): a rollback that could be atomic and is not,
// and a rollback that cannot work once the application has written new data.

import type { Node } from 'libpg-query';
import type { CellStatement } from './analyze-statements';
import type { Finding, LintCell, Severity } from './findings-types';

/** The rollback rules and their severity. */
export const ROLLBACK_RULES: Readonly<Record<string, Severity>> = {
  'rollback-not-atomic': 'warning',
  'rollback-enum-value-removed': 'warning',
  'rollback-drops-new-column': 'warning',
};

/** Statements that are not DDL (they read, write rows, or steer the session). */
const NOT_DDL = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'TransactionStmt', 'VariableSetStmt', 'VariableShowStmt', 'ExplainStmt', 'CopyStmt', 'DoStmt', 'CallStmt', 'LockStmt', 'CheckPointStmt', 'VacuumStmt']);

type Obj = Record<string, unknown>;
const kind = (n: Node | undefined): string | undefined => (n ? Object.keys(n)[0] : undefined);
const body = (n: Node | undefined): Obj => (n ? ((n as Obj)[kind(n)!] as Obj) : {});
const names = (list: unknown): string[] => (Array.isArray(list) ? list.map((x) => String(((x as Obj).String as Obj | undefined)?.sval ?? '')) : []);
const rel = (r: unknown): string => String(((r as Obj | undefined)?.relname as string | undefined) ?? '');
const typeName = (list: unknown): string => names(list).filter((n) => n !== 'public').join('.');

/** A statement that, like CREATE INDEX CONCURRENTLY, cannot run in a transaction block: such a cell cannot be atomic. */
function cannotBeInTransaction(n: Node | undefined): boolean {
  const k = kind(n);
  const b = body(n);
  return (k === 'IndexStmt' && b.concurrent === true) || (k === 'DropStmt' && b.concurrent === true) || k === 'ReindexStmt' || k === 'VacuumStmt' || k === 'CreatedbStmt';
}

/** Split cells of a runbook, in order, with their index and options. */
export interface RollbackLintCell {
  index: number;
  cell: LintCell;
  statements: CellStatement[];
}

/**
 * The rollback rules' findings (severity per {@link ROLLBACK_RULES}; `acknowledged` from the cell's `ack`):
 * - `rollback-not-atomic`: a rollback SQL cell with two or more DDL statements, outside any transaction (no BEGIN in
 *   it or open from an earlier rollback cell, no `autocommit:false`), none of which needs to run outside one: a
 *   failure halfway leaves half a rollback. PostgreSQL's DDL is transactional (docs: "Transactions", and each
 *   command's page).
 * - `rollback-enum-value-removed`: the up-steps add an enum value (ALTER TYPE … ADD VALUE) and the rollback swaps the
 *   type (a new enum type, ALTER COLUMN … TYPE) or drops it: PostgreSQL cannot remove an enum value (docs, ALTER
 *   TYPE), and once rows hold it the cast fails with SQLSTATE 22P02.
 * - `rollback-drops-new-column`: the rollback drops a column an up-step added: what the application wrote into it
 *   since is lost.
 */
export function rollbackFindings(cells: RollbackLintCell[], acks: (options: Record<string, unknown>) => Set<string>): Finding[] {
  const out: Finding[] = [];
  const up = cells.filter((c) => c.cell.kind === 'sql' && c.cell.options.rollback !== true && c.cell.options.skip !== true);
  const down = cells.filter((c) => c.cell.kind === 'sql' && c.cell.options.rollback === true && c.cell.options.skip !== true);
  if (!down.length) return out;
  const make = (rule: string, c: RollbackLintCell, st: CellStatement, message: string, help: string): Finding => ({
    rule, severity: ROLLBACK_RULES[rule], message, help, cell: c.index, statement: c.statements.indexOf(st), line: st.line, sql: st.text.trim(), source: 'runbook',
    acknowledged: acks(c.cell.options).has(rule) ? true : undefined,
  });

  // Enum values and columns the up-steps add.
  const addedValues: { type: string; value: string }[] = [];
  const addedColumns = new Set<string>();
  for (const c of up) {
    for (const st of c.statements) {
      const b = body(st.stmt);
      if (kind(st.stmt) === 'AlterEnumStmt' && typeof b.newVal === 'string' && !b.oldVal) addedValues.push({ type: typeName(b.typeName), value: b.newVal });
      if (kind(st.stmt) === 'AlterTableStmt') {
        for (const cmd of (b.cmds as Node[] | undefined) ?? []) {
          const cb = body(cmd);
          if (cb.subtype === 'AT_AddColumn') addedColumns.add(`${rel(b.relation)}.${String(body(cb.def as Node).colname ?? '')}`);
        }
      }
    }
  }

  let open = false;
  for (const c of down) {
    const ddl = c.statements.filter((st) => st.stmt && !NOT_DDL.has(kind(st.stmt)!));
    const hasTx = c.statements.some((st) => kind(st.stmt) === 'TransactionStmt');
    if (!open && !hasTx && c.cell.options.autocommit !== false && ddl.length >= 2 && !c.statements.some((st) => cannotBeInTransaction(st.stmt))) {
      out.push(make('rollback-not-atomic', c, ddl[0],
        `this rollback cell runs ${ddl.length} DDL statements one by one outside a transaction: if one fails, the ones before it stay done and the rollback is half-way`,
        'Make the cell one transaction: {"autocommit":false} on its fence (or BEGIN … COMMIT). PostgreSQL\'s DDL is transactional; only statements such as CREATE/DROP INDEX CONCURRENTLY must run outside one.'));
    }
    for (const st of c.statements) {
      if (kind(st.stmt) !== 'TransactionStmt') continue;
      const k = String(body(st.stmt).kind ?? '');
      if (k === 'TRANS_STMT_BEGIN' || k === 'TRANS_STMT_START') open = true;
      else if (k === 'TRANS_STMT_COMMIT' || k === 'TRANS_STMT_ROLLBACK' || k === 'TRANS_STMT_PREPARE') open = false;
    }
    for (const st of c.statements) {
      const k = kind(st.stmt);
      const b = body(st.stmt);
      if (k === 'AlterTableStmt') {
        for (const cmd of (b.cmds as Node[] | undefined) ?? []) {
          const cb = body(cmd);
          const col = `${rel(b.relation)}.${String(cb.name ?? '')}`;
          if (cb.subtype === 'AT_DropColumn' && addedColumns.has(col)) {
            out.push(make('rollback-drops-new-column', c, st,
              `the rollback drops ${col}, which an up-step adds: whatever the application writes into it between the change and the rollback is lost`,
              `Keep that data first (CREATE TABLE ${rel(b.relation)}_${String(cb.name)}_saved AS SELECT <key>, ${String(cb.name)} FROM ${rel(b.relation)}), or acknowledge that it may be lost: {"ack":["rollback-drops-new-column"]}.`));
          }
          if (cb.subtype === 'AT_AlterColumnType' && addedValues.length) {
            const target = typeName((body(cb.def as Node).typeName as Obj | undefined)?.names);
            const v = addedValues[0];
            out.push(make('rollback-enum-value-removed', c, st,
              `the rollback changes the type of ${col}${target ? ` to ${target}` : ''} while the up-steps add the enum value '${v.value}' to ${v.type}: once a row holds '${v.value}', the cast fails with SQLSTATE 22P02 (invalid input value for enum) and the rollback stops`,
              `Map the value first in the rollback (UPDATE ${rel(b.relation)} SET ${String(cb.name)} = '<old value>' WHERE ${String(cb.name)} = '${v.value}'), or keep the value: PostgreSQL cannot drop an enum value (ALTER TYPE).`));
          }
        }
      }
      if (k === 'DropStmt' && b.removeType === 'OBJECT_TYPE' && addedValues.length) {
        const dropped = ((b.objects as Node[] | undefined) ?? []).map((o) => typeName(body(o).names));
        const v = addedValues.find((x) => dropped.includes(x.type));
        if (v) {
          out.push(make('rollback-enum-value-removed', c, st,
            `the rollback drops type ${v.type}, to which the up-steps add the value '${v.value}': the columns that use it hold '${v.value}' once the application writes it`,
            `Map '${v.value}' to an old value before the type is swapped or dropped, in the rollback; PostgreSQL cannot drop an enum value.`));
        }
      }
    }
  }
  return out;
}
