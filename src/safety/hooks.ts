// The safety hooks `runbook run` calls around each SQL cell: findings gate (production), pre-flight, live lock view.

import { readFileSync } from 'node:fs';
import { Client, type ClientConfig } from 'pg';
import { parseRunbook } from '../format';
import { acknowledgedRules, lintCellsOf, lintRunbook, unacknowledgedErrors, type Finding, type LintCell } from '../sql/lint';
import type { SqlCellHooks, SqlHookContext } from '../run/session';
import { formatAge, preflight, strongLocksOfCell } from './preflight';
import { lockWatchUnavailable, start as startLockWatch, type LockSample, type LockSummary } from './lockwatch';

/** Options of {@link createSafetyHooks}. */
export interface SafetyHookOptions {
  /** Path of the squawk binary (tests; default: the one from the squawk-cli package). */
  squawkPath?: string;
  /** The runbook's cells, in order (all kinds: indexes must match the runner's). */
  cells: LintCell[];
  /** Lock view sampling interval, ms (default 250). */
  intervalMs?: number;
  /** Skip the pre-flight check (default: run it before every cell that takes a strong lock). */
  noPreflight?: boolean;
}

async function withSecondClient<T>(config: ClientConfig | undefined, fn: (c: Client) => Promise<T>): Promise<T | undefined> {
  if (!config) return undefined;
  const c = new Client({ ...config, application_name: 'runbook safety' });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Each table's relfilenode (`pg_relation_filenode()`): a table rewrite (ALTER COLUMN TYPE, VACUUM FULL, CLUSTER,
 * TRUNCATE, SET TABLESPACE …) gives it a new one. Seen from another session only once the rewrite commits.
 * Source: PostgreSQL docs, 9.28.7 "Database Object Location Functions".
 */
async function relfilenodes(c: Client, tables: string[]): Promise<Map<string, string | null>> {
  const quoted = tables.map((t) => t.split('.').map((p) => `"${p.replace(/"/g, '""')}"`).join('.'));
  const r = await c.query<{ name: string; node: string | null }>(
    'SELECT n.name, pg_relation_filenode(to_regclass(n.quoted))::text AS node FROM unnest($1::text[], $2::text[]) AS n(name, quoted)', [tables, quoted]);
  return new Map(r.rows.map((x) => [x.name, x.node]));
}

/** Short form kept in the output record: rule, severity, line, acknowledged. */
function recordOf(f: Finding): Record<string, unknown> {
  return { rule: f.rule, severity: f.severity, line: f.line, statement: f.statement, ...(f.acknowledged ? { acknowledged: true } : {}) };
}

/** The message that stops a cell on production, written for the operator at 2 a.m. */
export function blockMessage(findings: Finding[], connection: string): string {
  const lines = findings.map((f) => `- ${f.rule} (line ${f.line}): ${f.message}\n  Safe rewrite: ${f.help}`);
  const ids = [...new Set(findings.map((f) => `"${f.rule}"`))].join(', ');
  return `Not run on production connection ${connection}: ${findings.length} error-level finding(s) not acknowledged.\n${lines.join('\n')}\n` +
    `Rewrite the cell, or acknowledge on its fence: \`\`\`sql {"ack": [${ids}]} (docs/safety.md).`;
}

/** The progress line while a cell runs: whom it waits for, who waits behind it. */
export function progressText(s: LockSample): string | undefined {
  const parts: string[] = [];
  if (s.cellWaitMs !== null && s.waitingFor.length) {
    parts.push(`waiting ${formatAge(s.cellWaitMs)} for ${s.waitingFor.map((b) => `pid ${b.pid} (${b.state ?? '?'}, ${formatAge(b.xactAgeMs)}): ${(b.query ?? '').replace(/\s+/g, ' ').slice(0, 60)}`).join('; ')}`);
  }
  if (s.blocked.length) parts.push(`${s.blocked.length} session(s) blocked behind this cell (oldest ${formatAge(Math.max(...s.blocked.map((b) => b.waitMs)))})`);
  return parts.length ? parts.join(' — ') : undefined;
}

