// The safety hooks `runbook run` calls around each SQL cell: findings gate (production), pre-flight, live lock view.

import { readFileSync } from 'node:fs';
import type { Client } from 'pg';
import { parseRunbook, type Runbook } from '../format';
import { fromPgLocksMode, isStrongLock, lockLevel, type TableLock } from '../sql/analyze';
import {
  acknowledgedRules, lintCellsOf, lintRunbookForRun, recheckPlans, serverMajor, transactionStateFindings, unacknowledgedErrors,
  type Finding, type LintCell, type RunbookLint,
} from '../sql/lint';
import { dropInvalidIndexSql, invalidIndexesOn, type IndexState } from '../sql/catalog';
import type { SqlHookContext } from '../run/session';
import type { RunHooks } from '../run/loop';
import { formatAge, preflight, strongLocksOfCell } from './preflight';
import { lockWatchUnavailable, start as startLockWatch, type HeldLockRecord, type LockSample, type LockSummary, type LockWatch } from './lockwatch';
import { MonitorConnection } from './monitor';
import { redact } from '../connections/redact';

/** Options of {@link createSafetyHooks}. */
export interface SafetyHookOptions {
  /** Path of the squawk binary (tests; default: the one from the squawk-cli package). */
  squawkPath?: string;
  /** The runbook's cells, in order (all kinds: indexes must match the runner's). */
  cells: LintCell[];
  /** Lock view sampling interval, ms (default 250); also the delay before a cell's first sample. */
  intervalMs?: number;
  /** Skip the pre-flight check (default: run it before every cell that takes a strong lock). */
  noPreflight?: boolean;
  /** Close the monitoring connection after this long unused, ms (default 5 000; see {@link MonitorConnection}). */
  idleCloseMs?: number;
  /** The run's monitoring connection, shared with the monitoring sampler (src/monitor/for-session.ts); default: one of its own. */
  monitor?: MonitorConnection;
}

/** The runner's SQL cell hooks, plus the end of the run. */
export interface SafetyHooks extends RunHooks {
  /** Closes the run's monitoring connection (reopened if a later cell needs it). Call when the run ends. Never throws. */
  close(): Promise<void>;
  /** Monitoring connections opened so far: one per run, unless it was idle long enough to be closed (tests). */
  readonly monitorConnectionsOpened: number;
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

/** What before() leaves for watch() about one cell. */
interface CellState {
  strong: TableLock[];
  /** Tables (or REINDEXed indexes) of the cell's index builds: checked for invalid indexes after the cell. */
  indexBuilds: TableLock[];
  filenodes?: Map<string, string | null>;
}

/** The record's form of an invalid index: where it is and the statement that removes it. */
function invalidIndexRecord(i: IndexState): Record<string, unknown> {
  return { index: i.index, table: i.table, ready: i.ready, ...(i.buildingPid !== null ? { buildingPid: i.buildingPid } : { drop: dropInvalidIndexSql(i.index) }) };
}

/**
 * The body's account of invalid indexes found after a cell that builds indexes: what they cost and how to retry.
 * Source: PostgreSQL docs, CREATE INDEX, "Building Indexes Concurrently": a failed build leaves an invalid index that
 * queries ignore but writes may still update; drop it and build again (or REINDEX INDEX CONCURRENTLY).
 */
export function invalidIndexText(found: IndexState[]): string {
  const lines = found.map((i) => i.buildingPid !== null
    ? `  ${i.index} on ${i.table}: still being built by pid ${i.buildingPid}.`
    : `  ${i.index} on ${i.table}: queries do not use it${i.ready ? ', yet every write updates it' : ''}. To retry: ${dropInvalidIndexSql(i.index)} in a cell of its own, then run this cell again (IF NOT EXISTS would skip the invalid index).`);
  return `Invalid index${found.length > 1 ? 'es' : ''} after this cell (pg_index.indisvalid = false: a CREATE INDEX CONCURRENTLY failed, was cancelled, or was skipped by IF NOT EXISTS):\n${lines.join('\n')}`;
}

/** Short form kept in the output record: rule, severity, line, acknowledged. */
function recordOf(f: Finding): Record<string, unknown> {
  return { rule: f.rule, severity: f.severity, line: f.line, statement: f.statement, ...(f.acknowledged ? { acknowledged: true } : {}) };
}

/** Findings as the output body shows them: one line each, what production would do about errors. */
export function findingsText(findings: Finding[], environment: string): string {
  const lines = findings.map((f) => `${f.severity}[${f.rule}] line ${f.line}: ${f.message}${f.acknowledged ? ' (acknowledged)' : ''}`);
  const blocking = findings.filter((f) => f.severity === 'error' && !f.acknowledged).length;
  if (blocking && environment !== 'production') lines.push(`On a production connection this cell would not run until the error-level finding${blocking > 1 ? 's are' : ' is'} fixed or acknowledged (docs/safety.md).`);
  return `Findings:\n${lines.map((l) => `  ${l}`).join('\n')}`;
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
    parts.push(`waiting ${formatAge(s.cellWaitMs)} for ${s.waitingFor.map((b) => `pid ${b.pid} (${b.state ?? '?'}, ${formatAge(b.xactAgeMs)}): ${redact(b.query ?? '').replace(/\s+/g, ' ').slice(0, 60)}`).join('; ')}`);
  }
  if (s.blocked.length) parts.push(`${s.blocked.length} session(s) blocked behind this cell (oldest ${formatAge(s.blocked.reduce((m, b) => Math.max(m, b.waitMs), 0))})`);
  return parts.length ? parts.join(' — ') : undefined;
}

