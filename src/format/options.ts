// Cell options on a fence's info string: ```sql {"name":"add-column","lock_timeout":"3s"} — one JSON object after the language.

import type { CellKind, CellOptions } from './model';
import { parseEstimate } from './estimate';

/** Languages (first word of the info string, case-insensitive) that make a fence a SQL cell. */
export const SQL_LANGUAGES: ReadonlySet<string> = new Set(['sql']);
/** Languages that make a fence a shell cell (run with bash). */
export const SHELL_LANGUAGES: ReadonlySet<string> = new Set(['sh', 'bash', 'shell']);

/** Documented cell options (docs/format.md, "Cell options"), with the kinds they apply to. */
export const KNOWN_OPTIONS: Readonly<Record<string, { kinds: readonly CellKind[]; type: string; doc: string }>> = {
  name: { kinds: ['sql', 'shell', 'checklist'], type: 'string', doc: 'Cell name, used by --from/--only and in logs.' },
  timeout: { kinds: ['sql', 'shell'], type: 'string|number', doc: 'SQL: statement_timeout for this cell; shell: the process is killed after it. "30s", "5min" or ms.' },
  lock_timeout: { kinds: ['sql'], type: 'string|number', doc: 'lock_timeout for this cell, overriding the connection profile.' },
  autocommit: { kinds: ['sql'], type: 'boolean', doc: 'false: the cell runs in one transaction (BEGIN … COMMIT, ROLLBACK on error).' },
  rollback: { kinds: ['sql', 'shell', 'checklist'], type: 'boolean', doc: 'The cell belongs to the rollback section: skipped by `runbook run`, run by `--rollback` and rehearsals.' },
  ack: { kinds: ['sql'], type: 'string[]', doc: 'Safety rule ids acknowledged for this cell; recorded in its output.' },
  max_rows: { kinds: ['sql'], type: 'number', doc: 'Rows kept per statement in the output (the rest are counted).' },
  skip: { kinds: ['sql', 'shell', 'checklist'], type: 'boolean', doc: 'Never run this cell; its output records status "skipped".' },
  estimate: { kinds: ['sql', 'shell', 'checklist'], type: 'duration', doc: 'Expected duration of the cell ("90s", "15m", "1h30m"); the migration log compares each attempt with it.' },
  retry: { kinds: ['sql'], type: 'retry', doc: 'Retry on lock_timeout (SQLSTATE 55P03): {"attempts":N} (1–20, the first try included), optional "backoff" (first wait, default 500ms) and "max_delay" (longest wait, default 10s); jittered exponential backoff (docs/run.md).' },
  batch: { kinds: ['sql'], type: 'batch', doc: 'Run the cell\'s one UPDATE or DELETE again and again, each time in its own transaction, until it affects 0 rows: true, or {"pause":"100ms","max":N,"rows":TOTAL} (docs/run.md).' },
  expect: { kinds: ['sql'], type: 'expectation', doc: 'What the last statement must return: {"rows":N}, {"max":N}, {"empty":true} or {"value":V}; unmet, the cell fails and the run stops.' },
  on_error: { kinds: ['sql', 'shell'], type: 'on_error', doc: '"continue": a failure is recorded and the run goes on (inside a transaction the cell runs under a SAVEPOINT); "stop" (default).' },
  rehearsal: { kinds: ['sql', 'shell'], type: 'rehearsal', doc: 'true: rehearsal-only cell (data an application would write), run by `runbook rehearse` between the up-steps and the rollback, never by `runbook run`. "setup": an up-step that provides what the sandbox lacks (a table production has): run by every run, and by a rehearsal once, before its first schema snapshot.' },
};
/**
 * Why an `expect` option value is not an expectation, or undefined when it is one.
 * Used by the options registry so that a misspelt expectation stops the run before it starts.
 */
export function expectationProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'must be an object such as {"rows":0} or {"value":"t"}';
  const keys = Object.keys(value);
  if (keys.length !== 1) return `must have exactly one of rows, max, empty, value (got ${keys.length ? keys.join(', ') : 'none'})`;
  const [k] = keys;
  const v = (value as Record<string, unknown>)[k];
  switch (k) {
    case 'rows':
    case 'max':
      return Number.isInteger(v) && (v as number) >= 0 ? undefined : `${k} must be a whole number of rows, 0 or more`;
    case 'empty':
      return v === true ? undefined : 'empty must be true';
    case 'value':
      return v === null || ['string', 'number', 'boolean'].includes(typeof v) ? undefined : 'value must be a string, number, boolean or null';
    default:
      return `unknown expectation ${JSON.stringify(k)} (known: rows, max, empty, value)`;
  }
}


