// Behaviour of the .runbook format on each construct, on golden files and on the CommonMark spec examples.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import spec from 'commonmark-spec';
import { cellStartLines, parseRunbook, serializeRunbook, serializeRunbookBytes, type Runbook } from '../../src/format';

const FIXTURES = path.join(__dirname, '../../../test/fixtures');
const summary = (rb: Runbook) => ({
  frontMatter: rb.frontMatter?.data ?? null,
  cells: rb.cells.map((c) => ({ kind: c.kind, language: c.language, options: c.options, source: c.source, outputs: c.outputs })),
  problems: rb.problems,
});

describe('format: golden files', () => {
  for (const name of fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.runbook'))) {
    it(`reads ${name} as its golden summary and writes it back byte for byte`, () => {
      const bytes = fs.readFileSync(path.join(FIXTURES, name));
      const rb = parseRunbook(bytes);
      assert.deepEqual(Buffer.from(serializeRunbookBytes(rb)), bytes);
      const goldenPath = path.join(FIXTURES, name.replace(/\.runbook$/, '.golden.json'));
      const actual = JSON.parse(JSON.stringify(summary(rb))) as unknown;
      if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(goldenPath)) fs.writeFileSync(goldenPath, JSON.stringify(actual, null, 2) + '\n');
      assert.deepEqual(actual, JSON.parse(fs.readFileSync(goldenPath, 'utf8')));
    });
  }
});

