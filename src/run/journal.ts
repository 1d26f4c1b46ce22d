// Durable records during a run: an append-only journal next to the runbook, folded into the file by atomic checkpoints.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { appendLogEvent, cellSignature, eventHash, isOutput, parseRunbook, serializeRunbookBytes, type LogEvent, type Output, type RunEndRecord, type Runbook } from '../format';
import { openJournal, RunbookWriteError, writeAll, writeFileAtomic } from './safe-write';
import { RecordWriteError } from './record-lost';

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

/**
 * A journal line saying a shell cell's bash started in its own process group `pgid` (= bash's pid): found by the next
 * run when this run was killed, the group is checked for survivors (a `sleep 300 &` outlives its killed run).
 */
export interface PgidEntry {
  v: 2;
  t: 'pgid';
  cell: number;
  sig: string;
  number: number;
  run: string;
  pgid: number;
  /** The group leader's start time (clock ticks since boot, /proc/<pid>/stat), to tell a reused pid; absent without /proc. */
  start?: string;
  /** `os.hostname()`: a group is only looked for on the host that started it. */
  host: string;
  /** UTC ISO 8601 with ms. */
  at: string;
}

/** A journal line holding one migration-log event (with what a chained attempt hashes). */
export interface LogEntry {
  v: 2;
  t: 'log';
  /** The event as the log stored it (with its hash chain): folded back as it is. */
  event: LogEvent;
}

/** Any line of the journal. */
export type AnyJournalEntry = JournalEntry | StartedEntry | XidEntry | PgidEntry | LogEntry;

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

/** A shell cell's process group an interrupted run journaled: its {@link PgidEntry} found in the runbook as folded. */
export type ShellGroup = Omit<PgidEntry, 'v' | 't' | 'cell' | 'sig'> & {
  /** Index of the cell in the runbook as folded (-1 when it is no longer found). */
  index: number;
};

/** The journal's path for a runbook: `FILE.journal` beside it. */
export function journalPath(file: string): string {
  return `${file}.journal`;
}

/**
 * Applies journal entries to a runbook model. An entry goes to the cell at its index if the signature matches, else to
 * the nearest cell with the same signature. An entry whose cell was edited since (no cell has its signature, but the
 * cell at its index is of the same kind and language) is `attached` to that cell, each output marked
 * `"recorded_for":"sha256:…"` (the hash of the text it ran: recorded for an earlier text of this cell; a ticked
 * checklist's new text is not applied over the edit). Entries matching no cell at all (deleted, moved and edited)
 * are returned as `unmatched`: never dropped, the caller keeps them ({@link keepUnmatched}).
 */
export function applyJournal(rb: Runbook, entries: readonly JournalEntry[]): { applied: number; attached: JournalEntry[]; unmatched: JournalEntry[] } {
  let applied = 0;
  const unmatched: JournalEntry[] = [];
  const attached: JournalEntry[] = [];
  // A cell that still has the text some entry ran is that entry's cell, never another one's edit.
  const known = new Set(entries.map((e) => e.sig));
  for (const e of entries) {
    const idx = findCell(rb, e.cell, e.sig);
    if (idx >= 0) {
      const cell = rb.cells[idx];
      if (e.source !== undefined) cell.source = e.source;
      cell.outputs = e.outputs;
      applied++;
      continue;
    }
    const old = signedSource(e.sig);
    const cell = rb.cells[e.cell];
    if (old && cell && editOf(old, cell, known)) {
      const recordedFor = textHash(e.source ?? old.source);
      cell.outputs = e.outputs.map((o) => ({ ...o, record: { ...o.record, recorded_for: recordedFor } }));
      attached.push(e);
      applied++;
      continue;
    }
    unmatched.push(e);
  }
  return { applied, attached, unmatched };
}

/**
 * Whether `cell` is the cell an entry ran as `old`, edited: same kind and language, not itself the text of another
 * entry, and at least half of the longer text kept at its start and end (a cell moved into the position of a deleted
 * one shares neither). Otherwise the entry is kept aside rather than put on a stranger.
 */
