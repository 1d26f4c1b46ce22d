// Durable records during a run: an append-only journal next to the runbook, folded into the file by atomic checkpoints.

import * as fs from 'node:fs';
import { cellSignature, parseRunbook, serializeRunbookBytes, type Output, type Runbook } from '../format';
import { openJournal, writeFileAtomic } from './safe-write';

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
    let idx = -1;
    if (rb.cells[e.cell] && cellSignature(rb.cells[e.cell]) === e.sig) idx = e.cell;
    else {
      let best = Infinity;
      rb.cells.forEach((c, i) => {
        if (Math.abs(i - e.cell) < best && cellSignature(c) === e.sig) {
          best = Math.abs(i - e.cell);
          idx = i;
        }
      });
    }
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

/** Reads a journal; a torn last line (the process died mid-write) is ignored. */
export function readJournal(file: string): JournalEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as JournalEntry;
      if (e && e.v === 1 && typeof e.cell === 'number' && Array.isArray(e.outputs)) out.push(e);
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
  static open(file: string, opts: StoreOptions = {}): { store: RunbookStore; recovered: number; unmatched: number } {
    const rb = parseRunbook(fs.readFileSync(file));
    const jp = journalPath(file);
    let recovered = 0;
    let unmatched = 0;
    if (fs.existsSync(jp)) {
      const r = applyJournal(rb, readJournal(jp));
      recovered = r.applied;
      unmatched = r.unmatched.length;
      if (r.applied > 0) writeFileAtomic(file, serializeRunbookBytes(rb));
      fs.rmSync(jp, { force: true });
    }
    // After folding a journal the file was rewritten: read what is now on disk, raw text included.
    return { store: new RunbookStore(file, recovered > 0 ? parseRunbook(fs.readFileSync(file)) : rb, opts), recovered, unmatched };
  }

  private stat(): { size: number; mtimeMs: number } | undefined {
    try {
      const s = fs.statSync(this.file);
      return { size: s.size, mtimeMs: s.mtimeMs };
    } catch {
      return undefined;
    }
  }

  /** Records cell `index` (its current outputs and source) durably against a kill. */
  record(index: number, sourceChanged = false): void {
    const cell = this.runbook.cells[index];
    const entry: JournalEntry = { v: 1, cell: index, sig: this.diskSigs[index], outputs: cell.outputs };
    if (sourceChanged) entry.source = cell.source;
    this.fd ??= openJournal(journalPath(this.file));
    fs.writeSync(this.fd, JSON.stringify(entry) + '\n');
    if (this.opts.fsyncEachCell) fs.fdatasyncSync(this.fd);
    this.dirty = true;
    if (Date.now() - this.lastCheckpoint >= (this.opts.checkpointMs ?? 500)) this.checkpoint();
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
      applyJournal(onDisk, readJournal(journalPath(this.file)));
      rb = onDisk;
    }
    writeFileAtomic(this.file, serializeRunbookBytes(rb));
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