/** A `retry` option as written, checked: `{"attempts":N,"backoff":"500ms","max_delay":"10s"}`. */
export interface RetryOptionValue {
  /** Tries in all, the first included: 1–{@link MAX_RETRY_ATTEMPTS}. */
  attempts: number;
  /** First wait, a duration (`"500ms"`, `"2s"` or ms). */
  backoff?: string | number;
  /** Longest wait, a duration. */
  max_delay?: string | number;
}

/** A `batch` option as written, checked: `true` or `{"pause":"100ms","max":N,"rows":TOTAL}`. */
export interface BatchOptionValue {
  /** Wait between two batches, a duration. */
  pause?: string | number;
  /** At most this many batches (a whole number ≥ 1). */
  max?: number;
  /** Rows the whole backfill will touch, for the ETA (else the planner's estimate). */
  rows?: number;
}

/** The most tries a `retry` option may ask for (a bound, so a typo cannot retry for hours). */
export const MAX_RETRY_ATTEMPTS = 20;
/** The longest `max_delay` (and `backoff`) a `retry` option may ask for, ms (5 min). */
export const MAX_RETRY_DELAY_MS = 300_000;

const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/;
const DURATION_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** ms of a duration written as a number of ms or PostgreSQL-style text (`"500ms"`, `"2s"`, `"1min"`); undefined when it is not one. */
export function optionDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = DURATION.exec(value);
  return m ? Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms'] : undefined;
}

/** Why a `retry` value is wrong (one message each), empty when it is right. Shape: {@link RetryOptionValue}. */
export function retryOptionProblems(value: unknown): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return ['must be an object such as {"attempts":3}'];
  const v = value as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(v)) if (!['attempts', 'backoff', 'max_delay'].includes(k)) out.push(`unknown key ${JSON.stringify(k)} (known: attempts, backoff, max_delay)`);
  if (!Number.isInteger(v.attempts) || (v.attempts as number) < 1 || (v.attempts as number) > MAX_RETRY_ATTEMPTS) out.push(`"attempts" must be a whole number from 1 to ${MAX_RETRY_ATTEMPTS} (tries in all, the first included), got ${JSON.stringify(v.attempts)}`);
  for (const k of ['backoff', 'max_delay'] as const) {
    if (v[k] === undefined) continue;
    const ms = optionDurationMs(v[k]);
    if (ms === undefined) out.push(`"${k}" must be a duration such as "500ms", "2s" or a number of ms, got ${JSON.stringify(v[k])}`);
    else if (ms > MAX_RETRY_DELAY_MS) out.push(`"${k}" may be at most 5min, got ${JSON.stringify(v[k])}`);
  }
  return out;
}

/** Why a `batch` value is wrong, empty when it is right. Shape: `true` or {@link BatchOptionValue}. */
export function batchOptionProblems(value: unknown): string[] {
  if (value === true) return [];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return ['must be true or an object such as {"pause":"100ms","max":1000,"rows":5000000}'];
  const v = value as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(v)) if (!['pause', 'max', 'rows'].includes(k)) out.push(`unknown key ${JSON.stringify(k)} (known: pause, max, rows)`);
  if (v.pause !== undefined && optionDurationMs(v.pause) === undefined) out.push(`"pause" must be a duration such as "100ms", got ${JSON.stringify(v.pause)}`);
  if (v.max !== undefined && (!Number.isInteger(v.max) || (v.max as number) < 1)) out.push(`"max" must be a whole number of batches ≥ 1, got ${JSON.stringify(v.max)}`);
  if (v.rows !== undefined && (!Number.isInteger(v.rows) || (v.rows as number) < 0)) out.push(`"rows" must be a whole number of rows ≥ 0, got ${JSON.stringify(v.rows)}`);
  return out;
}

/**
 * The documented option named `key`, or undefined. An own-property lookup: `KNOWN_OPTIONS[key]` would
 * find `Object.prototype` members for keys such as `constructor`, `toString` or `__proto__`.
 */
