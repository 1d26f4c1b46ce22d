// Shapes shared by the migration-safety linter: findings, the cells it reads and the context it runs in.

import type { Client } from 'pg';
import type { CellKind, CellOptions } from '../format/model';

/**
 * How bad a finding is.
 * - `error`: the statement will fail (e.g. SQLSTATE 25001, 55P04), or it blocks reads or writes of an
 *   existing table for a time that grows with the table (scan, rewrite, index build under a lock that
 *   conflicts with writes). `runbook lint` exits 1 and `runbook run` on a production connection stops
 *   unless the cell acknowledges the rule.
 * - `warning`: dangerous in some situations (breaks clients, waits without a lock_timeout, several
 *   tables locked at once).
 * - `info`: robustness or style advice.
 */
export type Severity = 'error' | 'warning' | 'info';

/** Size of an existing table on the connection, from the catalog. */
export interface TableSize {
  /** Name as written in the statement (schema-qualified when it was). */
  name: string;
  /** `pg_class.reltuples` (the planner's estimate); null when the table was never vacuumed or analyzed. */
  rows: number | null;
  /** `pg_total_relation_size()`: heap, indexes and TOAST, bytes. */
  bytes: number;
}

/** One problem found in a runbook before it runs. */
export interface Finding {
  /** squawk's rule id (https://squawkhq.com/docs/rules) or one of ours (docs/safety.md). */
  rule: string;
  severity: Severity;
  /** Why the statement is dangerous. */
  message: string;
  /** The safe rewrite. */
  help: string;
  /** 0-based index of the cell in the runbook (all cells, not only SQL cells). */
  cell: number;
  /** 1-based number among the runbook's runnable cells (as `runbook run --dry-run` prints it); absent for a .sql file. */
  cellNumber?: number;
  /** 0-based index of the statement in the cell; -1 when the cell could not be split into statements. */
  statement: number;
  /** 1-based line in the cell where the finding points. */
  line: number;
  /** 1-based line in the file, when the cell's position in the file is known. */
  fileLine?: number;
  /** The statement's text (trimmed), for reports. */
  sql?: string;
  /** The existing table the finding is about, with its size when a connection was given. */
  table?: TableSize;
  /** Who made the finding: squawk, or the runbook-level analysis (needs cells in order or a connection). */
  source: 'squawk' | 'runbook';
  /** True when the cell's options acknowledge the rule: `{"ack": ["rule-id"]}`. */
  acknowledged?: boolean;
  /** The file, for `lintFiles`. */
  file?: string;
}

/** A cell as the linter needs it (a subset of the format model's `Cell`). */
export interface LintCell {
  kind: CellKind;
  source: string;
  options: CellOptions;
  /** 1-based line in the file where the cell's code starts (the line after the opening fence), if known. */
  fileLine?: number;
}

/**
 * A connection for catalog reads: an open client, or a function that runs a query function on one (so a connection
 * is opened only when a query is needed: `MonitorConnection.use` in src/safety/monitor.ts).
 */
export type CatalogConnection = Client | (<T>(fn: (client: Client) => Promise<T>) => Promise<T>);

/** A connection profile's timeout defaults (PostgreSQL interval text, `0` = off; undefined = none known). */
export interface TimeoutDefaults {
  lockTimeoutDefault?: string;
  statementTimeoutDefault?: string;
}

/** What the linter knows about where the runbook will run. */
export interface LintContext {
  /** Server version as PostgreSQL reports it (`server_version`, e.g. `16.4`); sets squawk's `--pg-version`
   *  and the version-dependent rules. Unknown: assume a current server. */
  serverVersion?: string;
  /** A connection to read table sizes and existing objects from (constraints, and whether the tables of
   *  `CREATE TABLE … IF NOT EXISTS` are already there); only catalog reads are sent, and only when there is
   *  something to ask. */
  client?: CatalogConnection;
  /** The connection profile's `lock_timeout` default (PostgreSQL interval text, `0` = off). */
  lockTimeoutDefault?: string;
  /** The connection profile's `statement_timeout` default (PostgreSQL interval text, `0` = off). */
  statementTimeoutDefault?: string;
  /** Transaction state of the session before the first cell (e.g. when linting from the middle of a run). */
  initialTxState?: 'idle' | 'in transaction' | 'failed';
  /** Path of the squawk binary; default: the one from the `squawk-cli` package. */
  squawkPath?: string;
  /**
   * For `lintFiles`: each file's timeout defaults, from the connection its front matter names (`runbook lint`
   * without `--connection`: src/cli/lint.ts `lintDefaultsFor`). What it returns replaces `lockTimeoutDefault` and
   * `statementTimeoutDefault` for that file; undefined keeps them.
   */
  fileDefaults?: (file: string, frontMatterConnection: string | undefined) => Promise<TimeoutDefaults | undefined>;
  /** Rows (`pg_class.reltuples`) from which a table counts as large for the planner check; default 100,000
   *  (`LARGE_TABLE_ROWS` in src/sql/planner.ts). */
  largeTableRows?: number;
  /**
   * Told what the lint could not read from the connection and why, in words (`runbook lint` prints it to stderr as
   * a note): e.g. table sizes not read because a session holds ACCESS EXCLUSIVE on the table, naming it.
   */
  note?: (text: string) => void;
}
