// Lints runbooks before they run: squawk's rules (one squawk process for every cell) plus the runbook-level rules,
// filtered by what the runbook and the connection know, with table sizes from the catalog.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import type { Client } from 'pg';
import type { ExplainStmt, Node, SelectStmt } from 'libpg-query';
import { cellStartLines, parseRunbook, type Runbook } from '../format';
import { loadParser, lineStarts, splitCell, type CellStatement } from './analyze-statements';
import { sameTable, stronger, type TableLock } from './analyze';
import { analyzeRunbook, tablesCreatedIfNotExists, type AnalyzedStatement, type RunbookAnalysis } from './findings';
import { SQUAWK_EXCLUDED, runSquawk, squawkPgVersion, squawkRule, type SquawkViolation } from './squawk';
import type { CatalogConnection, Finding, LintCell, LintContext, Severity, TableSize } from './findings-types';

export type { CatalogConnection, Finding, LintCell, LintContext, Severity, TableSize } from './findings-types';

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
}

/**
 * {@link lintRunbook} for the runner: the findings, grouped by cell, and each cell's table locks from the same
 * analysis (one parse of each cell for the whole run).
 *
 * @throws as {@link lintRunbook}
 */
export async function lintRunbookForRun(cells: LintCell[], ctx: LintContext = {}): Promise<RunbookLint> {
  const [{ findings, locks }] = await lintUnits([{ cells }], ctx);
  const byCell = new Map<number, Finding[]>();
  for (const f of findings) {
    const list = byCell.get(f.cell);
    if (list) list.push(f); else byCell.set(f.cell, [f]);
  }
  return { findings, byCell, locks };
}

/**
 * The findings about a transaction state the whole-runbook lint could not know (it starts from an idle session):
 * `cannot-run-in-transaction` and `failed-transaction` for one cell run from a session in `txState` (a BEGIN run
 * earlier, a run started with --from). Our analysis only, no squawk: cheap enough to run before every such cell.
 *
 * @param index the cell's index in its runbook (set as the findings' `cell`)
 */
export async function transactionStateFindings(cell: LintCell, index: number, txState: 'in transaction' | 'failed', ctx: Pick<LintContext, 'serverVersion' | 'lockTimeoutDefault' | 'statementTimeoutDefault'> = {}): Promise<Finding[]> {
  await loadParser();
  const analysis = analyzeRunbook([{ statements: splitCell(cell.source), options: cell.options }], {
    serverMajor: serverMajor(ctx.serverVersion) ?? 18, initialTxState: txState,
    lockTimeoutDefault: ctx.lockTimeoutDefault, statementTimeoutDefault: ctx.statementTimeoutDefault,
  });
  const acks = acknowledgedRules(cell.options);
  return analysis.findings
    .filter((f) => f.rule === 'cannot-run-in-transaction' || f.rule === 'failed-transaction')
    .map((f) => ({ ...f, cell: index, fileLine: cell.fileLine === undefined ? undefined : cell.fileLine + f.line - 1, table: undefined, acknowledged: acks.has(f.rule) ? true : undefined }));
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
    return { file: p, cells: lintCellsOf(parseRunbook(read(p), { skipOptionChecks: true })) };
  });
  return (await lintUnits(units, ctx)).flatMap((u) => u.findings);
}

/** Runs `fn` on the lint's catalog connection. */
function onCatalog<T>(conn: CatalogConnection, fn: (client: Client) => Promise<T>): Promise<T> {
  return typeof conn === 'function' ? conn(fn) : fn(conn);
}

