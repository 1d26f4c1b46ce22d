// What one parsed statement does to locks, transactions and settings: the facts the runbook-level rules need.

import type {
  A_Const, AlterEnumStmt, AlterTableCmd, AlterTableStmt, ClusterStmt, Constraint, CreateStmt, CreateTableAsStmt,
  CreateTrigStmt, DefElem, DeleteStmt, DoStmt, DropStmt, IndexStmt, InsertStmt, LockStmt, MergeStmt, Node, PartitionCmd,
  RangeVar, RefreshMatViewStmt, ReindexStmt, RenameStmt, SelectStmt, TransactionStmt, UpdateStmt, VacuumRelation,
  VacuumStmt, VariableSetStmt, CopyStmt, ColumnDef, AlterDatabaseStmt, CreateSubscriptionStmt, CallStmt, CreateFunctionStmt, TypeName,
} from 'libpg-query';
import { columnTypeOf, type ColumnType } from './type-change';

/**
 * Table-level lock modes, weakest first. Source: PostgreSQL docs, 13.3.1 "Table-Level Locks"
 * (https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-TABLES).
 */
export const LOCK_MODES = [
  'ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE',
] as const;
export type LockMode = (typeof LOCK_MODES)[number];

/** `pg_locks.mode` spelling of each lock mode (e.g. `AccessExclusiveLock`). Source: PostgreSQL docs, 53.12 "pg_locks". */
export const PG_LOCKS_MODE: Record<LockMode, string> = {
  'ACCESS SHARE': 'AccessShareLock',
  'ROW SHARE': 'RowShareLock',
  'ROW EXCLUSIVE': 'RowExclusiveLock',
  'SHARE UPDATE EXCLUSIVE': 'ShareUpdateExclusiveLock',
  SHARE: 'ShareLock',
  'SHARE ROW EXCLUSIVE': 'ShareRowExclusiveLock',
  EXCLUSIVE: 'ExclusiveLock',
  'ACCESS EXCLUSIVE': 'AccessExclusiveLock',
};

/** 0 (ACCESS SHARE) … 7 (ACCESS EXCLUSIVE). */
export function lockLevel(mode: LockMode): number {
  return LOCK_MODES.indexOf(mode);
}

/** A lock that conflicts with ROW EXCLUSIVE (SHARE and stronger) blocks writes; these are the ones pre-flight
 *  and the lock_timeout rule care about. Source: docs 13.3.1, Table 13.2 "Conflicting Lock Modes". */
export function isStrongLock(mode: LockMode): boolean {
  return lockLevel(mode) >= lockLevel('SHARE');
}

/** The stronger of two lock modes. */
export function stronger(a: LockMode, b: LockMode): LockMode {
  return lockLevel(a) >= lockLevel(b) ? a : b;
}

/** Lock taken per statement kind, from docs 13.3.1 and each command's reference page. Shown in docs/safety.md. */
export const LOCK_TABLE: readonly { statement: string; mode: LockMode }[] = [
  { statement: 'SELECT', mode: 'ACCESS SHARE' },
  { statement: 'SELECT … FOR UPDATE / FOR SHARE', mode: 'ROW SHARE' },
  { statement: 'INSERT, UPDATE, DELETE, MERGE, COPY FROM', mode: 'ROW EXCLUSIVE' },
  { statement: 'VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY, REINDEX CONCURRENTLY, CREATE STATISTICS, COMMENT ON, ALTER TABLE VALIDATE CONSTRAINT / SET STATISTICS / CLUSTER ON / SET (storage parameter), ALTER TABLE ATTACH PARTITION (parent), DETACH PARTITION CONCURRENTLY, ALTER INDEX RENAME', mode: 'SHARE UPDATE EXCLUSIVE' },
  { statement: 'CREATE INDEX, REINDEX (on the table)', mode: 'SHARE' },
  { statement: 'CREATE TRIGGER, ALTER TABLE ADD FOREIGN KEY (both tables), ALTER TABLE ENABLE/DISABLE TRIGGER', mode: 'SHARE ROW EXCLUSIVE' },
  { statement: 'REFRESH MATERIALIZED VIEW CONCURRENTLY', mode: 'EXCLUSIVE' },
  { statement: 'ALTER TABLE (every other form), DROP TABLE, DROP INDEX, TRUNCATE, CLUSTER, VACUUM FULL, REFRESH MATERIALIZED VIEW, ALTER TABLE RENAME, LOCK TABLE (default)', mode: 'ACCESS EXCLUSIVE' },
];

/** A table (or index) a statement locks. */
export interface TableLock {
  /** Name as written, schema-qualified when it was (`public.users`), identifiers already case-folded by the parser. */
  table: string;
  mode: LockMode;
  /** `index` when the name is an index (DROP INDEX, REINDEX INDEX): its table is found through the catalog. */
  relkind?: 'index';
}

/** A `SET`/`RESET` of a setting. */
export interface SettingChange {
  name: string;
  /** New value as text; undefined for RESET / SET … TO DEFAULT (back to the session default). */
  value?: string;
  local: boolean;
  resetAll?: boolean;
}

