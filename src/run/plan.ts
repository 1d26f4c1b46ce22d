// The plan: every selected cell weighed against the target before the first statement — what would be refused, what
// must be asked, which findings stand — so that a run that cannot finish safely never starts.

import { describeWindow, formatDuration, frontMatterWindow, windowPosition, type OutputRecord, type RunRecord, type RunTargetRecord, type RunWindow, type Runbook, type WindowPosition } from '../format';
import { pendingItems, type AcceptRecord } from '../engines/checklist';
import { acknowledgedRules, lintCellsOf, unacknowledgedErrors, type Finding, type LintCell, type RunbookLint } from '../sql/lint';
import { cellLabel, flowOf, isMutating, type RunnableCell } from './cells';
import { endInsideSpan, startInsideSpan, staticSpans, type StaticSpan } from './spans';
import { batchStatement } from './batch';

/** A question the plan must have answered before anything runs. */
export interface PlanQuestion {
  kind: 'production' | 'rerun' | 'target' | 'window' | 'rehearsal';
  /** The question, naming cells by the numbers --from takes. */
  text: string;
  /** For `production`: the connection name to type. */
  expected?: string;
  /** What to pass on the command line instead of answering. */
  flag: string;
}

/** One selected cell in the plan. */
export interface PlannedCell {
  c: RunnableCell;
  mutating: boolean;
  /** Error- and warning-level findings for this cell, as linted for the selection. */
  findings: Finding[];
  /** The earlier output of this cell that succeeded (or may have) on this production target. */
  rerunOf?: OutputRecord;
  /** Checklist items still to confirm in this run. */
  pending?: string[];
}

/** What {@link makePlan} decided. */
export interface Plan {
  cells: PlannedCell[];
  /** Every reason the run may not start, each naming its cell. Non-empty: nothing runs. */
  refusals: string[];
  /** Questions to answer before the first statement (asked only when there are no refusals). */
  questions: PlanQuestion[];
  spans: StaticSpan[];
  /** The lint of the selection (handed to the safety hooks so each cell is not linted again). */
  lint?: RunbookLint;
  /** Why the safety checks could not run, when they could not. */
  lintError?: string;
  /** The runbook's maintenance window and where the run's start stands against it, when the front matter has one. */
  window?: PlanWindow;
}

/** The window as the plan saw it. */
export interface PlanWindow {
  window: RunWindow;
  /** Where the plan's moment stands against it. */
  position: WindowPosition;
  /** A production run outside the window allowed by the flag (the loop adds who, and `asked` when it was a question). */
  override?: { with: string };
}

/** What the plan weighs the selection against. */
export interface PlanInput {
  runbook: Runbook;
  all: RunnableCell[];
  selected: RunnableCell[];
  target: RunTargetRecord;
  /** The session's transaction state as the run starts (idle for a new session). */
  txState: 'idle' | 'in transaction' | 'failed';
  /** True when the session ends with the run (CLI): a selection that ends inside a span is refused. */
  sessionEndsWithRun: boolean;
  /** Whether an earlier checklist confirmation still counts for this run and target. */
  acceptConfirmation: AcceptRecord;
  /** Lints the cells (non-selected ones as Markdown, indexes kept) from the session's transaction state. */
  lint?: (cells: LintCell[], initialTxState: 'idle' | 'in transaction' | 'failed') => Promise<RunbookLint>;
  /** Runs of the log by id (to tell which target an earlier output ran on). */
  runs: ReadonlyMap<string, RunRecord>;
  /** What the person said in advance (flags) and what this front end can ask. */
  answers: { confirmProduction?: string; rerun?: boolean; confirmChecklists?: boolean; confirmTarget?: string; productionConfirmed?: boolean; outsideWindow?: boolean; withoutRehearsal?: boolean };
  /** The plan's moment, ms since the epoch (default: now). */
  now?: number;
  /** The content hash and the passing rehearsal bound to it (src/rehearse/bound.ts); `required`: the profile's `require_rehearsal`. */
  rehearsal?: { hash: string; passing?: { run: string; environment: string; connection: string; ended: string }; required: boolean };
  canAsk: { typeName: boolean; confirm: boolean; checklist: boolean };
}

