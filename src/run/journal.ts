// Durable records during a run: an append-only journal next to the runbook, folded into the file by atomic checkpoints.

import * as fs from 'node:fs';
import { appendLogEvent, cellSignature, isOutput, parseRunbook, serializeRunbookBytes, type LogEvent, type Output, type Runbook } from '../format';
import { openJournal, RunbookWriteError, writeFileAtomic } from './safe-write';

/** One journal line: the outputs (and, for checklists, the ticked source) of one finished cell. */
export interface JournalEntry {
  v: 1;
  /** Index of the cell in the runbook as last written to disk. */
  cell: number;
  /** Signature of that cell as last written (to find it again if cells moved). */
  sig: string;
  /** New cell source, when running it changed it (ticked checklist items). */
  source?: string;
  outputs: Output[];
}

/** A journal line saying a cell is about to run: found without its output, it tells the next run the cell never finished. */
export interface StartedEntry {
  v: 2;
  t: 'started';
  cell: number;
  sig: string;
  /** Runnable-cell number, for the message. */
  number: number;
  run: string;
  /** UTC ISO 8601 with ms. */
  at: string;
}

/** A journal line holding the transaction id a cell was about to COMMIT (for `txid_status()` if the run dies then). */
export interface XidEntry {
  v: 2;
  t: 'xid';
  cell: number;
  sig: string;
  number: number;
  run: string;
  xid: string;
}

/** A journal line holding one migration-log event (with what a chained attempt hashes). */
export interface LogEntry {
  v: 2;
  t: 'log';
  /** The event as the log stored it (with its hash chain): folded back as it is. */
  event: LogEvent;
}

/** Any line of the journal. */
export type AnyJournalEntry = JournalEntry | StartedEntry | XidEntry | LogEntry;

/** A cell an interrupted run started and never finished (its `started` entry has no output after it). */
export interface UnfinishedCell {
  /** Index of the cell in the runbook as folded (-1 when it is no longer found). */
  index: number;
  number: number;
  run: string;
  at: string;
  /** The transaction id it was about to COMMIT, when it was journaled before the COMMIT was sent. */
  xid?: string;
}

/** The journal's path for a runbook: `FILE.journal` beside it. */
export function journalPath(file: string): string {
  return `${file}.journal`;
}

/**
 * Applies journal entries to a runbook model. An entry goes to the cell at its index if the
 * signature matches, else to the nearest cell with the same signature; entries matching no cell are
 * returned as `unmatched` (the file was edited since).
 */
export function applyJournal(rb: Runbook, entries: readonly JournalEntry[]): { applied: number; unmatched: JournalEntry[] } {
  let applied = 0;
  const unmatched: JournalEntry[] = [];
  for (const e of entries) {
    const idx = findCell(rb, e.cell, e.sig);
    if (idx < 0) {
      unmatched.push(e);
      continue;
    }
    const cell = rb.cells[idx];
    if (e.source !== undefined) cell.source = e.source;
    cell.outputs = e.outputs;
    applied++;
  }
  return { applied, unmatched };
}

/** Finds the cell an entry was written for: at its index if the signature matches, else the nearest with that signature. */
function findCell(rb: Runbook, cell: number, sig: string): number {
  if (rb.cells[cell] && cellSignature(rb.cells[cell]) === sig) return cell;
  let idx = -1;
  let best = Infinity;
  rb.cells.forEach((c, i) => {
    if (Math.abs(i - cell) < best && cellSignature(c) === sig) {
      best = Math.abs(i - cell);
      idx = i;
    }
  });
  return idx;
}

/**
 * Folds a whole journal into a runbook: cell outputs onto their cells (see {@link applyJournal}), log events
 * appended to the log in order, and `started` entries with no output after them reported as unfinished.
 * @returns `applied` outputs, `unmatched` entries (their cell is gone), `events` folded, `unfinished` cells, and
 *   `pending`: the journal lines of the unfinished cells (`started`, `xid`), which must stay on disk until settled
 */
export function foldJournal(rb: Runbook, entries: readonly AnyJournalEntry[]): { applied: number; unmatched: JournalEntry[]; events: number; unfinished: UnfinishedCell[]; pending: AnyJournalEntry[] } {
  const cells: JournalEntry[] = [];
  const open = new Map<string, StartedEntry>();
  const xids = new Map<string, XidEntry>();
  let events = 0;
  for (const e of entries) {
    const key = `${e.v === 2 && e.t === 'log' ? '' : e.cell}\n${e.v === 2 && e.t === 'log' ? '' : e.sig}`;
    if (e.v === 1) {
      cells.push(e);
      open.delete(key);
    } else if (e.t === 'started') open.set(key, e);
    else if (e.t === 'xid') xids.set(key, e);
    else if (e.t === 'log') {
      // The event as it was stored, hash chain and all: appending it again would re-hash it against this model.
      rb.log ??= { events: [] };
      rb.log.events.push(e.event);
      events++;
    }
  }
  const { applied, unmatched } = applyJournal(rb, cells);
  const unfinished = [...open.entries()].map(([key, s]) => {
    const u: UnfinishedCell = { index: findCell(rb, s.cell, s.sig), number: s.number, run: s.run, at: s.at };
    const xid = xids.get(key);
    if (xid) u.xid = xid.xid;
    return u;
  });
  // What only the journal knows until the next run settles it: a cell started and never finished (and the xid it was
  // about to COMMIT). Dropped with the journal, a run killed before settling would leave the next one none the wiser.
  const pending = [...open.entries()].flatMap(([key, st]): AnyJournalEntry[] => [st, ...(xids.has(key) ? [xids.get(key)!] : [])]);
  return { applied, unmatched, events, unfinished, pending };
}

