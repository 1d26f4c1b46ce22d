// Migration log benchmarks: `runbook verify` of a 20 MB executed file against the format parse of it, and the cost
// of logging 1,000 one-statement cells' attempts with the hash chain against recording their outputs without a log.

import { appendLogEvent, attemptOf, parseRunbook, serializeRunbook, verifyRunbook, type OutputRecord, type Runbook } from '../src/format';
import { generateRunbook, timeMs, type BenchResult } from './format';


const RUN = { id: '20261128T020041Z-7f3a', command: 'runbook run', by: 'bench', started: '2026-11-28T02:00:41.120Z', connection: 'bench', environment: 'staging' };

/** The format benchmark's 20 MB runbook, executed: each output names the run, and the log has its attempts. */
export function executedRunbook(): string {
  const rb = parseRunbook(generateRunbook(5000, 20 * 1024 * 1024));
  appendLogEvent(rb, { e: 'run', run: RUN });
  let n = 0;
  for (const c of rb.cells) {
    if (c.kind === 'markdown') continue;
    n++;
    if (c.outputs.length === 0) c.outputs.push({ record: { status: 'ok', started: RUN.started } });
    const out = c.outputs[c.outputs.length - 1];
    out.record = { ...out.record, by: RUN.by, connection: RUN.connection, environment: RUN.environment, run: RUN.id };
    appendLogEvent(rb, { e: 'attempt', attempt: attemptOf(out.record, { number: n }) });
  }
  appendLogEvent(rb, { e: 'end', end: { run: RUN.id, ended: '2026-11-28T02:10:00.000Z', status: 'ok', exit: 0 } });
  return serializeRunbook(rb);
}

/** `runbook verify`'s work (parse + verify) on a 20 MB executed file, against parsing it (target ≤ 2.0). */
export function benchVerify(runs = 5): BenchResult {
  const text = executedRunbook();
  const first = verifyRunbook(parseRunbook(text));
  if (first.breaks.length > 0 || first.outputsChecked < 3000) throw new Error(`verify benchmark: the executed file does not verify (${first.breaks[0]?.message ?? `${first.outputsChecked} outputs`})`);
  parseRunbook(text);
  const ours = timeMs(() => verifyRunbook(parseRunbook(text)), runs);
  const base = timeMs(() => parseRunbook(text), runs);
  return {
    name: 'log: runbook verify (parse + chain + every output) vs format parse, 20 MB executed file',
    ratio: ours / base,
    target: 2.0,
    details: { bytes: Buffer.byteLength(text), events: first.events, outputs: first.outputsChecked, verify_ms: Math.round(ours), parse_ms: Math.round(base) },
  };
}

const CELLS = 1000;
const TEMPLATE = Array.from({ length: CELLS }, (_, i) => `\`\`\`sql\nINSERT INTO t VALUES (${i});\n\`\`\`\n`).join('\n');

/** What the run loop does to the model for each cell: write its output; with the log, also log the attempt. */
function record(withLog: boolean): string {
  const rb: Runbook = parseRunbook(TEMPLATE);
  if (withLog) appendLogEvent(rb, { e: 'run', run: RUN });
  rb.cells.forEach((c, i) => {
    const rec: OutputRecord = { status: 'ok', started: RUN.started, ms: 1, by: RUN.by, connection: RUN.connection, environment: RUN.environment, run: RUN.id, statements: [{ tag: 'INSERT 0 1', rows: 1, ms: 1, line: 1, tx: 'idle' }] };
    c.outputs = [{ record: rec, body: 'INSERT 0 1' }];
    if (withLog) appendLogEvent(rb, { e: 'attempt', attempt: attemptOf(rec, { number: i + 1 }) });
  });
  if (withLog) appendLogEvent(rb, { e: 'end', end: { run: RUN.id, ended: '2026-11-28T02:00:42.000Z', status: 'ok', exit: 0 } });
  return serializeRunbook(rb);
}

/**
 * Logging 1,000 one-statement cells (attempts, chain, rendering, the final write) against recording their
 * outputs without a log, in the model only: the format-level part of the run loop's 10% budget. `per_cell_us`
 * is the added cost per cell, to set against the loop's whole per-cell cost (docs/benchmarks.md).
 */
export function benchAppend(runs = 9): BenchResult {
  const withLog = record(true);
  if (parseRunbook(withLog).log?.events.length !== CELLS + 2) throw new Error('append benchmark: the log does not read back');
  record(false);
  const ours = timeMs(() => record(true), runs);
  const base = timeMs(() => record(false), runs);
  return {
    name: 'log: 1,000 one-statement cells recorded with the log and chain vs without (model and final write only)',
    ratio: ours / base,
    target: 1.5,
    details: { with_log_ms: ours.toFixed(1), without_ms: base.toFixed(1), per_cell_us: Math.round(((ours - base) * 1000) / CELLS) },
  };
}