/**
 * Weighs every selected cell against the target: transaction spans (a selection that starts inside one, or ends
 * inside one when the session ends with the run), unacknowledged error-level findings on production (linted for the
 * selection from the session's real transaction state; the checks failing closes the gate too), re-runs of cells
 * that already succeeded on this production target, checklists nobody can confirm, a runbook written for another
 * environment, and the production confirmation.
 */
export async function makePlan(input: PlanInput): Promise<Plan> {
  const { target, selected } = input;
  const production = target.environment === 'production';
  const refusals: string[] = [];
  const questions: PlanQuestion[] = [];
  const spans = await staticSpans(flowOf(input.all, selected));
  const inside = startInsideSpan(spans, selected, input.txState !== 'idle');
  if (inside) refusals.push(inside);
  // Ending inside the span it already starts inside says nothing more.
  if (input.sessionEndsWithRun && !inside) {
    const end = endInsideSpan(spans, selected);
    if (end) refusals.push(end);
  }
  refusals.push(...(await policyRefusals(spans, selected)));
  if (input.txState === 'failed') refusals.push('the session\'s transaction has failed: nothing but ROLLBACK can run on it. Run a ROLLBACK first.');

  const { lint, lintError } = await lintSelection(input);
  const cells: PlannedCell[] = [];
  for (const c of selected) {
    const p: PlannedCell = { c, mutating: await isMutating(c.cell), findings: (lint?.byCell.get(c.index) ?? []).filter((f) => f.severity !== 'info') };
    if (c.cell.kind === 'checklist') {
      const pending = pendingItems(c.cell.source, c.cell.outputs, input.acceptConfirmation).map((i) => i.text);
      if (pending.length) p.pending = pending;
    } else if (production) {
      const last = c.cell.outputs[c.cell.outputs.length - 1]?.record;
      if (last && ['ok', 'uncommitted', 'unknown'].includes(String(last.status)) && last.environment === 'production' && sameTarget(last, input.runs, target)) p.rerunOf = last;
    }
    cells.push(p);
  }

  if (production) refusals.push(...findingRefusals(cells, target.connection, lintError));
  const checklistsNobodyConfirms = cells.filter((p) => p.pending && !input.answers.confirmChecklists && !input.canAsk.checklist);
  for (const p of checklistsNobodyConfirms) {
    refusals.push(`${cellLabel(p.c)} is a checklist with ${p.pending!.length} item${p.pending!.length === 1 ? '' : 's'} to confirm (${p.pending!.join('; ')}) and nobody can be asked here: run it at a terminal, or pass --confirm-checklists.`);
  }
  const window = windowOf(input);
  addWindowQuestion(input, window, questions, refusals);
  addTargetQuestion(input, questions, refusals);
  addRerunQuestion(input, cells, questions, refusals);
  addRehearsalQuestion(input, cells, questions, refusals);
  addProductionQuestion(input, cells, questions, refusals);
  return { cells, refusals, questions, spans, lint, lintError, ...(window ? { window } : {}) };
}

function windowOf(input: PlanInput): PlanWindow | undefined {
  const w = frontMatterWindow(input.runbook.frontMatter?.data);
  return w ? { window: w, position: windowPosition(w, input.now ?? Date.now()) } : undefined;
}

/** Where the run's start stands against the window, in words: `the window opens in 3 h`, `it closed 10 min ago`. */
export function windowWhere(p: WindowPosition): string {
  if (p.state === 'before') return `it opens in ${formatDuration(p.opensInMs)}`;
  if (p.state === 'after') return `it closed ${formatDuration(p.closedMs)} ago`;
  return `${formatDuration(p.leftMs)} of it left`;
}