/** Reads a journal's cell entries; see {@link readJournalEntries}. */
export function readJournal(file: string): JournalEntry[] {
  return readJournalEntries(file).filter((e): e is JournalEntry => e.v === 1);
}

/**
 * Whether a journal is there to fold: a plain file, never followed through a link (someone's planted link must not
 * feed its text into the runbook) nor read as a FIFO (which would hang the run).
 * @throws RunbookWriteError when something other than a plain file is at the journal's path
 */
export function journalPresent(file: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return false;
  }
  if (!st.isFile()) {
    throw new RunbookWriteError(`${file} is not a plain file (${st.isSymbolicLink() ? 'a symbolic link' : 'a FIFO, socket or folder'}): it is not a journal this tool wrote. Look at it, remove it, and run again (nothing was run).`, 'journal-not-ours', file);
  }
  return true;
}

/** Reads every entry of a journal; a torn last line (the process died mid-write) and ill-formed entries are ignored. */
export function readJournalEntries(file: string): AnyJournalEntry[] {
  let text: string;
  try {
    if (!journalPresent(file)) return [];
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof RunbookWriteError) throw e;
    return [];
  }
  const out: AnyJournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as AnyJournalEntry;
      // An entry that would write a malformed record into the runbook is not one this tool wrote: skipped.
      if (e?.v === 1 && typeof e.cell === 'number' && typeof e.sig === 'string' && Array.isArray(e.outputs) && e.outputs.every(isOutput) && (e.source === undefined || typeof e.source === 'string')) out.push(e);
      else if (e?.v === 2 && e.t === 'started' && typeof e.cell === 'number' && typeof e.sig === 'string') out.push(e);
      else if (e?.v === 2 && e.t === 'log' && e.event && typeof e.event === 'object') out.push(e);
      else if (e?.v === 2 && e.t === 'xid' && typeof e.cell === 'number' && typeof e.sig === 'string' && typeof e.xid === 'string' && /^\d+$/.test(e.xid)) out.push(e);
    } catch {
      // torn write
    }
  }
  return out;
}

/**
 * Writes bytes to `file` atomically, without following links planted beside it: see safe-write.ts
 * (also {@link checkRunbookWritable}, to call before the first statement of a run).
 */
export { writeFileAtomic, checkRunbookWritable, openJournal, RunbookWriteError, type RunbookWriteOptions, type RunbookWritable } from './safe-write';

/** Options for {@link RunbookStore}. */
export interface StoreOptions {
  /** Fold the journal into the runbook at most this often, ms (default 500). */
  checkpointMs?: number;
  /** fsync the journal after every cell (survives power loss, ~2 ms a cell here); default false. */
  fsyncEachCell?: boolean;
}

/**
 * The runbook on disk during a run. `record()` appends a cell's outputs to the journal with one
 * write(2) before the next cell starts, so killing the process at any point loses nothing that had
 * finished; `checkpoint()` rewrites the runbook atomically and empties the journal. A crash before
 * the last checkpoint leaves the journal; {@link RunbookStore.open} folds it back in.
 */
export class RunbookStore {
  private fd: number | undefined;
  private lastCheckpoint = Date.now();
  private dirty = false;
  private diskSigs: string[];
  private written: { size: number; mtimeMs: number } | undefined;
  private mergeIntoDisk = false;

  private constructor(
    readonly file: string,
    readonly runbook: Runbook,
    private readonly opts: StoreOptions,
  ) {
    this.diskSigs = runbook.cells.map(cellSignature);
    this.written = this.stat();
  }

  /**
   * Opens a runbook for a run: parses it and folds in the journal an interrupted run left.
   * @throws if the file cannot be read
   */
  static open(file: string, opts: StoreOptions = {}): { store: RunbookStore; recovered: number; unmatched: number; unfinished: UnfinishedCell[] } {
    const rb = parseRunbook(fs.readFileSync(file));
    const jp = journalPath(file);
    let recovered = 0;
    let unmatched = 0;
    let unfinished: UnfinishedCell[] = [];
    let rewritten = false;
    if (journalPresent(jp)) {
      const r = foldJournal(rb, readJournalEntries(jp));
      recovered = r.applied;
      unmatched = r.unmatched.length;
      unfinished = r.unfinished;
      if (r.applied > 0 || r.events > 0) {
        writeFileAtomic(file, serializeRunbookBytes(rb));
        rewritten = true;
      }
      // The file now holds the outputs and events; the journal keeps only the unfinished cells' `started` (and `xid`)
      // entries, replaced atomically, until this run records them `unknown` (its first checkpoint then removes it).
      if (r.pending.length) writeFileAtomic(jp, Buffer.from(r.pending.map((e) => JSON.stringify(e) + '\n').join('')));
      else fs.rmSync(jp, { force: true });
    }
    // After folding a journal the file was rewritten: read what is now on disk, raw text included (the log too,
    // when the format writes it; otherwise the folded log stays in memory for this run).
    if (!rewritten) return { store: new RunbookStore(file, rb, opts), recovered, unmatched, unfinished };
    const again = parseRunbook(fs.readFileSync(file));
    if (!again.log && rb.log) again.log = rb.log;
    return { store: new RunbookStore(file, again, opts), recovered, unmatched, unfinished };
  }

