// Findings squawk cannot make: they follow the session through the runbook's cells in order (transaction state,
// locks held, settings in force, tables created earlier).

import { scanSync } from 'libpg-query';
import { analyzeStatement, heldCovers, isStrongLock, lockLevel, mentions, sameTable, type LockMode, type StatementFacts } from './analyze';
import type { CellStatement } from './analyze-statements';
import type { Finding, Severity } from './findings-types';
import { columnTypeOf, rewriteDecision, type ColumnType, type RewriteDecision } from './type-change';
import type { TypeName } from 'libpg-query';
import { ROLLBACK_RULES } from './rollback-rules';

/** Our rule ids, with severity. docs/safety.md documents each with the SQL that triggers it. */
export const RUNBOOK_RULES: Readonly<Record<string, Severity>> = {
  'cannot-run-in-transaction': 'error',
  'work-under-access-exclusive': 'error',
  'multiple-tables-access-exclusive': 'warning',
  'enum-value-used-in-same-transaction': 'error',
  'batched-do-block': 'warning',
  'commit-in-transaction-block': 'error',
  'call-in-transaction-block': 'warning',
  'require-lock-timeout': 'warning',
  'transaction-nesting': 'warning',
  'transaction-left-open': 'warning',
  'failed-transaction': 'error',
  // Made with the catalog (lint.ts, planner.ts): they need a connection.
  'invalid-index-exists': 'error',
  'batch-seq-scan': 'warning',
  'unbatched-dml': 'warning',
  'plan-unchecked': 'info',
  // The rollback section (rollback-rules.ts).
  ...ROLLBACK_RULES,
};

/** A statement with what the analysis knew when it reached it. */
export interface AnalyzedStatement {
  cell: number;
  index: number;
  statement: CellStatement;
  facts: StatementFacts;
  /** Transaction state of the session just before the statement. */
  txBefore: 'idle' | 'in transaction' | 'failed';
  lockTimeoutInForce: boolean;
  statementTimeoutInForce: boolean;
  /** Tables this statement locks that were created earlier in the runbook (nobody else can be using them). */
  newTables: string[];
  /** `table.column` pairs with a validated `CHECK (column IS NOT NULL)` seen earlier in the runbook (filled only for
   *  statements that SET NOT NULL). */
  provenNotNull: ReadonlySet<string>;
  /** Per `ALTER COLUMN … TYPE` of the statement: whether it rewrites, once the old type is known (from the runbook
   *  or the connection); `rewrites: undefined` when it is not. */
  typeChanges?: (RewriteDecision & { table: string; column: string })[];
}

/** Options of {@link analyzeRunbook}. */
export interface AnalyzeOptions {
  /** Server major version (e.g. 16); default 18. */
  serverMajor: number;
  lockTimeoutDefault?: string;
  statementTimeoutDefault?: string;
  initialTxState?: 'idle' | 'in transaction' | 'failed';
  /**
   * For the tables named in `CREATE … IF NOT EXISTS` (names as written; see {@link tablesCreatedIfNotExists}):
   * whether the connection has them. Missing there: the statement creates the table, which counts as new (case 04).
   * There: the statement does nothing (PostgreSQL only raises a NOTICE), so it takes no lock either. Unknown (no
   * connection, not in the map): the table may exist and be in use, so it does not count as new.
   */
  tablesOnConnection?: ReadonlyMap<string, boolean>;
  /** Current types of columns on the connection, by `table.column` as written (see {@link columnsChangingType}). */
  columnTypes?: ReadonlyMap<string, ColumnType>;
  /**
   * Bodies of procedures on the connection, by name as written in `CALL` (see {@link proceduresCalled}): the body
   * text, or null when the procedure exists but its body cannot be read (a C function, several overloads). Absent:
   * not looked up (no connection) or not found.
   */
  procedureBodies?: ReadonlyMap<string, string | null>;
}

/** The result: our findings plus every statement's context, which lint.ts uses to filter squawk's findings. */
export interface RunbookAnalysis {
  findings: Finding[];
  /** Per cell index (SQL cells only have entries), its statements. */
  cells: Map<number, AnalyzedStatement[]>;
}

