// `runbook check FILE...`: parse each file, report problems with line numbers, prove the byte-stable round trip.

import { readFileBytes } from './read-file';
import { parseRunbook, serializeRunbookBytes, type Runbook } from '../format';
import { journalWarning } from './journal-warning';
import { redact } from '../connections/redact';
import { terminalLines } from './terminal-text';

/** What `check` found in one file. */
export interface CheckResult {
  file: string;
  /** false when serialize(parse(file)) would differ from the file. */
  roundTrip: boolean;
  /** 1-based line of the first differing byte when `roundTrip` is false. */
  firstDifferentLine?: number;
  runbook?: Runbook;
  /** Set when the file could not be read at all (missing, a directory, no permission). */
  readError?: string;
}

/** Checks one file. Never throws: an unreadable file is reported in `readError`. */
export function checkFile(file: string): CheckResult {
  const read = readFileBytes(file);
  if ('error' in read) return { file, roundTrip: false, readError: read.error };
  const bytes = read.bytes;
  const runbook = parseRunbook(bytes);
  const back = Buffer.from(serializeRunbookBytes(runbook));
  if (back.equals(bytes)) return { file, roundTrip: true, runbook };
  let i = 0;
  while (i < bytes.length && i < back.length && bytes[i] === back[i]) i++;
  let line = 1;
  for (let k = 0; k < i; k++) if (bytes[k] === 0x0a) line++;
  return { file, roundTrip: false, firstDifferentLine: line, runbook };
}

/** One-line summary: `12 cells (4 markdown, 5 sql, 2 shell, 1 checklist), 3 outputs`. */
export function summarize(rb: Runbook): string {
  const count = { markdown: 0, sql: 0, shell: 0, checklist: 0 };
  let outputs = 0;
  for (const c of rb.cells) {
    count[c.kind]++;
    outputs += c.outputs.length;
  }
  const kinds = (Object.keys(count) as (keyof typeof count)[]).filter((k) => count[k] > 0).map((k) => `${count[k]} ${k}`);
  return `${rb.cells.length} cell${rb.cells.length === 1 ? '' : 's'}${kinds.length ? ` (${kinds.join(', ')})` : ''}, ${outputs} output${outputs === 1 ? '' : 's'}`;
}

/**
 * Runs `check` over files and prints to the given streams. What is printed quotes the file (names,
 * option keys, parse errors holding a piece of a record): it goes through {@link terminalLines}, so
 * control characters in the file cannot drive the terminal, and through the redaction patterns, so a
 * password a file holds is not copied into a CI log.
 * @returns the process exit status: 0 all good, 1 a round trip would change a byte, a file is
 *   unreadable, or (with `strict`) a file has an error-level problem.
 */
export function runCheck(files: string[], opts: { strict?: boolean; quiet?: boolean }, printOut: (s: string) => void, printErr: (s: string) => void): number {
  const out = (s: string): void => printOut(terminalLines(redact(s), '    '));
  const err = (s: string): void => printErr(terminalLines(redact(s), '    '));
  let status = 0;
  for (const file of files) {
    const r = checkFile(file);
    if (r.readError) {
      err(`${file}: cannot read: ${r.readError}`);
      status = 1;
      continue;
    }
    const rb = r.runbook!;
    for (const p of rb.problems) err(`${file}:${p.line}: ${p.severity}: ${p.message} [${p.code}]`);
    const notice = journalWarning(file, rb);
    if (notice) err(`${file}: warning: ${notice}`);
    const errors = rb.problems.filter((p) => p.severity === 'error').length;
    const warnings = rb.problems.length - errors;
    if (!r.roundTrip) {
      err(`${file}:${r.firstDifferentLine}: error: writing this file back would change its bytes from here on (please report this as a bug)`);
      status = 1;
    }
    if (opts.strict && errors > 0) status = 1;
    if (!opts.quiet || status !== 0) {
      const verdict = !r.roundTrip ? 'FAILED round trip' : errors ? `${errors} error${errors > 1 ? 's' : ''}` : warnings ? `${warnings} warning${warnings > 1 ? 's' : ''}` : 'ok';
      out(`${file}: ${summarize(rb)} — ${verdict}`);
    }
  }
  return status;
}
