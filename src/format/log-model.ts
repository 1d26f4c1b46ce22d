// The migration log's model: the runs and cell attempts a runbook has seen, as append-only events (no I/O).
//
// The run loop (src/run/) appends events; the format (src/format/log.ts) reads and writes them as the log
// section of the file; `runbook log` and `runbook verify` read them back. Cell outputs show the latest
// attempt of each cell; the log keeps every attempt, refused runs and replaced outputs included.

/** How a transaction span ended (docs/run.md, "Spans"). `open`: not ended when recorded. */
export type SpanFate = 'open' | 'committed' | 'rolled back' | 'unknown';

/**
 * A transaction span as a cell's record and the log show it: the cells between a `BEGIN` and the statement
 * that ends the transaction. Cell numbers are the runnable-cell numbers `--from` takes.
 */
export interface SpanRecord {
  /** Number of the cell whose statement opened the transaction. */
  from: number;
  /** Number of the cell whose statement ended it (absent while open, or when the session was lost). */
  to?: number;
  fate: SpanFate;
  /** Why it ended so, in words (`ROLLBACK in cell 5`, `cell 4 failed: …`, `connection lost: …`). */
  reason?: string;
  /** Transaction id (`pg_current_xact_id_if_assigned()`), when one was assigned: what `txid_status()` resolves. */
  xid?: string;
}

/**
 * How a run ended. `interrupted`: its process ended without recording its end (killed, crashed, or stopped because its
 * records could not be written); found by the next run (a `run` event with no `end`).
 */
export type RunStatus = 'ok' | 'failed' | 'stopped' | 'cancelled' | 'refused' | 'interrupted';

/** The target of a run: what it ran against. Never credentials. */
export interface RunTargetRecord {
  /** Connection profile name, password-free URI, or `sandbox`. */
  connection: string;
  environment: string;
  /** `server_version`, e.g. `16.4`. */
  server?: string;
  database?: string;
  /** The cluster's `system_identifier` (`pg_control_system()`), as text: tells two servers with the same name apart. */
  system?: string;
}

/** A run as it starts: who runs what, with which flags, against what. */
export interface RunRecord extends RunTargetRecord {
  /** Unique, sortable by start: `20261128T020041Z-7f3a` (UTC start time, 4 random hex digits). */
  id: string;
  /** `runbook run`, `runbook rehearse`, `vscode` … */
  command: string;
  /** The flags that change what runs, as given (never a password or a URI with one). */
  flags?: string[];
  /** Operator. */
  by: string;
  /** UTC ISO 8601 with ms. */
  started: string;
  /** The runbook's `estimate` (front matter) when the run started, as written (`15m`); filled in by `appendLogEvent`. */
  estimate?: string;
  /** The runbook's maintenance `window` (front matter) as an ISO 8601 interval in UTC; filled in by `appendLogEvent`. */
  window?: string;
  /**
   * The session-level advisory lock the run held on the database for its whole length (docs/run.md, "One run at a
   * time"): the runbook identity it is keyed on and the bigint key, in decimal. Absent: no lock was held (sandbox).
   */
  lock?: { identity: string; key: string };
  /** Session settings the run's session set at connect beyond the timeouts, as the server showed them (only what was in force). */
  settings?: Record<string, string>;
}

/** One cell attempt in a run, as the log keeps it (a summary of the cell's output record). */
export interface AttemptRecord {
  run: string;
  /** Runnable-cell number. */
  cell: number;
  name?: string;
  status: string;
  started?: string;
  ms?: number;
  /** Rows returned or affected, summed over the cell's statements. */
  rows?: number;
  span?: SpanRecord;
  /** Safety rules acknowledged for this attempt. */
  ack?: string[];
  /** One-line error, when it failed. */
  error?: string;
  /** Shell cells: the exit status. */
  exit?: number;
  /** The cell waited this long for locks, ms (the live lock view's `cellWaitedMs`; absent when it did not wait). */
  waitedMs?: number;
  /** Most sessions seen waiting behind the cell at once (the live lock view's `peakBlocked`). */
  blocked?: number;
  /** Times the cell was retried within the attempt (a record's `retries`, when the loop retries). */
  retries?: number;
  /** The cell's `estimate` option, as written (`90s`); filled in by `appendLogEvent`. */
  estimate?: string;
  /** Anything else a newer version wrote; kept. */
  [key: string]: unknown;
}