async function lintUnits(units: Unit[], ctx: LintContext): Promise<{ findings: Finding[]; locks: Map<number, TableLock[]> }[]> {
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
    try {
      const split = splitUnits(units, splitOnce);
      // CREATE TABLE IF NOT EXISTS creates a table only where it is missing: ask the connection which are.
      let onConnection: Map<string, boolean> | undefined;
      const conn = ctx.client;
      if (conn) {
        const names = [...new Set(split.flatMap((u) => tablesCreatedIfNotExists(u.statements.map((st) => ({ statements: st })), major)))];
        onConnection = names.length ? await onCatalog(conn, (c) => tablesExist(c, names)) : new Map();
      }
      prepared = analyzeUnits(split, major, ctx, onConnection);
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
    let sizes = new Map<string, TableSize>();
    const conn = ctx.client;
    if (conn) {
      for (const m of mapped) if (m.pendingNotNull.length) await onCatalog(conn, (c) => dropProvenNotNull(c, m.pendingNotNull, m.findings));
      const names = [...new Set(mapped.flatMap((m) => m.findings.map((f) => f.table?.name).filter((n): n is string => n !== undefined)))];
      if (names.length) sizes = await onCatalog(conn, (c) => tableSizes(c, names));
    }
    return mapped.map((m, i) => ({ findings: numberCells(finalize(m, sizes), units[i].sqlPath ? undefined : units[i].cells), locks: cellLocks(prepared[i].analysis as RunbookAnalysis) }));
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
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
  const [kind, body] = Object.entries(node)[0] ?? [];
  if (!SQUAWK_QUIET.has(kind)) return false;
  if (kind === 'SelectStmt') return (body as SelectStmt).intoClause === undefined;
  // EXPLAIN also takes CREATE TABLE AS (it creates the table under EXPLAIN ANALYZE): look at what it explains.
  if (kind === 'ExplainStmt') return quiet((body as ExplainStmt).query);
  return true;
}

/** Reads (for `.sql` units) and splits every unit; runs while squawk works in its own process. */
function splitUnits(units: Unit[], cache: Map<string, SplitCell>): Omit<PreparedUnit, 'analysis'>[] {
  return units.map((u) => {
    const cells = u.load ? u.load() : u.cells;
    const parts = cells.map((c) => (c.kind === 'sql' ? splitWith(cache, c.source) : undefined));
    return { ...u, cells, statements: parts.map((p) => p?.statements), starts: parts.map((p) => p?.starts) };
  });
}

/**
 * Analyzes every split unit (the runbook-level rules), then lets the parse trees go before the findings are built.
 * @param onConnection whether the connection has each table of a `CREATE … IF NOT EXISTS` (undefined: no connection)
 */
function analyzeUnits(split: Omit<PreparedUnit, 'analysis'>[], major: number, ctx: LintContext, onConnection: ReadonlyMap<string, boolean> | undefined): PreparedUnit[] {
  const out = split.map((u) => ({
    ...u,
    analysis: analyzeRunbook(u.statements.map((s, i) => ({ statements: s, options: u.cells[i].options })), {
      serverMajor: major, lockTimeoutDefault: ctx.lockTimeoutDefault, statementTimeoutDefault: ctx.statementTimeoutDefault,
      initialTxState: ctx.initialTxState, tablesOnConnection: onConnection,
    }),
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
  const ours = new Set(analysis.findings.map((f) => `${f.cell}/${f.statement}/${f.rule}`));
  const pendingNotNull: MappedUnit['pendingNotNull'] = [];
  for (let i = 0; i < violations.length; i++) {
    const v = violations[i];
    const cell = cells[i];
    const index = statementAt(u.statements[cell] ?? [], u.starts[cell] ?? [0], v.line, v.column);
    const a = index >= 0 ? analysis.cells.get(cell)?.[index] : undefined;
    const rule = v.rule_name;
    const info = squawkRule(rule);
    if (a && info.lockHazard && a.facts.locks.length > 0 && a.facts.locks.every((l) => a.newTables.includes(l.table))) continue;
    if (a && rule === 'ban-concurrent-index-creation-in-transaction' && ours.has(`${cell}/${index}/cannot-run-in-transaction`)) continue;
    if (a && rule === 'require-statement-timeout' && a.statementTimeoutInForce) continue;
    // squawk skips statements inside BEGIN … COMMIT (a failure rolls them all back, so the step can be re-run) but
    // sees one cell: it misses a transaction opened by an earlier cell or by the cell option autocommit: false.
    if (a && rule === 'prefer-robust-stmts' && a.txBefore === 'in transaction') continue;
    const existing = a?.facts.locks.find((l) => !a.newTables.includes(l.table));
    const f = make(rule, info.severity, v.message, v.help ?? info.help ?? 'See https://squawkhq.com/docs/' + rule, cell, index, v.line + 1, a?.statement.text, 'squawk', existing?.table);
    if (a && rule === 'adding-not-nullable-field' && major >= 12 && a.facts.setNotNull?.length) {
      if (a.facts.setNotNull.every((c) => [...a.provenNotNull].some((p) => sameColumn(p, c)))) continue;
      pendingNotNull.push({ finding: f, a });
    }
    findings.push(f);
  }
  return { findings, pendingNotNull };
}

const LOCK_RULES_OF_OURS = new Set(['work-under-access-exclusive', 'multiple-tables-access-exclusive', 'require-lock-timeout']);

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

/** `schema.name` → `"schema"."name"`, so to_regclass() finds the relation exactly as the parser folded it. */
function quoteName(name: string): string {
  return name.split('.').map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
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

/** Whether each table name (as written) exists on the connection: `to_regclass()`, so through its search_path. */
async function tablesExist(client: Client, names: string[]): Promise<Map<string, boolean>> {
  if (names.length === 0) return new Map();
  const r = await client.query<{ name: string; found: boolean }>(
    'SELECT n.name, to_regclass(n.quoted) IS NOT NULL AS found FROM unnest($1::text[], $2::text[]) AS n(name, quoted)', [names, names.map(quoteName)]);
  return new Map(r.rows.map((x) => [x.name, x.found]));
}

/**
 * Sizes of tables from the catalog: `pg_class.reltuples` (the planner's row estimate; -1 before the first
 * VACUUM/ANALYZE on PostgreSQL 14+, reported as null) and `pg_total_relation_size()` (bytes). Tables that do not
 * exist on the connection are left out. Source: PostgreSQL docs, 53.11 "pg_class", 9.28.7 "Database Object
 * Management Functions".
 */
async function tableSizes(client: Client, names: string[]): Promise<Map<string, TableSize>> {
  if (names.length === 0) return new Map();
  const r = await client.query<{ name: string; rows: number; bytes: number }>(
    `SELECT n.name, c.reltuples::float8 AS rows, pg_total_relation_size(c.oid)::float8 AS bytes
       FROM unnest($1::text[], $2::text[]) AS n(name, quoted) JOIN pg_class c ON c.oid = to_regclass(n.quoted)`,
    [names, names.map(quoteName)]);
  return new Map(r.rows.map((x) => [x.name, { name: x.name, rows: x.rows < 0 ? null : x.rows, bytes: x.bytes }]));
}

/**
 * The findings that stop a cell on a production connection: error-level and not acknowledged by the cell's
 * `ack` option. The runner refuses to run the cell while this is not empty (docs/safety.md, "Acknowledging").
 */
export function unacknowledgedErrors(findings: Finding[], cell?: number): Finding[] {
  return findings.filter((f) => f.severity === 'error' && !f.acknowledged && (cell === undefined || f.cell === cell));
}
