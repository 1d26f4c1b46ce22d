// What a reviewer reads: the log's timeline, issues and duration against the estimate, and the visible line of each output.
import { strict as assert } from 'node:assert';
import MarkdownIt from 'markdown-it';
import { appendLogEvent, attemptOf, parseRunbook, renderLogMarkdown, serializeRunbook, summarizeRuns, type LogEvent } from '../../src/format';
import { buildScenario } from './log-scenario';

const md = new MarkdownIt('commonmark', { html: true });
const runEvent = (id: string, started: string, estimate?: string): LogEvent => ({ e: 'run', run: { id, command: 'runbook run', by: 'ana', started, connection: 'prod-main', environment: 'production', ...(estimate ? { estimate } : {}) } });
const endEvent = (run: string, ended: string): LogEvent => ({ e: 'end', end: { run, ended, status: 'ok', exit: 0 } });

describe('log rendering', () => {
  const text = renderLogMarkdown(buildScenario().log!.events, 'Add a status column to orders');

  it('gives each run a heading with its target, operator, command and estimate, in the order the runs started', () => {
    const headings = text.split('\n').filter((l) => l.startsWith('### '));
    assert.deepEqual(headings, [
      '### Run `20261127T150002Z-1c9e`: `sandbox` (sandbox), 2026-11-27 15:00:02 UTC',
      '### Run `20261128T020041Z-7f3a`: `prod-main` (**production**), 2026-11-28 02:00:41 UTC',
      '### Run `20261128T021512Z-b210`: `prod-main` (**production**), 2026-11-28 02:15:12 UTC',
      '### Run `20261128T021845Z-40d7`: `prod-main` (**production**), 2026-11-28 02:18:45 UTC',
    ]);
    assert.match(text, /- Operator: oncall-dba\n- Target: `prod-main` · \*\*production\*\* · PostgreSQL 16\.4 · database `app` · system identifier `7312054813267440921`\n- Command: `runbook run --confirm-production prod-main`\n- Estimate: 15 min/);
  });

  it('lists every attempt in order with time, cell, status, duration, rows, transaction, lock waits and estimate', () => {
    const failed = text.slice(text.indexOf('20261128T020041Z-7f3a'), text.indexOf('20261128T021512Z-b210'));
    const timeline = failed.split('\n').filter((l) => l.startsWith('- 02:'));
    assert.deepEqual(timeline, [
      '- 02:01:19 UTC · #1 · **ok**',
      '- 02:01:29 UTC · #2 `add-column` · **ok** · 1.8 s',
      '- 02:01:31 UTC · #3 `begin` · **uncommitted** · 1 ms · in transaction from #3',
      '- 02:01:33 UTC · #4 `backfill` · **error**: canceling statement due to lock timeout (SQLSTATE 55P03) · 3 min 5 s · in transaction from #3 · waited 3 min 4 s for locks · 3 sessions waited behind it · **more than twice its estimate of 1 min**',
      '- 02:04:38 UTC · transaction of #3–#4 **rolled back** (cell 4 failed: canceling statement due to lock timeout): the work of #3, #4 is undone',
      '- 02:04:38 UTC · #5 `commit` · **skipped**',
      '- 02:04:38 UTC · #6 `validate` · **skipped**',
      '- 02:04:38 UTC · #7 `health` · **skipped**',
    ]);
  });

  it('names the issues of a run: failures, refusals, rollbacks — and says "none" when there are none', () => {
    const runs = summarizeRuns(buildScenario().log!.events);
    assert.deepEqual(runs.map((r) => r.issues.length), [0, 3, 2, 0]);
    assert.deepEqual(runs[1].issues, [
      '#4 backfill error: canceling statement due to lock timeout (SQLSTATE 55P03)',
      'transaction of #3–#4 rolled back (cell 4 failed: canceling statement due to lock timeout): the work of #3, #4 is undone',
      'failed: cell 4 (backfill) failed: canceling statement due to lock timeout (SQLSTATE 55P03)',
    ]);
    assert.match(runs[2].issues.join('\n'), /refused: production: confirm the target/);
    assert.equal(text.split('**Issues:** none').length - 1, 2);
    assert.match(text, /\*\*Result:\*\* \*\*refused\*\*, exit status 1, ended 2026-11-28 02:15:13 UTC · cells: 1 refused/);
  });

  it('compares each run\'s duration with the estimate, and says when it took more than twice as long', () => {
    const events = [runEvent('a', '2026-11-28T02:00:00.000Z', '15m'), endEvent('a', '2026-11-28T02:12:00.000Z'), runEvent('b', '2026-11-28T03:00:00.000Z', '15m'), endEvent('b', '2026-11-28T03:20:00.000Z'), runEvent('c', '2026-11-28T04:00:00.000Z', '15m'), endEvent('c', '2026-11-28T04:31:00.000Z'), runEvent('d', '2026-11-28T05:00:00.000Z'), endEvent('d', '2026-11-28T05:01:30.000Z')];
    const lines = renderLogMarkdown(events).split('\n').filter((l) => l.startsWith('**Duration:**'));
    assert.deepEqual(lines, [
      '**Duration:** 12 min (estimated 15 min)',
      '**Duration:** 20 min (estimated 15 min): over the estimate',
      '**Duration:** 31 min (estimated 15 min): **more than twice the estimate**, the usual buffer of a migration window',
      '**Duration:** 1 min 30 s (no estimate)',
    ]);
    assert.deepEqual(summarizeRuns(events).map((r) => r.estimate), ['within', 'over', 'twice', undefined]);
  });

  it('says "no cell ran" for a run without attempts, and dates times that fall on another day than the start', () => {
    const events: LogEvent[] = [runEvent('a', '2026-11-28T23:59:50.000Z'), { e: 'attempt', attempt: { run: 'a', cell: 1, status: 'ok', started: '2026-11-29T00:00:03.000Z' } }, endEvent('a', '2026-11-29T00:00:04.000Z'), runEvent('b', '2026-11-29T01:00:00.000Z'), endEvent('b', '2026-11-29T01:00:01.000Z')];
    const out = renderLogMarkdown(events);
    assert.match(out, /^- 2026-11-29 00:00:03 UTC · #1 · \*\*ok\*\*$/m);
    assert.match(out, /\*\*Timeline:\*\* no cell ran\./);
  });

  it('keeps names, errors and reasons on one line and inert, whatever they hold', () => {
    const rb = parseRunbook('```sql\nselect 1;\n```\n');
    appendLogEvent(rb, runEvent('r', '2026-11-28T02:00:00.000Z'));
    appendLogEvent(rb, { e: 'attempt', attempt: { run: 'r', cell: 1, name: 'a`b\n<script>x</script>', status: 'error', error: 'boom -->\n<!-- runbook:event {} -->\u2028# heading *em* [link](http://x)' } });
    appendLogEvent(rb, { e: 'end', end: { run: 'r', ended: '2026-11-28T02:00:01.000Z', status: 'failed', exit: 1, reasons: ['line\nbreak'] } });
    const file = serializeRunbook(rb);
    const back = parseRunbook(file);
    assert.deepEqual(back.problems, []);
    assert.equal(back.log?.events.length, 3);
    const html = md.render(file.slice(file.indexOf('<!-- runbook:log -->')));
    assert.equal((file.match(/^ *<!-- runbook:event .* -->$/gm) ?? []).length, 3, 'each event stays one line');
    const visible = html.replace(/<!-- runbook:(?:event .*? )?(?:log )?-->\n/g, '');
    assert.ok(!visible.includes('<!--'), visible);
    assert.ok(!visible.includes('<script>'), visible);
    assert.ok(!/<h1|<em>|<a /.test(visible), visible);
  });

  it('puts what a killed run left, settled as the next run starts, under its own heading, with the settled fates counted', () => {
    const dead = '20261128T020041Z-7f3a';
    const next = '20261128T021512Z-b210';
    const open = { from: 1, fate: 'open' as const };
    const events: LogEvent[] = [
      runEvent(dead, '2026-11-28T02:00:41.000Z'),
      { e: 'attempt', attempt: { run: dead, cell: 1, status: 'uncommitted', started: '2026-11-28T02:00:42.000Z', span: open } },
      { e: 'attempt', attempt: { run: dead, cell: 2, status: 'uncommitted', started: '2026-11-28T02:00:43.000Z', span: open } },
      runEvent(next, '2026-11-28T02:15:12.000Z'),
      { e: 'attempt', attempt: { run: dead, cell: 3, status: 'unknown', started: '2026-11-28T02:00:44.000Z' } },
      { e: 'span', run: dead, span: { from: 1, fate: 'rolled back', reason: 'the run died' }, cells: [1, 2], at: '2026-11-28T02:15:13.000Z' },
      { e: 'end', end: { run: dead, ended: '2026-11-28T02:00:44.000Z', status: 'interrupted', reasons: ['the run never recorded its end'] } },
      { e: 'attempt', attempt: { run: next, cell: 1, status: 'ok', started: '2026-11-28T02:15:14.000Z' } },
      endEvent(next, '2026-11-28T02:15:15.000Z'),
    ];
    const out = renderLogMarkdown(events);
    const second = out.slice(out.indexOf(`### Run \`${next}\``));
    const settled = second.indexOf('**Settled at the start of this run**');
    const timeline = second.indexOf('**Timeline:**');
    assert.ok(settled > 0 && timeline > settled, out);
    assert.match(second.slice(settled, timeline), /run `20261128T020041Z-7f3a` · #3 · \*\*unknown\*\*/);
    assert.match(second.slice(settled, timeline), /run `20261128T020041Z-7f3a` · transaction of #1 \*\*rolled back\*\*/);
    // The interrupted run's cells are counted as their transaction ended, and the rollback is its issue, not the next run's.
    // It was killed: what it exited with and when it died are not known, only when it was last seen.
    assert.match(out, /\*\*interrupted\*\*, exit status unknown \(its end was never recorded\), last seen 2026-11-28 02:00:44 UTC · cells: 2 rolled back, 1 unknown/);
    assert.match(out, /\*\*Duration:\*\* at least 3\.0 s \(to when it was last seen\) \(no estimate\)/);
    // An older file's interrupted end, written with exit 1, still reads and renders as written.
    const older = renderLogMarkdown(events.map((e) => (e.e === 'end' && e.end.status === 'interrupted' ? { ...e, end: { ...e.end, exit: 1 } } : e)));
    assert.match(older, /\*\*interrupted\*\*, exit status 1, ended 2026-11-28 02:00:44 UTC/);
    assert.match(second.slice(timeline), /\*\*Issues:\*\* none/);
    assert.equal(summarizeRuns(events)[0].issues.filter((i) => i.includes('rolled back')).length, 1);
  });

  it('renders each run\'s timeline as one list on GitHub, event lines hidden inside its items', () => {
    const file = serializeRunbook(buildScenario());
    const html = md.render(file.slice(file.indexOf('<!-- runbook:log -->')));
    assert.equal((html.match(/<ul>/g) ?? []).length, 4 * 2 + 2, 'per run: details and timeline lists, plus the two issue lists');
    assert.equal((html.match(/<h3>/g) ?? []).length, 4);
    assert.ok(!/runbook:event/.test(html.replace(/<!--[\s\S]*?-->/g, '')), 'no event JSON is visible');
  });

  it('summarizes an output record as an attempt', () => {
    const a = attemptOf({ status: 'error', run: 'r', started: '2026-11-28T02:00:00.000Z', ms: 12, ack: 'changing-column-type', statements: [{ tag: 'UPDATE 3', rows: 3 }, { tag: 'SET' }, { tag: 'DELETE 2', rows: 2 }], error: { message: 'deadlock detected\nDETAIL: …', sqlstate: '40P01' }, locks: { cellWaitedMs: 900, peakBlocked: 2 }, retries: 1, span: { from: 2, fate: 'open' } }, { number: 4, name: 'move' });
    assert.deepEqual(a, { run: 'r', cell: 4, name: 'move', status: 'error', started: '2026-11-28T02:00:00.000Z', ms: 12, rows: 5, span: { from: 2, fate: 'open' }, ack: ['changing-column-type'], error: 'deadlock detected (SQLSTATE 40P01)', waitedMs: 900, blocked: 2, retries: 1 });
    assert.deepEqual(attemptOf({ status: 'error', exit: 3, run: 'r' }, { number: 1 }), { run: 'r', cell: 1, status: 'error', error: 'exit status 3', exit: 3 });
  });
});

describe('visible outputs', () => {
  const body = '```sql\nDROP TABLE users;\n```\n<!-- runbook:output {"status":"ok"} -->\n> Output: **ok**';
  const withOutput = (environment: string) => {
    const rb = parseRunbook('```sql\nselect 1;\n```\n');
    rb.cells[0].outputs.push({ record: { status: 'ok', started: '2026-11-28T02:08:03.512Z', ms: 1830, connection: environment === 'production' ? 'prod-main' : 'sandbox', environment, run: '20261128T020041Z-7f3a' }, body });
    return serializeRunbook(rb);
  };

  it('shows status, time, target and environment in text a Markdown viewer displays', () => {
    const prod = withOutput('production');
    assert.match(prod, /^> Output: \*\*ok\*\* · 2026-11-28 02:08:03 UTC · `prod-main` · \*\*production\*\* · 1\.8 s · run `20261128T020041Z-7f3a`$/m);
    const html = md.render(prod);
    assert.match(html, /<blockquote>\n<p>Output: <strong>ok<\/strong> · 2026-11-28 02:08:03 UTC · <code>prod-main<\/code> · <strong>production<\/strong>/);
    assert.match(md.render(withOutput('sandbox')), /<code>sandbox<\/code> · sandbox ·/);
  });

  it('reads the body back unchanged, whatever it holds, and the visible line never as input', () => {
    const text = withOutput('production');
    const rb = parseRunbook(text);
    assert.deepEqual(rb.problems, []);
    assert.equal(rb.cells.length, 1);
    assert.equal(rb.cells[0].outputs[0].body, body);
    assert.equal(serializeRunbook(rb), text);
  });

  it('reports a visible line edited by hand, keeps it, and rewrites it with the output', () => {
    const text = withOutput('production').replace('**production**', 'sandbox');
    const rb = parseRunbook(text);
    assert.deepEqual(rb.problems.map((p) => [p.code, p.line]), [['output-summary-edited', 6]]);
    assert.equal(serializeRunbook(rb), text);
    rb.cells[0].outputs[0].record = { ...rb.cells[0].outputs[0].record, ms: 1831 };
    assert.match(serializeRunbook(rb), /`prod-main` · \*\*production\*\* · 1\.8 s/);
  });

  it('changes one line more than before in a diff when an output is replaced', () => {
    const a = withOutput('production').split('\n');
    const b = withOutput('production').replace('"ms":1830', '"ms":2500').replace('1.8 s', '2.5 s').split('\n');
    assert.equal(a.filter((l, i) => l !== b[i]).length, 2, 'the record line and the visible line under it');
  });
});