/** `AccessExclusiveLock` → `ACCESS EXCLUSIVE` (the words of the LOCK command and the docs). */
function lockWords(pgLocksMode: string): string {
  return fromPgLocksMode(pgLocksMode) ?? pgLocksMode;
}

/** A line for the output body summarizing the lock view; undefined when nothing happened worth saying. */
export function summaryText(s: LockSummary): string | undefined {
  if (!s.available) return undefined;
  const parts: string[] = [];
  // One entry per relation, its strongest mode: ALTER TABLE … TYPE also takes SHARE on the table it holds ACCESS EXCLUSIVE on.
  const strongest = new Map<string, HeldLockRecord>();
  for (const l of s.strongLocks) {
    const prev = strongest.get(l.table);
    const level = (x: HeldLockRecord): number => lockLevel(fromPgLocksMode(x.mode) ?? 'ACCESS SHARE');
    if (!prev || level(l) > level(prev)) strongest.set(l.table, l);
  }
  for (const l of strongest.values()) {
    // heldMs is a lower bound (first to last sample): below 0.1 s it says nothing.
    parts.push(`held ${lockWords(l.mode)} on ${l.table}${l.heldMs >= 100 ? ` for at least ${formatAge(l.heldMs)}` : ''}${l.stillHeld ? ' (still held: the transaction is open)' : ''}`);
  }
  if (s.cellWaitedMs > 0) parts.push(`waited ${formatAge(s.cellWaitedMs)} for pid ${s.blockersSeen.map((b) => b.pid).join(', ') || '?'}`);
  if (s.peakBlocked > 0) parts.push(`${s.blockedSeen.length} session(s) waited behind it (at most ${s.peakBlocked} at once, longest ${formatAge(s.longestWaitMs)})`);
  return parts.length ? `Locks: ${parts.join('; ')}.` : undefined;
}

/** True when the lock view saw something a reader of the record needs: a strong lock, a wait, a blocked session. */
function worthRecording(s: LockSummary): boolean {
  return s.strongLocks.length > 0 || s.cellWaitedMs > 0 || s.peakBlocked > 0 || s.blockersSeen.length > 0 || s.blockedSeen.length > 0;
}

