// A run as a first-class object: id, command and flags, operator, target, start, end and exit status.

import { randomBytes } from 'node:crypto';
import type { RunEndRecord, RunRecord, RunStatus, RunTargetRecord, WindowEndRecord } from '../format';

/** One run of a runbook (a `runbook run`, a Run All or a single cell in VS Code). */
export interface Run {
  /** `20261128T020041Z-7f3a`: the UTC start time to the second and 4 random hex digits; sortable by start. */
  readonly id: string;
  /** `runbook run`, `runbook rehearse`, `vscode` … */
  readonly command: string;
  /** The flags that change what runs, as given; never a password or a URI with one. */
  readonly flags: string[];
  readonly operator: string;
  readonly started: Date;
  /** What it runs against: set once the target is reached (a run refused before that has none). */
  target?: RunTargetRecord;
  /** The advisory lock held on the database for the run (src/run/server-sessions.ts). */
  lock?: { identity: string; key: string };
  /** Session settings in force beyond the timeouts (`client_connection_check_interval`). */
  settings?: Record<string, string>;
  ended?: Date;
  status?: RunStatus;
  exit?: number;
}

/** A new run id for a run starting at `at`. */
export function newRunId(at: Date = new Date()): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Starts a run now. */
export function startRun(command: string, flags: string[], operator: string, at: Date = new Date()): Run {
  return { id: newRunId(at), command, flags: [...flags], operator, started: at };
}

/** The run as its `run` log event records it. */
export function runRecord(run: Run): RunRecord {
  const t = run.target ?? { connection: 'unknown', environment: 'unknown' };
  const r: RunRecord = { id: run.id, command: run.command, by: run.operator, connection: t.connection, environment: t.environment, started: run.started.toISOString() };
  if (run.flags.length) r.flags = run.flags;
  if (t.server) r.server = t.server;
  if (t.database) r.database = t.database;
  if (t.system) r.system = t.system;
  if (run.lock) r.lock = { ...run.lock };
  if (run.settings && Object.keys(run.settings).length) r.settings = { ...run.settings };
  return r;
}

/** The run's `end` log event. */
export function runEndRecord(run: Run, extra: { reasons?: string[]; cells?: Record<string, number>; window?: WindowEndRecord } = {}): RunEndRecord {
  const r: RunEndRecord = { run: run.id, ended: (run.ended ?? new Date()).toISOString(), status: run.status ?? 'failed', exit: run.exit ?? 1 };
  if (extra.reasons?.length) r.reasons = extra.reasons;
  if (extra.cells && Object.keys(extra.cells).length) r.cells = extra.cells;
  if (extra.window) r.window = extra.window;
  return r;
}