/** Facts about one statement. */
export interface StatementFacts {
  /** Parse node type, e.g. `AlterTableStmt`. */
  kind: string;
  /** SQL command name for messages, e.g. `ALTER TABLE`, `CREATE INDEX CONCURRENTLY`. */
  command: string;
  locks: TableLock[];
  /** Tables this statement creates. */
  creates: string[];
  /** Tables named in `CREATE TABLE … IF NOT EXISTS` (also `CREATE TABLE AS`, `CREATE MATERIALIZED VIEW`): the
   *  statement creates them only when they are not there yet, so they may well exist and be in use. */
  createsIfNotExists: string[];
  /** Transaction control. */
  tx?: 'begin' | 'commit' | 'rollback' | 'commit-chain' | 'rollback-chain' | 'prepare' | 'savepoint' | 'rollback-to' | 'release';
  /** Set when the statement cannot run inside a transaction block (SQLSTATE 25001): the command's name. */
  noTransactionBlock?: string;
  setting?: SettingChange;
  /** Does work that grows with table size (DML, scan, rewrite, index build, a DO/CALL body) — it extends how long
   *  locks already held by the transaction stay held. */
  slow: boolean;
  /** Why it is slow, for messages ("updates rows", "rewrites the table" …). */
  slowBecause?: string;
  /** `ALTER TYPE … ADD VALUE`: the type name (last part) and the new label. */
  enumAdd?: { type: string; value: string };
  /** `DO` block: the body text. */
  doBody?: string;
  /** Columns the statement sets NOT NULL: `table.column`. */
  setNotNull?: string[];
  /** CHECK (col IS NOT NULL) constraints added (validated or not) and constraints validated. */
  notNullChecks?: { table: string; column: string; name?: string; validated: boolean }[];
  validates?: { table: string; name: string }[];
  /** `ALTER COLUMN … TYPE`: the column, the new type (undefined when unreadable), and the clauses that defeat the
   *  no-rewrite rules. */
  typeChanges?: { table: string; column: string; to: ColumnType | undefined; using: boolean; collate: boolean }[];
  /** True when the statement is slow only because of its type changes: it is not when none of them rewrites. */
  slowOnlyFromTypeChange?: boolean;
  /** Columns `ADD COLUMN` defines, with their parsed type names: a later type change knows the old type (read with
   *  `columnTypeOf` only then). Not kept for CREATE TABLE: a type change on a new table is never a hazard. */
  columnDefs?: { table: string; column: string; typeName: TypeName | undefined }[];
  /** `ADD COLUMN`: whether the new column is GENERATED, and the function its DEFAULT calls (for messages). */
  addColumns?: { column: string; generated: boolean; defaultFunction?: string }[];
  /** `ADD CONSTRAINT`: the kind (`CONSTR_UNIQUE` …), name, whether it uses an existing index, and its key columns. */
  addConstraints?: { contype: string; name?: string; usingIndex: boolean; columns: string[] }[];
  /** `CREATE INDEX`: what the invalid-index check and the wording of squawk's findings need. */
  index?: { name?: string; table: string; ifNotExists: boolean; concurrent: boolean; unique: boolean };
  /** `CALL`: the procedure's name as written (`app.batch`) and how many arguments are passed. */
  call?: { name: string; args: number };
  /** `CREATE [OR REPLACE] PROCEDURE`: its name as written and its body (undefined for a SQL-standard body). */
  procedure?: { name: string; body?: string };
  /** `UPDATE`/`DELETE`: its target, whether it is one batch (`WHERE … IN (SELECT … LIMIT n)`, or a `LIMIT`ed
   *  subquery in FROM/USING), whether it has a WHERE clause, and every table it names (for the planner check). */
  dml?: { target: string; batched: boolean; where: boolean; tables: string[] };
}

/** `schema.name` or `name`. */
export function rangeVarName(r: RangeVar | undefined): string {
  if (!r?.relname) return '';
  return r.schemaname ? `${r.schemaname}.${r.relname}` : r.relname;
}

/** True when two names written in statements denote the same table (an unqualified name matches any schema). */
export function sameTable(a: string, b: string): boolean {
  if (a === b) return true;
  const la = a.includes('.') ? a.slice(a.lastIndexOf('.') + 1) : a;
  const lb = b.includes('.') ? b.slice(b.lastIndexOf('.') + 1) : b;
  return la === lb && (!a.includes('.') || !b.includes('.'));
}

/** The single key and value of a parse node (`{AlterTableStmt: {...}}` → `['AlterTableStmt', {...}]`). */
export function nodeEntry(n: Node | undefined): [string, unknown] {
  if (!n) return ['', undefined];
  // for…in stops at the first key: no array of keys per call (this runs for nearly every node the analysis reads).
  for (const k in n) return [k, (n as Record<string, unknown>)[k]];
  return ['', undefined];
}

function strings(list: Node[] | undefined): string[] {
  return (list ?? []).map((n) => {
    const [k, v] = nodeEntry(n);
    return k === 'String' ? ((v as { sval?: string }).sval ?? '') : '';
  });
}

