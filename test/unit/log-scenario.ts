// An executed runbook built the way the run loop builds one: four runs (a sandbox rehearsal, a failed production run,
// a refused resume, a resume that commits) whose outputs and log events go through the log API (appendLogEvent, attemptOf).
import { appendLogEvent, attemptOf, parseRunbook, runnableCell, type OutputRecord, type RunRecord, type Runbook, type SpanRecord } from '../../src/format';

/** The runbook before any run: a checklist, a transaction over three cells, a validation query and a health check. */
export const TEMPLATE = `---
title: Add a status column to orders
connection: prod-main
environment: production
estimate: 15m
---

# Add a status column to orders

- [ ] Low-traffic window agreed with the payments team
- [ ] On-call engineer has this file open

\`\`\`sql {"name":"add-column","lock_timeout":"3s"}
ALTER TABLE orders ADD COLUMN status text;
\`\`\`

The backfill and the constraint run in one transaction.

\`\`\`sql {"name":"begin"}
BEGIN;
\`\`\`

\`\`\`sql {"name":"backfill","estimate":"1m"}
UPDATE orders SET status = 'new' WHERE status IS NULL;
\`\`\`

\`\`\`sql {"name":"commit"}
COMMIT;
\`\`\`

\`\`\`sql {"name":"validate"}
SELECT count(*) AS missing FROM orders WHERE status IS NULL;
\`\`\`

\`\`\`bash {"name":"health"}
curl -fsS http://127.0.0.1:8080/health
\`\`\`
`;

const SANDBOX = { connection: 'sandbox', environment: 'sandbox', server: '17.5', database: 'template1' };
const PROD = { connection: 'prod-main', environment: 'production', server: '16.4', database: 'app', system: '7312054813267440921' };

/** A run of the scenario: its start record and a clock that moves forward. */
class Run {
  private t: number;
  constructor(readonly rb: Runbook, readonly run: RunRecord) {
    this.t = Date.parse(run.started);
    appendLogEvent(rb, { e: 'run', run });
  }

  /** ISO time `ms` after the previous step. */
  tick(ms: number): string {
    this.t += ms;
    return new Date(this.t).toISOString();
  }

  /** Writes a cell's output (replacing the earlier attempt's, as the loop does), then logs the attempt. */
  output(n: number, record: OutputRecord, body?: string): OutputRecord {
    const cell = runnableCell(this.rb, n)!;
    const rec: OutputRecord = { ...record, by: this.run.by, connection: this.run.connection, environment: this.run.environment, run: this.run.id };
    cell.outputs = [body === undefined ? { record: rec } : { record: rec, body }];
    appendLogEvent(this.rb, { e: 'attempt', attempt: attemptOf(rec, { number: n, name: cell.options.name as string | undefined }) });
    return rec;
  }

  sql(n: number, ms: number, tag: string, body: string, extra: Partial<OutputRecord> = {}): OutputRecord {
    const started = this.tick(1000);
    const rows = /^(?:SELECT|UPDATE|INSERT 0|DELETE) (\d+)$/.exec(tag);
    const rec = this.output(n, { status: 'ok', started, ms, server: this.run.server, database: this.run.database, statements: [{ tag, ...(rows ? { rows: Number(rows[1]) } : {}), ms, line: 1 }], ...extra }, body);
    this.tick(ms);
    return rec;
  }

  /** Ends a span: writes its fate into the records of its cells (status, span), then logs the span. */
  span(span: SpanRecord, cells: number[], statusFor: (s: string) => string): void {
    for (const n of cells) {
      const out = runnableCell(this.rb, n)!.outputs[0];
      out.record = { ...out.record, status: statusFor(String(out.record.status)), span };
    }
    appendLogEvent(this.rb, { e: 'span', run: this.run.id, span, cells }, { now: () => new Date(this.t) });
  }

  end(status: 'ok' | 'failed' | 'refused', exit: number, reasons?: string[]): void {
    // By each cell's final status (after its span ended), as the loop counts them.
    const counts: Record<string, number> = {};
    for (const c of this.rb.cells) {
      const r = c.outputs[c.outputs.length - 1]?.record;
      if (r?.run === this.run.id) counts[String(r.status)] = (counts[String(r.status)] ?? 0) + 1;
    }
    if (status === 'refused') counts.refused = 1;
    appendLogEvent(this.rb, { e: 'end', end: { run: this.run.id, ended: this.tick(500), status, exit, ...(reasons ? { reasons } : {}), cells: counts } });
  }
}

function tickChecklist(rb: Runbook, ticked: boolean): void {
  const c = runnableCell(rb, 1)!;
  c.source = c.source.replace(/\[[ x]\]/g, ticked ? '[x]' : '[ ]');
}