/** A production run outside its window is refused, unless allowed (`--outside-window`, or yes when asked). */
function addWindowQuestion(input: PlanInput, w: PlanWindow | undefined, questions: PlanQuestion[], refusals: string[]): void {
  if (!w || w.position.state === 'inside' || input.target.environment !== 'production') return;
  if (input.answers.outsideWindow) {
    w.override = { with: '--outside-window' };
    return;
  }
  const what = `This production run on ${input.target.connection} is outside the runbook's window, ${describeWindow(w.window)}: ${windowWhere(w.position)}`;
  if (!input.canAsk.confirm) refusals.push(`${what}. A production run outside its window is refused: run it in the window, or pass --outside-window (recorded with your name).`);
  else questions.push({ kind: 'window', text: `${what}. Run it outside the window anyway (recorded with your name)?`, flag: '--outside-window' });
}

/**
 * Cells whose `batch` or `retry` option cannot be honoured: a batch cell must hold one UPDATE or DELETE and stand
 * outside any transaction span (each batch is its own transaction); a retry inside a span replays the span from its
 * first cell, which only SQL cells can be (a shell command or a confirmed checklist cannot be taken back).
 */
async function policyRefusals(spans: StaticSpan[], selected: RunnableCell[]): Promise<string[]> {
  const out: string[] = [];
  for (const c of selected) {
    if (c.cell.kind !== 'sql') continue;
    const span = spans.find((s) => s.cells.includes(c));
    const batch = c.cell.options.batch;
    if (batch !== undefined && batch !== false) {
      const st = await batchStatement(c.cell);
      if (!st.ok) out.push(`${cellLabel(c)} has the batch option, but ${st.why}. Write the one UPDATE or DELETE that does one batch, e.g. UPDATE t SET x = 1 WHERE id IN (SELECT id FROM t WHERE x IS NULL LIMIT 10000).`);
      else if (span) out.push(`${cellLabel(c)} has the batch option inside the transaction that ${cellLabel(span.opener)} opens: each batch must commit on its own. Move the cell out of the transaction (before ${cellLabel(span.opener)} or after its COMMIT).`);
    }
    if (c.cell.options.retry !== undefined && span) {
      const others = span.cells.filter((x) => x.cell.kind !== 'sql');
      if (others.length) {
        out.push(`${cellLabel(c)} has the retry option inside the transaction that ${cellLabel(span.opener)} opens, which holds ${others.map((x) => `${cellLabel(x)} (${x.cell.kind})`).join(', ')}: a retry rolls the transaction back and runs it again from ${cellLabel(span.opener)}, and a ${others[0].cell.kind} cell cannot be taken back. Keep only SQL cells in the transaction, or remove the retry option.`);
      }
    }
  }
  return out;
}

async function lintSelection(input: PlanInput): Promise<{ lint?: RunbookLint; lintError?: string }> {
  if (!input.lint || !input.selected.some((c) => c.cell.kind === 'sql')) return {};
  const chosen = new Set(input.selected.map((c) => c.index));
  // Non-selected cells become Markdown: indexes stay, and the analysis starts from the session's real state.
  const cells = lintCellsOf(input.runbook).map((c, i) => (chosen.has(i) ? c : { ...c, kind: 'markdown' as const }));
  try {
    return { lint: await input.lint(cells, input.txState) };
  } catch (err) {
    return { lintError: err instanceof Error ? err.message : String(err) };
  }
}

