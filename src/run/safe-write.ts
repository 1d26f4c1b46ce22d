// Writes beside a runbook without following planted links: atomic rewrites through unpredictable temporary files, the journal opened exclusively, writability checked before a run.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const { O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NONBLOCK } = fs.constants;
// Not on Windows, where symbolic links need privileges to create; there the flag is 0.
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/** What is wrong with writing a runbook, for a message and for tests. */
export type RunbookWriteProblem = 'missing' | 'symlink' | 'not-a-file' | 'read-only' | 'not-writable' | 'folder-not-writable' | 'no-space' | 'journal-not-ours';

/** Bytes the writability check writes (and removes) beside the runbook: room for the first records, 64 KiB. */
const PROBE_BYTES = 64 * 1024;

/** A runbook (or its journal) that cannot or must not be written; the message says why and what to do. */
export class RunbookWriteError extends Error {
  override readonly name = 'RunbookWriteError';
  constructor(
    message: string,
    readonly problem: RunbookWriteProblem,
    readonly file: string,
  ) {
    super(message);
  }
}

/** Options of {@link checkRunbookWritable} and {@link writeFileAtomic}. */
export interface RunbookWriteOptions {
  /**
   * A runbook that is a symbolic link is written at the file it points to (resolved now, on purpose).
   * Default false: refused, since a rewrite by rename would replace the link with a plain file, and
   * writing through a link someone planted would write wherever it points.
   */
  followSymlink?: boolean;
}

/** What {@link checkRunbookWritable} found. */
export interface RunbookWritable {
  /** The file to read, rewrite and keep the journal beside: `file`, or the link's target with `followSymlink`. */
  path: string;
  /** Permission bits kept on every rewrite, e.g. 0o644. */
  mode: number;
  uid: number;
  gid: number;
  /** False when a rewrite cannot keep the owner or group (we are neither root nor the owner, or not in the group). */
  ownerKept: boolean;
}

const euid = (): number | undefined => process.geteuid?.();

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** `file` itself, or what it links to when following links is asked for. @throws RunbookWriteError */
function resolveRunbook(file: string, opts: RunbookWriteOptions): { target: string; stat: fs.Stats | undefined } {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return { target: file, stat: undefined };
    throw e;
  }
  if (st.isSymbolicLink()) {
    let to = '?';
    try {
      to = fs.readlinkSync(file);
    } catch {
      // Keep '?': the link vanished meanwhile.
    }
    if (!opts.followSymlink) {
      throw new RunbookWriteError(
        `${file} is a symbolic link (to ${to}): runbook does not write through links. Run the file it points to (runbook run ${safeRealpath(file) ?? to}), or follow the link on purpose (runbook run --follow-symlink).`,
        'symlink',
        file,
      );
    }
    const target = fs.realpathSync(file);
    return { target, stat: fs.lstatSync(target) };
  }
  return { target: file, stat: st };
}

function safeRealpath(file: string): string | undefined {
  try {
    return fs.realpathSync(file);
  } catch {
    return undefined;
  }
}

