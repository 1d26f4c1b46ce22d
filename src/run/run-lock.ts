// One run of a runbook file at a time on this machine: a lock file beside the runbook, created exclusively, naming
// its holder (pid and the process's start time, host, run id, operator), taken over only when provably stale.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sweepTemporaries } from './safe-write';

/** What a lock file holds (JSON, one object). */
export interface LockHolder {
  /** Process id of the run that holds it. */
  pid: number;
  /**
   * The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22, proc(5)), as text; absent where
   * /proc is not there. A live pid with another start time is a reused pid: the holder is gone.
   */
  start?: string;
  /** `os.hostname()` of the holder's machine. */
  host: string;
  /** The holder's run id. */
  run: string;
  operator: string;
  /** When the holder took the lock: UTC ISO 8601 with ms. */
  started: string;
}

/** A run of the same file holds the lock (or a foreign host's lock cannot be judged): nothing was run, nothing written. */
export class RunLockedError extends Error {
  override readonly name = 'RunLockedError';
  constructor(
    message: string,
    readonly holder: LockHolder | undefined,
    readonly lockPath: string,
  ) {
    super(message);
  }
}

/** A lock this process holds; {@link RunLock.release} removes it (only while it is still ours). */
export interface RunLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** The stale lock taken over to get this one, when there was one (for the run's `warning` event). */
  readonly tookOver?: { holder: LockHolder | undefined; reason: string };
  /** Removes the lock file when it still names this run; idempotent, never throws. */
  release(): void;
}

/** `.<NAME>.lock` beside the runbook `file` (in its folder, hidden). */
export function lockPathFor(file: string): string {
  const abs = path.resolve(file);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.lock`);
}

/**
 * A process's start time in clock ticks since boot, from `/proc/<pid>/stat` (proc(5): field 22 `starttime`, counted
 * after the parenthesised command name, which may itself hold spaces and parentheses). Undefined where it cannot be
 * read (no /proc, the process is gone).
 */
export function processStartTime(pid: number): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Field 3 (state) is the first after the name: starttime (22) is 19 further on.
  const start = fields[19];
  return start && /^\d+$/.test(start) ? start : undefined;
}

/** Whether process `pid` exists (signal 0: ESRCH means gone; EPERM means it exists under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why a holder on this host is gone (its pid is dead, or reused by another process), or undefined while it runs. */
export function staleReason(h: LockHolder): string | undefined {
  if (!Number.isInteger(h.pid) || h.pid <= 0) return 'the lock names no valid pid';
  if (!processAlive(h.pid)) return `its process ${h.pid} is gone`;
  const now = processStartTime(h.pid);
  if (h.start !== undefined && now !== undefined && now !== h.start) return `pid ${h.pid} now belongs to another process (started at tick ${now}, the holder at ${h.start})`;
  return undefined;
}

/** The holder as one line for messages. */
export function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on ${h.host} (run ${h.run}, operator ${h.operator}, since ${h.started})`;
}

function readHolder(file: string): { text: string; holder: LockHolder | undefined } | undefined {
  let text: string;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as LockHolder;
    const ok = v && typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.run === 'string';
    return { text, holder: ok ? v : undefined };
  } catch {
    return { text, holder: undefined };
  }
}

/**
 * Creates the lock file exclusively: the holder is written to a new file of an unpredictable name (O_CREAT|O_EXCL|
 * O_NOFOLLOW, mode 0600) and linked into place with link(2), which fails when the lock exists and never follows a
 * link there, so the lock is never seen half-written. False when the lock exists.
 */
function createExclusive(file: string, holder: LockHolder): boolean {
  const tmp = `${file}.new-${randomBytes(8).toString('hex')}`;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    try {
      const bytes = Buffer.from(`${JSON.stringify(holder)}\n`);
      for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off);
    } finally {
      fs.closeSync(fd);
    }
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Moves a stale lock aside (to an unpredictable name), checks that what moved is the very lock judged stale, and
 * removes it. When another run replaced the lock meanwhile, it is put back (with link(2), which never overwrites).
 * @returns whether the stale lock was removed
 */