/** Production refuses unacknowledged error-level findings, and a run whose safety checks could not run (fail closed). */
function findingRefusals(cells: PlannedCell[], connection: string, lintError: string | undefined): string[] {
  const out: string[] = [];
  if (lintError) {
    const unacked = cells.filter((p) => p.c.cell.kind === 'sql' && !acknowledgedRules(p.c.cell.options).has('lint-unavailable'));
    if (unacked.length) {
      out.push(`the safety checks could not run (${lintError}), so nobody knows what ${unacked.map((p) => cellLabel(p.c)).join(', ')} will do to the tables on production connection ${connection}. ` +
        'Fix that (e.g. reinstall squawk-cli), or acknowledge on each cell\'s fence: {"ack":["lint-unavailable"]}.');
    }
  }
  for (const p of cells) {
    const blocking = unacknowledgedErrors(p.findings);
    if (!blocking.length) continue;
    const ids = [...new Set(blocking.map((f) => `"${f.rule}"`))].join(',');
    const lines = blocking.map((f) => `  - ${f.rule} (line ${f.line}): ${f.message}\n    Safe rewrite: ${f.help}`).join('\n');
    out.push(`${cellLabel(p.c)} has ${blocking.length} error-level finding${blocking.length === 1 ? '' : 's'} not acknowledged, on production connection ${connection}:\n${lines}\n` +
      `  Rewrite the cell, or acknowledge on its fence: {"ack":[${ids}]} (docs/safety.md).`);
  }
  return out;
}

function addTargetQuestion(input: PlanInput, questions: PlanQuestion[], refusals: string[]): void {
  const written = input.runbook.frontMatter?.data?.environment;
  if (typeof written !== 'string' || written === input.target.environment) return;
  if (input.answers.confirmTarget !== undefined) {
    if (input.answers.confirmTarget !== input.target.connection) refusals.push(`--confirm-target ${input.answers.confirmTarget} does not match the target ${input.target.connection}.`);
    return;
  }
  const text = `This runbook is written for ${written} (its front matter says so), but the target ${input.target.connection} is ${input.target.environment}. Run it there anyway?`;
  if (!input.canAsk.confirm) refusals.push(`${text.replace(/ Run it there anyway\?$/, '')} Confirm with --confirm-target ${input.target.connection}, or choose a ${written} connection.`);
  else questions.push({ kind: 'target', text, flag: `--confirm-target ${input.target.connection}` });
}

function addRerunQuestion(input: PlanInput, cells: PlannedCell[], questions: PlanQuestion[], refusals: string[]): void {
  const again = cells.filter((p) => p.rerunOf);
  if (!again.length || input.answers.rerun) return;
  const list = again.map((p) => `${cellLabel(p.c)} ${p.rerunOf!.status === 'ok' ? 'succeeded' : `was left ${String(p.rerunOf!.status)}`} at ${String(p.rerunOf!.started)}`).join('; ');
  const text = `Already run on production connection ${input.target.connection}: ${list}. Run ${again.length === 1 ? 'it' : 'them'} again?`;
  if (!input.canAsk.confirm) {
    const after = again[again.length - 1].c.number + 1;
    refusals.push(`already run on production connection ${input.target.connection}: ${list}. Pass --rerun to run ${again.length === 1 ? 'it' : 'them'} again, or resume after: --from ${after}.`);
  } else questions.push({ kind: 'rerun', text, flag: '--rerun' });
}

/**
 * Production, mutating cells, and no passing rehearsal of this content: asked (or refused where nobody can be asked,
 * or where the profile says `require_rehearsal: true`); `--without-rehearsal` goes on, and is recorded in the run.
 */
function addRehearsalQuestion(input: PlanInput, cells: PlannedCell[], questions: PlanQuestion[], refusals: string[]): void {
  const r = input.rehearsal;
  if (input.target.environment !== 'production' || !r || r.passing || input.answers.withoutRehearsal) return;
  if (!cells.some((p) => p.mutating)) return;
  const what = `this runbook's content (hash ${r.hash}) has no passing rehearsal in its log`;
  if (r.required) {
    refusals.push(`${what}, and the profile ${input.target.connection} requires one (require_rehearsal: true): run \`runbook rehearse\` on the sandbox or staging first, or pass --without-rehearsal (recorded in the run).`);
    return;
  }
  const text = `${what[0].toUpperCase()}${what.slice(1)}: the rollback was never tried on it. Run it on PRODUCTION (${input.target.connection}) anyway?`;
  if (!input.canAsk.confirm) refusals.push(`${what}: run \`runbook rehearse\` first, or pass --without-rehearsal (recorded in the run).`);
  else questions.push({ kind: 'rehearsal', text, flag: '--without-rehearsal' });
}