/** A line for the output body summarizing the lock view; undefined when nothing happened worth saying. */
export function summaryText(s: LockSummary): string | undefined {
  if (!s.available) return undefined;
  const parts: string[] = [];
  for (const l of s.strongLocks) parts.push(`held ${l.mode} on ${l.table} for at least ${formatAge(l.heldMs)}${l.stillHeld ? ' (still held: the transaction is open)' : ''}`);
  if (s.cellWaitedMs > 0) parts.push(`waited ${formatAge(s.cellWaitedMs)} for pid ${s.blockersSeen.map((b) => b.pid).join(', ') || '?'}`);
  if (s.peakBlocked > 0) parts.push(`${s.blockedSeen.length} session(s) waited behind it (at most ${s.peakBlocked} at once, longest ${formatAge(s.longestWaitMs)})`);
  return parts.length ? `Locks: ${parts.join('; ')}.` : undefined;
}

/**
 * Safety hooks for the runner (src/run/session.ts `SqlCellHooks`):
 * - `before`: the cell's findings (the whole runbook linted once, with the session's server version and timeout
 *   defaults, plus a check of the session's actual transaction state), recorded as `findings` and `ack`; on a
 *   `production` connection an unacknowledged error-level finding blocks the cell. Then pre-flight on a second
 *   connection when the cell takes a strong lock, recorded as `preflight` (text in the body when it found something).
 * - `watch`: the live lock view on a second connection, recorded as `locks`, and `rewritten`: the tables that got a
 *   new data file (a rewrite, case 07); on the sandbox `locks` says unavailable.
 */