/** True when a timeout setting's text turns the timeout on (`0`, `'0'`, `0ms`, empty and `DEFAULT` do not). */
export function timeoutOn(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().replace(/^'(.*)'$/, '$1').trim().toLowerCase();
  if (v === '' || v === 'default') return false;
  const m = /^(-?\d+(?:\.\d+)?)\s*[a-z]*$/.exec(v);
  return m ? Number(m[1]) > 0 : true;
}

const NO_COLUMNS: ReadonlySet<string> = new Set();

// Facts depend only on the statement's parse tree and the server version; a statement object shared by identical
// cells (lint.ts splits each distinct text once) is analyzed once.
const factsCache = new WeakMap<CellStatement, { major: number; facts: StatementFacts }>();
function factsOf(st: CellStatement, major: number): StatementFacts {
  const hit = factsCache.get(st);
  if (hit && hit.major === major) return hit.facts;
  const facts = analyzeStatement(st.stmt, major);
  factsCache.set(st, { major, facts });
  return facts;
}

/**
 * Every table a `CREATE … IF NOT EXISTS` of these cells names (as written, e.g. `orders` or `app.orders`): the ones
 * to look up on the connection before {@link analyzeRunbook}, which takes those not found as `absentTables`.
 */
export function tablesCreatedIfNotExists(cells: AnalyzedCellInput[], serverMajor: number): string[] {
  const names = new Set<string>();
  for (const c of cells) for (const st of c.statements ?? []) if (st.stmt) for (const t of factsOf(st, serverMajor).createsIfNotExists) if (t) names.add(t);
  return [...names];
}

/** A table lock the open transaction holds: its strongest mode (and who took it), and every mode taken. */
interface HeldLock { table: string; mode: LockMode; modes: Set<LockMode>; cell: number; line: number; command: string }
interface Position { cell: number; index: number }

function before(a: Position, b: Position): boolean {
  return a.cell < b.cell || (a.cell === b.cell && a.index < b.index);
}

/** Words of a PL/pgSQL body outside strings and comments, upper-cased (the SQL scanner tokenizes PL/pgSQL well enough). */
function bodyWords(body: string): Set<string> {
  try {
    return new Set(scanSync(body).tokens.filter((t) => t.tokenName !== 'SCONST' && !t.tokenName.endsWith('COMMENT')).map((t) => t.text.toUpperCase()));
  } catch {
    return new Set(body.toUpperCase().match(/[A-Z_]+/g) ?? []);
  }
}

/**
 * `table.column` (as written) of every `ALTER COLUMN … TYPE` in these cells: the columns whose current type to read
 * from the connection before {@link analyzeRunbook} (its `columnTypes`).
 */
export function columnsChangingType(cells: AnalyzedCellInput[], serverMajor: number): string[] {
  const out = new Set<string>();
  for (const c of cells) for (const st of c.statements ?? []) if (st.stmt) for (const t of factsOf(st, serverMajor).typeChanges ?? []) out.add(`${t.table}.${t.column}`);
  return [...out];
}

/** Names (as written) of the procedures these cells `CALL`: to look up on the connection (`procedureBodies`). */
export function proceduresCalled(cells: AnalyzedCellInput[], serverMajor: number): string[] {
  const out = new Set<string>();
  for (const c of cells) for (const st of c.statements ?? []) if (st.stmt) { const call = factsOf(st, serverMajor).call; if (call?.name) out.add(call.name); }
  return [...out];
}

/** Whether a procedure body ends transactions (PL/pgSQL COMMIT/ROLLBACK), calls another procedure, or neither. */
function bodyCommits(body: string): 'commits' | 'calls' | 'no' {
  const w = bodyWords(body);
  if (w.has('COMMIT') || w.has('ROLLBACK')) return 'commits';
  return w.has('CALL') ? 'calls' : 'no';
}