/** The runs, each a function of the runbook, in order; `build` runs the first `n`. */
const RUNS: ((rb: Runbook) => void)[] = [
  // 1. Rehearsal on the embedded sandbox: everything succeeds.
  (rb) => {
    const r = new Run(rb, { id: '20261127T150002Z-1c9e', command: 'runbook run', flags: ['--confirm-checklists'], by: 'ana', started: '2026-11-27T15:00:02.018Z', ...SANDBOX });
    tickChecklist(rb, true);
    r.output(1, { status: 'ok', started: r.tick(400), items: [{ text: 'Low-traffic window agreed with the payments team', by: 'ana', at: r.tick(0) }, { text: 'On-call engineer has this file open', by: 'ana', at: r.tick(0) }] });
    r.sql(2, 12, 'ALTER TABLE', 'ALTER TABLE');
    r.sql(3, 1, 'BEGIN', 'BEGIN', { span: { from: 3, fate: 'open' } });
    r.sql(4, 85, 'UPDATE 5000', 'UPDATE 5000', { span: { from: 3, fate: 'open' } });
    r.sql(5, 3, 'COMMIT', 'COMMIT');
    r.span({ from: 3, to: 5, fate: 'committed', reason: 'COMMIT in cell 5' }, [3, 4, 5], (s) => s);
    r.sql(6, 4, 'SELECT 1', ' missing\n---------\n       0\n(1 row)');
    r.output(7, { status: 'ok', started: r.tick(300), ms: 41, exit: 0 }, '{"status":"ok"}');
    r.end('ok', 0);
  },
  // 2. Production: the backfill waits for a lock held by a long transaction and times out; the span rolls back.
  (rb) => {
    const r = new Run(rb, { id: '20261128T020041Z-7f3a', command: 'runbook run', flags: ['--confirm-production', 'prod-main'], by: 'oncall-dba', started: '2026-11-28T02:00:41.120Z', ...PROD });
    tickChecklist(rb, true);
    r.output(1, { status: 'ok', started: r.tick(38_000), items: [{ text: 'Low-traffic window agreed with the payments team', by: 'oncall-dba', at: r.tick(0) }, { text: 'On-call engineer has this file open', by: 'oncall-dba', at: r.tick(9000) }] });
    r.sql(2, 1830, 'ALTER TABLE', 'ALTER TABLE', { settings: { lock_timeout: '3s', statement_timeout: '15min' } });
    r.sql(3, 1, 'BEGIN', 'BEGIN', { status: 'uncommitted', span: { from: 3, fate: 'open' } });
    const started = r.tick(2000);
    r.output(4, { status: 'error', started, ms: 185_000, server: PROD.server, database: PROD.database, span: { from: 3, fate: 'open' }, statements: [{ ms: 185_000, line: 1, tx: 'failed' }], error: { message: 'canceling statement due to lock timeout', sqlstate: '55P03', line: 1, statement: 0 }, locks: { available: true, cellWaitedMs: 184_200, peakBlocked: 3 } }, 'ERROR:  canceling statement due to lock timeout\nCONTEXT:  while updating tuple (0,1) in relation "orders"');
    r.tick(185_000);
    r.span({ from: 3, to: 4, fate: 'rolled back', reason: 'cell 4 failed: canceling statement due to lock timeout' }, [3, 4], (s) => (s === 'error' ? s : 'rolled back'));
    for (const n of [5, 6, 7]) r.output(n, { status: 'skipped', started: r.tick(0), reason: 'not run: the run stopped at cell 4' });
    r.end('failed', 1, ['cell 4 (backfill) failed: canceling statement due to lock timeout (SQLSTATE 55P03)']);
  },
  // 3. Resume from cell 3 without acknowledging the backfill's finding: the plan refuses before any statement.
  (rb) => {
    const r = new Run(rb, { id: '20261128T021512Z-b210', command: 'runbook run', flags: ['--from', '3'], by: 'oncall-dba', started: '2026-11-28T02:15:12.440Z', ...PROD });
    r.tick(900);
    appendLogEvent(rb, { e: 'attempt', attempt: { run: r.run.id, cell: 5, name: 'commit', status: 'refused', started: r.tick(0), error: 'production run without --confirm-production prod-main' } });
    r.end('refused', 1, ['production: confirm the target with --confirm-production prod-main (nothing ran)']);
  },
  // 4. Resume from cell 3, confirmed: the transaction commits, validation and health pass.
  (rb) => {
    const r = new Run(rb, { id: '20261128T021845Z-40d7', command: 'runbook run', flags: ['--from', '3', '--confirm-production', 'prod-main'], by: 'oncall-dba', started: '2026-11-28T02:18:45.007Z', ...PROD });
    r.sql(3, 1, 'BEGIN', 'BEGIN', { status: 'uncommitted', span: { from: 3, fate: 'open' } });
    r.sql(4, 4210, 'UPDATE 51234', 'UPDATE 51234', { status: 'uncommitted', span: { from: 3, fate: 'open' }, locks: { available: true, cellWaitedMs: 0, peakBlocked: 1 } });
    r.sql(5, 12, 'COMMIT', 'COMMIT');
    r.span({ from: 3, to: 5, fate: 'committed', reason: 'COMMIT in cell 5', xid: '88123' }, [3, 4, 5], (s) => (s === 'uncommitted' ? 'ok' : s));
    r.sql(6, 38, 'SELECT 1', ' missing\n---------\n       0\n(1 row)');
    r.output(7, { status: 'ok', started: r.tick(500), ms: 63, exit: 0 }, '{"status":"ok","version":"2026.11.3"}');
    r.end('ok', 0);
  },
];

/** The template after the first `runs` runs of the scenario (all four by default), as a model. */
export function buildScenario(runs = RUNS.length, eol: '\n' | '\r\n' = '\n'): Runbook {
  const rb = parseRunbook(eol === '\n' ? TEMPLATE : TEMPLATE.replace(/\n/g, '\r\n'));
  for (const run of RUNS.slice(0, runs)) run(rb);
  return rb;
}