/** Text of an A_Const (`'3s'` → `3s`, `0` → `0`). */
function constText(n: Node | undefined): string | undefined {
  const [k, v] = nodeEntry(n);
  if (k !== 'A_Const') return undefined;
  const c = v as A_Const;
  if (c.sval) return c.sval.sval ?? '';
  if (c.ival) return String(c.ival.ival ?? 0);
  if (c.fval) return c.fval.fval;
  return undefined;
}

function defElems(list: Node[] | undefined): DefElem[] {
  return (list ?? []).map((n) => nodeEntry(n)).filter(([k]) => k === 'DefElem').map(([, v]) => v as DefElem);
}

function hasOption(list: Node[] | undefined, name: string): boolean {
  return defElems(list).some((d) => d.defname === name && constText(d.arg) !== 'false' && constText(d.arg) !== '0');
}

/** A `col IS NOT NULL` expression: the column name, else undefined. */
function isNotNullColumn(expr: Node | undefined): string | undefined {
  const [k, v] = nodeEntry(expr);
  if (k !== 'NullTest') return undefined;
  const t = v as { arg?: Node; nulltesttype?: string };
  if (t.nulltesttype !== 'IS_NOT_NULL') return undefined;
  const [ak, av] = nodeEntry(t.arg);
  if (ak !== 'ColumnRef') return undefined;
  const names = strings((av as { fields?: Node[] }).fields);
  return names[names.length - 1] || undefined;
}

/** Lock mode, slowness and extra locks of one ALTER TABLE subcommand. Source: PostgreSQL docs, ALTER TABLE, "Description". */
function alterTableCmd(cmd: AlterTableCmd, table: string, facts: StatementFacts): LockMode {
  switch (cmd.subtype) {
    case 'AT_SetStatistics': case 'AT_SetOptions': case 'AT_ResetOptions': case 'AT_ClusterOn': case 'AT_DropCluster':
    case 'AT_SetRelOptions': case 'AT_ResetRelOptions':
      return 'SHARE UPDATE EXCLUSIVE';
    case 'AT_ValidateConstraint':
      facts.slow = true;
      facts.slowBecause ??= 'validates a constraint (scans the table)';
      (facts.validates ??= []).push({ table, name: cmd.name ?? '' });
      return 'SHARE UPDATE EXCLUSIVE';
    case 'AT_EnableTrig': case 'AT_EnableAlwaysTrig': case 'AT_EnableReplicaTrig': case 'AT_DisableTrig':
    case 'AT_EnableTrigAll': case 'AT_DisableTrigAll': case 'AT_EnableTrigUser': case 'AT_DisableTrigUser':
      return 'SHARE ROW EXCLUSIVE';
    case 'AT_AttachPartition': {
      const p = nodeEntry(cmd.def)[1] as PartitionCmd | undefined;
      if (p?.name) facts.locks.push({ table: rangeVarName(p.name), mode: 'ACCESS EXCLUSIVE' });
      facts.slow = true;
      facts.slowBecause ??= 'scans the partition to check its bounds';
      return 'SHARE UPDATE EXCLUSIVE';
    }
    case 'AT_DetachPartition': {
      const p = nodeEntry(cmd.def)[1] as PartitionCmd | undefined;
      if (p?.concurrent) {
        facts.noTransactionBlock = 'ALTER TABLE … DETACH PARTITION … CONCURRENTLY';
        return 'SHARE UPDATE EXCLUSIVE';
      }
      if (p?.name) facts.locks.push({ table: rangeVarName(p.name), mode: 'ACCESS EXCLUSIVE' });
      return 'ACCESS EXCLUSIVE';
    }
    case 'AT_AlterColumnType': {
      // Slow only if it rewrites: decided by the analysis once the old type is known (type-change.ts).
      const def = nodeEntry(cmd.def)[1] as ColumnDef | undefined;
      (facts.typeChanges ??= []).push({ table, column: cmd.name ?? '', to: columnTypeOf(def?.typeName), using: def?.raw_default !== undefined, collate: def?.collClause !== undefined });
      return 'ACCESS EXCLUSIVE';
    }
    case 'AT_SetNotNull':
      (facts.setNotNull ??= []).push(`${table}.${cmd.name ?? ''}`);
      facts.slow = true;
      facts.slowBecause ??= 'sets NOT NULL (scans the table)';
      return 'ACCESS EXCLUSIVE';
    case 'AT_SetTableSpace': case 'AT_SetLogged': case 'AT_SetUnLogged': case 'AT_SetAccessMethod':
      facts.slow = true;
      facts.slowBecause ??= 'rewrites the table';
      return 'ACCESS EXCLUSIVE';
    case 'AT_AddColumn': {
      const col = nodeEntry(cmd.def)[1] as ColumnDef | undefined;
      if (col?.colname) {
        (facts.columnDefs ??= []).push({ table, column: col.colname, typeName: col.typeName });
        const cons = (col.constraints ?? []).map((c) => nodeEntry(c)[1] as Constraint);
        const def = cons.find((c) => c.contype === 'CONSTR_DEFAULT');
        const fn = nodeEntry(def?.raw_expr);
        (facts.addColumns ??= []).push({
          column: col.colname, generated: cons.some((c) => c.contype === 'CONSTR_GENERATED') || col.generated === 's',
          defaultFunction: fn[0] === 'FuncCall' ? strings((fn[1] as { funcname?: Node[] }).funcname).join('.') : undefined,
        });
      }
      for (const c of col?.constraints ?? []) {
        const con = nodeEntry(c)[1] as Constraint;
        if (con.contype === 'CONSTR_FOREIGN' && con.pktable) facts.locks.push({ table: rangeVarName(con.pktable), mode: 'SHARE ROW EXCLUSIVE' });
        if (con.contype === 'CONSTR_GENERATED' || con.contype === 'CONSTR_PRIMARY' || con.contype === 'CONSTR_UNIQUE') {
          facts.slow = true;
          facts.slowBecause ??= 'adds a column that needs a rewrite or an index build';
        }
      }
      return 'ACCESS EXCLUSIVE';
    }
    case 'AT_AddConstraint': {
      const con = nodeEntry(cmd.def)[1] as Constraint | undefined;
      if (!con) return 'ACCESS EXCLUSIVE';
      (facts.addConstraints ??= []).push({ contype: con.contype ?? '', name: con.conname, usingIndex: !!con.indexname, columns: strings(con.keys) });
      if (con.contype === 'CONSTR_CHECK') {
        const column = isNotNullColumn(con.raw_expr);
        if (column) (facts.notNullChecks ??= []).push({ table, column, name: con.conname, validated: !con.skip_validation });
      }
      const buildsIndex = con.contype === 'CONSTR_PRIMARY' || con.contype === 'CONSTR_UNIQUE' || con.contype === 'CONSTR_EXCLUSION';
      if (buildsIndex && !con.indexname) {
        facts.slow = true;
        facts.slowBecause ??= 'builds an index for the constraint';
      } else if (!buildsIndex && !con.skip_validation && con.contype !== 'CONSTR_NOTNULL') {
        facts.slow = true;
        facts.slowBecause ??= 'validates the new constraint (scans the table)';
      }
      if (con.contype === 'CONSTR_FOREIGN') {
        if (con.pktable) facts.locks.push({ table: rangeVarName(con.pktable), mode: 'SHARE ROW EXCLUSIVE' });
        return 'SHARE ROW EXCLUSIVE';
      }
      return 'ACCESS EXCLUSIVE';
    }
    default:
      return 'ACCESS EXCLUSIVE';
  }
}