function editOf(old: { kind: string; language: string | null; source: string }, cell: Runbook['cells'][number], known: ReadonlySet<string>): boolean {
  if (cell.kind !== old.kind || (cell.language ?? null) !== old.language || known.has(cellSignature(cell))) return false;
  const a = old.source;
  const b = cell.source;
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  return (prefix + suffix) * 2 >= Math.max(a.length, b.length, 1);
}

/** `sha256:` and the first 16 hex digits of the SHA-256 of a cell's text (UTF-8): what `recorded_for` holds. */
export function textHash(source: string): string {
  return `sha256:${createHash('sha256').update(source, 'utf8').digest('hex').slice(0, 16)}`;
}

/** The kind, language and text a cell signature (format/signature.ts) was made of; undefined for one not ours. */
export function signedSource(sig: string): { kind: string; language: string | null; source: string } | undefined {
  try {
    const v = JSON.parse(sig) as unknown;
    if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[3] !== 'string') return undefined;
    return { kind: v[0], language: typeof v[1] === 'string' ? v[1] : null, source: v[3] };
  } catch {
    return undefined;
  }
}

/**
 * Keeps journal entries whose cell is gone in `FILE.journal.kept-<ms>` beside the runbook (created exclusively, never
 * through a link, mode 0600), one JSON line each as in the journal: their effect is in the database, so their record
 * must not be deleted with the journal.
 * @returns the kept file's path, or undefined when there is nothing to keep
 * @throws the system error when the file cannot be written (the caller then keeps the journal itself)
 */
export function keepUnmatched(file: string, entries: readonly JournalEntry[], now: number = Date.now()): string | undefined {
  if (!entries.length) return undefined;
  const bytes = Buffer.from(entries.map((e) => JSON.stringify(e) + '\n').join(''));
  // Folded twice (a run killed after it kept them and before the journal was emptied), the same records are kept once.
  const already = keptBefore(file, bytes);
  if (already) return already;
  const kept = `${journalPath(file)}.kept-${now}`;
  const fd = fs.openSync(kept, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW ?? 0), 0o600);
  try {
    writeAll(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return kept;
}

/** The `FILE.journal.kept-*` file beside a runbook that holds exactly `bytes` (a plain file, not a link), if any. */
function keptBefore(file: string, bytes: Buffer): string | undefined {
  const dir = path.dirname(file);
  const prefix = `${path.basename(journalPath(file))}.kept-`;
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.startsWith(prefix));
  } catch {
    return undefined;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    try {
      const st = fs.lstatSync(p);
      if (st.isFile() && st.size === bytes.length && fs.readFileSync(p).equals(bytes)) return p;
    } catch {
      // gone meanwhile, or unreadable: not ours to reuse
    }
  }
  return undefined;
}

