// The `.runbook` document model: cells, their options and their recorded outputs (no I/O, no vscode).

import type { RunbookLog } from './log-model';

/** The kind of a cell, decided by the block it was parsed from (docs/format.md, "Cells"). */
export type CellKind = 'markdown' | 'sql' | 'shell' | 'checklist';

/** Execution status of a cell as recorded in its output. */
export type OutputStatus = 'ok' | 'error' | 'cancelled' | 'skipped' | 'uncommitted' | 'rolled back' | 'unknown';

/** Transaction state of the session after a statement, from the ReadyForQuery message's status byte
 *  (`I` idle, `T` in transaction, `E` failed transaction block). Source: PostgreSQL docs, 55.7 "Message Formats". */
export type TransactionState = 'idle' | 'in transaction' | 'failed';

/** One statement's result inside a SQL cell's output record. */
export interface StatementRecord {
  /** Command tag as sent by the server in CommandComplete, e.g. `INSERT 0 1`, `SELECT 3`. */
  tag?: string;
  /** Rows returned (SELECT …) or affected (INSERT/UPDATE/DELETE/MERGE/COPY), when the tag carries a count. */
  rows?: number;
  /** Rows kept in the output body (at most the max-rows setting); `rows - kept` were counted only. */
  kept?: number;
  /** Wall time of the statement, ms. */
  ms?: number;
  /** 1-based line in the cell where the statement starts. */
  line?: number;
  /** Transaction state after the statement. */
  tx?: TransactionState;
  /** Notices (RAISE NOTICE, WARNING …) received while the statement ran: `SEVERITY: message`. */
  notices?: string[];
  /** Anything else a newer version wrote; kept as is. */
  [key: string]: unknown;
}

/** The error that ended a cell, with PostgreSQL's fields where the server sent them. */
export interface ErrorRecord {
  message: string;
  /** SQLSTATE code, e.g. `55P03` (lock_not_available). Source: PostgreSQL docs, Appendix A. */
  sqlstate?: string;
  detail?: string;
  hint?: string;
  /** 1-based line in the cell where the error points (the statement's start, or the server's position). */
  line?: number;
  /** Index (0-based) of the failing statement in the cell. */
  statement?: number;
  [key: string]: unknown;
}

/**
 * The machine-readable record of one output. Field names are short because they are written on one
 * line into the file; docs/format.md lists them. Unknown fields are kept verbatim (forward compatible).
 */
export interface OutputRecord {
  status: OutputStatus | string;
  /** Start time, UTC ISO 8601 with ms, e.g. `2026-11-28T02:08:03.512Z`. */
  started?: string;
  /** Duration of the whole cell, ms. */
  ms?: number;
  /** Operator: git `user.name`, else the OS user. */
  by?: string;
  /** Connection profile name (never a URI with credentials). */
  connection?: string;
  environment?: string;
  /** Server version, e.g. `16.4`. */
  server?: string;
  database?: string;
  statements?: StatementRecord[];
  error?: ErrorRecord;
  /** Shell cells: exit code, or the signal that ended the process group. */
  exit?: number;
  signal?: string;
  [key: string]: unknown;
}

/** One output block: its record and an optional human-readable body. */
export interface Output {
  record: OutputRecord;
  /** Human-readable text (psql-like tables, shell output), without its final newline; undefined: no body block. */
  body?: string;
  /** Info string of the body's fence (default `text`). */
  bodyLang?: string;
}

/** Options written on a code fence's info string after the language, as one JSON object. */
export type CellOptions = Record<string, unknown>;

/** Problem found while parsing, with a 1-based line number. Parsing never throws on bad input. */
export interface Problem {
  line: number;
  severity: 'error' | 'warning';
  /** Stable machine id, e.g. `malformed-output-record`. */
  code: string;
  message: string;
}

/**
 * Exact original text of a cell, kept by the parser so that serializing an unedited cell
 * reproduces its bytes; `sig` fingerprints the model state that text stands for.
 */
export interface RawCell {
  /** Text before the cell (blank lines separating it from the previous cell). */
  leading: string;
  /** The cell's own text: fence lines and code, or the Markdown/checklist text. */
  source: string;
  /** Signature of kind, language, options and source when parsed (see signature.ts). */
  sig: string;
  /** Each output's original text and what it stood for. */
  outputs: RawOutput[];
}

/** Exact original text of one output block (with the blank lines before it) and its parsed content. */
export interface RawOutput {
  text: string;
  /** JSON.stringify of the record as parsed. */
  record: string;
  body?: string;
  bodyLang?: string;
}

/** A cell of a runbook. */
export interface Cell {
  kind: CellKind;
  /** Code (without fences) for sql/shell cells; the Markdown text for markdown/checklist cells. */
  source: string;
  /** Fence language as written (`sql`, `sh`, `bash`, `shell`, `postgresql`…); undefined for markdown/checklist. */
  language?: string;
  /** Cell options from the info string; {} when none. */
  options: CellOptions;
  outputs: Output[];
  /** Original text; absent for cells created in memory. */
  raw?: RawCell;
}

/** YAML front matter: the exact text and what it parsed to. */
export interface FrontMatter {
  /** Full text including the `---` delimiter lines and the line break after the closing one. */
  raw: string;
  /** Parsed mapping; undefined when the YAML is invalid (reported as a problem, text kept). */
  data?: Record<string, unknown>;
  /** Set when `data` was changed in memory: the front matter is then written anew from `data`. */
  dirty?: boolean;
}

/** A parsed `.runbook` document. */
export interface Runbook {
  frontMatter?: FrontMatter;
  cells: Cell[];
  /** The migration log section (runs and attempts, append-only), when the file has one or a run added it. */
  log?: RunbookLog;
  /** Text after the last cell (trailing blank lines); kept for a byte-exact round trip. */
  trailing: string;
  /** Line break used when writing new text: the first one found in the file, else `\n`. */
  eol: '\n' | '\r\n';
  problems: Problem[];
}