export function knownOption(key: string): (typeof KNOWN_OPTIONS)[string] | undefined {
  return Object.hasOwn(KNOWN_OPTIONS, key) ? KNOWN_OPTIONS[key] : undefined;
}

/** Result of reading an info string. */
export interface InfoString {
  /** Language word as written (e.g. `sql`, `Bash`). Empty for a fence without an info string. */
  language: string;
  options: CellOptions;
  /** Why the options could not be read, when they could not (the text after the language is kept raw). */
  error?: string;
}

/** The kind of cell a fence language makes, or 'markdown' for any other fenced block. */
export function kindOfLanguage(language: string): CellKind {
  const l = language.toLowerCase();
  if (SQL_LANGUAGES.has(l)) return 'sql';
  if (SHELL_LANGUAGES.has(l)) return 'shell';
  return 'markdown';
}

/** Splits an info string (`sql {"name":"x"}`) into its language and options. Never throws. */
export function parseInfoString(info: string): InfoString {
  const trimmed = info.trim();
  const m = /^(\S*?)(?=\s|\{|$)\s*(.*)$/s.exec(trimmed);
  const language = m ? m[1] : trimmed;
  const rest = m ? m[2].trim() : '';
  if (rest === '') return { language, options: {} };
  if (!rest.startsWith('{')) return { language, options: {}, error: `text after the language is not a JSON object of options: ${rest}` };
  try {
    const value: unknown = JSON.parse(rest);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { language, options: {}, error: 'cell options must be one JSON object' };
    }
    return { language, options: value as CellOptions };
  } catch (e) {
    return { language, options: {}, error: `cell options are not valid JSON (${(e as Error).message})` };
  }
}

/**
 * Writes the info string for a language and options: `sql` or `sql {"name":"x"}`. A backtick may not
 * appear in the info string of a backtick fence (CommonMark spec 4.5), so it is written `\u0060`.
 */
export function renderInfoString(language: string, options: CellOptions): string {
  return Object.keys(options).length === 0 ? language : `${language} ${JSON.stringify(options).replace(/`/g, '\\u0060')}`;
}

/** Problems with options that parse but are not documented (`unknown-cell-option`) or have the wrong type (`invalid-cell-options`). */
export function checkOptions(kind: CellKind, options: CellOptions): { code: 'unknown-cell-option' | 'invalid-cell-options'; message: string }[] {
  const out: { code: 'unknown-cell-option' | 'invalid-cell-options'; message: string }[] = [];
  for (const [key, value] of Object.entries(options)) {
    const known = knownOption(key);
    if (!known) {
      out.push({ code: 'unknown-cell-option', message: `unknown cell option ${JSON.stringify(key)} (known: ${Object.keys(KNOWN_OPTIONS).join(', ')})` });
      continue;
    }
    if (!known.kinds.includes(kind)) out.push({ code: 'invalid-cell-options', message: `cell option ${JSON.stringify(key)} does not apply to ${kind} cells` });
    if (known.type === 'retry' || known.type === 'batch') {
      for (const m of known.type === 'retry' ? retryOptionProblems(value) : batchOptionProblems(value)) out.push({ code: 'invalid-cell-options', message: `cell option "${key}": ${m}` });
      continue;
    }
    if (known.type === 'expectation') {
      const problem = expectationProblem(value);
      if (problem) out.push({ code: 'invalid-cell-options', message: `cell option "expect" ${problem}` });
      continue;
    }
    if (known.type === 'duration') {
      const e = parseEstimate(value);
      if (!e.ok) out.push({ code: 'invalid-cell-options', message: `cell option "${key}": ${e.error}` });
      continue;
    }
    const ok =
      known.type === 'string' ? typeof value === 'string'
      : known.type === 'boolean' ? typeof value === 'boolean'
      : known.type === 'number' ? typeof value === 'number' && Number.isFinite(value)
      : known.type === 'string|number' ? typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))
      : known.type === 'on_error' ? value === 'continue' || value === 'stop'
      : known.type === 'rehearsal' ? typeof value === 'boolean' || value === 'setup'
      : known.type === 'string[]' ? Array.isArray(value) && value.every((v) => typeof v === 'string')
      : true;
    if (!ok) out.push({ code: 'invalid-cell-options', message: `cell option ${JSON.stringify(key)} must be ${known.type}, got ${JSON.stringify(value)}` });
  }
  return out;
}
