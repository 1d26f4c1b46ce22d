// The log section of a .runbook file: where it starts, that it round-trips byte for byte, and that events appended read back.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { appendLogEvent, LogPlacementError, parseRunbook, serializeRunbook, type LogEvent, type Runbook } from '../../src/format';
import { buildScenario, TEMPLATE } from './log-scenario';

const NUM_RUNS = Number(process.env.ROUNDTRIP_RUNS ?? 10000) / 10;
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));
const run = (id: string, extra: Record<string, unknown> = {}): LogEvent => ({ e: 'run', run: { id, command: 'runbook run', by: 'ana', started: '2026-11-28T02:00:00.000Z', connection: 'sandbox', environment: 'sandbox', ...extra } });
const logCodes = (rb: Runbook): string[] => rb.problems.filter((p) => /log/.test(p.code)).map((p) => p.code);

describe('log section: reading and writing', () => {
  it('writes a generated log after the cells and reads back the same events and bytes', () => {
    const rb = buildScenario();
    const text = serializeRunbook(rb);
    assert.ok(text.startsWith(TEMPLATE.replace(/- \[ \]/g, '- [x]').split('```sql')[0]), 'the text before the first cell is unchanged');
    const back = parseRunbook(text);
    assert.deepEqual(back.problems, []);
    assert.equal(back.log?.events.length, 31);
    assert.deepEqual(plain(back.log?.events), plain(rb.log?.events));
    assert.equal(serializeRunbook(back), text);
    assert.equal(back.cells.filter((c) => c.kind !== 'markdown').length, 7, 'the log is not read as cells');
    assert.equal(back.cells[back.cells.length - 1].kind, 'shell', 'the last cell is the health check, not the log');
  });

  it('keeps a hand-written log byte for byte, reading its events and reporting what does not match them', () => {
    const text = '# T\n\n```sql\nselect 1;\n```\n\n<!-- runbook:log -->\n## My own words about the log\n\n<!-- runbook:event {"e":"run","run":{"id":"r1","command":"runbook run","by":"ana","started":"2026-11-28T02:00:00.000Z","connection":"sandbox"}} -->\n\nsome notes\n';
    const rb = parseRunbook(text);
    assert.equal(serializeRunbook(rb), text);
    assert.equal(rb.log?.events.length, 1);
    assert.deepEqual(logCodes(rb), ['log-text-edited']);
    assert.equal(rb.problems[0].line, 8, 'the first line that differs from the rendering');
    assert.equal(rb.cells.length, 2);
  });

  it('keeps a malformed event line byte for byte and reports it with its line', () => {
    const rb = buildScenario(1);
    const text = serializeRunbook(rb);
    const lines = text.split('\n');
    const k = lines.findIndex((l) => l.includes('"e":"attempt"'));
    lines[k] = lines[k].replace('{"e":"attempt"', '{"e":"attempt",');
    const broken = lines.join('\n');
    const back = parseRunbook(broken);
    assert.equal(serializeRunbook(back), broken);
    const p = back.problems.find((x) => x.code === 'malformed-log-event');
    assert.ok(p, JSON.stringify(back.problems));
    assert.equal(p.line, k + 1);
    assert.equal(p.severity, 'error');
    assert.equal(back.log?.events.length, (rb.log?.events.length ?? 0) - 1, 'the other events are still read');
  });

  it('appends new events after the text it read, leaving that text unchanged', () => {
    const text = serializeRunbook(buildScenario(2));
    const rb = parseRunbook(text);
    appendLogEvent(rb, run('20261128T030000Z-aaaa', { connection: 'prod-main', environment: 'production' }));
    const after = serializeRunbook(rb);
    assert.ok(after.startsWith(text));
    const back = parseRunbook(after);
    assert.deepEqual(back.problems, []);
    assert.equal(back.log?.events.length, (rb.log?.events.length ?? 0));
    assert.equal(back.log?.events[back.log.events.length - 1].prev, rb.log?.events[rb.log.events.length - 2].h, 'the new event chains to the last one read');
  });

  it('writes the log with the file\'s CRLF line breaks and after a last line without one', () => {
    const crlf = parseRunbook('# T\r\n\r\n```sql\r\nselect 1;\r\n```');
    appendLogEvent(crlf, run('r1'));
    const text = serializeRunbook(crlf);
    assert.ok(text.startsWith('# T\r\n\r\n```sql\r\nselect 1;\r\n```\r\n\r\n<!-- runbook:log -->\r\n'));
    assert.ok(!/[^\r]\n/.test(text), 'every line break is CRLF');
    const back = parseRunbook(text);
    assert.deepEqual(back.problems, []);
    assert.equal(serializeRunbook(back), text);
    assert.equal(back.cells.length, 2);
  });

  it('does not take a marker line inside a fence, an output body or the front matter for the log', () => {
    const doc = '---\nx: |\n  <!-- runbook:log -->\n---\n\n````markdown\n<!-- runbook:log -->\n````\n\n```bash\necho\n```\n\n<!-- runbook:output {"status":"ok"} -->\n```text\n<!-- runbook:log -->\n```\n\n```sql\nselect 1;\n```\n';
    const rb = parseRunbook(doc);
    assert.equal(rb.log, undefined);
    assert.deepEqual(rb.cells.map((c) => c.kind), ['markdown', 'shell', 'sql']);
    assert.equal(serializeRunbook(rb), doc);
    appendLogEvent(rb, run('r1'));
    const back = parseRunbook(serializeRunbook(rb));
    assert.equal(back.log?.events.length, 1);
    assert.deepEqual(back.cells.map((c) => c.kind), ['markdown', 'shell', 'sql']);
  });

  it('refuses to add a log after text that leaves a block open, changing nothing', () => {
    for (const doc of ['# T\n\n```sql\nselect 1;\n', '# T\n\n<!--\nnot closed\n', '<pre>\nx\n']) {
      const rb = parseRunbook(doc);
      assert.throws(() => appendLogEvent(rb, run('r1')), LogPlacementError, doc);
      assert.equal(rb.log, undefined);
      assert.equal(serializeRunbook(rb), doc);
    }
    const edited = parseRunbook('- [ ] Window confirmed\n');
    edited.cells[0].source = '- [ ] Window confirmed\n<pre>'; // as typed into a checklist cell in VS Code
    assert.throws(() => appendLogEvent(edited, run('r1')), LogPlacementError);
  });

  it('reports text after the last event, and keeps it', () => {
    const text = serializeRunbook(buildScenario(1)) + '\nA note someone added at the end.\n';
    const rb = parseRunbook(text);
    assert.equal(serializeRunbook(rb), text);
    assert.deepEqual(logCodes(rb), ['log-text-edited']);
    assert.match(rb.problems[0].message, /after the migration log's last event/);
  });

  // Appending events to any document: the text before the log keeps its bytes, the events read back.
  const fragments = [
    '```', '````', '~~~', '```sql', '```sql {"name":"a"}', '```bash', 'select 1;', '<!-- runbook:output {"status":"ok"} -->', '> Output: **ok**',
    '<!--', '-->', '<div>', '<pre>', '- [ ] ', '- [x] ', '> ', '    ', '---', 'title: x', '# ', 'text', 'é', '\0', '\uFEFF', '\n', '\n', '\n', '\r\n', '\r', ' ', '`',
    '<!-- runbook:log -->', '<!-- runbook:event {"e":"run"} -->', '  <!-- runbook:event', 'estimate: 15m',
  ];
  const doc = fc.array(fc.constantFrom(...fragments), { maxLength: 50 }).map((xs) => xs.join(''));
  const nasty = fc.array(fc.constantFrom('-->', '<!-- runbook:event {} -->', '<!-- runbook:log -->', '\n', '\r\n', '\u2028', '`', '**', '<b>', '&amp;', 'é', '😀', 'a', ' ', '\\', '"'), { maxLength: 8 }).map((xs) => xs.join(''));
  const event: fc.Arbitrary<LogEvent> = fc.oneof(
    fc.record({ id: nasty, by: nasty, connection: nasty, flags: fc.array(nasty, { maxLength: 2 }) }).map((r) => run(r.id, { by: r.by, connection: r.connection, flags: r.flags })),
    fc.record({ run: nasty, cell: fc.nat(9), name: nasty, status: fc.oneof(fc.constantFrom('ok', 'error', 'skipped'), nasty), error: nasty, ms: fc.nat() }).map((a) => ({ e: 'attempt' as const, attempt: { run: a.run, cell: a.cell, name: a.name, status: a.status, error: a.error, ms: a.ms, started: '2026-11-28T02:00:01.000Z' } })),
    fc.record({ run: nasty, from: fc.nat(9), fate: fc.constantFrom('committed' as const, 'rolled back' as const, 'unknown' as const), reason: nasty }).map((s) => ({ e: 'span' as const, run: s.run, span: { from: s.from, fate: s.fate, reason: s.reason }, cells: [s.from], at: '2026-11-28T02:00:02.000Z' })),
    fc.record({ run: nasty, status: fc.constantFrom('ok' as const, 'failed' as const, 'refused' as const), reasons: fc.array(nasty, { maxLength: 2 }) }).map((n) => ({ e: 'end' as const, end: { run: n.run, ended: '2026-11-28T02:10:00.000Z', status: n.status, exit: n.status === 'ok' ? 0 : 1, reasons: n.reasons } })),
  );

  it(`appends events to ${NUM_RUNS} generated documents: same bytes before the log, same events after reading back`, function () {
    this.timeout(120_000);
    fc.assert(
      fc.property(doc, fc.array(event, { minLength: 1, maxLength: 6 }), (text, events) => {
        const rb = parseRunbook(text);
        const before = rb.log?.events.length ?? 0;
        const problemsBefore = logCodes(rb);
        try {
          for (const e of events) appendLogEvent(rb, e);
        } catch (e) {
          assert.ok(e instanceof LogPlacementError, String(e));
          assert.equal(serializeRunbook(rb), text);
          return;
        }
        const out = serializeRunbook(rb);
        assert.ok(out.startsWith(text), 'the text before the appended events is unchanged');
        const back = parseRunbook(out);
        assert.equal(serializeRunbook(back), out);
        assert.deepEqual(plain(back.log?.events.slice(before)), plain(rb.log?.events.slice(before)));
        assert.equal(back.cells.length, rb.cells.length, 'the cells are the same');
        if (before === 0 && problemsBefore.length === 0) assert.deepEqual(logCodes(back), [], 'a log the tool wrote reads back without problems');
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