function dmlTarget(kind: string, v: unknown): RangeVar | undefined {
  switch (kind) {
    case 'InsertStmt': return (v as InsertStmt).relation;
    case 'UpdateStmt': return (v as UpdateStmt).relation;
    case 'DeleteStmt': return (v as DeleteStmt).relation;
    case 'MergeStmt': return (v as MergeStmt).relation;
    default: return undefined;
  }
}

/** True when a parse subtree holds a SELECT with a LIMIT (the batch of a batched UPDATE/DELETE). */
function hasLimitedSelect(x: unknown): boolean {
  if (Array.isArray(x)) return x.some(hasLimitedSelect);
  if (!x || typeof x !== 'object') return false;
  const o = x as Record<string, unknown>;
  if (o.SelectStmt && (o.SelectStmt as SelectStmt).limitCount !== undefined) return true;
  return Object.keys(o).some((k) => hasLimitedSelect(o[k]));
}

/** Every table name (RangeVar) in a parse subtree. */
function tablesIn(x: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(x)) { for (const y of x) tablesIn(y, out); return out; }
  if (!x || typeof x !== 'object') return out;
  const o = x as Record<string, unknown>;
  if (o.RangeVar) out.add(rangeVarName(o.RangeVar as RangeVar));
  for (const k of Object.keys(o)) tablesIn(o[k], out);
  return out;
}

/** The shape of an UPDATE or DELETE the size and planner checks need. */
function dmlShape(kind: 'UpdateStmt' | 'DeleteStmt', s: UpdateStmt & DeleteStmt): NonNullable<StatementFacts['dml']> {
  const from = kind === 'UpdateStmt' ? s.fromClause : s.usingClause;
  const tables = tablesIn([s.whereClause, from, s.withClause], new Set([rangeVarName(s.relation)]));
  tables.delete('');
  return { target: rangeVarName(s.relation), batched: hasLimitedSelect([s.whereClause, from, s.withClause]), where: s.whereClause !== undefined, tables: [...tables] };
}

const TX_KINDS: Record<string, StatementFacts['tx']> = {
  TRANS_STMT_BEGIN: 'begin', TRANS_STMT_START: 'begin', TRANS_STMT_COMMIT: 'commit', TRANS_STMT_ROLLBACK: 'rollback',
  TRANS_STMT_PREPARE: 'prepare', TRANS_STMT_SAVEPOINT: 'savepoint', TRANS_STMT_ROLLBACK_TO: 'rollback-to', TRANS_STMT_RELEASE: 'release',
};

