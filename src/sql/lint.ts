// Lints runbooks before they run: squawk's rules (one squawk process for every cell) plus the runbook-level rules,
// filtered by what the runbook and the connection know, with table sizes from the catalog.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import type { Client } from 'pg';
import type { ExplainStmt, Node, SelectStmt } from 'libpg-query';
import { cellStartLines, parseRunbook, type Runbook } from '../format';
import { loadParser, lineStarts, splitCell, type CellStatement } from './analyze-statements';
import { isStrongLock, nodeEntry, sameTable, stronger, type TableLock } from './analyze';
import {
  analyzeRunbook, columnsChangingType, proceduresCalled, tablesCreatedIfNotExists, RUNBOOK_RULES, type AnalyzedStatement, type RunbookAnalysis,
} from './findings';
import { SQUAWK_EXCLUDED, runSquawk, squawkPgVersion, squawkRule, type SquawkViolation } from './squawk';
import { rollbackFindings } from './rollback-rules';
import { REWORDED, squawkWording } from './squawk-wording';
import { columnTypes, dropInvalidIndexSql, indexesByName, lockHoldersOn, lockHoldersText, procedureBodies, quoteName, tableSizes, tablesExist } from './catalog';
import { planFindings, type PlanCandidate } from './planner';
import type { ColumnType } from './type-change';
import type { CatalogConnection, Finding, LintCell, LintContext, Severity, TableSize, TimeoutDefaults } from './findings-types';

export type { CatalogConnection, Finding, LintCell, LintContext, Severity, TableSize, TimeoutDefaults } from './findings-types';

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Stable order: file (as given), cell, line, rule, then statement and message. */
export function compareFindings(a: Finding, b: Finding): number {
  return a.cell - b.cell || a.line - b.line || (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0)
    || a.statement - b.statement || SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0);
}

/** Rule ids a cell acknowledges: `{"ack": ["rule-id", …]}` or `{"ack": "rule-id"}` on the fence's info string. */
export function acknowledgedRules(options: Record<string, unknown> | undefined): Set<string> {
  const ack = options?.ack;
  if (typeof ack === 'string') return new Set([ack]);
  if (Array.isArray(ack)) return new Set(ack.filter((x): x is string => typeof x === 'string'));
  return new Set();
}