/** The open transaction's held locks after it takes `locks` (strongest mode, and who took it, per table). */
function takeLocks(held: HeldLock[], locks: { table: string; mode: LockMode }[], cell: number, line: number, command: string): void {
  for (const l of locks) {
    const h = held.find((x) => sameTable(x.table, l.table));
    if (!h) held.push({ table: l.table, mode: l.mode, modes: new Set([l.mode]), cell, line, command });
    else {
      h.modes.add(l.mode);
      if (lockLevel(l.mode) > lockLevel(h.mode)) Object.assign(h, { mode: l.mode, cell, line, command });
    }
  }
}

/** Whether each type change of a statement rewrites, from the column's current type when it is known. */
function typeChangeDecisions(changes: NonNullable<StatementFacts['typeChanges']>, columnType: (table: string, column: string) => ColumnType | undefined, connected: boolean): (RewriteDecision & { table: string; column: string })[] {
  return changes.map((tc) => {
    const from = columnType(tc.table, tc.column);
    const d: RewriteDecision = from && tc.to ? rewriteDecision(from, tc.to, tc)
      : { rewrites: undefined, reason: `the current type of ${tc.table}.${tc.column} is not known${connected ? ' (not found on this connection)' : ' without a connection'}` };
    return { ...d, table: tc.table, column: tc.column };
  });
}

/**
 * The finding for a CALL run inside a transaction block: `commit-in-transaction-block` when the procedure's body
 * (created earlier in the runbook, else read from the connection) commits, `call-in-transaction-block` when it cannot
 * be told, none when the body neither commits nor calls another procedure.
 */
function callFinding(name: string, procedures: { name: string; body?: string; cell: number; line: number }[], bodies: ReadonlyMap<string, string | null> | undefined,
  at: (cell: number, line: number) => string, opened: string): { rule: string; message: string; help: string } | undefined {
  const mine = [...procedures].reverse().find((p) => sameTable(p.name, name));
  const body = mine ? mine.body : bodies?.get(name);
  const verdict = typeof body === 'string' ? bodyCommits(body) : undefined;
  if (verdict === 'no') return undefined;
  if (verdict === 'commits') {
    return {
      rule: 'commit-in-transaction-block',
      message: `CALL ${name} runs a procedure that ends transactions (COMMIT or ROLLBACK in its body${mine ? `; created at ${at(mine.cell, mine.line)}` : ''}) inside the transaction ${opened}: transaction control is allowed only when CALL runs in its own transaction, so it fails with SQLSTATE 2D000 (invalid_transaction_termination) and the transaction is aborted.`,
      help: `COMMIT (or ROLLBACK) first, and CALL ${name} in a cell of its own outside BEGIN … COMMIT.`,
    };
  }
  const unknown = verdict === 'calls' ? 'its body calls another procedure, which may'
    : body === null ? 'its body cannot be read here, so it may'
      : bodies ? 'it was not found on this connection, so it may' : 'without a connection its body cannot be read, so it may';
  return {
    rule: 'call-in-transaction-block',
    message: `CALL ${name} runs inside the transaction ${opened}; ${unknown} COMMIT or ROLLBACK: a procedure that does fails with SQLSTATE 2D000 (invalid_transaction_termination) when CALL runs inside a transaction block, and the transaction is aborted.`,
    help: `If ${name} commits, COMMIT first and CALL it in a cell of its own outside BEGIN … COMMIT; lint with --connection to read its body.`,
  };
}

/** The runnable-cell numbers of the cells being analyzed (what `--from` takes), by index; set per analysis. */
let cellNumbers: readonly (number | undefined)[] = [];

/** `cell 3 line 2` for messages: the runnable-cell number `--from` takes (`runbook run --dry-run` prints it). */
function where(cell: number, line: number, current: number): string {
  return cell === current ? `line ${line}` : `cell ${cellNumbers[cell] ?? cell + 1} line ${line}`;
}

/** A cell as the analysis sees it: its statements (undefined for non-SQL cells) and its options (docs/format.md). */
export interface AnalyzedCellInput {
  statements?: CellStatement[];
  options?: Record<string, unknown>;
  /** Its runnable-cell number (messages name cells by it); default: its index + 1. */
  number?: number;
}