/** Lock modes by LockStmt.mode number (AccessShareLock = 1 … AccessExclusiveLock = 8, src/include/storage/lockdefs.h). */
function lockStmtMode(n: number | undefined): LockMode {
  return LOCK_MODES[Math.min(Math.max((n ?? 8) - 1, 0), 7)];
}

/**
 * Facts about a statement from its parse tree.
 *
 * @param stmt a statement node from libpg-query (`{AlterTableStmt: {...}}`)
 * @param serverMajor the server's major version (e.g. 16); version-dependent facts (ALTER TYPE … ADD VALUE in a
 *   transaction block, allowed from 12) follow it
 */
export function analyzeStatement(stmt: Node | undefined, serverMajor: number): StatementFacts {
  const [kind, v] = nodeEntry(stmt);
  // Every field present from the start: one object shape for all statements keeps the analysis' property reads fast.
  const facts: StatementFacts = {
    kind, command: kind.endsWith('Stmt') ? kind.slice(0, -4) : kind, locks: [], creates: [], createsIfNotExists: [], tx: undefined, noTransactionBlock: undefined,
    setting: undefined, slow: false, slowBecause: undefined, enumAdd: undefined, doBody: undefined, setNotNull: undefined, notNullChecks: undefined,
    validates: undefined, typeChanges: undefined, slowOnlyFromTypeChange: undefined, columnDefs: undefined, addColumns: undefined,
    addConstraints: undefined, index: undefined, call: undefined, procedure: undefined, dml: undefined,
  };
  const lock = (r: RangeVar | undefined, mode: LockMode, relkind?: 'index'): void => {
    const table = rangeVarName(r);
    if (table) facts.locks.push(relkind ? { table, mode, relkind } : { table, mode });
  };
  switch (kind) {
    case 'AlterTableStmt': {
      const a = v as AlterTableStmt;
      const table = rangeVarName(a.relation);
      facts.command = a.objtype === 'OBJECT_INDEX' ? 'ALTER INDEX' : 'ALTER TABLE';
      let mode: LockMode = 'ACCESS SHARE';
      for (const c of a.cmds ?? []) mode = stronger(mode, alterTableCmd(nodeEntry(c)[1] as AlterTableCmd, table, facts));
      facts.locks.unshift(a.objtype === 'OBJECT_INDEX' ? { table, mode, relkind: 'index' } : { table, mode });
      if (facts.typeChanges && !facts.slow) {
        // Until the old types are known, a type change counts as a rewrite (the analysis may take that back).
        facts.slow = true;
        facts.slowOnlyFromTypeChange = true;
        facts.slowBecause = 'changes a column type (rewrites the table)';
      }
      break;
    }
    case 'IndexStmt': {
      const i = v as IndexStmt;
      facts.command = i.concurrent ? 'CREATE INDEX CONCURRENTLY' : 'CREATE INDEX';
      lock(i.relation, i.concurrent ? 'SHARE UPDATE EXCLUSIVE' : 'SHARE');
      facts.index = { name: i.idxname, table: rangeVarName(i.relation), ifNotExists: !!i.if_not_exists, concurrent: !!i.concurrent, unique: !!i.unique };
      if (i.concurrent) facts.noTransactionBlock = 'CREATE INDEX CONCURRENTLY';
      facts.slow = true;
      facts.slowBecause = 'builds an index';
      break;
    }
    case 'DropStmt': {
      const d = v as DropStmt;
      const names = (d.objects ?? []).map((o) => {
        const [k, ov] = nodeEntry(o);
        return k === 'List' ? strings((ov as { items?: Node[] }).items).join('.') : '';
      }).filter(Boolean);
      if (d.removeType === 'OBJECT_TABLE' || d.removeType === 'OBJECT_MATVIEW') {
        facts.command = d.removeType === 'OBJECT_TABLE' ? 'DROP TABLE' : 'DROP MATERIALIZED VIEW';
        for (const t of names) facts.locks.push({ table: t, mode: 'ACCESS EXCLUSIVE' });
      } else if (d.removeType === 'OBJECT_INDEX') {
        facts.command = d.concurrent ? 'DROP INDEX CONCURRENTLY' : 'DROP INDEX';
        for (const t of names) facts.locks.push({ table: t, mode: d.concurrent ? 'SHARE UPDATE EXCLUSIVE' : 'ACCESS EXCLUSIVE', relkind: 'index' });
        if (d.concurrent) facts.noTransactionBlock = 'DROP INDEX CONCURRENTLY';
      } else {
        facts.command = `DROP ${String(d.removeType ?? '').replace(/^OBJECT_/, '')}`;
      }
      break;
    }
    case 'TruncateStmt':
      facts.command = 'TRUNCATE';
      for (const r of (v as { relations?: Node[] }).relations ?? []) lock(nodeEntry(r)[1] as RangeVar, 'ACCESS EXCLUSIVE');
      break;
    case 'RenameStmt': {
      const r = v as RenameStmt;
      facts.command = 'ALTER … RENAME';
      if (r.renameType === 'OBJECT_INDEX') lock(r.relation, 'SHARE UPDATE EXCLUSIVE', 'index');
      else if (r.relation) lock(r.relation, 'ACCESS EXCLUSIVE');
      break;
    }
    case 'LockStmt': {
      const l = v as LockStmt;
      facts.command = 'LOCK TABLE';
      for (const r of l.relations ?? []) lock(nodeEntry(r)[1] as RangeVar, lockStmtMode(l.mode));
      break;
    }
    case 'CreateTrigStmt':
      facts.command = 'CREATE TRIGGER';
      lock((v as CreateTrigStmt).relation, 'SHARE ROW EXCLUSIVE');
      break;
    case 'VacuumStmt': {
      const s = v as VacuumStmt;
      const full = hasOption(s.options, 'full');
      facts.command = s.is_vacuumcmd ? (full ? 'VACUUM FULL' : 'VACUUM') : 'ANALYZE';
      if (s.is_vacuumcmd) facts.noTransactionBlock = facts.command;
      for (const r of s.rels ?? []) lock((nodeEntry(r)[1] as VacuumRelation).relation, full ? 'ACCESS EXCLUSIVE' : 'SHARE UPDATE EXCLUSIVE');
      facts.slow = true;
      facts.slowBecause = full ? 'rewrites the table' : 'scans the table';
      break;
    }
    case 'ClusterStmt': {
      const c = v as ClusterStmt;
      facts.command = 'CLUSTER';
      if (c.relation) lock(c.relation, 'ACCESS EXCLUSIVE'); else facts.noTransactionBlock = 'CLUSTER without a table name';
      facts.slow = true;
      facts.slowBecause = 'rewrites the table';
      break;
    }
    case 'ReindexStmt': {
      const r = v as ReindexStmt;
      const concurrent = hasOption(r.params, 'concurrently');
      facts.command = concurrent ? 'REINDEX CONCURRENTLY' : 'REINDEX';
      if (concurrent) facts.noTransactionBlock = 'REINDEX CONCURRENTLY';
      if (r.kind === 'REINDEX_OBJECT_SCHEMA' || r.kind === 'REINDEX_OBJECT_DATABASE' || r.kind === 'REINDEX_OBJECT_SYSTEM') {
        facts.noTransactionBlock = `REINDEX ${r.kind.replace('REINDEX_OBJECT_', '')}`;
      }
      if (r.relation) lock(r.relation, concurrent ? 'SHARE UPDATE EXCLUSIVE' : 'SHARE', r.kind === 'REINDEX_OBJECT_INDEX' ? 'index' : undefined);
      facts.slow = true;
      facts.slowBecause = 'rebuilds indexes';
      break;
    }
    case 'RefreshMatViewStmt': {
      const r = v as RefreshMatViewStmt;
      facts.command = r.concurrent ? 'REFRESH MATERIALIZED VIEW CONCURRENTLY' : 'REFRESH MATERIALIZED VIEW';
      lock(r.relation, r.concurrent ? 'EXCLUSIVE' : 'ACCESS EXCLUSIVE');
      facts.slow = true;
      facts.slowBecause = 'recomputes the materialized view';
      break;
    }
    case 'CreateStmt': {
      const c = v as CreateStmt;
      facts.command = c.if_not_exists ? 'CREATE TABLE IF NOT EXISTS' : 'CREATE TABLE';
      (c.if_not_exists ? facts.createsIfNotExists : facts.creates).push(rangeVarName(c.relation));
      // A foreign key in CREATE TABLE takes SHARE ROW EXCLUSIVE on the referenced table (docs 13.3.1).
      for (const e of c.tableElts ?? []) {
        const [ek, ev] = nodeEntry(e);
        const cons = ek === 'Constraint' ? [ev as Constraint] : ek === 'ColumnDef' ? ((ev as ColumnDef).constraints ?? []).map((x) => nodeEntry(x)[1] as Constraint) : [];
        for (const con of cons) if (con.contype === 'CONSTR_FOREIGN' && con.pktable) facts.locks.push({ table: rangeVarName(con.pktable), mode: 'SHARE ROW EXCLUSIVE' });
      }
      // PARTITION OF takes ACCESS EXCLUSIVE on the parent (docs 5.12.2.2 "Partition Maintenance": prefer ATTACH
      // PARTITION); INHERITS takes SHARE UPDATE EXCLUSIVE on it (src/backend/commands/tablecmds.c, MergeAttributes).
      for (const p of c.inhRelations ?? []) lock(nodeEntry(p)[1] as RangeVar, c.partbound ? 'ACCESS EXCLUSIVE' : 'SHARE UPDATE EXCLUSIVE');
      break;
    }
    case 'CreateTableAsStmt': {
      const c = v as CreateTableAsStmt;
      facts.command = c.objtype === 'OBJECT_MATVIEW' ? 'CREATE MATERIALIZED VIEW' : 'CREATE TABLE AS';
      (c.if_not_exists ? facts.createsIfNotExists : facts.creates).push(rangeVarName(c.into?.rel));
      facts.slow = true;
      facts.slowBecause = 'runs a query to fill the new table';
      break;
    }
    case 'SelectStmt': {
      const s = v as SelectStmt;
      facts.command = 'SELECT';
      if (s.intoClause?.rel) facts.creates.push(rangeVarName(s.intoClause.rel));
      // A SELECT with a FROM clause (or a set operation) reads tables: its time grows with them.
      if ((s.fromClause?.length ?? 0) > 0 || s.op !== 'SETOP_NONE' || s.larg) {
        facts.slow = true;
        facts.slowBecause = 'reads tables';
      }
      if (s.lockingClause?.length) for (const f of s.fromClause ?? []) if (nodeEntry(f)[0] === 'RangeVar') lock(nodeEntry(f)[1] as RangeVar, 'ROW SHARE');
      break;
    }
    case 'InsertStmt': case 'UpdateStmt': case 'DeleteStmt': case 'MergeStmt': {
      facts.command = kind.replace('Stmt', '').toUpperCase();
      lock(dmlTarget(kind, v), 'ROW EXCLUSIVE');
      if (kind === 'UpdateStmt' || kind === 'DeleteStmt') facts.dml = dmlShape(kind, v as UpdateStmt & DeleteStmt);
      facts.slow = true;
      facts.slowBecause = kind === 'InsertStmt' ? 'inserts rows' : kind === 'UpdateStmt' ? 'updates rows' : kind === 'DeleteStmt' ? 'deletes rows' : 'merges rows';
      break;
    }
    case 'CopyStmt': {
      const c = v as CopyStmt;
      facts.command = 'COPY';
      if (c.is_from) lock(c.relation, 'ROW EXCLUSIVE');
      facts.slow = true;
      facts.slowBecause = 'copies rows';
      break;
    }
    case 'DoStmt': {
      facts.command = 'DO';
      const body = defElems((v as DoStmt).args).find((d) => d.defname === 'as');
      facts.doBody = constText(body?.arg) ?? (nodeEntry(body?.arg)[0] === 'String' ? (nodeEntry(body?.arg)[1] as { sval?: string }).sval : undefined) ?? '';
      facts.slow = true;
      facts.slowBecause = 'runs a procedural block';
      break;
    }
    case 'CallStmt': {
      const f = (v as CallStmt).funccall;
      facts.command = 'CALL';
      facts.call = { name: strings(f?.funcname).join('.'), args: f?.args?.length ?? 0 };
      facts.slow = true;
      facts.slowBecause = 'runs a procedure';
      break;
    }
    case 'CreateFunctionStmt': {
      const f = v as CreateFunctionStmt;
      if (!f.is_procedure) break;
      facts.command = 'CREATE PROCEDURE';
      const as = defElems(f.options).find((d) => d.defname === 'as');
      // `AS $$ … $$` is a list of one String (two for a C function's file and symbol).
      const body = nodeEntry(as?.arg)[0] === 'List' ? strings((nodeEntry(as?.arg)[1] as { items?: Node[] }).items)[0] : undefined;
      facts.procedure = { name: strings(f.funcname).join('.'), body };
      break;
    }
    case 'TransactionStmt': {
      const t = v as TransactionStmt;
      facts.command = String(t.kind ?? '').replace('TRANS_STMT_', '').replace(/_/g, ' ');
      facts.tx = TX_KINDS[t.kind ?? ''];
      if (t.chain && facts.tx === 'commit') facts.tx = 'commit-chain';
      if (t.chain && facts.tx === 'rollback') facts.tx = 'rollback-chain';
      if (t.kind === 'TRANS_STMT_COMMIT_PREPARED' || t.kind === 'TRANS_STMT_ROLLBACK_PREPARED') facts.noTransactionBlock = facts.command;
      break;
    }
    case 'VariableSetStmt': {
      const s = v as VariableSetStmt;
      facts.command = s.kind === 'VAR_RESET' || s.kind === 'VAR_RESET_ALL' ? 'RESET' : 'SET';
      if (s.kind === 'VAR_RESET_ALL') facts.setting = { name: '', local: false, resetAll: true };
      else if (s.name) facts.setting = { name: s.name.toLowerCase(), value: s.kind === 'VAR_SET_VALUE' ? (s.args ?? []).map(constText).join(', ') : undefined, local: !!s.is_local };
      break;
    }
    case 'AlterEnumStmt': {
      const e = v as AlterEnumStmt;
      facts.command = 'ALTER TYPE';
      if (e.newVal && !e.oldVal) {
        const names = strings(e.typeName);
        facts.enumAdd = { type: names[names.length - 1], value: e.newVal };
        // Source: PostgreSQL 12 release notes / ALTER TYPE docs: before 12, ADD VALUE cannot run in a transaction block.
        if (serverMajor < 12) facts.noTransactionBlock = 'ALTER TYPE … ADD VALUE (before PostgreSQL 12)';
      }
      break;
    }
    case 'CreatedbStmt': facts.command = 'CREATE DATABASE'; facts.noTransactionBlock = 'CREATE DATABASE'; break;
    case 'DropdbStmt': facts.command = 'DROP DATABASE'; facts.noTransactionBlock = 'DROP DATABASE'; break;
    case 'AlterSystemStmt': facts.command = 'ALTER SYSTEM'; facts.noTransactionBlock = 'ALTER SYSTEM'; break;
    case 'CreateTableSpaceStmt': facts.command = 'CREATE TABLESPACE'; facts.noTransactionBlock = 'CREATE TABLESPACE'; break;
    case 'DropTableSpaceStmt': facts.command = 'DROP TABLESPACE'; facts.noTransactionBlock = 'DROP TABLESPACE'; break;
    case 'AlterDatabaseStmt':
      facts.command = 'ALTER DATABASE';
      if (defElems((v as AlterDatabaseStmt).options).some((d) => d.defname === 'tablespace')) facts.noTransactionBlock = 'ALTER DATABASE … SET TABLESPACE';
      break;
    case 'CreateSubscriptionStmt': {
      facts.command = 'CREATE SUBSCRIPTION';
      const opts = defElems((v as CreateSubscriptionStmt).options);
      const slot = opts.find((d) => d.defname === 'create_slot');
      if (!slot || constText(slot.arg) !== 'false') facts.noTransactionBlock = 'CREATE SUBSCRIPTION (with create_slot)';
      break;
    }
    case 'DropSubscriptionStmt':
      // Refused in a transaction block when the subscription has a replication slot, which only the subscriber knows.
      facts.command = 'DROP SUBSCRIPTION';
      facts.noTransactionBlock = 'DROP SUBSCRIPTION (with a replication slot)';
      break;
    default:
      break;
  }
  return facts;
}