function addProductionQuestion(input: PlanInput, cells: PlannedCell[], questions: PlanQuestion[], refusals: string[]): void {
  if (input.target.environment !== 'production' || input.answers.productionConfirmed) return;
  const mutating = cells.filter((p) => p.mutating);
  if (!mutating.length) return;
  const name = input.target.connection;
  const typed = input.answers.confirmProduction;
  if (typed !== undefined) {
    if (typed !== name) refusals.push(`--confirm-production ${typed} does not match the connection name ${name}.`);
    return;
  }
  const what = `${mutating.map((p) => cellLabel(p.c)).join(', ')} change${mutating.length === 1 ? 's' : ''} PRODUCTION (${name})`;
  if (!input.canAsk.typeName) refusals.push(`${what}: confirm by typing the connection name (interactive), or pass --confirm-production ${name}.`);
  else questions.push({ kind: 'production', text: `${what}. Type the connection name to go on: `, expected: name, flag: `--confirm-production ${name}` });
}

/**
 * Whether an earlier record ran on this very target: the same cluster (`system_identifier`, from its run in the
 * log) and database where both are known, else the same connection name and database.
 */
export function sameTarget(record: OutputRecord, runs: ReadonlyMap<string, RunRecord>, target: RunTargetRecord): boolean {
  const run = typeof record.run === 'string' ? runs.get(record.run) : undefined;
  const database = record.database ?? run?.database;
  if (database !== undefined && target.database !== undefined && database !== target.database) return false;
  if (run?.system && target.system) return run.system === target.system;
  return record.connection === target.connection;
}

/** Asks the plan's questions in order; a no (or a wrong name) becomes a refusal and ends the asking. */
export async function askPlanQuestions(plan: Plan, ask: { confirm?(q: string): Promise<boolean>; typeName?(q: string, expected: string): Promise<string | undefined> }): Promise<string[]> {
  for (const q of plan.questions) {
    if (q.kind === 'production') {
      const typed = await ask.typeName?.(q.text, q.expected!);
      if (typed !== q.expected) return [typed === undefined || typed === '' ? `the production connection ${q.expected} was not confirmed (or pass ${q.flag}).` : `the name typed does not match the connection name ${q.expected}.`];
    } else if (!(await ask.confirm?.(q.text))) {
      return [`${q.text.replace(/\?$/, '')}: answered no (or pass ${q.flag}).`];
    }
  }
  return [];
}

/** The plan as `--dry-run` and a refusal print it: what would run, what would be asked, what would be refused. */
export function formatPlanSummary(plan: Plan): string {
  const out: string[] = [];
  if (plan.spans.length) {
    out.push('Transactions:');
    for (const s of plan.spans) out.push(`  ${cellLabel(s.opener)} opens one${s.closer ? `, ${cellLabel(s.closer)} ends it` : ', no later cell ends it'} (${s.cells.map((c) => c.number).join(', ')})`);
  }
  if (plan.lintError) out.push(`The safety checks could not run: ${plan.lintError}`);
  for (const q of plan.questions) out.push(`Would ask: ${q.text.trim()} (or ${q.flag})`);
  for (const p of plan.cells) if (p.pending) out.push(`Would ask to confirm ${cellLabel(p.c)}: ${p.pending.join('; ')}`);
  if (plan.refusals.length) {
    out.push(`Would refuse to run (nothing would run), ${plan.refusals.length} reason${plan.refusals.length === 1 ? '' : 's'}:`);
    for (const r of plan.refusals) out.push(`  - ${r}`);
  }
  return out.join('\n');
}