export function createSafetyHooks(opts: SafetyHookOptions): SqlCellHooks {
  let whole: Promise<Finding[]> | undefined;
  // Before each cell that takes a strong lock: the tables' relfilenodes, to tell afterwards which were rewritten.
  const filenodes = new Map<number, Map<string, string | null>>();
  const lintWhole = (ctx: SqlHookContext): Promise<Finding[]> => {
    whole ??= (async () => {
      const run = (client?: Client): Promise<Finding[]> => lintRunbook(opts.cells, {
        serverVersion: ctx.session.serverVersion || undefined, client, squawkPath: opts.squawkPath,
        lockTimeoutDefault: ctx.session.timeouts.lockTimeout, statementTimeoutDefault: ctx.session.timeouts.statementTimeout,
      });
      return (await withSecondClient(ctx.secondConnection, run)) ?? run();
    })();
    return whole;
  };

  return {
    async before(ctx) {
      let all: Finding[];
      try {
        all = await lintWhole(ctx);
      } catch (err) {
        // Fail closed on production: the checks did not run, so nobody knows what the cell will do to the tables.
        const reason = err instanceof Error ? err.message : String(err);
        const acked = acknowledgedRules(ctx.cell.options).has('lint-unavailable');
        const record = { lintError: reason, ...(acked ? { ack: ['lint-unavailable'] } : {}) };
        if (ctx.target.environment === 'production' && !acked) {
          return { record, block: `Not run on production connection ${ctx.target.name}: the safety checks could not run (${reason}). Fix that (e.g. reinstall squawk-cli), or acknowledge on the cell's fence: \`\`\`sql {"ack": ["lint-unavailable"]}.` };
        }
        return { record };
      }
      const mine = all.filter((f) => f.cell === ctx.index);
      // The runbook was linted from an idle session; the session may really be in a transaction (a BEGIN run
      // earlier, --from): check this cell alone against the actual state too.
      if (ctx.session.txState !== 'idle') {
        const here = await lintRunbook([{ ...opts.cells[ctx.index], kind: 'sql', source: ctx.cell.source, options: ctx.cell.options }], {
          serverVersion: ctx.session.serverVersion || undefined, initialTxState: ctx.session.txState, squawkPath: opts.squawkPath,
          lockTimeoutDefault: ctx.session.timeouts.lockTimeout, statementTimeoutDefault: ctx.session.timeouts.statementTimeout,
        });
        for (const f of here) {
          if ((f.rule === 'cannot-run-in-transaction' || f.rule === 'failed-transaction') && !mine.some((m) => m.rule === f.rule && m.statement === f.statement)) mine.push({ ...f, cell: ctx.index });
        }
      }
      const record: Record<string, unknown> = {};
      if (mine.length) record.findings = mine.map(recordOf);
      const acked = [...new Set(mine.filter((f) => f.acknowledged).map((f) => f.rule))];
      if (acked.length) record.ack = acked;
      const blocking = unacknowledgedErrors(mine);
      if (ctx.target.environment === 'production' && blocking.length) return { block: blockMessage(blocking, ctx.target.name), record };
      let body: string | undefined;
      if (!opts.noPreflight && ctx.secondConnection) {
        const locks = await strongLocksOfCell(ctx.cell.source);
        if (locks.length) {
          const pre = await withSecondClient(ctx.secondConnection, async (c) => {
            filenodes.set(ctx.index, await relfilenodes(c, locks.map((l) => l.table)));
            return preflight(c, locks, { excludePids: [ctx.session.pid] });
          });
          if (pre) {
            record.preflight = {
              tables: pre.tables.map((t) => `${t.table} ${t.mode}`),
              blockers: pre.lockers.filter((s) => s.wouldBlockCell).map((s) => ({ pid: s.pid, state: s.state, xactAgeMs: s.xactAgeMs, query: s.query })),
              idleInTransaction: pre.idleInTransaction.length, longTransactions: pre.longTransactions.length,
              vacuums: pre.vacuums.map((v) => ({ pid: v.pid, table: v.table, phase: v.phase, autovacuum: v.autovacuum })),
            };
            if (pre.lockers.length || pre.idleInTransaction.length || pre.longTransactions.length || pre.vacuums.length) {
              body = pre.text;
              ctx.onProgress?.(pre.text.split('\n').slice(-1)[0]);
            }
          }
        }
      }
      return { record, body };
    },

    async watch(ctx) {
      if (!ctx.secondConnection) {
        const unavailable = lockWatchUnavailable(ctx.target.sandbox ? 'the sandbox serves one connection at a time; the live lock view needs a second one' : 'no second connection', opts.intervalMs);
        return { stop: async () => ({ record: { locks: { available: false, reason: unavailable.reason } } }) };
      }
      const client = new Client({ ...ctx.secondConnection, application_name: 'runbook lock view' });
      client.on('error', () => undefined);
      await client.connect();
      const w = startLockWatch(client, ctx.session.pid, {
        intervalMs: opts.intervalMs,
        onSample: (s) => { const t = progressText(s); if (t) ctx.onProgress?.(t); },
      });
      return {
        async stop() {
          const summary = await w.stop();
          const record: Record<string, unknown> = { locks: summary };
          const beforeNodes = filenodes.get(ctx.index);
          filenodes.delete(ctx.index);
          let body = summaryText(summary);
          if (beforeNodes) {
            const after = await relfilenodes(client, [...beforeNodes.keys()]).catch(() => undefined);
            const rewritten = after ? [...beforeNodes].filter(([t, n]) => n !== null && after.get(t) !== null && after.get(t) !== n).map(([t]) => t) : [];
            if (rewritten.length) {
              record.rewritten = rewritten;
              body = [body, `Rewritten (new data file): ${rewritten.join(', ')}.`].filter(Boolean).join('\n');
            }
          }
          await client.end().catch(() => undefined);
          return { record, body };
        },
      };
    },
  };
}

/** The factory `runbook run` registers (src/cli/run.ts `runHookFactories`): reads the runbook's cells from the file. */
export function safetyHooksFor(flags: { connection?: string; file: string }): SqlCellHooks {
  return createSafetyHooks({ cells: lintCellsOf(parseRunbook(readFileSync(flags.file))) });
}