/**
 * Every string constant and type name a statement mentions, for the "enum value used in the same transaction"
 * rule: a later statement that casts to the type or names the new label is a use.
 */
export function mentions(stmt: Node | undefined): { strings: Set<string>; types: Set<string> } {
  const out = { strings: new Set<string>(), types: new Set<string>() };
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) { for (const y of x) walk(y); return; }
    if (!x || typeof x !== 'object') return;
    const o = x as Record<string, unknown>;
    if (o.A_Const && typeof o.A_Const === 'object') {
      const s = (o.A_Const as A_Const).sval?.sval;
      if (s !== undefined) out.strings.add(s);
    }
    // Type names appear both wrapped (`{TypeName: {...}}`) and as a `typeName` field (casts, column definitions).
    for (const t of [o.TypeName, o.typeName]) {
      if (t && typeof t === 'object' && !Array.isArray(t)) {
        const names = strings((t as { names?: Node[] }).names);
        if (names.length) out.types.add(names[names.length - 1]);
      }
    }
    for (const k of Object.keys(o)) walk(o[k]);
  };
  walk(stmt);
  return out;
}

/**
 * Whether two table lock modes conflict. Source: PostgreSQL docs, 13.3.1, Table 13.2 "Conflicting Lock Modes".
 * Each entry lists the modes (by level) that the mode at that level conflicts with.
 */