/**
 * Follows the session through the cells in order and makes the runbook-level findings.
 *
 * Cell options are honoured as the runner applies them (docs/format.md, "Cell options"): `skip` cells never run;
 * `rollback` cells run only in a rollback, so they are followed as a sequence of their own, from the same starting
 * state; `autocommit: false` wraps the cell in BEGIN … COMMIT; `lock_timeout` and `timeout` (statement_timeout) are
 * in force for the cell.
 *
 * @param cells every cell of the runbook in order; `statements` is undefined for non-SQL cells (skipped)
 */
export function analyzeRunbook(cells: AnalyzedCellInput[], options: AnalyzeOptions): RunbookAnalysis {
  cellNumbers = cells.map((c) => c.number);
  const runs = (c: AnalyzedCellInput): boolean => c.options?.skip !== true;
  const forward = analyzeSequence(cells, (c) => runs(c) && c.options?.rollback !== true, options);
  const rollback = analyzeSequence(cells, (c) => runs(c) && c.options?.rollback === true, options);
  for (const [k, v] of rollback.cells) forward.cells.set(k, v);
  return { findings: [...forward.findings, ...rollback.findings], cells: forward.cells };
}

function analyzeSequence(cells: AnalyzedCellInput[], include: (c: AnalyzedCellInput) => boolean, options: AnalyzeOptions): RunbookAnalysis {
  const findings: Finding[] = [];
  const out = new Map<number, AnalyzedStatement[]>();
  let tx: 'idle' | 'in transaction' | 'failed' = options.initialTxState ?? 'idle';
  let txOpenedAt: { cell: number; line: number; statement: number } | undefined = tx === 'idle' ? undefined : { cell: -1, line: 0, statement: 0 };
  // Timeouts: undefined means "the profile's default". Session SETs made inside a transaction are undone by ROLLBACK.
  const session: { lock_timeout?: string; statement_timeout?: string } = {};
  let local: { lock_timeout?: string; statement_timeout?: string } = {};
  let snapshot: typeof session = {};
  let held: HeldLock[] = [];
  let enumAdds: { type: string; value: string; cell: number; line: number }[] = [];
  const created: { table: string; at: Position }[] = [];
  const notNullChecks: { table: string; column: string; name?: string; validated: boolean }[] = [];
  // Column types and procedures the runbook itself defines, latest last: they win over the connection's.
  const columns: { table: string; column: string; type?: ColumnType; typeName?: TypeName }[] = [];
  const procedures: { name: string; body?: string; cell: number; line: number }[] = [];
  const columnType = (table: string, column: string): ColumnType | undefined => {
    for (let i = columns.length - 1; i >= 0; i--) {
      const c = columns[i];
      if (c.column === column && sameTable(c.table, table)) return c.type ?? columnTypeOf(c.typeName);
    }
    return options.columnTypes?.get(`${table}.${column}`);
  };
  const inForce = (name: 'lock_timeout' | 'statement_timeout'): boolean => {
    const v = local[name] ?? session[name] ?? (name === 'lock_timeout' ? options.lockTimeoutDefault : options.statementTimeoutDefault);
    return timeoutOn(v);
  };
  const endTx = (rollback: boolean): void => {
    if (rollback) { session.lock_timeout = snapshot.lock_timeout; session.statement_timeout = snapshot.statement_timeout; }
    local = {};
    held = [];
    enumAdds = [];
    tx = 'idle';
    txOpenedAt = undefined;
  };
  let last: { cell: number; line: number; statement: number } | undefined;
  const heldModes = (table: string): LockMode[] => held.filter((h) => sameTable(h.table, table)).flatMap((h) => [...h.modes]);
  /** Where the open transaction began, for messages. */
  const opened = (current: number): string => (txOpenedAt && txOpenedAt.cell >= 0 ? `opened by BEGIN at ${where(txOpenedAt.cell, txOpenedAt.line, current)}` : 'the session was already in');

  cells.forEach((c, cellIndex) => {
    if (!c.statements || !include(c)) return;
    const list: AnalyzedStatement[] = [];
    out.set(cellIndex, list);
    // The runner sets the cell's timeouts before it and restores the profile's after it.
    const saved = { ...session };
    const lockOpt = c.options?.lock_timeout;
    const stmtOpt = c.options?.timeout;
    const hasLockOpt = typeof lockOpt === 'string' || typeof lockOpt === 'number';
    const hasStmtOpt = typeof stmtOpt === 'string' || typeof stmtOpt === 'number';
    if (hasLockOpt) session.lock_timeout = String(lockOpt);
    if (hasStmtOpt) session.statement_timeout = String(stmtOpt);
    // autocommit: false — the runner sends BEGIN before the cell and COMMIT after it.
    const wrapped = c.options?.autocommit === false && tx === 'idle' && c.statements.length > 0;
    if (wrapped) {
      tx = 'in transaction';
      txOpenedAt = { cell: cellIndex, line: c.statements[0].line, statement: 0 };
      snapshot = { ...session };
    }
    c.statements.forEach((st, index) => {
      const pos = { cell: cellIndex, index };
      const parsed = factsOf(st, options.serverMajor);
      const onConnection = options.tablesOnConnection;
      const noop = parsed.createsIfNotExists.length > 0 && parsed.createsIfNotExists.every((t) => onConnection?.get(t) === true);
      let facts = noop ? { ...parsed, locks: [] } : parsed;
      const typeChanges = parsed.typeChanges ? typeChangeDecisions(parsed.typeChanges, columnType, options.columnTypes !== undefined) : undefined;
      // A type change that rewrites nothing is quick (a catalog update under its ACCESS EXCLUSIVE lock).
      if (facts.slowOnlyFromTypeChange && typeChanges?.every((d) => d.rewrites === false)) facts = { ...facts, slow: false, slowBecause: undefined };
      const isNew = (t: string): boolean => created.some((x) => before(x.at, pos) && sameTable(x.table, t));
      const provenNotNull = facts.setNotNull ? new Set(notNullChecks.filter((n) => n.validated).map((n) => `${n.table}.${n.column}`)) : NO_COLUMNS;
      const a: AnalyzedStatement = {
        cell: cellIndex, index, statement: st, facts, txBefore: tx,
        lockTimeoutInForce: inForce('lock_timeout'), statementTimeoutInForce: inForce('statement_timeout'),
        // The tables an UPDATE/DELETE reads count too: the planner check skips statements on new tables.
        newTables: facts.dml ? [...new Set([...facts.locks.map((l) => l.table), ...facts.dml.tables])].filter(isNew) : facts.locks.filter((l) => isNew(l.table)).map((l) => l.table),
        provenNotNull, typeChanges,
      };
      list.push(a);
      last = { cell: cellIndex, line: st.line, statement: index };
      const add = (rule: string, message: string, help: string, table?: string): void => {
        findings.push({
          rule, severity: RUNBOOK_RULES[rule], message, help, cell: cellIndex, statement: index, line: st.line, sql: st.text,
          source: 'runbook', ...(table ? { table: { name: table, rows: null, bytes: 0 } } : {}),
        });
      };
      if (!st.stmt) return;
      const existingLocks = facts.locks.filter((l) => !isNew(l.table));

      if (tx === 'failed' && facts.tx !== 'rollback' && facts.tx !== 'rollback-to' && facts.tx !== 'rollback-chain') {
        add('failed-transaction', 'The session is in a failed transaction: every statement but ROLLBACK fails with SQLSTATE 25P02 (in_failed_sql_transaction) until the transaction ends.',
          'ROLLBACK first (or ROLLBACK TO SAVEPOINT), then run the cell again.');
      }

      if (facts.noTransactionBlock && tx !== 'idle') {
        add('cannot-run-in-transaction',
          `${facts.noTransactionBlock} cannot run inside a transaction block, and this statement runs inside the transaction ${opened(cellIndex)}: PostgreSQL rejects it with SQLSTATE 25001 (active_sql_transaction) and the transaction is aborted.`,
          `COMMIT (or ROLLBACK) first, and run ${facts.noTransactionBlock} in a cell of its own outside BEGIN … COMMIT. The runner sends each statement on its own, so it is not wrapped in an implicit transaction.`);
      }

      if (tx === 'in transaction' && enumAdds.length > 0 && options.serverMajor >= 12) {
        const m = mentions(st.stmt);
        const used = enumAdds.find((e) => m.strings.has(e.value));
        if (used) {
          add('enum-value-used-in-same-transaction',
            `'${used.value}' was added to the enum ${used.type} at ${where(used.cell, used.line, cellIndex)} in this same transaction. PostgreSQL refuses to use a new enum value before the transaction that added it commits: SQLSTATE 55P04 (unsafe_new_enum_value_usage), and the transaction is aborted.`,
            'COMMIT right after ALTER TYPE … ADD VALUE and use the new value in a later transaction.');
        }
      }

      if (tx === 'in transaction' && facts.slow) {
        const ae = held.find((h) => h.mode === 'ACCESS EXCLUSIVE');
        if (ae) {
          add('work-under-access-exclusive',
            `This ${facts.command} ${facts.slowBecause ?? 'does work'} while the transaction still holds the ACCESS EXCLUSIVE lock on ${ae.table} taken by ${ae.command} at ${where(ae.cell, ae.line, cellIndex)}: every read and write of ${ae.table} waits until COMMIT. A lock_timeout bounds the wait for a lock, never how long it is held.`,
            'COMMIT right after the statement that takes the lock; then do the work in its own transactions (backfill in batches of a few thousand rows, each committed).', ae.table);
        }
      }

      for (const l of existingLocks) {
        if (tx === 'in transaction' && l.mode === 'ACCESS EXCLUSIVE') {
          const other = held.find((h) => h.mode === 'ACCESS EXCLUSIVE' && !sameTable(h.table, l.table));
          if (other && !held.some((h) => sameTable(h.table, l.table))) {
            add('multiple-tables-access-exclusive',
              `${other.table} stays locked ACCESS EXCLUSIVE (since ${where(other.cell, other.line, cellIndex)}) while this statement waits for its lock on ${l.table}: every query on ${other.table} queues for as long as that wait lasts, and two transactions locking the same tables in another order deadlock.`,
              'Change one table per transaction (COMMIT after each), each with a short lock_timeout so a wait fails fast and can be retried.', l.table);
          }
        }
      }

      // A lock the transaction already holds (or covers with a stronger one) is granted at once: no wait to bound.
      const strong = existingLocks.find((l) => isStrongLock(l.mode) && !(tx === 'in transaction' && heldCovers(heldModes(l.table), l.mode)));
      if (strong && !inForce('lock_timeout')) {
        add('require-lock-timeout',
          `${facts.command} takes ${/^[AEIOU]/.test(strong.mode) ? 'an' : 'a'} ${strong.mode} lock on ${strong.table} with no lock_timeout in force: if another session holds a conflicting lock (a long query, an idle transaction), this statement waits indefinitely, and every later query on ${strong.table} queues behind it.`,
          "SET lock_timeout = '5s' before it (SET LOCAL inside a transaction), the cell option {\"lock_timeout\": \"5s\"}, or lock_timeout: 5s on the connection profile (runbook.connections.yaml); on SQLSTATE 55P03 (lock_not_available) retry later.", strong.table);
      }

      if (facts.call && tx !== 'idle') {
        const f = callFinding(facts.call.name, procedures, options.procedureBodies, (c, l) => where(c, l, cellIndex), opened(cellIndex));
        if (f) add(f.rule, f.message, f.help);
      }

      if (facts.doBody !== undefined) {
        const w = bodyWords(facts.doBody);
        const loops = w.has('LOOP') || w.has('WHILE') || w.has('FOREACH');
        const writes = w.has('UPDATE') || w.has('DELETE') || w.has('INSERT');
        if (w.has('COMMIT') && tx !== 'idle') {
          add('commit-in-transaction-block', 'This DO block commits, but it runs inside a transaction block: COMMIT in a DO block fails with SQLSTATE 2D000 (invalid_transaction_termination) there.',
            'Run the DO block in a cell outside BEGIN … COMMIT (PostgreSQL 11+), or drop the COMMIT and batch across statements instead.');
        } else if (loops && writes && !w.has('COMMIT')) {
          add('batched-do-block',
            'This DO block loops over batches, but a DO block runs as one transaction (or inside the open one): nothing commits until it ends, so the row locks of every batch are held to the end, dead rows pile up, and a failure in the last batch rolls back all of them.',
            'Run one batch per statement, each in its own transaction (re-run the cell until it reports 0 rows), or on PostgreSQL 11+ COMMIT inside the loop of a DO block that runs outside BEGIN … COMMIT.');
        }
      }

      // Effects of the statement on the session, after the checks that look at the state before it.
      if (tx === 'in transaction') {
        takeLocks(held, existingLocks, cellIndex, st.line, facts.command);
        if (facts.enumAdd) enumAdds.push({ ...facts.enumAdd, cell: cellIndex, line: st.line });
      }
      for (const t of facts.creates) if (t) created.push({ table: t, at: pos });
      for (const t of facts.createsIfNotExists) if (t && onConnection?.get(t) === false) created.push({ table: t, at: pos });
      for (const n of facts.notNullChecks ?? []) notNullChecks.push({ ...n });
      if (facts.columnDefs) for (const d of facts.columnDefs) columns.push(d);
      if (facts.typeChanges) for (const tc of facts.typeChanges) columns.push({ table: tc.table, column: tc.column, type: tc.to });
      if (facts.procedure) procedures.push({ ...facts.procedure, cell: cellIndex, line: st.line });
      for (const v of facts.validates ?? []) for (const n of notNullChecks) if (n.name === v.name && sameTable(n.table, v.table)) n.validated = true;
      if (facts.setting) {
        const s = facts.setting;
        if (s.resetAll) { session.lock_timeout = undefined; session.statement_timeout = undefined; local = {}; }
        else if (s.name === 'lock_timeout' || s.name === 'statement_timeout') {
          // SET LOCAL outside a transaction block has no effect (PostgreSQL docs, SET: "emits a warning").
          if (s.local) { if (tx !== 'idle') local[s.name] = s.value ?? (session[s.name] ?? undefined); }
          else { session[s.name] = s.value; delete local[s.name]; }
        }
      }
      switch (facts.tx) {
        case 'begin':
          if (tx !== 'idle') {
            add('transaction-nesting', 'A transaction is already in progress: PostgreSQL ignores this BEGIN with a WARNING, so the next COMMIT commits everything since the earlier BEGIN.',
              'Remove this BEGIN, or COMMIT the earlier transaction first.');
          } else {
            tx = 'in transaction';
            txOpenedAt = { cell: cellIndex, line: st.line, statement: index };
            snapshot = { ...session };
          }
          break;
        case 'commit': case 'rollback': case 'prepare':
          if (tx === 'idle') {
            add('transaction-nesting', `There is no transaction in progress: this ${facts.command} does nothing (PostgreSQL answers with a WARNING).`,
              'Remove it, or add the BEGIN it belongs to in an earlier cell.');
          }
          endTx(facts.tx === 'rollback' || tx === 'failed');
          break;
        case 'commit-chain': case 'rollback-chain':
          endTx(facts.tx === 'rollback-chain');
          tx = 'in transaction';
          txOpenedAt = { cell: cellIndex, line: st.line, statement: index };
          snapshot = { ...session };
          break;
        default:
          break;
      }
    });
    if (wrapped && tx === 'in transaction') endTx(false);
    if (hasLockOpt) session.lock_timeout = saved.lock_timeout;
    if (hasStmtOpt) session.statement_timeout = saved.statement_timeout;
  });

  if (tx !== 'idle' && txOpenedAt && txOpenedAt.cell >= 0 && last) {
    const o = txOpenedAt;
    const st = out.get(o.cell)?.[o.statement]?.statement;
    findings.push({
      rule: 'transaction-left-open', severity: RUNBOOK_RULES['transaction-left-open'],
      message: 'The runbook ends with this transaction still open: its locks stay held, and its changes stay invisible, until someone commits or the session ends.',
      help: 'End the runbook with COMMIT (or ROLLBACK) in a cell of its own.', cell: o.cell, statement: o.statement, line: o.line, sql: st?.text, source: 'runbook',
    });
  }
  return { findings, cells: out };
}