/** Major version from `server_version` text (`16.4` → 16, `9.6.3` → 9); undefined when unreadable. */
export function serverMajor(serverVersion: string | undefined): number | undefined {
  const m = /^(\d+)/.exec(serverVersion?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

interface Unit {
  file?: string;
  cells: LintCell[];
  /** The connection the runbook's front matter names (`connection:`), if any. */
  frontMatterConnection?: string;
  /** The profile defaults for this file (from `ctx.fileDefaults`), over the context's. */
  defaults?: TimeoutDefaults;
  /** When the unit is one plain `.sql` file: squawk reads it where it is (no temporary copy), and `cells` is
   *  left empty until {@link Unit.load} reads it while squawk runs. */
  sqlPath?: string;
  load?: () => LintCell[];
}

interface PreparedUnit extends Unit {
  statements: (CellStatement[] | undefined)[];
  /** Line starts of each SQL cell, to turn squawk's line/column into an offset. */
  starts: (number[] | undefined)[];
  analysis?: RunbookAnalysis;
  /** The rollback section's findings (rollback-rules.ts), made before the parse trees are dropped. */
  rollback?: Finding[];
}

/** What the catalog said before the analysis (with a connection). */
interface CatalogFacts {
  tablesOnConnection: Map<string, boolean>;
  columnTypes: Map<string, ColumnType>;
  procedureBodies: Map<string, string | null>;
}

/**
 * Lints the cells of one runbook, in order.
 *
 * @param cells every cell of the runbook (non-SQL cells are skipped but keep their index)
 * @param ctx server version (squawk's `--pg-version` and version-dependent rules), optional connection for table
 *   sizes and existing constraints, the profile's timeout defaults, the session's transaction state
 * @returns findings in a stable order (cell, line, rule); acknowledged ones carry `acknowledged: true`
 * @throws SquawkError when squawk cannot run; errors of the catalog queries are thrown as pg raised them
 */
export async function lintRunbook(cells: LintCell[], ctx: LintContext = {}): Promise<Finding[]> {
  return (await lintUnits([{ cells }], ctx))[0].findings;
}

/** What {@link lintRunbookForRun} returns. */
export interface RunbookLint {
  /** As {@link lintRunbook} returns them. */
  findings: Finding[];
  /** The same findings by cell index. */
  byCell: Map<number, Finding[]>;
  /**
   * Per SQL cell index that runs, the tables its statements lock and how (strongest mode per table, names as
   * written): what pre-flight and the live lock view need, without parsing the cell again.
   */
  locks: Map<number, TableLock[]>;
  /** Procedure bodies read from the connection (for {@link transactionStateFindings}); absent without one. */
  procedureBodies?: ReadonlyMap<string, string | null>;
  /** Per cell, the UPDATE/DELETE statements the planner check explains (see {@link recheckPlans}). */
  planCandidates: Map<number, PlanEntry[]>;
  /** Per cell, the tables (or, for REINDEX INDEX, indexes) of its index builds: where a failed build leaves an invalid index. */
  indexBuilds: Map<number, TableLock[]>;
  /** Per cell: true when a lock_timeout is in force (profile, cell option or a SET in the cell) for every statement
   *  that takes a strong lock on an existing table. */
  lockTimeoutCovered: Map<number, boolean>;
}

/** An UPDATE/DELETE of a cell for the planner check: where it is, and what to explain. */
export interface PlanEntry { statement: number; line: number; candidate: PlanCandidate }

/**
 * {@link lintRunbook} for the runner: the findings, grouped by cell, and each cell's table locks from the same
 * analysis (one parse of each cell for the whole run).
 *
 * @throws as {@link lintRunbook}
 */
export async function lintRunbookForRun(cells: LintCell[], ctx: LintContext = {}): Promise<RunbookLint> {
  const [{ findings, locks, procedureBodies: bodies, planCandidates, analysis }] = await lintUnits([{ cells }], ctx);
  const byCell = new Map<number, Finding[]>();
  for (const f of findings) {
    const list = byCell.get(f.cell);
    if (list) list.push(f); else byCell.set(f.cell, [f]);
  }
  return { findings, byCell, locks, procedureBodies: bodies, planCandidates, indexBuilds: indexBuildsOf(analysis), lockTimeoutCovered: lockTimeoutCoveredOf(analysis) };
}

/** Per cell, the index builds' tables (CREATE INDEX) and REINDEX targets, as locked. */
function indexBuildsOf(analysis: RunbookAnalysis): Map<number, TableLock[]> {
  const out = new Map<number, TableLock[]>();
  for (const [cell, statements] of analysis.cells) {
    const list = statements.filter((a) => a.facts.index || a.facts.command.startsWith('REINDEX')).flatMap((a) => a.facts.locks);
    if (list.length) out.set(cell, list);
  }
  return out;
}

function lockTimeoutCoveredOf(analysis: RunbookAnalysis): Map<number, boolean> {
  const out = new Map<number, boolean>();
  for (const [cell, statements] of analysis.cells) {
    out.set(cell, statements.every((a) => a.lockTimeoutInForce || !a.facts.locks.some((l) => isStrongLock(l.mode) && !a.newTables.includes(l.table))));
  }
  return out;
}

/**
 * The planner check of one cell again, just before it runs: the run's lint explained every UPDATE/DELETE before the
 * first cell, when a column or table added by an earlier cell did not exist yet (`plan-unchecked`). Returns the
 * cell's findings with the planner's findings replaced by the new ones (unchanged when the cell has none to check).
 *
 * @param findings the cell's findings from the run's lint
 * @throws whatever pg raises for the catalog query (EXPLAIN errors become `plan-unchecked` findings)
 */
export async function recheckPlans(lint: RunbookLint, cell: number, cellInfo: LintCell, conn: CatalogConnection, findings: Finding[]): Promise<Finding[]> {
  const candidates = lint.planCandidates.get(cell) ?? [];
  if (!candidates.length || !findings.some((f) => f.rule === 'plan-unchecked')) return findings;
  const fresh = await onCatalog(conn, (c) => planFindings(c, candidates.map((x) => x.candidate)));
  const acks = acknowledgedRules(cellInfo.options);
  const planned = new Set(['plan-unchecked', 'batch-seq-scan', 'unbatched-dml']);
  const kept = findings.filter((f) => !planned.has(f.rule));
  const made: { finding: Finding; table: string }[] = [];
  candidates.forEach((x, i) => {
    for (const p of fresh[i]) {
      made.push({
        table: p.table,
        finding: {
          rule: p.rule, severity: RUNBOOK_RULES[p.rule], message: p.message, help: p.help, cell, statement: x.statement, line: x.line, source: 'runbook',
          fileLine: cellInfo.fileLine === undefined ? undefined : cellInfo.fileLine + x.line - 1, sql: x.candidate.sql, table: undefined,
          acknowledged: acks.has(p.rule) ? true : undefined, file: findings[0]?.file,
        },
      });
    }
  });
  if (made.length) {
    // Sizes only dress the message: a lock that makes the size query time out must not lose the findings.
    const sizes = await onCatalog(conn, (c) => tableSizes(c, [...new Set(made.map((m) => m.table))])).catch(() => new Map<string, TableSize>());
    for (const { finding, table } of made) {
      finding.table = sizes.get(table);
      if (finding.table && finding.rule !== 'plan-unchecked') finding.message = `${finding.message} (${describeSize(finding.table)}.)`;
    }
  }
  return [...kept, ...made.map((m) => m.finding)].sort(compareFindings);
}

/**
 * The findings about a transaction state the whole-runbook lint could not know (it starts from an idle session):
 * `cannot-run-in-transaction` and `failed-transaction` for one cell run from a session in `txState` (a BEGIN run
 * earlier, a run started with --from). Our analysis only, no squawk: cheap enough to run before every such cell.
 *
 * @param index the cell's index in its runbook (set as the findings' `cell`)
 */
export async function transactionStateFindings(cell: LintCell, index: number, txState: 'in transaction' | 'failed', ctx: Pick<LintContext, 'serverVersion' | 'lockTimeoutDefault' | 'statementTimeoutDefault'> & { procedureBodies?: ReadonlyMap<string, string | null> } = {}): Promise<Finding[]> {
  await loadParser();
  const analysis = analyzeRunbook([{ statements: splitCell(cell.source), options: cell.options }], {
    serverMajor: serverMajor(ctx.serverVersion) ?? 18, initialTxState: txState,
    lockTimeoutDefault: ctx.lockTimeoutDefault, statementTimeoutDefault: ctx.statementTimeoutDefault, procedureBodies: ctx.procedureBodies,
  });
  const acks = acknowledgedRules(cell.options);
  return analysis.findings
    .filter((f) => TX_STATE_RULES.has(f.rule))
    .map((f) => ({ ...f, cell: index, fileLine: cell.fileLine === undefined ? undefined : cell.fileLine + f.line - 1, table: undefined, acknowledged: acks.has(f.rule) ? true : undefined }));
}

/** Rules that depend on the session's transaction state when the cell starts: checked again against the real one. */
const TX_STATE_RULES: ReadonlySet<string> = new Set(['cannot-run-in-transaction', 'failed-transaction', 'commit-in-transaction-block', 'call-in-transaction-block']);

/** The connection a runbook's front matter names (`connection: prod-main`), if any. */
export function frontMatterConnection(runbook: Runbook): string | undefined {
  const c = runbook.frontMatter?.data?.connection;
  return typeof c === 'string' && c.trim() !== '' ? c.trim() : undefined;
}

/** The lint cells of a parsed runbook, with each SQL cell's first code line in the file. */
export function lintCellsOf(runbook: Runbook): LintCell[] {
  const starts = cellStartLines(runbook);
  return runbook.cells.map((c, i) => {
    // A code cell's first code line is the one after its opening fence.
    const fileLine = c.raw ? (c.kind === 'markdown' || c.kind === 'checklist' ? starts[i] : starts[i] + 1) : undefined;
    return { kind: c.kind, source: c.source, options: c.options, fileLine };
  });
}

/**
 * Lints files: `.sql` files as one SQL cell each (read by squawk in place), anything else as a `.runbook`.
 * One squawk process serves every file.
 *
 * @param paths files to lint, in the order findings are reported
 * @returns findings with `file` set, ordered by file (as given), then cell, line, rule
 * @throws Error when a file cannot be read (the message names it); SquawkError when squawk cannot run
 */
export async function lintFiles(paths: string[], ctx: LintContext = {}): Promise<Finding[]> {
  const read = (p: string): Buffer => {
    try {
      return readFileSync(p);
    } catch (err) {
      throw new Error(`cannot read ${p}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  const units: Unit[] = paths.map((p) => {
    // squawk takes glob patterns: a name with glob characters is linted from a temporary copy instead.
    if (extname(p).toLowerCase() === '.sql' && !/[*?[\]{}]/.test(p)) {
      return { file: p, sqlPath: resolve(p), cells: [], load: () => [{ kind: 'sql', source: read(p).toString('utf8'), options: {}, fileLine: 1 }] };
    }
    if (extname(p).toLowerCase() === '.sql') return { file: p, cells: [{ kind: 'sql', source: read(p).toString('utf8'), options: {}, fileLine: 1 }] };
    const rb = parseRunbook(read(p), { skipOptionChecks: true });
    return { file: p, cells: lintCellsOf(rb), frontMatterConnection: frontMatterConnection(rb) };
  });
  if (ctx.fileDefaults) for (const u of units) u.defaults = await ctx.fileDefaults(u.file ?? '', u.frontMatterConnection);
  return (await lintUnits(units, ctx)).flatMap((u) => u.findings);
}

/** Runs `fn` on the lint's catalog connection. */
function onCatalog<T>(conn: CatalogConnection, fn: (client: Client) => Promise<T>): Promise<T> {
  return typeof conn === 'function' ? conn(fn) : fn(conn);
}

interface UnitResult {
  analysis: RunbookAnalysis;
  findings: Finding[];
  locks: Map<number, TableLock[]>;
  procedureBodies?: ReadonlyMap<string, string | null>;
  planCandidates: Map<number, PlanEntry[]>;
}

/** Asks the catalog what the analysis needs to know first: which `IF NOT EXISTS` tables exist, the current types of
 *  columns that change type, and the bodies of procedures called. */
async function catalogFacts(conn: CatalogConnection, split: Omit<PreparedUnit, 'analysis'>[], major: number): Promise<CatalogFacts> {
  const inputs = split.flatMap((u) => u.statements.map((st) => ({ statements: st })));
  const names = [...new Set(tablesCreatedIfNotExists(inputs, major))];
  const columns = columnsChangingType(inputs, major);
  const procs = proceduresCalled(inputs, major);
  // A runbook with nothing to ask opens no connection (MonitorConnection connects at the first use).
  if (!names.length && !columns.length && !procs.length) return { tablesOnConnection: new Map(), columnTypes: new Map(), procedureBodies: new Map() };
  return onCatalog(conn, async (c) => ({
    tablesOnConnection: await tablesExist(c, names),
    columnTypes: await columnTypes(c, columns),
    procedureBodies: await procedureBodies(c, procs),
  }));
}

async function lintUnits(units: Unit[], ctx: LintContext): Promise<UnitResult[]> {
  await loadParser();
  const major = serverMajor(ctx.serverVersion) ?? 18;
  // Temporary files only when a cell needs one; created lazily (a runbook of SELECT cells writes none).
  let dir: string | undefined;
  const splitOnce = new Map<string, SplitCell>();
  try {
    // Which file squawk reads for each SQL cell; one call for all of them.
    const byPath = new Map<string, { unit: number; cell: number }>();
    units.forEach((u, ui) => {
      if (u.sqlPath && u.load) { byPath.set(u.sqlPath, { unit: ui, cell: 0 }); return; }
      u.cells.forEach((c, ci) => {
        if (c.kind !== 'sql' || c.source.trim() === '' || c.options.skip === true) return;
        // A cell squawk has nothing to say about is not written out (writing a file per cell is most of the cost
        // of linting a long runbook on a slow disk); it is split here, and the split is kept for the analysis.
        if (squawkHasNothingToSay(splitWith(splitOnce, c.source).statements)) return;
        dir ??= mkdtempSync(join(tmpdir(), 'runbook-lint-'));
        const path = join(dir, `u${ui}-c${ci}.sql`);
        writeFileSync(path, c.source);
        byPath.set(path, { unit: ui, cell: ci });
      });
    });
    // squawk runs in its own process while this thread parses and analyzes the same cells.
    const squawk = runSquawk([...byPath.keys()], { pgVersion: squawkPgVersion(ctx.serverVersion), exclude: SQUAWK_EXCLUDED, binary: ctx.squawkPath })
      .then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e }));
    let prepared: PreparedUnit[];
    let known: CatalogFacts | undefined;
    try {
      const split = splitUnits(units, splitOnce);
      // CREATE TABLE IF NOT EXISTS creates a table only where it is missing, a type change rewrites depending on the
      // column's current type, a CALL commits depending on the procedure: ask the connection.
      const conn = ctx.client;
      known = conn ? await catalogFacts(conn, split, major) : undefined;
      prepared = analyzeUnits(split, major, ctx, known);
    } catch (err) {
      // An unreadable file or a failed catalog query: let squawk finish (it reports a file error too) so no child
      // outlives the call, then say what failed.
      await squawk;
      throw err;
    }
    const result = await squawk;
    if (!result.ok) throw result.e;
    // Per unit, the violations and (same index) the cell each belongs to.
    const squawkByUnit: { v: SquawkViolation[]; cell: number[] }[] = units.map(() => ({ v: [], cell: [] }));
    let lastFile = '';
    let at: { unit: number; cell: number } | undefined;
    for (const v of result.v) {
      // squawk reports file by file: look the path up once per run of the same file.
      if (v.file !== lastFile) { lastFile = v.file; at = byPath.get(v.file) ?? (dir === undefined ? undefined : byPath.get(resolve(dir, v.file))); }
      if (!at) continue;
      squawkByUnit[at.unit].v.push(v);
      squawkByUnit[at.unit].cell.push(at.cell);
    }
    const mapped = prepared.map((u, ui) => mapUnit(u, squawkByUnit[ui].v, squawkByUnit[ui].cell, major));
    // Only a connection can explain them.
    const candidates = prepared.map((u) => (ctx.client ? planCandidatesOf(u.analysis as RunbookAnalysis) : new Map<number, PlanEntry[]>()));
    let sizes = new Map<string, TableSize>();
    const conn = ctx.client;
    if (conn) {
      for (const m of mapped) if (m.pendingNotNull.length) await onCatalog(conn, (c) => dropProvenNotNull(c, m.pendingNotNull, m.findings));
      for (let i = 0; i < mapped.length; i++) {
        const wanted = indexesToCheck(prepared[i].analysis as RunbookAnalysis);
        if (wanted.length) await onCatalog(conn, (c) => invalidIndexFindings(c, prepared[i], mapped[i], wanted));
        if (candidates[i].size) await onCatalog(conn, (c) => plannerFindings(c, prepared[i], mapped[i], candidates[i], ctx));
      }
      const names = [...new Set(mapped.flatMap((m) => m.findings.map((f) => f.table?.name).filter((n): n is string => n !== undefined)))];
      // pg_total_relation_size() opens each table: behind a lock on one (55P03 at the catalog connection's
      // lock_timeout) the findings go out without sizes rather than not at all.
      if (names.length) {
        sizes = await onCatalog(conn, async (c) => {
          try {
            return await tableSizes(c, names);
          } catch (e) {
            if ((e as { code?: string }).code !== '55P03') throw e;
            const holders = lockHoldersText(await lockHoldersOn(c, names).catch(() => []));
            ctx.note?.(`table sizes not read: a lock on the table stopped the catalog read at its lock_timeout${holders ? ` (${holders})` : ''}`);
            return new Map<string, TableSize>();
          }
        });
      }
    }
    return mapped.map((m, i) => ({
      analysis: prepared[i].analysis as RunbookAnalysis,
      findings: numberCells(withRollbackFindings(finalize(m, sizes), prepared[i].rollback ?? []), units[i].sqlPath ? undefined : units[i].cells), locks: cellLocks(prepared[i].analysis as RunbookAnalysis),
      procedureBodies: known?.procedureBodies, planCandidates: candidates[i],
    }));
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}

/** The rollback section's findings (src/sql/rollback-rules.ts) added to a runbook unit's, in the same order. */
function withRollbackFindings(findings: Finding[], more: Finding[]): Finding[] {
  return more.length ? [...findings, ...more].sort(compareFindings) : findings;
}

/**
 * Sets each finding's `cellNumber`: the cell's number among the runnable (SQL, shell, checklist) cells, the
 * number `runbook run --dry-run` prints and `--from`/`--only` take.
 */
function numberCells(findings: Finding[], cells: readonly LintCell[] | undefined): Finding[] {
  if (!cells) return findings;
  const numbers: number[] = [];
  let n = 0;
  for (const c of cells) numbers.push(c.kind === 'markdown' ? 0 : ++n);
  for (const f of findings) if (numbers[f.cell]) f.cellNumber = numbers[f.cell];
  return findings;
}

interface SplitCell { statements: CellStatement[]; starts: number[] }

/** Splits a cell's text once per lint call: identical texts (a `COMMIT;` cell, a file linted twice) share the result;
 *  statements are never changed by the analysis, so sharing them is safe. */
function splitWith(cache: Map<string, SplitCell>, text: string): SplitCell {
  let r = cache.get(text);
  if (!r) { r = { statements: splitCell(text), starts: lineStarts(text) }; cache.set(text, r); }
  return r;
}

/**
 * Statement kinds none of squawk's rules looks at (squawk-cli 2.61; test/unit/lint-squawk-quiet.test.ts runs squawk
 * on each to keep this true across upgrades): reads, DML, session settings and transaction control.
 */
const SQUAWK_QUIET = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'VariableSetStmt', 'VariableShowStmt', 'TransactionStmt', 'ExplainStmt']);

/**
 * True when squawk cannot report anything for a cell with these statements: every one parsed (squawk would report a
 * syntax error otherwise) and is of a kind in {@link SQUAWK_QUIET}; `SELECT … INTO` creates a table, so it is not.
 */
export function squawkHasNothingToSay(statements: CellStatement[]): boolean {
  return statements.length > 0 && statements.every((st) => quiet(st.stmt));
}

function quiet(node: Node | undefined): boolean {
  if (!node) return false;
  const [kind, body] = nodeEntry(node);
  if (!SQUAWK_QUIET.has(kind)) return false;
  if (kind === 'SelectStmt') return (body as SelectStmt).intoClause === undefined;
  // EXPLAIN also takes CREATE TABLE AS (it creates the table under EXPLAIN ANALYZE): look at what it explains.
  if (kind === 'ExplainStmt') return quiet((body as ExplainStmt).query);
  return true;
}

/** The UPDATE/DELETE statements of each cell the planner check explains: not on tables created earlier in the
 *  runbook (EXPLAIN needs them to exist, and a new table has no rows anyone waits for). */
function planCandidatesOf(analysis: RunbookAnalysis): Map<number, PlanEntry[]> {
  const out = new Map<number, PlanEntry[]>();
  for (const [cell, statements] of analysis.cells) {
    for (const a of statements) {
      const d = a.facts.dml;
      if (!d || a.newTables.length > 0 || !d.target) continue;
      const list = out.get(cell) ?? [];
      list.push({ statement: a.index, line: a.statement.line, candidate: { sql: a.statement.text, target: d.target, tables: d.tables, batched: d.batched, where: d.where } });
      out.set(cell, list);
    }
  }
  return out;
}

/** Reads (for `.sql` units) and splits every unit; runs while squawk works in its own process. */
function splitUnits(units: Unit[], cache: Map<string, SplitCell>): Omit<PreparedUnit, 'analysis'>[] {
  return units.map((u) => {
    const cells = u.load ? u.load() : u.cells;
    const parts = cells.map((c) => (c.kind === 'sql' ? splitWith(cache, c.source) : undefined));
    return { ...u, cells, statements: parts.map((p) => p?.statements), starts: parts.map((p) => p?.starts) };
  });
}

/** A unit's cells for the analysis, each with its runnable-cell number (as `--from` counts them) for messages. */
function withNumbers(u: Omit<PreparedUnit, 'analysis'>): { statements?: CellStatement[]; options?: Record<string, unknown>; number?: number }[] {
  let n = 0;
  return u.statements.map((s, i) => ({ statements: s, options: u.cells[i].options, number: u.cells[i].kind === 'markdown' ? undefined : ++n }));
}

/**
 * Analyzes every split unit (the runbook-level rules), then lets the parse trees go before the findings are built.
 * @param onConnection whether the connection has each table of a `CREATE … IF NOT EXISTS` (undefined: no connection)
 */
function analyzeUnits(split: Omit<PreparedUnit, 'analysis'>[], major: number, ctx: LintContext, known: CatalogFacts | undefined): PreparedUnit[] {
  const out = split.map((u) => ({
    ...u,
    analysis: analyzeRunbook(withNumbers(u), {
      serverMajor: major,
      lockTimeoutDefault: u.defaults ? u.defaults.lockTimeoutDefault : ctx.lockTimeoutDefault,
      statementTimeoutDefault: u.defaults ? u.defaults.statementTimeoutDefault : ctx.statementTimeoutDefault,
      initialTxState: ctx.initialTxState, tablesOnConnection: known?.tablesOnConnection, columnTypes: known?.columnTypes, procedureBodies: known?.procedureBodies,
    }),
    rollback: u.sqlPath ? [] : rollbackFindings(u.cells.map((cell, index) => ({ index, cell, statements: u.statements[index] ?? [] })), acknowledgedRules)
      .map((f) => ({ ...f, file: u.file, fileLine: u.cells[f.cell].fileLine === undefined ? undefined : u.cells[f.cell].fileLine! + f.line - 1 })),
  }));
  for (const u of split) for (const sts of u.statements) for (const st of sts ?? []) st.stmt = undefined;
  return out;
}

/** Each analyzed cell's table locks, strongest mode per table (the order in which the cell first locks them). */
function cellLocks(analysis: RunbookAnalysis): Map<number, TableLock[]> {
  const out = new Map<number, TableLock[]>();
  for (const [cell, statements] of analysis.cells) {
    const byTable = new Map<string, TableLock>();
    for (const a of statements) {
      for (const l of a.facts.locks) {
        const prev = byTable.get(l.table);
        byTable.set(l.table, prev ? { ...prev, mode: stronger(prev.mode, l.mode) } : l);
      }
    }
    out.set(cell, [...byTable.values()]);
  }
  return out;
}

/** The statement a squawk violation points into: the last one starting at or before it. */
function statementAt(statements: CellStatement[], starts: number[], line0: number, column: number): number {
  const offset = (starts[line0] ?? 0) + column;
  let found = statements.length > 0 ? 0 : -1;
  for (let i = 0; i < statements.length; i++) if (statements[i].start <= offset) found = i; else break;
  return found;
}

interface MappedUnit {
  /** Final findings (one object each, one shape). `table` holds only the name (rows null, bytes 0) until
   *  {@link finalize} fills the size from the catalog, or removes it when there is no connection. */
  findings: Finding[];
  pendingNotNull: { finding: Finding; a: AnalyzedStatement }[];
}

/**
 * Our findings plus squawk's, each placed on its statement, filtered by what the runbook knows, and built once
 * in their final shape (key order fixed: stable JSON, and tens of thousands of them stay cheap).
 */
function mapUnit(u: PreparedUnit, violations: SquawkViolation[], cells: number[], major: number): MappedUnit {
  const analysis = u.analysis as RunbookAnalysis;
  const acks = u.cells.map((c) => acknowledgedRules(c.options));
  const make = (rule: string, severity: Severity, message: string, help: string, cell: number, statement: number, line: number, sql: string | undefined, source: Finding['source'], table: string | undefined): Finding => {
    const fl = u.cells[cell]?.fileLine;
    return {
      rule, severity, message, help, cell, statement, line, source,
      fileLine: fl === undefined ? undefined : fl + line - 1,
      sql, table: table === undefined ? undefined : { name: table, rows: null, bytes: 0 },
      acknowledged: acks[cell]?.has(rule) ? true : undefined, file: u.file,
    };
  };
  const findings: Finding[] = analysis.findings.map((f) => make(f.rule, f.severity, f.message, f.help, f.cell, f.statement, f.line, f.sql, f.source, f.table?.name));
  const pendingNotNull: MappedUnit['pendingNotNull'] = [];
  const at = violations.map((v, i) => statementAt(u.statements[cells[i]] ?? [], u.starts[cells[i]] ?? [0], v.line, v.column));
  // squawk's other rules on the same statement, so one finding can defer to another (asked for rarely: no index built).
  const rulesAt = (cell: number, index: number): Set<string> => new Set(violations.filter((_, j) => cells[j] === cell && at[j] === index).map((x) => x.rule_name));
  for (let i = 0; i < violations.length; i++) {
    const v = violations[i];
    const cell = cells[i];
    const index = at[i];
    const a = index >= 0 ? analysis.cells.get(cell)?.[index] : undefined;
    const rule = v.rule_name;
    const info = squawkRule(rule);
    if (a && info.lockHazard && a.facts.locks.length > 0 && a.facts.locks.every((l) => a.newTables.includes(l.table))) continue;
    if (a && rule === 'ban-concurrent-index-creation-in-transaction' && analysis.findings.some((f) => f.cell === cell && f.statement === index && f.rule === 'cannot-run-in-transaction')) continue;
    if (a && rule === 'require-statement-timeout' && a.statementTimeoutInForce) continue;
    // squawk skips statements inside BEGIN … COMMIT (a failure rolls them all back, so the step can be re-run) but
    // sees one cell: it misses a transaction opened by an earlier cell or by the cell option autocommit: false.
    if (a && rule === 'prefer-robust-stmts' && a.txBefore === 'in transaction') continue;
    // PostgreSQL keeps the table when every type change is binary coercible or only raises a limit (type-change.ts).
    if (a && rule === 'changing-column-type' && a.typeChanges?.length && a.typeChanges.every((d) => d.rewrites === false)) continue;
    const existing = a?.facts.locks.find((l) => !a.newTables.includes(l.table));
    let message = v.message;
    let help = v.help ?? info.help ?? 'See https://squawkhq.com/docs/' + rule;
    if (REWORDED.has(rule)) {
      const text = squawkWording(rule, { message, help }, a, major, () => rulesAt(cell, index));
      if (!text) continue;
      ({ message, help } = text);
    }
    const f = make(rule, info.severity, message, help, cell, index, v.line + 1, a?.statement.text, 'squawk', existing?.table);
    if (a && rule === 'adding-not-nullable-field' && major >= 12 && a.facts.setNotNull?.length) {
      if (a.facts.setNotNull.every((c) => [...a.provenNotNull].some((p) => sameColumn(p, c)))) continue;
      pendingNotNull.push({ finding: f, a });
    }
    findings.push(f);
  }
  return { findings, pendingNotNull };
}

const LOCK_RULES_OF_OURS = new Set(['work-under-access-exclusive', 'multiple-tables-access-exclusive', 'require-lock-timeout', 'batch-seq-scan', 'unbatched-dml']);

/** Findings whose danger grows with the table: lock and rewrite hazards (squawk's and ours). */
function sizeMatters(f: Finding): boolean {
  return f.source === 'squawk' ? squawkRule(f.rule).lockHazard === true : LOCK_RULES_OF_OURS.has(f.rule);
}

/** Fills table sizes from the catalog (or drops `table` for tables without one: not on the connection, or no
 *  connection at all) and sorts. */
function finalize(m: MappedUnit, sizes: Map<string, TableSize>): Finding[] {
  for (const f of m.findings) {
    if (!f.table) continue;
    const table = sizes.get(f.table.name);
    // Assigned, not deleted: every finding keeps one object shape.
    f.table = table;
    // The size tells how long a lock may be held: say it in the message where a lock or rewrite is the danger.
    if (table && sizeMatters(f)) f.message = `${f.message} (${describeSize(table)}.)`;
  }
  return m.findings.sort(compareFindings);
}

function sameColumn(a: string, b: string): boolean {
  const ia = a.lastIndexOf('.');
  const ib = b.lastIndexOf('.');
  return a.slice(ia + 1) === b.slice(ib + 1) && sameTable(a.slice(0, ia), b.slice(0, ib));
}

/** SET NOT NULL does not scan on PostgreSQL 12+ when a validated `CHECK (col IS NOT NULL)` already exists on the
 *  connection (docs, ALTER TABLE: "SET/DROP NOT NULL"); drop squawk's finding then. */
async function dropProvenNotNull(client: Client, pending: { finding: Finding; a: AnalyzedStatement }[], findings: Finding[]): Promise<void> {
  for (const { finding, a } of pending) {
    let proven = true;
    for (const tc of a.facts.setNotNull ?? []) {
      const i = tc.lastIndexOf('.');
      const r = await client.query<{ ok: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'c' AND convalidated
           AND pg_get_constraintdef(oid) = 'CHECK ((' || quote_ident($2) || ' IS NOT NULL))') AS ok`, [quoteName(tc.slice(0, i)), tc.slice(i + 1)]);
      if (!r.rows[0]?.ok) proven = false;
    }
    if (proven) findings.splice(findings.indexOf(finding), 1);
  }
}

/** The CREATE INDEX statements of the unit whose name to look up, in order, minus those an earlier DROP INDEX or
 *  REINDEX INDEX of the runbook takes care of; named as the index will be (in its table's schema). */
function indexesToCheck(analysis: RunbookAnalysis): { a: AnalyzedStatement; name: string }[] {
  const handled: string[] = [];
  const wanted: { a: AnalyzedStatement; name: string }[] = [];
  for (const cell of [...analysis.cells.keys()].sort((x, y) => x - y)) {
    for (const a of analysis.cells.get(cell) ?? []) {
      const f = a.facts;
      if (/^(DROP INDEX|REINDEX)/.test(f.command)) for (const l of f.locks) if (l.relkind === 'index') handled.push(l.table);
      const idx = f.index;
      if (!idx?.name || a.newTables.length > 0) continue;
      // An index goes into its table's schema: `ON app.orders` makes `app.<name>`.
      const name = idx.table.includes('.') ? `${idx.table.slice(0, idx.table.lastIndexOf('.'))}.${idx.name}` : idx.name;
      if (!handled.some((h) => sameTable(h, name))) wanted.push({ a, name });
    }
  }
  return wanted;
}

/**
 * `invalid-index-exists`: a CREATE INDEX whose name is taken, on the connection, by an invalid index (left by a failed
 * or cancelled CREATE INDEX CONCURRENTLY) that no session is building now and that no earlier statement of the
 * runbook drops or rebuilds. With IF NOT EXISTS the statement skips with a NOTICE and the cell "succeeds"; without,
 * it fails with SQLSTATE 42P07. Source: PostgreSQL docs, CREATE INDEX, "Building Indexes Concurrently".
 */
async function invalidIndexFindings(client: Client, u: PreparedUnit, m: MappedUnit, wanted: { a: AnalyzedStatement; name: string }[]): Promise<void> {
  const found = await indexesByName(client, [...new Set(wanted.map((w) => w.name))]);
  const acks = u.cells.map((c) => acknowledgedRules(c.options));
  for (const { a, name } of wanted) {
    const s = found.get(name);
    if (!s || s.valid || s.buildingPid !== null) continue;
    const idx = a.facts.index as NonNullable<AnalyzedStatement['facts']['index']>;
    const outcome = idx.ifNotExists
      ? `IF NOT EXISTS makes this statement skip it (NOTICE: relation "${idx.name}" already exists, skipping): the cell succeeds and ${s.index} stays unusable`
      : `this statement fails with SQLSTATE 42P07 (duplicate_table): relation "${idx.name}" already exists`;
    const fl = u.cells[a.cell]?.fileLine;
    m.findings.push({
      rule: 'invalid-index-exists', severity: RUNBOOK_RULES['invalid-index-exists'],
      message: `An index named ${s.index} already exists on ${s.table} on this connection but is INVALID (pg_index.indisvalid = false): a CREATE INDEX CONCURRENTLY failed or was cancelled and left it behind. Queries do not use it${s.ready ? ', yet every write still updates it' : ''}. ${outcome[0].toUpperCase()}${outcome.slice(1)}.`,
      help: `${dropInvalidIndexSql(s.index)} in a cell of its own before this one, then build the index again (or REINDEX INDEX CONCURRENTLY ${s.index}; on PostgreSQL 12+).`,
      cell: a.cell, statement: a.index, line: a.statement.line, source: 'runbook', fileLine: fl === undefined ? undefined : fl + a.statement.line - 1,
      sql: a.statement.text, table: { name: idx.table, rows: null, bytes: 0 }, acknowledged: acks[a.cell]?.has('invalid-index-exists') ? true : undefined, file: u.file,
    });
  }
}

/** The planner check (planner.ts) of every UPDATE/DELETE of the unit, as findings on their statements. */
async function plannerFindings(client: Client, u: PreparedUnit, m: MappedUnit, candidates: Map<number, PlanEntry[]>, ctx: LintContext): Promise<void> {
  const flat = [...candidates].flatMap(([cell, list]) => list.map((x) => ({ cell, ...x })));
  if (!flat.length) return;
  const results = await planFindings(client, flat.map((x) => x.candidate), { largeTableRows: ctx.largeTableRows });
  const analysis = u.analysis as RunbookAnalysis;
  flat.forEach((x, i) => {
    const a = analysis.cells.get(x.cell)?.[x.statement];
    if (!a) return;
    const fl = u.cells[x.cell]?.fileLine;
    const acks = acknowledgedRules(u.cells[x.cell]?.options);
    for (const p of results[i]) {
      m.findings.push({
        rule: p.rule, severity: RUNBOOK_RULES[p.rule], message: p.message, help: p.help, cell: x.cell, statement: x.statement, line: a.statement.line,
        source: 'runbook', fileLine: fl === undefined ? undefined : fl + a.statement.line - 1, sql: a.statement.text,
        table: { name: p.table, rows: null, bytes: 0 }, acknowledged: acks.has(p.rule) ? true : undefined, file: u.file,
      });
    }
  });
}

/** Human size: `9.1 MB`. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${v} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

/** Describes a table's size for messages: `rollups: about 200,000 rows, 9.1 MB on this connection`. */
export function describeSize(t: TableSize): string {
  const rows = t.rows === null ? 'row count unknown (never analyzed)' : `about ${Math.round(t.rows).toLocaleString('en-US')} rows`;
  return `${t.name}: ${rows}, ${formatBytes(t.bytes)} on this connection`;
}

/**
 * The findings that stop a cell on a production connection: error-level and not acknowledged by the cell's
 * `ack` option. The runner refuses to run the cell while this is not empty (docs/safety.md, "Acknowledging").
 */
export function unacknowledgedErrors(findings: Finding[], cell?: number): Finding[] {
  return findings.filter((f) => f.severity === 'error' && !f.acknowledged && (cell === undefined || f.cell === cell));
}