const CONFLICTS: readonly (readonly number[])[] = [
  [7], // ACCESS SHARE
  [6, 7], // ROW SHARE
  [4, 5, 6, 7], // ROW EXCLUSIVE
  [3, 4, 5, 6, 7], // SHARE UPDATE EXCLUSIVE
  [2, 3, 5, 6, 7], // SHARE
  [2, 3, 4, 5, 6, 7], // SHARE ROW EXCLUSIVE
  [1, 2, 3, 4, 5, 6, 7], // EXCLUSIVE
  [0, 1, 2, 3, 4, 5, 6, 7], // ACCESS EXCLUSIVE
];

/**
 * True when a transaction already holding `held` on a table cannot wait for `wanted` there: every mode that conflicts
 * with `wanted` conflicts with one it holds, so no other session can hold one (a session's own locks never conflict
 * with each other, and PostgreSQL queues a request from a holder ahead of the waiters its locks block: lock.c,
 * ProcSleep). Holding ACCESS EXCLUSIVE covers every request; holding SHARE does not cover SHARE UPDATE EXCLUSIVE,
 * since another session may hold SHARE too.
 */
export function heldCovers(held: Iterable<LockMode>, wanted: LockMode): boolean {
  const blockedByHeld = new Set<number>();
  for (const m of held) for (const x of CONFLICTS[lockLevel(m)]) blockedByHeld.add(x);
  return CONFLICTS[lockLevel(wanted)].every((x) => blockedByHeld.has(x));
}

/** True when a session holding `held` makes a request for `wanted` wait (docs 13.3.1, Table 13.2). */
export function conflicts(held: LockMode, wanted: LockMode): boolean {
  return CONFLICTS[lockLevel(wanted)].includes(lockLevel(held));
}

/** `AccessExclusiveLock` → `ACCESS EXCLUSIVE`; undefined for non-table modes. */
export function fromPgLocksMode(mode: string): LockMode | undefined {
  return LOCK_MODES.find((m) => PG_LOCKS_MODE[m] === mode);
}