describe('format: constructs', () => {
  it('reads front matter, keeping unknown keys and the exact text', () => {
    const text = '---\ntitle: T\nconnection: prod-main\nweird: [1, 2]\n---\n\n# T\n';
    const rb = parseRunbook(text);
    assert.deepEqual(rb.frontMatter?.data, { title: 'T', connection: 'prod-main', weird: [1, 2] });
    assert.equal(serializeRunbook(rb), text);
  });

  it('makes sql, shell, checklist and markdown cells', () => {
    const rb = parseRunbook('# H\n\n```sql\nselect 1;\n```\n\n```bash\necho\n```\n\n```sh\nls\n```\n\n```shell\npwd\n```\n\n- [ ] a\n- [x] b\n\n```python\nx\n```\n');
    assert.deepEqual(rb.cells.map((c) => c.kind), ['markdown', 'sql', 'shell', 'shell', 'shell', 'checklist', 'markdown']);
  });

  it('reads cell options from the info string', () => {
    const rb = parseRunbook('```sql {"name":"add-column","lock_timeout":"3s","ack":["ban-drop-column"]}\nselect 1;\n```\n');
    assert.deepEqual(rb.cells[0].options, { name: 'add-column', lock_timeout: '3s', ack: ['ban-drop-column'] });
    assert.equal(rb.problems.length, 0);
  });

  it('reports unknown cell options and invalid option JSON with the line', () => {
    const rb = parseRunbook('x\n\n```sql {"colour":"red"}\nselect 1;\n```\n\n```sql {nope}\nselect 2;\n```\n');
    assert.deepEqual(rb.problems.map((p) => [p.line, p.code]), [[3, 'unknown-cell-option'], [7, 'invalid-cell-options']]);
  });

  it('attaches output blocks to the cell before them, body included', () => {
    const rb = parseRunbook('```sql\nselect 1;\n```\n\n<!-- runbook:output {"status":"ok","ms":3} -->\n```text\n ?column?\n----------\n        1\n(1 row)\n```\n');
    assert.equal(rb.cells.length, 1);
    assert.deepEqual(rb.cells[0].outputs[0].record, { status: 'ok', ms: 3 });
    assert.equal(rb.cells[0].outputs[0].body, ' ?column?\n----------\n        1\n(1 row)');
  });

  it('never mistakes an output body for input, whatever it holds', () => {
    const body = '```sql\nDROP TABLE users;\n```\n<!-- runbook:output {"status":"ok"} -->\n- [ ] task\n````\n~~~';
    const rb = parseRunbook('```sh\ncat notes.md\n```\n');
    rb.cells[0].outputs.push({ record: { status: 'ok', message: 'a --> b' }, body });
    const text = serializeRunbook(rb);
    const back = parseRunbook(text);
    assert.equal(back.cells.length, 1, text);
    assert.equal(back.cells[0].outputs[0].body, body);
    assert.equal(back.cells[0].outputs[0].record.message, 'a --> b');
    assert.ok(!text.includes('a --> b'), 'the record line must not contain -->');
  });

  it('keeps a malformed output record as Markdown and reports it', () => {
    const rb = parseRunbook('```sql\nselect 1;\n```\n\n<!-- runbook:output {broken -->\n');
    assert.equal(rb.cells[0].outputs.length, 0);
    assert.equal(rb.cells[1].kind, 'markdown');
    assert.deepEqual(rb.problems.map((p) => [p.line, p.code]), [[5, 'malformed-output-record']]);
  });

  it('reports an unterminated fence and does not make it runnable', () => {
    const rb = parseRunbook('# x\n\n```sql\nselect 1;\n');
    assert.ok(rb.cells.every((c) => c.kind === 'markdown'));
    assert.deepEqual(rb.problems.map((p) => [p.line, p.code]), [[3, 'unterminated-fence']]);
  });

  it('leaves fences in list items and block quotes, and task lists in block quotes, as Markdown', () => {
    const rb = parseRunbook('- item\n\n  ```sql\n  select 1;\n  ```\n\n> ```sql\n> select 2;\n> ```\n\n> - [ ] q\n');
    assert.ok(rb.cells.every((c) => c.kind === 'markdown'));
  });

  it('keeps CRLF, tabs, no final newline, ~~~ and longer fences byte for byte', () => {
    for (const t of ['a\r\n\r\n```sql\r\nselect\t1;\r\n```\r\n', '```sql\nselect 1;\n```', '~~~sql\nx\n~~~\n', '`````sql\n```\n`````\n', '\t- [ ] tab\n']) {
      assert.equal(serializeRunbook(parseRunbook(t)), t);
    }
  });

  it('keeps NUL bytes and invalid UTF-8, and reports them', () => {
    const bytes = Buffer.from([0x61, 0x00, 0x0a, 0xff, 0xc3, 0x28, 0x0a]);
    const rb = parseRunbook(bytes);
    assert.deepEqual(Buffer.from(serializeRunbookBytes(rb)), bytes);
    assert.deepEqual(rb.problems.map((p) => p.code).sort(), ['invalid-utf8', 'nul-byte']);
  });

  it('changes only the edited cell when one cell is edited', () => {
    const text = fs.readFileSync(path.join(FIXTURES, 'executed.runbook'), 'utf8');
    const rb = parseRunbook(text);
    const sql = rb.cells.find((c) => c.kind === 'sql')!;
    sql.source = 'ALTER TABLE orders ADD COLUMN status text DEFAULT \'new\';';
    const after = serializeRunbook(rb);
    const a = text.split('\n');
    const b = after.split('\n');
    assert.equal(a.length, b.length);
    const changed = a.map((l, i) => (l === b[i] ? -1 : i)).filter((i) => i >= 0);
    assert.equal(changed.length, 1);
    assert.match(b[changed[0]], /DEFAULT 'new'/);
  });

  it('adds an output by inserting its block only', () => {
    const text = '# T\r\n\r\n```sql\r\nselect 1;\r\n```\r\n\r\nText after.\r\n';
    const rb = parseRunbook(text);
    rb.cells[1].outputs.push({ record: { status: 'ok', ms: 1 }, body: 'SELECT 1' });
    const after = serializeRunbook(rb);
    assert.equal(after, '# T\r\n\r\n```sql\r\nselect 1;\r\n```\r\n\r\n<!-- runbook:output {"status":"ok","ms":1} -->\r\n> Output: **ok** · target not recorded · environment not recorded · 1 ms\r\n```text\r\nSELECT 1\r\n```\r\n\r\nText after.\r\n');
  });

  it('replaces an output without touching its neighbours', () => {
    const text = '```sql\nselect 1;\n```\n\n<!-- runbook:output {"status":"error"} -->\n```text\nERROR\n```\n\n```sql\nselect 2;\n```\n';
    const rb = parseRunbook(text);
    rb.cells[0].outputs = [{ record: { status: 'ok' }, body: 'SELECT 1' }];
    assert.equal(serializeRunbook(rb), text.replace('{"status":"error"} -->', '{"status":"ok"} -->\n> Output: **ok** · target not recorded · environment not recorded').replace('ERROR', 'SELECT 1'));
  });

  it('reads output bodies the same whether they are skipped during parsing or not', () => {
    // Inside an unclosed HTML comment the record and its body are not outputs: the fast path must notice.
    const inComment = '<!--\n```sql\nselect 1;\n```\n<!-- runbook:output {"status":"ok"} -->\n```text\nx\n```\n';
    const rb = parseRunbook(inComment);
    assert.deepEqual(rb.cells.map((c) => c.kind), ['markdown']);
    assert.equal(serializeRunbook(rb), inComment);
    // Inside a list item: not top-level either.
    const inList = '- a\n\n  <!-- runbook:output {"status":"ok"} -->\n  ```text\n  x\n  ```\n';
    assert.deepEqual(parseRunbook(inList).cells.map((c) => c.kind), ['markdown']);
    // Line numbers after a skipped body count its lines.
    const after = '```sql\nselect 1;\n```\n\n<!-- runbook:output {"status":"ok"} -->\n```text\na\nb\nc\n```\n\n```sql {"nope":1}\nselect 2;\n```\n';
    assert.deepEqual(parseRunbook(after).problems.map((p) => p.line), [12]);
  });

  it('writes a new cell after a file without a final newline on its own line', () => {
    const rb = parseRunbook('# T');
    rb.cells.push({ kind: 'sql', language: 'sql', source: 'select 1;', options: { name: 'x' }, outputs: [] });
    assert.equal(serializeRunbook(rb), '# T\n\n```sql {"name":"x"}\nselect 1;\n```\n');
  });
});

describe('format: CommonMark spec examples as Markdown cells', () => {
  const tests = (spec as { tests: { markdown: string; number: number }[] }).tests;
  it(`round-trips all ${tests.length} examples byte for byte`, () => {
    for (const t of tests) {
      const md = t.markdown.replace(/→/g, '\t');
      assert.equal(serializeRunbook(parseRunbook(md)), md, `example ${t.number}`);
      const inDoc = `# Runbook\n\n\`\`\`sql\nselect 1;\n\`\`\`\n\n${md}`;
      assert.equal(serializeRunbook(parseRunbook(inDoc)), inDoc, `example ${t.number} after a cell`);
    }
  });
});

describe('format: where cells start', () => {
  it('gives each cell its first line, counting front matter, outputs and every kind of line break', () => {
    const rb = parseRunbook('---\na: 1\n---\n\n# T\r\n\r\n```sql\rselect 1;\r```\n\n<!-- runbook:output {"status":"ok"} -->\n```text\nx\ny\n```\n\n- [ ] item\n');
    assert.deepEqual(cellStartLines(rb), [5, 7, 17]);
  });
});
