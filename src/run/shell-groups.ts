// Process groups a killed run's shell cells left running: found from the journal's `pgid` entries, reported, and
// stopped on purpose (`--cancel-stale`): SIGTERM to the group, then SIGKILL after a grace period.

import * as os from 'node:os';
import type { ShellGroup } from './journal';
import { processStartTime } from './run-lock';

/** ms between SIGTERM and SIGKILL when stopping a left-over group (the shell engine's own grace). */
export const GROUP_KILL_GRACE_MS = 2000;

/** Whether any process of group `pgid` exists (kill(2) with signal 0 on `-pgid`; EPERM: it exists under another user). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The journaled groups that still have a process: on this host only, and not when the group's leader pid now
 * belongs to another process (its start time differs: the pid was reused, the group is not the run's).
 */
export function groupsLeft(groups: readonly ShellGroup[], host: string = os.hostname()): ShellGroup[] {
  const seen = new Set<number>();
  return groups.filter((g) => {
    if (g.host !== host || seen.has(g.pgid)) return false;
    seen.add(g.pgid);
    const now = processStartTime(g.pgid);
    if (g.start !== undefined && now !== undefined && now !== g.start) return false;
    return groupAlive(g.pgid);
  });
}

/** One line naming the group, its cell and run. */
export function describeGroup(g: ShellGroup): string {
  return `process group ${g.pgid} of shell cell ${g.number} in run ${g.run} (started at ${g.at})`;
}

/**
 * Stops group `pgid`: SIGTERM, then SIGKILL once `graceMs` passed with a process left; polls every 50 ms.
 * @returns `terminated` (gone after SIGTERM), `killed` (needed SIGKILL) or `alive` (still there 1 s after SIGKILL)
 */
export async function stopGroup(pgid: number, graceMs: number = GROUP_KILL_GRACE_MS): Promise<'terminated' | 'killed' | 'alive'> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pgid, sig);
    } catch {
      // ESRCH: gone already.
    }
  };
  const gone = async (ms: number): Promise<boolean> => {
    const until = Date.now() + ms;
    while (groupAlive(pgid)) {
      if (Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  };
  signal('SIGTERM');
  if (await gone(graceMs)) return 'terminated';
  signal('SIGKILL');
  return (await gone(1000)) ? 'killed' : 'alive';
}
