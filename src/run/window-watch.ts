// While a run goes on: says when its elapsed time passes the estimate, and asks before the next mutating cell when
// the rest would overrun the maintenance window (the person may stop there).

import { formatDuration, parseEstimate, sourceHash, type LogEvent, type RunWindow } from '../format';
import { cellLabel, type RunnableCell } from './cells';
import type { RunObserver } from './loop';
import type { Plan } from './plan';
import type { Run } from './run';

/** What the watcher needs from the loop: a way to warn (log + reporter), and to ask. */
export interface WatchTools {
  /** Records a warning in the migration log (`at`: when it happened; default now) and tells the person. */
  warn(about: string, message: string, at?: Date): Promise<void>;
  /** Tells the person now, without recording (a timer: the log is written at the next step). */
  say(message: string): void;
  /** Asks yes/no; absent when nobody can be asked (non-interactive CLI). */
  confirm?(question: string): Promise<boolean>;
}

/** What the watcher watches. */
export interface WindowWatchOptions {
  /** The front matter's estimate, ms. */
  estimateMs?: number;
  window?: RunWindow;
  /** The window's overrun question is asked on production runs only (docs/run.md, "The window"). */
  production: boolean;
  selected: RunnableCell[];
  /** How long each cell took in its latest rehearsal (by cell index, ms): used for cells without an `estimate`. */
  rehearsed?: ReadonlyMap<number, number>;
  tools: WatchTools;
  /** Clock, ms since the epoch (tests). */
  now?: () => number;
}

/** A cell's own `estimate` option, ms, when it has a valid one; else what its latest rehearsal took. */
function cellEstimateMs(c: RunnableCell, rehearsed?: ReadonlyMap<number, number>): number | undefined {
  if (c.cell.options.estimate !== undefined) {
    const e = parseEstimate(c.cell.options.estimate);
    if (e.ok) return e.ms;
  }
  return rehearsed?.get(c.index);
}

/**
 * What each cell took in its latest rehearsal: the latest `ok` attempt of a run on a non-production target whose
 * cell source is the cell's as it is now (the attempt's `src` hash), by cell index, ms.
 */
export function rehearsalDurations(events: readonly LogEvent[], cells: RunnableCell[]): Map<number, number> {
  const rehearsals = new Set(events.flatMap((e) => (e.e === 'run' && e.run.environment !== 'production' ? [e.run.id] : [])));
  const byNumber = new Map(cells.map((c) => [c.number, c]));
  const out = new Map<number, number>();
  for (const e of events) {
    if (e.e !== 'attempt' || e.attempt.status !== 'ok' || typeof e.attempt.ms !== 'number' || !rehearsals.has(e.attempt.run)) continue;
    const c = byNumber.get(e.attempt.cell);
    if (c && e.src !== undefined && e.src === sourceHash(c.cell)) out.set(c.index, e.attempt.ms);
  }
  return out;
}

/**
 * The time the rest of a run should still take, ms, from the cell about to run on: the sum of the cells' own
 * estimates (a cell without one: its latest rehearsal's duration) when every one of them has one; else the front matter's estimate minus the time elapsed (at least what
 * the cells with estimates add up to); else what the cells with estimates add up to (a lower bound); undefined when
 * nothing is estimated.
 *
 * @param rest the selected cells from the one about to run to the last
 * @param elapsedMs the run's time so far
 * @param totalMs the front matter's estimate
 */
export function remainingEstimateMs(rest: RunnableCell[], elapsedMs: number, totalMs: number | undefined, rehearsed?: ReadonlyMap<number, number>): number | undefined {
  const own = rest.map((c) => cellEstimateMs(c, rehearsed));
  const known = own.filter((x): x is number => x !== undefined);
  const sum = known.reduce((a, b) => a + b, 0);
  if (rest.length > 0 && known.length === rest.length) return sum;
  if (totalMs !== undefined) return Math.max(sum, totalMs - elapsedMs);
  return known.length ? sum : undefined;
}

/** `02:00:00 UTC`. */
function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19) + ' UTC';
}

/**
 * The watcher as a run observer. It never delays a cell except to ask the person the window question (which is the
 * point); the estimate message comes from a timer, unref'd, cleared when the run ends.
 */
export function windowWatch(o: WindowWatchOptions): RunObserver {
  const now = o.now ?? Date.now;
  let started = now();
  let timer: NodeJS.Timeout | undefined;
  let passedAt: number | undefined;
  let passedLogged = false;
  let overrunAllowed = false;
  let startedInside = false;

  const logPassed = async (): Promise<void> => {
    if (passedAt === undefined || passedLogged || o.estimateMs === undefined) return;
    passedLogged = true;
    await o.tools.warn('estimate', `the run has taken longer than its estimate of ${formatDuration(o.estimateMs)} (passed at ${clock(passedAt)})`, new Date(passedAt));
  };
  const checkPassed = (): void => {
    if (o.estimateMs === undefined || passedAt !== undefined) return;
    if (now() - started > o.estimateMs) {
      passedAt = started + o.estimateMs;
      o.tools.say(`The run has taken longer than its estimate of ${formatDuration(o.estimateMs)}.`);
    }
  };

  return {
    runStarted(run: Run) {
      started = run.started.getTime();
      startedInside = !!o.window && started >= o.window.startMs && started < o.window.endMs;
      if (o.estimateMs !== undefined) {
        timer = setTimeout(checkPassed, Math.max(0, started + o.estimateMs - now()) + 1);
        timer.unref();
      }
    },
    async beforeCell(c: RunnableCell, ctx: { run: Run; plan: Plan }) {
      checkPassed();
      await logPassed();
      const w = o.window;
      // A run that started outside its window (an override) has overrun it already: nobody is asked again.
      if (!w || !o.production || !startedInside || overrunAllowed) return undefined;
      if (!ctx.plan.cells.find((p) => p.c.index === c.index)?.mutating) return undefined;
      const t = now();
      const rest = o.selected.slice(o.selected.findIndex((x) => x.index === c.index));
      const remaining = remainingEstimateMs(rest, t - started, o.estimateMs, o.rehearsed);
      if (t + (remaining ?? 0) <= w.endMs) return undefined;
      const what = t >= w.endMs
        ? `The window closed at ${clock(w.endMs)} (${formatDuration(t - w.endMs)} ago), and ${cellLabel(c)} changes production`
        : `The rest of the run (${rest.length} cell${rest.length === 1 ? '' : 's'} from ${cellLabel(c)}, estimated ${formatDuration(remaining ?? 0)}) would end about ${clock(t + (remaining ?? 0))}, after the window closes at ${clock(w.endMs)}`;
      if (!o.tools.confirm) {
        const reason = `${what}; nobody can be asked here, so the run stopped before it (run the rest with --from ${c.number} when it fits a window).`;
        await o.tools.warn('window', reason);
        return { stop: reason };
      }
      const yes = await o.tools.confirm(`${what}. Go on?`);
      if (!yes) {
        const reason = `${what}; answered no, so the run stopped before it (resume with --from ${c.number}).`;
        await o.tools.warn('window', reason);
        return { stop: reason };
      }
      overrunAllowed = true;
      await o.tools.warn('window', `${what}; answered yes by ${ctx.run.operator}: the run goes on past the window.`);
      return undefined;
    },
    async runFinished() {
      if (timer) clearTimeout(timer);
      checkPassed();
      await logPassed();
    },
  };
}
