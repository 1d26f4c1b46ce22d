// The planner check of UPDATE and DELETE statements: EXPLAIN (never ANALYZE) on the catalog connection, to warn
// about a batch that scans a large table every time and an unbatched statement over many rows.

import type { Client } from 'pg';
import { lockHoldersOn, lockHoldersText, rowEstimates } from './catalog';

/**
 * A table is "large" from this many rows (`pg_class.reltuples`, the planner's estimate): a sequential scan of it
 * costs about a second or more per batch on ordinary hardware, and an UPDATE of that many rows holds their row
 * locks, and bloats the table, for as long. Documented in docs/safety.md ("batch-seq-scan", "unbatched-dml").
 */
export const LARGE_TABLE_ROWS = 100_000;

/** One UPDATE or DELETE to explain. */
export interface PlanCandidate {
  /** The statement's text, as the runner sends it. */
  sql: string;
  /** Its target table and every table it names (as written). */
  target: string;
  tables: string[];
  batched: boolean;
  where: boolean;
}

/** What the planner check says about one candidate. */
export interface PlanFinding {
  rule: 'batch-seq-scan' | 'unbatched-dml' | 'plan-unchecked';
  message: string;
  help: string;
  /** The table the finding is about (its size goes into the message). */
  table: string;
}

/** A node of `EXPLAIN (FORMAT JSON)` output, the fields read here. Source: PostgreSQL docs, EXPLAIN. */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  Alias?: string;
  Filter?: string;
  'Plan Rows'?: number;
  'Parent Relationship'?: string;
  Plans?: PlanNode[];
}

/** Options of {@link planFindings}. */
export interface PlanOptions {
  /** Rows from which a table counts as large; default {@link LARGE_TABLE_ROWS}. */
  largeTableRows?: number;
}

/** Every sequential scan of a plan, and whether it sits under a Limit (the batch's own subquery or CTE). */
function seqScans(node: PlanNode, underLimit = false, out: { node: PlanNode; underLimit: boolean }[] = []): { node: PlanNode; underLimit: boolean }[] {
  if (node['Node Type'] === 'Seq Scan') out.push({ node, underLimit });
  for (const c of node.Plans ?? []) seqScans(c, underLimit || node['Node Type'] === 'Limit', out);
  return out;
}

/** The rows the ModifyTable node is estimated to change: its outer input's estimate. */
function rowsChanged(top: PlanNode): number | undefined {
  if (top['Node Type'] !== 'ModifyTable') return undefined;
  const input = (top.Plans ?? []).filter((p) => p['Parent Relationship'] === 'Outer');
  return input.length ? Math.max(...input.map((p) => p['Plan Rows'] ?? 0)) : undefined;
}

function qualified(n: PlanNode): string {
  return n.Schema && n.Schema !== 'public' ? `${n.Schema}.${n['Relation Name'] ?? ''}` : n['Relation Name'] ?? '';
}

/** A table's name as written and its row estimate. */
interface RowEstimate { name: string; rows: number | null }

/** A size from the catalog matching a plan's relation (names as written may be qualified or not). */
function sizeOf(sizes: Map<string, RowEstimate>, n: PlanNode): RowEstimate | undefined {
  const rel = n['Relation Name'] ?? '';
  for (const [name, size] of sizes) {
    const last = name.slice(name.lastIndexOf('.') + 1);
    if (last === rel && (!name.includes('.') || name.slice(0, name.lastIndexOf('.')) === n.Schema)) return size;
  }
  return undefined;
}

const rows = (n: number): string => Math.round(n).toLocaleString('en-US');

/**
 * Explains each candidate on `client` (a connection other than the runbook's session) and returns what to say:
 * - a batched statement whose plan finds the batch (the part under its Limit) with a sequential scan of a large table
 *   → `batch-seq-scan`: every batch reads the table from its start, past the rows earlier batches already changed, so
 *   the backfill slows as it goes;
 * - an unbatched one the planner estimates to change at least `largeTableRows` rows (or, when it cannot be explained,
 *   one with no WHERE clause on a large table) → `unbatched-dml`;
 * - a candidate on a large table that cannot be explained → `plan-unchecked`, with the server's reason.
 *
 * EXPLAIN without ANALYZE plans the statement and never runs it. It does take the statement's ROW EXCLUSIVE lock
 * while planning, so it runs in a read-only implicit transaction with `lock_timeout` 1 s and `statement_timeout` 5 s
 * (SET LOCAL): a table locked by someone else costs one second, not a queue. Candidates on small tables (and
 * tables not on the connection) are not explained.
 *
 * @returns per candidate (same index), its findings
 * @throws whatever pg raises for the catalog query of row estimates (connection lost); EXPLAIN errors are findings
 */