/** What a run says about records it kept rather than drop (a terminal message and a `warning` event of the log). */
export function keptWarnings(file: string, attached: readonly JournalEntry[], unmatched: readonly JournalEntry[], kept: string | undefined): string[] {
  const out: string[] = [];
  const first = (e: JournalEntry): string => JSON.stringify((signedSource(e.sig)?.source ?? '').split('\n')[0].slice(0, 60));
  for (const e of attached) {
    out.push(`${file}: the cell whose text began ${first(e)} was edited after it ran; its record is kept on it, marked "recorded_for":"${textHash(e.source ?? signedSource(e.sig)?.source ?? '')}" (recorded for an earlier text of this cell).`);
  }
  if (unmatched.length) {
    out.push(`${file}: ${unmatched.length} record(s) of cells no longer in the file (deleted or edited beyond recognition) are kept in ${kept ?? 'the journal'}, not dropped: their effect is in the database (the first ran the text beginning ${first(unmatched[0])}).`);
  }
  return out;
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
 * @returns `applied` outputs, `unmatched` entries (their cell is gone), `events` folded (`ended`: the `end` records
 *   among them), `unfinished` cells, and
 *   `pending`: the journal lines of the unfinished cells (`started`, `xid`), which must stay on disk until settled
 */
export function foldJournal(rb: Runbook, entries: readonly AnyJournalEntry[]): { applied: number; attached: JournalEntry[]; unmatched: JournalEntry[]; events: number; ended: RunEndRecord[]; unfinished: UnfinishedCell[]; groups: ShellGroup[]; pending: AnyJournalEntry[] } {
  const cells: JournalEntry[] = [];
  const pgids: PgidEntry[] = [];
  const open = new Map<string, StartedEntry>();
  const xids = new Map<string, XidEntry>();
  let events = 0;
  const ended: RunEndRecord[] = [];
  let inLog: Set<string> | undefined;
  for (const e of entries) {
    const key = `${e.v === 2 && e.t === 'log' ? '' : e.cell}\n${e.v === 2 && e.t === 'log' ? '' : e.sig}`;
    if (e.v === 1) {
      cells.push(e);
      open.delete(key);
    } else if (e.t === 'started') open.set(key, e);
    else if (e.t === 'xid') xids.set(key, e);
    else if (e.t === 'pgid') pgids.push(e);
    else if (e.t === 'log') {
      // The event as it was stored, hash chain and all: appending it again would re-hash it against this model.
      rb.log ??= { events: [] };
      // A run killed after a checkpoint (or a fold) rewrote the file and before it emptied the journal leaves a
      // journal whose events the file already holds: folded again, they would stand in the log twice. The chain makes
      // an event's hash name it and its place, so one the log has is skipped.
      inLog ??= new Set(rb.log.events.map((x) => x.h ?? eventHash(x)));
      const h = e.event.h ?? eventHash(e.event);
      if (inLog.has(h)) continue;
      inLog.add(h);
      rb.log.events.push(e.event);
      if (e.event.e === 'end') ended.push(e.event.end);
      events++;
    }
  }
  const { applied, attached, unmatched } = applyJournal(rb, cells);
  const unfinished = [...open.entries()].map(([key, s]) => {
    const u: UnfinishedCell = { index: findCell(rb, s.cell, s.sig), number: s.number, run: s.run, at: s.at };
    const xid = xids.get(key);
    if (xid) u.xid = xid.xid;
    return u;
  });
  // Every group journaled (a finished cell's too: what it left behind is stopped by the engine, unless the run died first).
  const groups = pgids.map(({ v: _v, t: _t, cell, sig, ...group }): ShellGroup => ({ index: findCell(rb, cell, sig), ...group }));
  // What only the journal knows until the next run settles it: a cell started and never finished (and the xid it was
  // about to COMMIT), and the process groups journaled. Dropped with the journal, a run killed before settling would
  // leave the next one none the wiser.
  const pending = [...[...open.entries()].flatMap(([key, st]): AnyJournalEntry[] => [st, ...(xids.has(key) ? [xids.get(key)!] : [])]), ...pgids];
  return { applied, attached, unmatched, events, ended, unfinished, groups, pending };
}

/**
 * What an interrupted run's journal beside `file` holds that the file may not: its finished outputs and log events
 * not yet in the file (events the file's log has are not counted), and the cells it started and never finished.
 * Undefined when there is no journal.
 * @throws RunbookWriteError when something other than a plain file is at the journal's path
 */
export function journalBacklog(file: string, rb: Runbook): { outputs: number; events: number; unfinished: number } | undefined {
  const jp = journalPath(file);
  if (!journalPresent(jp)) return undefined;
  const entries = readJournalEntries(jp);
  const inLog = new Set((rb.log?.events ?? []).map((e) => e.h ?? eventHash(e)));
  const started = new Set<string>();
  let outputs = 0;
  let events = 0;
  for (const e of entries) {
    if (e.v === 1) {
      if (!holdsOutputs(rb, e)) outputs++;
      started.delete(`${e.cell}\n${e.sig}`);
    } else if (e.t === 'started') started.add(`${e.cell}\n${e.sig}`);
    else if (e.t === 'log' && !inLog.has(e.event.h ?? eventHash(e.event))) events++;
  }
  return { outputs, events, unfinished: started.size };
}

/** Whether the file already has an entry's outputs on its cell (records and bodies the same): a checkpoint wrote them. */
function holdsOutputs(rb: Runbook, e: JournalEntry): boolean {
  const i = findCell(rb, e.cell, e.sig);
  const have = i >= 0 ? rb.cells[i].outputs : [];
  return have.length === e.outputs.length && have.every((o, k) => JSON.stringify(o.record) === JSON.stringify(e.outputs[k].record) && (o.body ?? '') === (e.outputs[k].body ?? ''));
}

/**
 * The line check, verify and log print about a journal's {@link journalBacklog}; undefined when it holds nothing.
 * Outputs and events are folded in by `runbook recover` or the next run; what became of a cell started and never
 * finished needs the database (`txid_status()`, the server's sessions), so only the next run settles it.
 */
export function journalNotice(file: string, b: { outputs: number; events: number; unfinished: number } | undefined): string | undefined {
  if (!b || b.outputs + b.events + b.unfinished === 0) return undefined;
  const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
  const held = [b.outputs && plural(b.outputs, 'finished output', 'finished outputs'), b.events && plural(b.events, 'log event', 'log events')].filter(Boolean).join(' and ');
  const parts: string[] = [];
  if (held) parts.push(`${held} not yet in the file: \`runbook recover ${file}\` folds them in (so does the next \`runbook run ${file}\`)`);
  if (b.unfinished) parts.push(`${plural(b.unfinished, 'cell', 'cells')} it started and never finished: the next \`runbook run ${file}\` against the same database records what became of ${b.unfinished === 1 ? 'it' : 'them'}`);
  return `an interrupted run left ${journalPath(file)} with ${parts.join('; and ')}`;
}

/**
 * Why a run that keeps no journal of its own (VS Code's) must not start on `file`: an interrupted run's journal is
 * beside it. That run's records would stay out of the notebook, and the next `runbook run` would fold them in after
 * this run's, older outputs over newer ones. Undefined when there is no journal.
 */
export function journalBlocksRun(file: string): string | undefined {
  try {
    if (!journalPresent(journalPath(file))) return undefined;
    const notice = journalNotice(file, journalBacklog(file, parseRunbook(fs.readFileSync(file)))) ?? `an interrupted run left ${journalPath(file)}`;
    return `${notice}. Fold it in first: \`runbook recover ${file}\` in a terminal (a cell that never finished needs \`runbook run\`), then revert the notebook to the file (File: Revert File) and run again.`;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * What the log says of a run whose `end` event was folded from its journal by a later process: the run recorded its
 * end, then its process ended before the file held its records (killed, crashed, or the file could not be written).
 */
export function diedAfterEnd(end: RunEndRecord): string {
  const exit = end.exit === undefined ? '' : ` The exit status its end gives (${end.exit}) is what the run would have ended with; what the process exited with is not known.`;
  return `run ${end.run} recorded its end (${end.status}), but its process ended before its records were written into the file (killed, crashed, or the file could not be written): they were recovered from its journal at ${new Date().toISOString()}.${exit}`;
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
      else if (e?.v === 2 && e.t === 'pgid' && typeof e.cell === 'number' && typeof e.sig === 'string' && Number.isInteger(e.pgid) && e.pgid > 1 && typeof e.host === 'string' && typeof e.run === 'string') out.push(e);
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
  /**
   * Told, after a checkpoint that merged into a file edited during the run, of each record kept rather than dropped
   * (see {@link keptWarnings}); it may log an event (the next checkpoint, or close(), writes it).
   */
  onWarning?: (message: string) => void;
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
  /** The file as another program left it, parsed once per change (see cellOnDisk). */
  private diskCache: { size: number; mtimeMs: number; runbook: Runbook } | undefined;
  /** The failed append that stopped the journal (nothing is journaled or checkpointed after it). */
  private broken: RecordWriteError | undefined;

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
  static open(file: string, opts: StoreOptions = {}): { store: RunbookStore; recovered: number; events: number; unmatched: number; unfinished: UnfinishedCell[]; warnings: string[]; groups: ShellGroup[] } {
    const rb = parseRunbook(fs.readFileSync(file));
    const jp = journalPath(file);
    let recovered = 0;
    let events = 0;
    let unmatched = 0;
    let unfinished: UnfinishedCell[] = [];
    let groups: ShellGroup[] = [];
    let rewritten = false;
    let warnings: string[] = [];
    if (journalPresent(jp)) {
      const r = foldJournal(rb, readJournalEntries(jp));
      recovered = r.applied;
      events = r.events;
      unmatched = r.unmatched.length;
      unfinished = r.unfinished;
      groups = r.groups;
      // A run whose end is in its journal died after recording it, before its records were in the file.
      for (const end of r.ended) appendLogEvent(rb, { e: 'warning', warning: { run: end.run, at: new Date().toISOString(), about: 'interrupted', message: diedAfterEnd(end) } });
      if (r.applied > 0 || r.events > 0) {
        writeFileAtomic(file, serializeRunbookBytes(rb));
        rewritten = true;
      }
      // Records of cells edited or deleted since are never deleted with the journal: kept beside it first.
      const kept = keepUnmatched(file, r.unmatched);
      warnings = keptWarnings(file, r.attached, r.unmatched, kept);
      // The file now holds the outputs and events; the journal keeps only the unfinished cells' `started` (and `xid`)
      // entries and the process groups, replaced atomically, until this run settles them (its first checkpoint then
      // removes it).
      if (r.pending.length) writeFileAtomic(jp, Buffer.from(r.pending.map((e) => JSON.stringify(e) + '\n').join('')));
      else fs.rmSync(jp, { force: true });
    }
    // After folding a journal the file was rewritten: read what is now on disk, raw text included (the log too,
    // when the format writes it; otherwise the folded log stays in memory for this run).
    if (!rewritten) return { store: new RunbookStore(file, rb, opts), recovered, events, unmatched, unfinished, warnings, groups };
    const again = parseRunbook(fs.readFileSync(file));
    if (!again.log && rb.log) again.log = rb.log;
    return { store: new RunbookStore(file, again, opts), recovered, events, unmatched, unfinished, warnings, groups };
  }

  /**
   * The cell at `index` as the file on disk has it now: this run's cell while nobody else changed the file (one
   * stat(2)), or while the disk still has the cell's text somewhere; else the disk's cell at that position (edited
   * by another program) or undefined (deleted). The run loop compares it with the cell it planned and stops rather
   * than run a text the file no longer holds.
   */
  cellOnDisk(index: number): Runbook['cells'][number] | undefined {
    const mine = this.runbook.cells[index];
    const now = this.stat();
    // Once another program edited the file, what this run writes is merged into its text: the disk stays the truth.
    const unchanged = !now || !this.written || (now.size === this.written.size && now.mtimeMs === this.written.mtimeMs);
    if (!mine || !now || (unchanged && !this.mergeIntoDisk)) return mine;
    if (!this.diskCache || this.diskCache.size !== now.size || this.diskCache.mtimeMs !== now.mtimeMs) {
      this.diskCache = { ...now, runbook: parseRunbook(fs.readFileSync(this.file)) };
    }
    const sig = cellSignature(mine);
    const disk = this.diskCache.runbook;
    return disk.cells.some((c) => cellSignature(c) === sig) ? mine : disk.cells[index];
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
    this.recordMany([{ index, sourceChanged }], attempt);
  }

  /**
   * Records several cells (their current outputs, and sources when `sourceChanged`) and the log event that records
   * why, all in one write(2): a kill leaves the journal with all of them or none.
   * @throws LogPlacementError (from the log) when the runbook's first log event cannot follow its text
   */
  recordMany(cells: readonly { index: number; sourceChanged?: boolean }[], event?: { event: LogEvent; ctx?: { source?: string; body?: string } }): void {
    const entries: AnyJournalEntry[] = cells.map(({ index, sourceChanged }) => {
      const cell = this.runbook.cells[index];
      const entry: JournalEntry = { v: 1, cell: index, sig: this.diskSigs[index], outputs: cell.outputs };
      if (sourceChanged) entry.source = cell.source;
      return entry;
    });
    if (event) entries.push({ v: 2, t: 'log', event: appendLogEvent(this.runbook, event.event, event.ctx) });
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

  /** Journals the process group a shell cell's bash started in (sync: right after the spawn). */
  shellGroup(index: number, number: number, run: string, group: { pgid: number; start?: string; host: string }, at: Date = new Date()): void {
    const e: PgidEntry = { v: 2, t: 'pgid', cell: index, sig: this.diskSigs[index], number, run, pgid: group.pgid, host: group.host, at: at.toISOString() };
    if (group.start !== undefined) e.start = group.start;
    this.append(e);
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
    // After a failed append nothing more is journaled: a later line after a missing one would tell a story with a hole.
    if (this.broken) throw this.broken;
    const jp = journalPath(this.file);
    let size = 0;
    try {
      this.fd ??= openJournal(jp);
      size = fs.fstatSync(this.fd).size;
      // One write(2) in the usual case; a short write (a nearly full disk) is continued, and ENOSPC/EIO are thrown:
      // the run stops before the next cell rather than go on with a record missing.
      const bytes = Buffer.from(entries.map((e) => JSON.stringify(e) + '\n').join(''));
      writeAll(this.fd, bytes);
      if (this.opts.fsyncEachCell) fs.fdatasyncSync(this.fd);
    } catch (e) {
      if (e instanceof RunbookWriteError) throw e;
      // Cut a torn line off (it frees what it took), so the journal ends on the last whole record.
      if (this.fd !== undefined) {
        try {
          fs.ftruncateSync(this.fd, size);
        } catch {
          // The torn line stays; readJournalEntries ignores it, and nothing is appended after it.
        }
      }
      this.broken = recordWriteError(e, 'journal', jp);
      throw this.broken;
    }
  }

  /**
   * Writes the runbook atomically and empties the journal. If the file was changed on disk by
   * someone else since it was read, it is re-read and this run's outputs are applied to it by cell
   * signature instead of overwriting the other edit.
   */
  checkpoint(): void {
    if (!this.dirty) return;
    // A failed append left a record out of the journal: a checkpoint now could write a file that has it after all,
    // contradicting what the run said (the journal, with everything before the failure, is folded by the next run).
    if (this.broken) throw this.broken;
    try {
      this.rewrite();
    } catch (e) {
      if (e instanceof RunbookWriteError) throw e;
      throw recordWriteError(e, 'checkpoint', journalPath(this.file));
    }
  }

  private rewrite(): void {
    const now = this.stat();
    let rb = this.runbook;
    // Once someone else has edited the file during the run, every later checkpoint merges into what
    // is on disk too; writing the in-memory runbook again would undo their edit.
    if (now && this.written && (now.size !== this.written.size || now.mtimeMs !== this.written.mtimeMs)) this.mergeIntoDisk = true;
    let warnings: string[] = [];
    if (this.mergeIntoDisk) {
      const onDisk = parseRunbook(fs.readFileSync(this.file));
      const r = foldJournal(onDisk, readJournalEntries(journalPath(this.file)));
      // A record whose cell was edited meanwhile stays on it (marked recorded_for); one whose cell is gone is kept.
      warnings = keptWarnings(this.file, r.attached, r.unmatched, keepUnmatched(this.file, r.unmatched));
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
    for (const w of warnings) this.opts.onWarning?.(w);
  }

  /**
   * Final checkpoint; the journal is closed whatever happens.
   * @throws RecordWriteError when the runbook cannot be rewritten or the journal took no record (see checkpoint)
   */
  close(): void {
    try {
      if (!this.broken) this.checkpoint();
      // A warning logged by the last checkpoint (a record kept) is written too.
      if (!this.broken) this.checkpoint();
    } finally {
      if (this.fd !== undefined) fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/** A system error while writing a record, as a {@link RecordWriteError} naming its errno and where it happened. */
function recordWriteError(e: unknown, stage: 'journal' | 'checkpoint', journal: string): RecordWriteError {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code ?? 'EIO';
  const detail = (err?.message ?? String(e)).replace(new RegExp(`^${code}: `), '').replace(/, (write|open|rename|fsync|fdatasync)( '.*')?$/, '');
  return new RecordWriteError(`${stage === 'journal' ? 'the journal' : 'the runbook'} could not be written (${code}: ${detail})`, code, stage, journal, { cause: e });
}
