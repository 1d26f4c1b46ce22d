// Summaries of a run for CI systems, built from the migration log's events: `--report json FILE` and `--report junit FILE`.

import { summarizeRuns, type AttemptRecord, type LogEvent, type RunRecord, type RunSummary, type SpanRecord } from '../format';

/** Which run a report is about, and under what name. */
export interface ReportOptions {
  /** The runbook file, as the report names it. */
  file: string;
  /** Run id; default: the last run in the events. */
  run?: string;
}

/** A cell attempt in a report, with the status its span's end gave it. */
export interface ReportAttempt extends AttemptRecord {
  /** The attempt's status after the span it was in ended: `rolled back` or `unknown` replace `ok` / `uncommitted`; a commit makes `uncommitted` `ok`. */
  final: string;
}

/** The JSON report (`--report json FILE`). Versioned by `format`. */
export interface JsonReport {
  format: 1;
  file: string;
  /** The run's record; only `id` when the log lacks the run's start event. */
  run: Partial<RunRecord> & { id: string };
  /** The run's end; absent when the log has none (the run was interrupted, or is still going). */
  end?: RunSummary['end'];
  /** True when the run ended `ok` and no attempt's final status is a failure. */
  passed: boolean;
  durationMs?: number;
  estimateMs?: number;
  estimate?: RunSummary['estimate'];
  attempts: ReportAttempt[];
  spans: RunSummary['spans'];
  issues: string[];
}

/** Statuses a CI system counts as passed (`uncommitted` is not: the work was never committed). */
const PASSED = new Set(['ok']);

function pickRun(events: readonly LogEvent[], opts: ReportOptions): RunSummary {
  const runs = summarizeRuns(events);
  const r = opts.run === undefined ? runs[runs.length - 1] : runs.find((x) => x.id === opts.run);
  if (!r) throw new Error(opts.run === undefined ? `${opts.file}: the migration log has no run to report` : `${opts.file}: the migration log has no run ${opts.run}`);
  return r;
}

/** Each attempt's status once the spans of its run that ended later are taken into account. */
function finalAttempts(events: readonly LogEvent[], run: string): ReportAttempt[] {
  const out: ReportAttempt[] = [];
  for (const e of events) {
    if (e.e === 'attempt' && e.attempt.run === run) out.push({ ...e.attempt, final: e.attempt.status });
    if (e.e !== 'span' || e.run !== run) continue;
    for (const a of out) {
      if (!e.cells.includes(a.cell)) continue;
      if ((e.span.fate === 'rolled back' || e.span.fate === 'unknown') && (a.final === 'ok' || a.final === 'uncommitted')) a.final = e.span.fate;
      else if (e.span.fate === 'committed' && a.final === 'uncommitted') a.final = 'ok';
    }
  }
  return out;
}

/**
 * The JSON report of one run: its record, end, duration against the estimate, every attempt with its
 * final status, spans and issues.
 * @throws Error when the events hold no such run
 */
export function buildJsonReport(events: readonly LogEvent[], opts: ReportOptions): JsonReport {
  const r = pickRun(events, opts);
  const attempts = finalAttempts(events, r.id);
  const passed = r.end?.status === 'ok' && attempts.every((a) => PASSED.has(a.final) || a.final === 'skipped');
  const report: JsonReport = { format: 1, file: opts.file, run: { ...r.run, id: r.id }, passed, attempts, spans: r.spans, issues: r.issues };
  if (r.end) report.end = r.end;
  if (r.durationMs !== undefined) report.durationMs = r.durationMs;
  if (r.estimateMs !== undefined) report.estimateMs = r.estimateMs;
  if (r.estimate !== undefined) report.estimate = r.estimate;
  return report;
}

// XML 1.0 allows tab, LF, CR and U+0020 upwards except surrogates and U+FFFE/U+FFFF (XML 1.0, 2.2 "Characters").
// eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Text escaped for an XML attribute or element; characters XML cannot hold become U+FFFD. */
export function xmlText(s: string): string {
  return s.replace(NOT_XML, '\ufffd').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const seconds = (ms: number | undefined): string => ((ms ?? 0) / 1000).toFixed(3);

function testcase(file: string, a: ReportAttempt): string {
  const name = xmlText(`#${a.cell}${a.name ? ` ${a.name}` : ''}`);
  const open = `    <testcase name="${name}" classname="${xmlText(file)}" time="${seconds(a.ms)}"`;
  if (a.final === 'skipped') return `${open}>\n      <skipped/>\n    </testcase>`;
  if (PASSED.has(a.final)) return `${open}/>`;
  const message = a.final !== a.status ? `${a.status}, then ${a.final} with its transaction` : a.error ? `${a.status}: ${a.error}` : a.status;
  const span = a.span as SpanRecord | undefined;
  const detail = [a.error, span?.reason, a.started ? `started ${a.started}` : undefined].filter((x) => x).join('\n');
  return `${open}>\n      <failure type="${xmlText(a.final)}" message="${xmlText(message)}">${xmlText(detail)}</failure>\n    </testcase>`;
}

/**
 * The JUnit XML report of one run (the schema Jenkins, GitLab and GitHub test reporters read): one
 * `testsuite` for the runbook, one `testcase` per cell attempt (failed when its final status is not
 * `ok`, skipped when `skipped`), and a `run` testcase that fails when the run itself did not end `ok`
 * without a failed attempt to show for it (a refused run, an interrupted one).
 * @throws Error when the events hold no such run
 */
export function buildJunitReport(events: readonly LogEvent[], opts: ReportOptions): string {
  const j = buildJsonReport(events, opts);
  const cases = j.attempts.map((a) => testcase(opts.file, a));
  let failures = j.attempts.filter((a) => !PASSED.has(a.final) && a.final !== 'skipped').length;
  const skipped = j.attempts.filter((a) => a.final === 'skipped').length;
  if (!j.passed && failures === 0) {
    const why = j.end ? `${j.end.status}, exit status ${j.end.exit ?? 'unknown (its end was never recorded)'}` : 'the run has no end in the log (interrupted)';
    const reasons = (j.end?.reasons ?? []).join('\n');
    cases.push(`    <testcase name="run" classname="${xmlText(opts.file)}" time="${seconds(j.durationMs)}">\n      <failure type="${xmlText(j.end?.status ?? 'interrupted')}" message="${xmlText(why)}">${xmlText(reasons)}</failure>\n    </testcase>`);
    failures = 1;
  }
  const tests = cases.length;
  const props = [['run', j.run.id], ['connection', j.run.connection], ['environment', j.run.environment], ['operator', j.run.by], ['command', [j.run.command, ...(j.run.flags ?? [])].join(' ')]]
    .filter((p): p is [string, string] => typeof p[1] === 'string')
    .map(([k, v]) => `      <property name="${k}" value="${xmlText(v)}"/>`);
  const suite = `  <testsuite name="${xmlText(opts.file)}" tests="${tests}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(j.durationMs)}" timestamp="${xmlText(j.run.started ?? '')}" hostname="${xmlText(j.run.connection ?? '')}">`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="runbook" tests="${tests}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(j.durationMs)}">`,
    suite,
    '    <properties>',
    ...props,
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