/**
 * Safety hooks for the runner (src/run/session.ts `SqlCellHooks`):
 * - `before`: the cell's findings (the whole runbook linted once, with the session's server version and timeout
 *   defaults, plus a check of the session's actual transaction state), recorded as `findings` and `ack`; on a
 *   `production` connection an unacknowledged error-level finding blocks the cell. Then, when the cell takes a strong
 *   lock, pre-flight, recorded as `preflight` (text in the body when it found something).
 * - `watch`: the live lock view, recorded as `locks` only when it saw something (a strong lock held, a wait, blocked
 *   sessions), and `rewritten`: the tables that got a new data file (a rewrite, case 07). The first sample is taken
 *   after `intervalMs`: a cell that ends sooner costs no query, unless it takes a strong lock (then one closing sample
 *   shows the locks its open transaction still holds). On the sandbox, `locks` says unavailable for cells that take a
 *   strong lock.
 * - `close`: ends the monitoring connection.
 *
 * All of it runs on ONE monitoring connection per run (opened at the first query that needs it, which a runbook of
 * plain SELECTs never sends), never on the runbook's own session.
 */
export function createSafetyHooks(opts: SafetyHookOptions): SafetyHooks {
  const intervalMs = opts.intervalMs ?? 250;
  let whole: Promise<RunbookLint> | undefined;
  // The cells `whole` was linted from: the plan's selection (others as Markdown), or the runbook's cells.
  let linted: LintCell[] = opts.cells;
  let monitor: MonitorConnection | undefined = opts.monitor;
  // Per cell between before() and the end of watch(): the strong locks it takes, the tables of its index builds and,
  // before it runs, the relfilenodes of the locked tables (to tell afterwards which were rewritten).
  const cellState = new Map<number, CellState>();
  const monitorOf = (ctx: Pick<SqlHookContext, 'secondConnection'>): MonitorConnection | undefined => {
    if (!ctx.secondConnection) return undefined;
    monitor ??= new MonitorConnection(ctx.secondConnection, { idleCloseMs: opts.idleCloseMs });
    return monitor;
  };
  const lintWhole = (ctx: SqlHookContext): Promise<RunbookLint> => {
    const m = monitorOf(ctx);
    whole ??= lintRunbookForRun(opts.cells, {
      serverVersion: ctx.session.serverVersion || undefined, client: m ? (fn) => m.use(fn) : undefined, squawkPath: opts.squawkPath,
      lockTimeoutDefault: ctx.session.timeouts.lockTimeout, statementTimeoutDefault: ctx.session.timeouts.statementTimeout,
    });
    return whole;
  };
  /** The strong locks the cell takes: from the lint's analysis when it analyzed this very text, else parsed now. */
  const strongLocks = async (ctx: SqlHookContext, lint: RunbookLint | undefined): Promise<TableLock[]> => {
    const analyzed = lint && linted[ctx.index]?.source === ctx.cell.source ? lint.locks.get(ctx.index) : undefined;
    if (analyzed) return analyzed.filter((l) => isStrongLock(l.mode));
    return strongLocksOfCell(ctx.cell.source, serverMajor(ctx.session.serverVersion) ?? 18);
  };

  return {
    get monitorConnectionsOpened() { return monitor?.opened ?? 0; },

    async close() {
      cellState.clear();
      await monitor?.close();
    },

    // The plan's lint of the selection, from the session's real transaction state: before() then uses it.
    async lint(cells, { session, initialTxState }) {
      const pg = await session.sql();
      const m = monitorOf({ secondConnection: session.secondConnection() });
      linted = cells;
      whole = lintRunbookForRun(cells, {
        serverVersion: pg.serverVersion || undefined, client: m ? (fn) => m.use(fn) : undefined, squawkPath: opts.squawkPath,
        lockTimeoutDefault: pg.timeouts.lockTimeout, statementTimeoutDefault: pg.timeouts.statementTimeout, initialTxState,
      });
      return whole;
    },

    async before(ctx) {
      let lint: RunbookLint;
      try {
        lint = await lintWhole(ctx);
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
      const mine = [...(lint.byCell.get(ctx.index) ?? [])];
      // The runbook was linted from an idle session; the session may really be in a transaction (a BEGIN run
      // earlier, --from): check this cell against the actual state too.
      if (ctx.session.txState !== 'idle') {
        const here = await transactionStateFindings({ ...linted[ctx.index], kind: 'sql', source: ctx.cell.source, options: ctx.cell.options }, ctx.index, ctx.session.txState, {
          serverVersion: ctx.session.serverVersion || undefined, procedureBodies: lint.procedureBodies,
          lockTimeoutDefault: ctx.session.timeouts.lockTimeout, statementTimeoutDefault: ctx.session.timeouts.statementTimeout,
        });
        for (const f of here) if (!mine.some((m) => m.rule === f.rule && m.statement === f.statement)) mine.push(f);
      }
      // The planner check could not run when the run started (a column added by an earlier cell): try it now.
      const monitor = monitorOf(ctx);
      if (monitor && mine.some((f) => f.rule === 'plan-unchecked') && opts.cells[ctx.index]?.source === ctx.cell.source) {
        try {
          const again = await recheckPlans(lint, ctx.index, opts.cells[ctx.index], (fn) => monitor.use(fn), mine);
          mine.splice(0, mine.length, ...again);
        } catch {
          // The earlier plan-unchecked finding stays: it says the check did not run.
        }
      }
      const record: Record<string, unknown> = {};
      // The migration log keeps what matters at 2 a.m.: errors and warnings (info-level advice stays in `runbook lint`).
      const notable = mine.filter((f) => f.severity !== 'info');
      if (notable.length) record.findings = notable.map(recordOf);
      const acked = [...new Set(mine.filter((f) => f.acknowledged).map((f) => f.rule))];
      if (acked.length) record.ack = acked;
      const blocking = unacknowledgedErrors(mine);
      if (ctx.target.environment === 'production' && blocking.length) return { block: blockMessage(blocking, ctx.target.name), record };
      const strong = await strongLocks(ctx, lint);
      const sameText = opts.cells[ctx.index]?.source === ctx.cell.source;
      const indexBuilds = sameText ? lint.indexBuilds.get(ctx.index) ?? [] : [];
      const state: CellState = { strong, indexBuilds };
      cellState.set(ctx.index, state);
      // Findings go into the output body too, so a staging rehearsal shows what production would refuse.
      let body: string | undefined = notable.length ? findingsText(notable, ctx.target.environment) : undefined;
      const m = monitorOf(ctx);
      if (!opts.noPreflight && m && (strong.length || indexBuilds.length)) {
        try {
          // The lock_timeout the cell runs with: its option, else the session's (the profile's), else one it SETs itself.
          const option = ctx.cell.options.lock_timeout;
          const lockTimeout = typeof option === 'string' || typeof option === 'number' ? String(option) : ctx.session.timeouts.lockTimeout;
          const locked = [...strong, ...indexBuilds.filter((b) => !strong.some((l) => l.table === b.table))];
          const pre = await m.use(async (c) => {
            state.filenodes = strong.length ? await relfilenodes(c, strong.map((l) => l.table)) : undefined;
            return preflight(c, locked, {
              excludePids: [ctx.session.pid], lockTimeout, lockTimeoutSetByCell: sameText && lint.lockTimeoutCovered.get(ctx.index) === true,
              indexTables: indexBuilds.map((b) => b.table),
            });
          });
          record.preflight = {
            tables: pre.tables.map((t) => `${t.table} ${t.mode}`),
            blockers: pre.lockers.filter((s) => s.wouldBlockCell).map((s) => ({ pid: s.pid, application: s.application, state: s.state, xactAgeMs: s.xactAgeMs, queryAgeMs: s.queryAgeMs, query: s.query })),
            idleInTransaction: pre.idleInTransaction.length, longTransactions: pre.longTransactions.length,
            vacuums: pre.vacuums.map((v) => ({ pid: v.pid, table: v.table, phase: v.phase, autovacuum: v.autovacuum })),
            ...(pre.invalidIndexes.length ? { invalidIndexes: pre.invalidIndexes.map(invalidIndexRecord) } : {}),
          };
          if (pre.lockers.length || pre.idleInTransaction.length || pre.longTransactions.length || pre.vacuums.length || pre.invalidIndexes.length) {
            body = [body, pre.text].filter(Boolean).join('\n\n');
            ctx.onProgress?.(pre.text.split('\n').slice(-1)[0]);
          }
        } catch (err) {
          // Pre-flight informs; it does not guard (findings and lock_timeout do). Say that it did not run, and go on.
          const reason = err instanceof Error ? err.message : String(err);
          record.preflight = { error: reason };
          body = [body, `Pre-flight could not run on a second connection: ${reason}.`].filter(Boolean).join('\n\n');
        }
      }
      return { record, body };
    },

    async watch(ctx) {
      const state: CellState = cellState.get(ctx.index) ?? { strong: await strongLocks(ctx, await whole?.catch(() => undefined)), indexBuilds: [] };
      const strong = state.strong.length > 0;
      const m = monitorOf(ctx);
      if (!m) {
        // Only where it mattered: a cell that takes no strong lock has nothing the live view would have shown.
        if (!strong) { cellState.delete(ctx.index); return undefined; }
        const reason = ctx.target.sandbox ? 'the sandbox serves one connection at a time; the live lock view needs a second one' : 'no second connection';
        cellState.delete(ctx.index);
        return { stop: async () => ({ record: { locks: { available: false, reason: lockWatchUnavailable(reason, intervalMs).reason } } }) };
      }
      const startWatch = (delayMs: number): LockWatch => startLockWatch((fn) => m.use(fn), ctx.session.pid, {
        intervalMs, delayMs, serverMajor: serverMajor(ctx.session.serverVersion),
        onSample: (s) => { const t = progressText(s); if (t) ctx.onProgress?.(t); },
      });
      // The first sample after intervalMs: a cell that ends sooner costs one timer, and no query.
      let w: LockWatch | undefined;
      const timer = setTimeout(() => { w = startWatch(0); }, intervalMs);
      return {
        async stop() {
          clearTimeout(timer);
          cellState.delete(ctx.index);
          // A quick cell that takes a strong lock gets one closing sample: the locks its open transaction still holds.
          if (!w && strong) w = startWatch(intervalMs);
          const summary = w ? await w.stop({ lastSample: strong }) : undefined;
          const record: Record<string, unknown> = {};
          let body: string | undefined;
          // Unavailable (sampling failed) is said where the view was tried: a strong lock, or a cell long enough to sample.
          if (summary && (summary.available ? worthRecording(summary) : strong || summary.reason !== undefined)) {
            record.locks = summary;
            body = summaryText(summary);
          }
          // A failed (or cancelled, or skipped) CREATE INDEX CONCURRENTLY leaves an invalid index: say so, with the retry.
          if (state.indexBuilds.length) {
            try {
              const found = await m.use((c) => invalidIndexesOn(c, state.indexBuilds.map((b) => b.table)));
              if (found.length) {
                record.invalidIndexes = found.map(invalidIndexRecord);
                body = [body, invalidIndexText(found)].filter(Boolean).join('\n');
              }
            } catch (err) {
              // Not knowing is said, not left out: the index may be invalid.
              const reason = err instanceof Error ? err.message : String(err);
              record.invalidIndexes = { error: reason };
              body = [body, `Could not check for invalid indexes after this cell: ${reason}.`].filter(Boolean).join('\n');
            }
          }
          const beforeNodes = state.filenodes;
          if (beforeNodes) {
            const after = await m.use((c) => relfilenodes(c, [...beforeNodes.keys()])).catch(() => undefined);
            const rewritten = after ? [...beforeNodes].filter(([t, n]) => n !== null && after.get(t) !== null && after.get(t) !== n).map(([t]) => t) : [];
            if (rewritten.length) {
              record.rewritten = rewritten;
              body = [body, `Rewritten (new data file): ${rewritten.join(', ')}.`].filter(Boolean).join('\n');
            }
          }
          return { record, body };
        },
      };
    },
  };
}

/** The factory `runbook run` registers (src/cli/run.ts `runHookFactories`): reads the runbook's cells from the file. */
export function safetyHooksFor(flags: { connection?: string; file: string; runbook?: Runbook; monitor?: MonitorConnection }): SafetyHooks {
  return createSafetyHooks({ cells: lintCellsOf(flags.runbook ?? parseRunbook(readFileSync(flags.file))), monitor: flags.monitor });
}