/** The temporary file for a rewrite: beside `target`, named so nobody can plant it in advance. */
function temporaryPath(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(12).toString('hex')}.tmp`);
}

/**
 * Removes the temporary files a rewrite of `file` or of its journal left when its process was killed between creating
 * one and renaming it into place (`.NAME.<24 hex>.tmp`, `.NAME.journal.<24 hex>.tmp`): whole copies of the runbook
 * that would pile up beside it. Call only while holding the run lock of `file` (run-lock.ts): every rewrite of a
 * runbook and its journal happens under it, so no live process owns one then. Plain files only; never follows a link.
 * @returns the names removed
 */
export function sweepTemporaries(file: string): string[] {
  const dir = path.dirname(file);
  const base = path.basename(file);
  const ours = new RegExp(`^\\.${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\.journal)?\\.[0-9a-f]{24}\\.tmp$`);
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!ours.test(name)) continue;
    try {
      if (!fs.lstatSync(path.join(dir, name)).isFile()) continue;
      fs.rmSync(path.join(dir, name), { force: true });
      removed.push(name);
    } catch {
      // Gone meanwhile, or not ours to remove: left as it is.
    }
  }
  return removed;
}

/** Creates `file` exclusively (never through a link, never an existing file), mode 0600. */
function createExclusive(file: string): number {
  return fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
}

/** write(2) until every byte is written: a short write (a full disk, a signal) is not taken for success. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    const n = fs.writeSync(fd, bytes, done, bytes.length - done);
    if (n <= 0) throw Object.assign(new Error(`write returned ${n} after ${done} of ${bytes.length} bytes`), { code: 'EIO' });
    done += n;
  }
}

/**
 * Checks, before the first statement of a run, that the runbook can be rewritten the way
 * {@link writeFileAtomic} does it and that its journal can be created beside it: a plain file (a
 * symbolic link only with `followSymlink`), not read-only, writable by us, in a folder where we can
 * create files and write into them (tested by creating, filling with 64 KiB and removing a temporary file:
 * `access()` says yes to root on a read-only bind mount and knows nothing of ACLs on NFS, and a full file system
 * still creates an empty file). A few system calls; nothing left behind.
 *
 * @returns where to write (the resolved path when a link was followed), the mode and owner a rewrite
 *   keeps, and whether it can keep the owner
 * @throws RunbookWriteError saying what is wrong and what to do (`problem` tells which)
 */
export function checkRunbookWritable(file: string, opts: RunbookWriteOptions = {}): RunbookWritable {
  const { target, stat } = resolveRunbook(file, opts);
  if (!stat) throw new RunbookWriteError(`${file}: no such file`, 'missing', file);
  if (!stat.isFile()) throw new RunbookWriteError(`${target} is not a plain file: a run writes its outputs into a .runbook file`, 'not-a-file', file);
  const mode = stat.mode & 0o777;
  if ((mode & 0o222) === 0) {
    throw new RunbookWriteError(
      `${target} is read-only (mode ${mode.toString(8).padStart(4, '0')}): a run writes every output into it. Make it writable (chmod u+w ${target}) or run a copy.`,
      'read-only',
      file,
    );
  }
  try {
    fs.accessSync(target, fs.constants.W_OK);
  } catch (e) {
    const why = errnoCode(e) === 'EROFS' ? 'it is on a read-only file system' : `you (uid ${euid() ?? '?'}) may not write it (owner uid ${stat.uid}, mode ${mode.toString(8).padStart(4, '0')})`;
    throw new RunbookWriteError(`${target} cannot be written: ${why}. A run writes every output into it.`, 'not-writable', file);
  }
  const dir = path.dirname(target);
  const probe = temporaryPath(target);
  let created = false;
  try {
    const fd = createExclusive(probe);
    created = true;
    try {
      // Some bytes too, not only a name: a full file system still creates an empty file (inodes left) and then
      // fails the journal's first append.
      writeAll(fd, Buffer.alloc(PROBE_BYTES));
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    const code = errnoCode(e);
    const full = code === 'ENOSPC' || code === 'EDQUOT';
    throw new RunbookWriteError(
      full
        ? `No space left in ${dir} (${code}: could not write ${PROBE_BYTES / 1024} KiB): a run keeps its journal and the temporary copy of each rewrite beside the runbook. Make room, or run a copy elsewhere.`
        : `Cannot create files in ${dir} (${code ?? (e as Error).message}): a run keeps its journal and the temporary copy of each rewrite beside the runbook. Make the folder writable, or run a copy elsewhere.`,
      full ? 'no-space' : 'folder-not-writable',
      file,
    );
  } finally {
    if (created) fs.rmSync(probe, { force: true });
  }
  const me = euid();
  let ownerKept = true;
  if (me !== undefined && me !== 0) {
    const groups = process.getgroups?.() ?? [];
    ownerKept = stat.uid === me && (groups.includes(stat.gid) || process.getegid?.() === stat.gid);
  }
  return { path: target, mode, uid: stat.uid, gid: stat.gid, ownerKept };
}

/**
 * Writes bytes to `file` atomically: a temporary file beside it (a random name, created exclusively,
 * never through a link), every byte written and fsynced, the runbook's mode and owner put on it
 * (fchown as root or owner), renamed over the target, then the folder fsynced (POSIX rename(2) is
 * atomic within a file system). A symbolic link at `file` is refused unless `followSymlink`, when its
 * target is written instead (the link stays a link).
 *
 * @throws RunbookWriteError for a link (not followed); the system error (ENOSPC, EACCES, EROFS…) otherwise, with nothing renamed
 */
export function writeFileAtomic(file: string, bytes: Uint8Array, opts: RunbookWriteOptions = {}): void {
  const { target, stat } = resolveRunbook(file, opts);
  const tmp = temporaryPath(target);
  const fd = createExclusive(tmp);
  try {
    try {
      writeAll(fd, bytes);
      fs.fchmodSync(fd, stat ? stat.mode & 0o777 : 0o644);
      const me = euid();
      if (stat && me !== undefined && (stat.uid !== me || stat.gid !== process.getegid?.())) {
        try {
          fs.fchownSync(fd, stat.uid, stat.gid);
        } catch (e) {
          // EPERM: neither root nor allowed to give the file that group; the rewrite is ours then.
          if (errnoCode(e) !== 'EPERM') throw e;
        }
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    const dfd = fs.openSync(path.dirname(target), 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // Some file systems do not allow fsync on a directory; the rename is still atomic.
  }
}

/**
 * Opens a journal for appending, never through a link: created exclusively (mode 0600) when absent;
 * when present (a journal this run keeps open across checkpoints), opened without following a link
 * or blocking on a FIFO, and used only if it is a plain file of ours with a single link (a hard link
 * planted there would make our appends land in another file).
 *
 * @returns the file descriptor (append mode)
 * @throws RunbookWriteError for a link, a FIFO, a device, a hard-linked file or one owned by someone else
 */
export function openJournal(file: string): number {
  try {
    return fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  } catch (e) {
    if (errnoCode(e) !== 'EEXIST') throw e;
  }
  const refuse = (why: string): never => {
    throw new RunbookWriteError(`${file} ${why}: runbook will not write its journal there. Remove it (nothing of this run is in it) and run again.`, 'journal-not-ours', file);
  };
  let fd: number;
  try {
    fd = fs.openSync(file, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ELOOP' || code === 'EMLINK') return refuse('is a symbolic link');
    if (code === 'ENXIO') return refuse('is a FIFO');
    throw e;
  }
  const st = fs.fstatSync(fd);
  const me = euid();
  const why = !st.isFile() ? 'is not a plain file' : st.nlink !== 1 ? `has ${st.nlink} hard links` : me !== undefined && st.uid !== me ? `belongs to uid ${st.uid}` : undefined;
  if (why) {
    fs.closeSync(fd);
    return refuse(why);
  }
  return fd;
}