export async function planFindings(client: Client, candidates: PlanCandidate[], opts: PlanOptions = {}): Promise<PlanFinding[][]> {
  const large = opts.largeTableRows ?? LARGE_TABLE_ROWS;
  const sizes = new Map([...await rowEstimates(client, [...new Set(candidates.flatMap((c) => c.tables))])].map(([name, rows]) => [name, { name, rows }]));
  const isLarge = (t: RowEstimate | undefined): boolean => t !== undefined && t.rows !== null && t.rows >= large;
  const out: PlanFinding[][] = [];
  for (const c of candidates) {
    const found: PlanFinding[] = [];
    out.push(found);
    const bigTable = c.tables.find((t) => isLarge(sizes.get(t)));
    if (!bigTable) continue;
    let top: PlanNode;
    try {
      const r = await client.query(`SET TRANSACTION READ ONLY; SET LOCAL lock_timeout = '1s'; SET LOCAL statement_timeout = '5s'; EXPLAIN (FORMAT JSON, VERBOSE) ${c.sql}`);
      const results = Array.isArray(r) ? r : [r];
      const plan = (results[results.length - 1].rows[0] as { 'QUERY PLAN': { Plan: PlanNode }[] })['QUERY PLAN'];
      top = plan[0].Plan;
    } catch (err) {
      let reason = err instanceof Error ? err.message : String(err);
      // Behind a lock (SQLSTATE 55P03 at the 1 s lock_timeout): name who holds it, so the reader knows why.
      if ((err as { code?: string }).code === '55P03') {
        const holders = lockHoldersText(await lockHoldersOn(client, c.tables).catch(() => []));
        if (holders) reason = `${reason}: ${holders}`;
      }
      if (!c.batched && !c.where && isLarge(sizes.get(c.target))) found.push(unbatched(c, undefined));
      else {
        found.push({
          rule: 'plan-unchecked', table: bigTable,
          message: `The planner check could not run for this statement on this connection (EXPLAIN failed: ${reason}). It names ${bigTable}, a large table; a column or table added earlier in the runbook does not exist here until that step has run.`,
          help: 'Lint again once the earlier steps have run (runbook run checks it again before the cell), or EXPLAIN the statement yourself.',
        });
      }
      continue;
    }
    if (c.batched) {
      // The batch's predicate is what runs under the Limit; a scan outside it (a hash join of the batch's ids) is
      // the planner's choice for this size and not what the issue of batches is about.
      const scans = seqScans(top).filter((x) => x.underLimit && isLarge(sizeOf(sizes, x.node)));
      if (scans.length) {
        const t = sizeOf(sizes, scans[0].node) as RowEstimate;
        const what = scans.map((x) => `Seq Scan on ${qualified(x.node)}${x.node.Filter ? ` with Filter: ${x.node.Filter}` : ''}`).join('; ');
        found.push({
          rule: 'batch-seq-scan', table: t.name,
          message: `The planner finds each batch with a sequential scan of a large table (${what}). Every batch reads the table again from its start, past the rows earlier batches already changed: the backfill slows down as it goes, reading up to the whole table once per batch.`,
          help: `Give the batch's predicate an index (e.g. a partial index: CREATE INDEX CONCURRENTLY … ON ${t.name} (id) WHERE <the predicate>;), or walk the key in ranges (WHERE id > <last id done> ORDER BY id LIMIT n), so a batch reads only its own rows.`,
        });
      }
    } else {
      const n = rowsChanged(top);
      if (n !== undefined && n >= large) found.push(unbatched(c, n));
    }
  }
  return out;
}

function unbatched(c: PlanCandidate, estimate: number | undefined): PlanFinding {
  const kind = /^\s*delete/i.test(c.sql) ? 'DELETE' : 'UPDATE';
  const many = estimate === undefined ? 'every row of' : `about ${rows(estimate)} rows (the planner's estimate) of`;
  return {
    rule: 'unbatched-dml', table: c.target,
    message: `This ${kind} changes ${many} ${c.target} in one transaction: it holds the row locks of all of them until it commits (every other writer of those rows waits), keeps a long transaction open (VACUUM cannot clean up behind it), and a failure near the end rolls all of it back.`,
    help: kind === 'UPDATE'
      ? `Batch it: UPDATE ${c.target} SET … WHERE id IN (SELECT id FROM ${c.target} WHERE <what is left to change> LIMIT 5000); in a cell run again until it reports UPDATE 0, each batch committed on its own (autocommit).`
      : `Batch it: DELETE FROM ${c.target} WHERE id IN (SELECT id FROM ${c.target} WHERE <the condition> LIMIT 5000); in a cell run again until it reports DELETE 0, each batch committed on its own (autocommit).`,
  };
}