/** The end of a run. */
export interface RunEndRecord {
  run: string;
  /** UTC ISO 8601 with ms. */
  ended: string;
  status: RunStatus;
  /**
   * Process exit status (CLI), or what it would have been (VS Code). Absent only on the end a later run records for
   * an `interrupted` one: that process ended without recording its end, and what it exited with is not known.
   */
  exit?: number;
  /** Every reason a refused run was refused, or why it stopped. */
  reasons?: string[];
  /** Counts by cell status: `{"ok":5,"error":1}`. */
  cells?: Record<string, number>;
  /**
   * The monitoring sampler's peaks over the run (src/monitor/sampler.ts `MonitorPeaks`: connections, lock waits,
   * longest transaction, replication lag, statements that grew; or why monitoring was unavailable). docs/run.md.
   */
  monitor?: Record<string, unknown>;
  /** How the run went against the runbook's window, when it has one. */
  window?: WindowEndRecord;
  [key: string]: unknown;
}

/** A run against its maintenance window, as its end records it. */
export interface WindowEndRecord {
  /** The window, ISO 8601 interval in UTC. */
  interval: string;
  /** `within` it, `started outside` it (on an override), `overran` it (ended after it closed). */
  verdict: string;
  /** Who let a production run start outside the window, and how (`--outside-window`, `asked`). */
  override?: { by: string; with: string };
}

/**
 * Something a run's watchers noticed that the person must know and that did not stop the run: a notification that
 * could not be delivered, the estimate passed, the window about to be overrun (and what was answered).
 */
export interface WarningRecord {
  run: string;
  /** UTC ISO 8601 with ms. */
  at: string;
  /** `notify`, `window`, `estimate`. */
  about: string;
  /** In words, redacted. */
  message: string;
}

/**
 * The hash chain every event carries once `appendLogEvent` stored it (docs/format.md, "Tamper evidence").
 * Hashes are the first 16 hex digits of SHA-256 (src/format/log-chain.ts says over what).
 */
export interface ChainFields {
  /** Hash of the previous event (`h`); absent on the first event. */
  prev?: string;
  /** Hash of this event: its JSON without `h`. */
  h?: string;
}

/** Hashes of a cell's content when an event recorded it: what `runbook verify` compares the cell with. */
export interface CellHashes {
  /** Of the cell's kind, options and source (checklist ticks left out). */
  src?: string;
  /** Of the cell's latest output record. Absent: the attempt wrote no output (a refused attempt). */
  rec?: string;
  /** Of that output's body (and its fence language). */
  out?: string;
}

/** One event of the log, in the order it happened. */
export type LogEvent =
  | ({ e: 'run'; run: RunRecord } & ChainFields)
  | ({ e: 'attempt'; attempt: AttemptRecord } & CellHashes & ChainFields)
  | ({
      e: 'span';
      /** The run whose transaction it was (for a span a dead run left open, that run, not the one that settled it). */
      run: string;
      span: SpanRecord;
      cells: number[];
      /** When the span ended, UTC ISO 8601 with ms; filled in by `appendLogEvent`. */
      at?: string;
      /** Each cell's output as the span's fate left it (written into the records before this event). */
      after?: ({ cell: number } & CellHashes)[];
    } & ChainFields)
  | ({ e: 'warning'; warning: WarningRecord } & ChainFields)
  | ({ e: 'end'; end: RunEndRecord } & ChainFields);

/** The log section of a runbook (`Runbook.log`). */
export interface RunbookLog {
  events: LogEvent[];
  /** Exact text of the section as parsed (for a byte-stable round trip); absent for a log made in memory. */
  raw?: string;
  /** Number of events `raw` stands for: events after it are new and get appended. */
  rawEvents?: number;
}