  private stat(): { size: number; mtimeMs: number } | undefined {
    try {
      const s = fs.statSync(this.file);
      return { size: s.size, mtimeMs: s.mtimeMs };
    } catch {
      return undefined;
    }
  }

  /**
   * Records cell `index` (its current outputs and source) durably against a kill, with the log event that records
   * the attempt when one is given: both lines in one write(2), so neither is ever journaled without the other.
   * @throws LogPlacementError (from the log) when the runbook's first log event cannot follow its text
   */
  record(index: number, sourceChanged = false, attempt?: { event: LogEvent; ctx?: { source?: string; body?: string } }): void {
    const cell = this.runbook.cells[index];
    const entry: JournalEntry = { v: 1, cell: index, sig: this.diskSigs[index], outputs: cell.outputs };
    if (sourceChanged) entry.source = cell.source;
    const entries: AnyJournalEntry[] = [entry];
    if (attempt) entries.push({ v: 2, t: 'log', event: appendLogEvent(this.runbook, attempt.event, attempt.ctx) });
    this.append(...entries);
    this.dirty = true;
    if (Date.now() - this.lastCheckpoint >= (this.opts.checkpointMs ?? 500)) this.checkpoint();
  }

  /** Journals that cell `index` is about to run (no checkpoint: it changes nothing in the file yet). */
  started(index: number, number: number, run: string, at: Date = new Date()): void {
    this.append({ v: 2, t: 'started', cell: index, sig: this.diskSigs[index], number, run, at: at.toISOString() });
  }

  /** Journals the transaction id cell `index` is about to COMMIT (sync: between two statements). */
  commitXid(index: number, number: number, run: string, xid: string): void {
    this.append({ v: 2, t: 'xid', cell: index, sig: this.diskSigs[index], number, run, xid });
  }

  /**
   * Appends a migration-log event to the runbook's log (with its hash chain) and journals it as stored.
   * @throws LogPlacementError when the runbook has no log yet and one cannot follow its text (nothing changed)
   */
  logEvent(event: LogEvent, ctx?: { source?: string; body?: string }): void {
    const stored = appendLogEvent(this.runbook, event, ctx);
    this.append({ v: 2, t: 'log', event: stored });
    this.dirty = true;
  }

  private append(...entries: AnyJournalEntry[]): void {
    this.fd ??= openJournal(journalPath(this.file));
    // One write(2) in the usual case; a short write (a nearly full disk) is continued, and ENOSPC/EIO are thrown:
    // the run stops before the next cell rather than go on with a record missing.
    const bytes = Buffer.from(entries.map((e) => JSON.stringify(e) + '\n').join(''));
    for (let off = 0; off < bytes.length; ) off += fs.writeSync(this.fd, bytes, off);
    if (this.opts.fsyncEachCell) fs.fdatasyncSync(this.fd);
  }

  /**
   * Writes the runbook atomically and empties the journal. If the file was changed on disk by
   * someone else since it was read, it is re-read and this run's outputs are applied to it by cell
   * signature instead of overwriting the other edit.
   */
  checkpoint(): void {
    if (!this.dirty) return;
    const now = this.stat();
    let rb = this.runbook;
    // Once someone else has edited the file during the run, every later checkpoint merges into what
    // is on disk too; writing the in-memory runbook again would undo their edit.
    if (now && this.written && (now.size !== this.written.size || now.mtimeMs !== this.written.mtimeMs)) this.mergeIntoDisk = true;
    if (this.mergeIntoDisk) {
      const onDisk = parseRunbook(fs.readFileSync(this.file));
      foldJournal(onDisk, readJournalEntries(journalPath(this.file)));
      rb = onDisk;
    }
    // The in-memory runbook remembers what it wrote (adopt), so the next checkpoint renders only what is new.
    writeFileAtomic(this.file, serializeRunbookBytes(rb, { adopt: rb === this.runbook }));
    this.written = this.stat();
    this.diskSigs = this.runbook.cells.map(cellSignature);
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    fs.rmSync(journalPath(this.file), { force: true });
    this.dirty = false;
    this.lastCheckpoint = Date.now();
  }

  /** Final checkpoint. */
  close(): void {
    this.checkpoint();
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
