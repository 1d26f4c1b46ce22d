// Lints runbooks before they run: squawk's rules (one squawk process for every cell) plus the runbook-level rules,
// filtered by what the runbook and the connection know, with table sizes from the catalog.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import type { Client } from 'pg';
import { parseRunbook, type Runbook } from '../format';
import { loadParser, lineStarts, splitCell, type CellStatement } from './analyze-statements';
import { sameTable } from './analyze';
import { analyzeRunbook, type AnalyzedStatement, type RunbookAnalysis } from './findings';
import { SQUAWK_EXCLUDED, runSquawk, squawkPgVersion, squawkRule, type SquawkViolation } from './squawk';
import type { Finding, LintCell, LintContext, Severity, TableSize } from './findings-types';

export type { Finding, LintCell, LintContext, Severity, TableSize } from './findings-types';

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
  /** When the unit is one plain `.sql` file: squawk reads it where it is (no temporary copy). */
  sqlPath?: string;
}

interface PreparedUnit extends Unit {
  statements: (CellStatement[] | undefined)[];
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
  return (await lintUnits([{ cells }], ctx))[0];
}

/** The lint cells of a parsed runbook, with each SQL cell's first code line in the file. */
export function lintCellsOf(runbook: Runbook): LintCell[] {
  let line = 1 + countLines(runbook.frontMatter?.raw ?? '');
  return runbook.cells.map((c) => {
    const leading = c.raw?.leading ?? '';
    line += countLines(leading);
    const start = line;
    line += countLines(c.raw?.source ?? '') + (c.raw?.outputs ?? []).reduce((n, o) => n + countLines(o.text), 0);
    return { kind: c.kind, source: c.source, options: c.options, fileLine: c.raw ? (c.kind === 'markdown' || c.kind === 'checklist' ? start : start + 1) : undefined };
  });
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
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
  const units: Unit[] = paths.map((p) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(p);
    } catch (err) {
      throw new Error(`cannot read ${p}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (extname(p).toLowerCase() === '.sql') return { file: p, sqlPath: resolve(p), cells: [{ kind: 'sql', source: bytes.toString('utf8'), options: {}, fileLine: 1 }] };
    return { file: p, cells: lintCellsOf(parseRunbook(bytes, { skipOptionChecks: true })) };
  });
  return (await lintUnits(units, ctx)).flat();
}

async function lintUnits(units: Unit[], ctx: LintContext): Promise<Finding[][]> {
  await loadParser();
  const major = serverMajor(ctx.serverVersion) ?? 18;
  const dir = mkdtempSync(join(tmpdir(), 'runbook-lint-'));
  try {
    // Which file squawk reads for each SQL cell; one call for all of them.
    const byPath = new Map<string, { unit: number; cell: number }>();
    units.forEach((u, ui) => {
      u.cells.forEach((c, ci) => {
        if (c.kind !== 'sql' || c.source.trim() === '') return;
        let path = u.sqlPath;
        if (!path) {
          path = join(dir, `u${ui}-c${ci}.sql`);
          writeFileSync(path, c.source);
        }
        byPath.set(path, { unit: ui, cell: ci });
      });
    });
    // squawk runs in its own process while this thread parses and analyzes the same cells.
    const squawk = runSquawk([...byPath.keys()], { pgVersion: squawkPgVersion(ctx.serverVersion), exclude: SQUAWK_EXCLUDED, binary: ctx.squawkPath })
      .then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e }));
    const prepared: PreparedUnit[] = units.map((u) => {
      const statements = u.cells.map((c) => (c.kind === 'sql' ? splitCell(c.source) : undefined));
      const analysis = analyzeRunbook(statements.map((s) => ({ statements: s })), {
        serverMajor: major, lockTimeoutDefault: ctx.lockTimeoutDefault, statementTimeoutDefault: ctx.statementTimeoutDefault, initialTxState: ctx.initialTxState,
      });
      return { ...u, statements, analysis };
    });
    const result = await squawk;
    if (!result.ok) throw result.e;
    const squawkByUnit: SquawkViolation[][] = units.map(() => []);
    const cellOf = new Map<SquawkViolation, number>();
    for (const v of result.v) {
      const at = byPath.get(v.file) ?? byPath.get(resolve(dir, v.file));
      if (!at) continue;
      squawkByUnit[at.unit].push(v);
      cellOf.set(v, at.cell);
    }
    const out: Finding[][] = [];
    for (let ui = 0; ui < prepared.length; ui++) {
      out.push(await finishUnit(prepared[ui], squawkByUnit[ui], cellOf, ctx, major));
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The statement a squawk violation points into: the last one starting at or before it. */
function statementAt(statements: CellStatement[], starts: number[], line0: number, column: number): number {
  const offset = (starts[line0] ?? 0) + column;
  let found = statements.length > 0 ? 0 : -1;
  for (let i = 0; i < statements.length; i++) if (statements[i].start <= offset) found = i; else break;
  return found;
}

async function finishUnit(u: PreparedUnit, violations: SquawkViolation[], cellOf: Map<SquawkViolation, number>, ctx: LintContext, major: number): Promise<Finding[]> {
  const analysis = u.analysis as RunbookAnalysis;
  const findings: Finding[] = [...analysis.findings];
  const ours = new Set(analysis.findings.map((f) => `${f.cell}/${f.statement}/${f.rule}`));
  const startsByCell = new Map<number, number[]>();
  const pendingNotNull: { finding: Finding; a: AnalyzedStatement }[] = [];
  for (const v of violations) {
    const cell = cellOf.get(v) ?? 0;
    const stmts = u.statements[cell] ?? [];
    let starts = startsByCell.get(cell);
    if (!starts) { starts = lineStarts(u.cells[cell].source); startsByCell.set(cell, starts); }
    const index = statementAt(stmts, starts, v.line, v.column);
    const a = index >= 0 ? analysis.cells.get(cell)?.[index] : undefined;
    const info = squawkRule(v.rule);
    if (a && info.lockHazard && a.facts.locks.length > 0 && a.facts.locks.every((l) => a.newTables.includes(l.table))) continue;
    if (a && v.rule === 'ban-concurrent-index-creation-in-transaction' && ours.has(`${cell}/${index}/cannot-run-in-transaction`)) continue;
    if (a && v.rule === 'require-statement-timeout' && a.statementTimeoutInForce) continue;
    const existing = a?.facts.locks.find((l) => !a.newTables.includes(l.table));
    const f: Finding = {
      rule: v.rule, severity: info.severity, message: v.message, help: v.help ?? info.help ?? 'See https://squawkhq.com/docs/' + v.rule,
      cell, statement: index, line: v.line + 1, sql: a?.statement.text, source: 'squawk',
      ...(existing ? { table: { name: existing.table, rows: null, bytes: 0 } } : {}),
    };
    if (a && v.rule === 'adding-not-nullable-field' && major >= 12 && a.facts.setNotNull?.length) {
      if (a.facts.setNotNull.every((c) => [...a.provenNotNull].some((p) => sameColumn(p, c)))) continue;
      pendingNotNull.push({ finding: f, a });
    }
    findings.push(f);
  }
  if (ctx.client) {
    await dropProvenNotNull(ctx.client, pendingNotNull, findings);
    await addTableSizes(ctx.client, findings);
  } else {
    // Without a connection the size is unknown: say nothing rather than 0 bytes.
    for (const f of findings) delete f.table;
  }
  const acks = u.cells.map((c) => acknowledgedRules(c.options));
  for (const f of findings) {
    if (acks[f.cell]?.has(f.rule)) f.acknowledged = true;
    const fl = u.cells[f.cell]?.fileLine;
    if (fl !== undefined) f.fileLine = fl + f.line - 1;
    if (u.file !== undefined) f.file = u.file;
  }
  return findings.sort(compareFindings);
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

/**
 * Fills `table` of each finding from the catalog: `pg_class.reltuples` (the planner's row estimate; -1 before the
 * first VACUUM/ANALYZE on PostgreSQL 14+) and `pg_total_relation_size()` (bytes). Findings about a table that does
 * not exist on the connection lose their `table`. Source: PostgreSQL docs, 53.11 "pg_class", 9.28.7 "Database
 * Object Management Functions".
 */
async function addTableSizes(client: Client, findings: Finding[]): Promise<void> {
  const names = [...new Set(findings.map((f) => f.table?.name).filter((n): n is string => !!n))];
  if (names.length === 0) return;
  const r = await client.query<{ name: string; rows: number; bytes: number }>(
    `SELECT n.name, c.reltuples::float8 AS rows, pg_total_relation_size(c.oid)::float8 AS bytes
       FROM unnest($1::text[], $2::text[]) AS n(name, quoted) JOIN pg_class c ON c.oid = to_regclass(n.quoted)`,
    [names, names.map(quoteName)]);
  const sizes = new Map(r.rows.map((x) => [x.name, { name: x.name, rows: x.rows < 0 ? null : x.rows, bytes: x.bytes }]));
  for (const f of findings) {
    if (!f.table) continue;
    const s = sizes.get(f.table.name);
    if (!s) { delete f.table; continue; }
    f.table = s;
    f.message = `${f.message} (${describeSize(s)}.)`;
  }
}

/**
 * The findings that stop a cell on a production connection: error-level and not acknowledged by the cell's
 * `ack` option. The runner refuses to run the cell while this is not empty (docs/safety.md, "Acknowledging").
 */
export function unacknowledgedErrors(findings: Finding[], cell?: number): Finding[] {
  return findings.filter((f) => f.severity === 'error' && !f.acknowledged && (cell === undefined || f.cell === cell));
}