function removeStale(file: string, seen: string): boolean {
  const aside = `${file}.stale-${randomBytes(8).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  const moved = readHolder(aside);
  if (moved?.text !== seen) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // Someone created a new lock meanwhile: theirs stands.
    }
    fs.rmSync(aside, { force: true });
    return false;
  }
  fs.rmSync(aside, { force: true });
  return true;
}

/**
 * Removes what a process killed while taking or taking over the lock left beside it: `LOCK.new-<hex>` (its holder,
 * not yet linked into place) and `LOCK.stale-<hex>` (a stale lock moved aside), each only when the holder it names
 * is on this host and gone ({@link staleReason}); a live process's file is its own to remove. Plain files only.
 */
function sweepLeftovers(lockPath: string, host: string): void {
  const dir = path.dirname(lockPath);
  const prefix = path.basename(lockPath);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^\.(new|stale)-[0-9a-f]{16}$/.test(name.slice(prefix.length))) continue;
    const file = path.join(dir, name);
    try {
      if (!fs.lstatSync(file).isFile()) continue;
      const h = readHolder(file)?.holder;
      if (h && h.host === host && staleReason(h) !== undefined) fs.rmSync(file, { force: true });
    } catch {
      // Gone meanwhile, or unreadable: left as it is.
    }
  }
}

/** Options of {@link acquireRunLock}. */
export interface AcquireOptions {
  run: string;
  operator: string;
  /** Default: this process. */
  pid?: number;
  /** Default: `os.hostname()`. */
  host?: string;
}

/**
 * Takes the lock beside `file` for run `o.run`, before anything of the run is written.
 *
 * A lock held by a live process on this host is refused; a stale one (its pid gone, or reused: another start time)
 * is taken over — moved aside, re-read to be sure it is the one judged stale, then the new lock is created with
 * O_CREAT|O_EXCL, so of two runs racing for a stale lock exactly one wins. A lock from another host is never taken
 * over: the message says how to remove it. The lock is also removed when the process exits (`process.on('exit')`:
 * `process.exit()` and the end of the event loop; a SIGKILL leaves it, and the next run finds it stale).
 *
 * @throws RunLockedError when the lock is held (nothing was run, nothing written); an Error from fs for an
 *   unwritable folder or a non-file (a link, a folder) at the lock's path
 */
export function acquireRunLock(file: string, o: AcquireOptions): RunLock {
  const lockPath = lockPathFor(file);
  const pid = o.pid ?? process.pid;
  const holder: LockHolder = { pid, host: o.host ?? os.hostname(), run: o.run, operator: o.operator, started: new Date().toISOString() };
  const start = processStartTime(pid);
  if (start !== undefined) holder.start = start;
  sweepLeftovers(lockPath, holder.host);
  let tookOver: RunLock['tookOver'];
  for (let tries = 0; tries < 5; tries++) {
    if (createExclusive(lockPath, holder)) {
      // Held: no live process is rewriting this runbook, so a temporary copy beside it is a killed run's leftover.
      sweepTemporaries(file);
      return ownLock(lockPath, holder, tookOver);
    }
    const seen = readHolder(lockPath);
    if (!seen) continue; // released meanwhile: try again
    const h = seen.holder;
    if (h && h.host !== holder.host) {
      throw new RunLockedError(
        `${file} is locked by a run on another host: ${describeHolder(h)}. One run of a runbook at a time: it is not taken over from here. ` +
          `If no run of it is going on on ${h.host}, remove the lock and run again: rm ${JSON.stringify(lockPath)} (nothing was run).`,
        h, lockPath);
    }
    const reason = h ? staleReason(h) : 'the lock file is not one this tool wrote (unreadable JSON)';
    if (h && reason === undefined) {
      throw new RunLockedError(`${file} is being run already: ${describeHolder(h)}. One run of a runbook at a time: wait for it to finish, or stop it (nothing was run).`, h, lockPath);
    }
    if (removeStale(lockPath, seen.text)) tookOver = { holder: h, reason: reason ?? 'stale' };
  }
  throw new RunLockedError(`${file}: the lock ${lockPath} kept changing while this run tried to take it: another run is starting (nothing was run).`, undefined, lockPath);
}

function ownLock(lockPath: string, holder: LockHolder, tookOver: RunLock['tookOver']): RunLock {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      const now = readHolder(lockPath);
      // Never remove a lock that is not ours (taken over by someone who judged ours stale, or replaced by hand).
      if (now?.holder && now.holder.run === holder.run && now.holder.pid === holder.pid && now.holder.host === holder.host) fs.rmSync(lockPath, { force: true });
    } catch {
      // Nothing to do: the next run judges what is left.
    }
  };
  process.on('exit', release);
  return { path: lockPath, holder, tookOver, release };
}

/** The takeover as a sentence for the run's `warning` event and the terminal. */
export function takeoverMessage(lock: RunLock): string | undefined {
  const t = lock.tookOver;
  if (!t) return undefined;
  return `took over a stale lock ${lock.path}${t.holder ? ` of ${describeHolder(t.holder)}` : ''}: ${t.reason}`;
}
