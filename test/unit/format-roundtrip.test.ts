// Round-trip properties of the .runbook format: any bytes come back unchanged; any model survives write + read.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { parseRunbook, serializeRunbook, serializeRunbookBytes, type Cell, type Output, type Runbook } from '../../src/format';

const NUM_RUNS = Number(process.env.ROUNDTRIP_RUNS ?? 10000);

// Fragments that exercise every construct the parser must recognise or leave alone.
const fragments = [
  '```', '````', '~~~', '```sql', '```sql {"name":"a"}', '```bash', '```sh {bad', '```text', 'sql', 'select 1;',
  '<!-- runbook:output {"status":"ok"} -->', '<!-- runbook:output {"status":', '<!--', '-->', '<div>', '</div>',
  '- [ ] ', '- [x] ', '* [X] ', '1. [ ] ', '> ', '>', '    ', '  ', '\t', '---', '...', 'title: x', '{', '}', '"', '\\',
  '# ', 'text', 'é', '日本', '😀', '\0', '\uFEFF', '\n', '\n', '\n', '\r\n', '\r', ' ', '`', '~',
  // Hostile files: Object.prototype keys in options and records, line separators and controls.
  '```sql {"__proto__":1,"constructor":{"a":2}}', '<!-- runbook:output {"status":"ok","toString":"\u2028x"} -->',
  '<!-- runbook:output {"status":"ok","m":"a\u2028b"} -->', '\u2028', '\u2029', '\u0085', '\u001b[2J', '\u009b', '\u202e', '\b', '\u007f',
];
const docText = fc.array(fc.constantFrom(...fragments), { maxLength: 60 }).map((xs) => xs.join(''));

describe('format round trip (property)', () => {
  it(`returns the same text for ${NUM_RUNS} generated documents`, () => {
    fc.assert(
      fc.property(docText, (text) => {
        assert.equal(serializeRunbook(parseRunbook(text)), text);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it(`returns the same bytes for ${NUM_RUNS / 2} random byte strings, invalid UTF-8 and NUL included`, () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      docText.chain((t) => fc.uint8Array({ maxLength: 8 }).map((junk) => Buffer.concat([Buffer.from(t), Buffer.from(junk), Buffer.from(t)]))),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        assert.deepEqual(Buffer.from(serializeRunbookBytes(parseRunbook(b))), Buffer.from(b));
      }),
      { numRuns: NUM_RUNS / 2 },
    );
  });

  // Model → text → model: outputs are never mistaken for input, whatever they hold.
  const nasty = fc.array(
    fc.constantFrom('```', '````sql', '~~~', '<!--', '-->', '<!-- runbook:output {"status":"ok"} -->', '- [ ] x', '> q', '    ind', 'a', 'é', '\t', ' ', '`', '\n', '\n', '{"a":1}'),
    { maxLength: 25 },
  ).map((xs) => xs.join(''));
  // Server text in records: line and paragraph separators, NEL, escape sequences, C0/C1 controls, bidi overrides.
  const serverText = fc.array(
    fc.constantFrom('a', ' ', '\u2028', '\u2029', '\u0085', '\u001b[31m', '\u001b]0;t\u0007', '\r', '\n', '\0', '\b', '\u007f', '\u009b', '\u202e', '\u2066', '-->', '--', '>', '"', '\\', 'é', '😀'),
    { maxLength: 20 },
  ).map((xs) => xs.join(''));
  // Keys named like Object.prototype members, kept as own keys (JSON.parse makes `__proto__` one).
  const protoKey = fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype));
  const record = fc.tuple(
    fc.record({ status: fc.constantFrom('ok', 'error', 'cancelled', 'skipped'), ms: fc.nat(), note: nasty, message: serverText }),
    fc.array(fc.tuple(protoKey, serverText), { maxLength: 3 }),
  ).map(([r, extra]) => JSON.parse(JSON.stringify({ ...r, error: { message: r.message, detail: r.message }, ...Object.fromEntries(extra) })) as Output['record']);
  const bodyText = fc.array(fc.constantFrom('\u2028', '\u2029', '\u0085', '\u001b[2J', '\u009b', '\u202e', '\0', '\b'), { maxLength: 4 }).chain((ctrl) => nasty.map((n) => n + ctrl.join('')));
  const output: fc.Arbitrary<Output> = fc.record({ record, body: fc.option(bodyText, { nil: undefined }) }).map((o) => {
    const out: Output = { record: o.record };
    if (o.body !== undefined) out.body = o.body.replace(/\n$/, '');
    return out;
  });
  const code = nasty;
  const options = fc.option(
    fc.tuple(fc.record({ name: fc.string({ maxLength: 8 }), timeout: fc.constantFrom('5s', 1000) }), fc.array(fc.tuple(protoKey, fc.integer()), { maxLength: 3 })).map(
      ([o, extra]) => JSON.parse(JSON.stringify({ ...o, ...Object.fromEntries(extra) })) as Record<string, unknown>,
    ),
    { nil: undefined },
  );
  const codeCell: fc.Arbitrary<Cell> = fc.record({ kind: fc.constantFrom('sql' as const, 'shell' as const), source: code, options, outputs: fc.array(output, { maxLength: 3 }) }).map((c) => ({
    kind: c.kind,
    language: c.kind === 'sql' ? 'sql' : 'bash',
    source: c.source,
    options: c.options ?? {},
    outputs: c.outputs,
  }));
  const markdownCell: fc.Arbitrary<Cell> = fc.constantFrom('# Title', 'Some *text*.', '> quote\n> - [ ] not a checklist', 'Para\nwith two lines', '<!-- a comment -->').map((s) => ({ kind: 'markdown' as const, source: s, options: {}, outputs: [] }));
  const checklistCell: fc.Arbitrary<Cell> = fc.record({ items: fc.array(fc.tuple(fc.boolean(), fc.constantFrom('Window confirmed', 'On-call told', 'Backup ok')), { minLength: 1, maxLength: 4 }), outputs: fc.array(output, { maxLength: 1 }) }).map((c) => ({
    kind: 'checklist' as const,
    source: c.items.map(([done, t]) => `- [${done ? 'x' : ' '}] ${t}`).join('\n'),
    options: {},
    outputs: c.outputs,
  }));

  it(`reads back ${NUM_RUNS / 2} generated models cell for cell`, () => {
    const cells = fc.array(fc.oneof(codeCell, markdownCell, checklistCell), { maxLength: 8 }).filter((cs) => cs.every((c, i) => i === 0 || !(c.kind === cs[i - 1].kind && c.kind !== 'sql' && c.kind !== 'shell' && cs[i - 1].outputs.length === 0)));
    fc.assert(
      fc.property(cells, fc.constantFrom('\n' as const, '\r\n' as const), (cs, eol) => {
        const rb: Runbook = { cells: cs, trailing: '', eol, problems: [] };
        const text = serializeRunbook(rb);
        const back = parseRunbook(text);
        const strip = (c: Cell) => JSON.parse(JSON.stringify({ kind: c.kind, source: c.source, options: c.options, outputs: c.outputs.map((o) => ({ record: o.record, body: o.body })) })) as unknown;
        assert.deepEqual(back.cells.map(strip), cs.map(strip), text);
        assert.equal(serializeRunbook(back), text);
      }),
      { numRuns: NUM_RUNS / 2 },
    );
  });

  // Front matter whose keys are Object.prototype's own names, with values holding separators and controls: read as
  // ordinary keys (never a prototype's member), and written back byte for byte, also after the mapping is rewritten.
  it(`keeps ${NUM_RUNS / 10} front matters keyed like Object.prototype members, byte for byte and as own keys`, () => {
    const yamlValue = fc.array(fc.constantFrom('a', ' ', 'é', '\u2028', '\u2029', '\u0085', '\u001b[2J', '\u009b', '\u202e', '\b', '\u007f'), { minLength: 1, maxLength: 6 }).map((xs) => xs.join(''));
    const entries = fc.uniqueArray(fc.tuple(protoKey, yamlValue), { minLength: 1, maxLength: 6, selector: ([k]) => k });
    fc.assert(
      fc.property(entries, docText, (kv, body) => {
        const data = Object.fromEntries(kv.map(([k, v]) => [k, v]));
        const text = `---\n${kv.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n')}\n---\n\n${body}`;
        const rb = parseRunbook(text);
        assert.equal(serializeRunbook(rb), text);
        const read = rb.frontMatter?.data;
        assert.ok(read, text);
        for (const [k, v] of kv) {
          assert.ok(Object.prototype.hasOwnProperty.call(read, k), `${k} is an own key`);
          assert.equal(read[k], v);
        }
        // Rewritten from the mapping (an edit of the front matter), it reads back the same keys and values.
        rb.frontMatter = { ...rb.frontMatter!, data: { ...data }, dirty: true };
        const again = parseRunbook(serializeRunbook(rb)).frontMatter?.data;
        assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(data)));
      }),
      { numRuns: NUM_RUNS / 10 },
    );
  });
});
