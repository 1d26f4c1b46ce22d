// Unit tests of the renderer's table reading and copying: psql-aligned text back to rows, rows to CSV/Markdown.
import * as assert from 'assert';
import { formatTable } from '../../src/engines/result-table';
import { parseAlignedBody, toCsv, toMarkdown, type Table } from '../../src/renderer/table';

const INT4 = 23;
const TEXT = 25;

function onlyTable(body: string): Table {
  const parts = parseAlignedBody(body);
  const tables = parts.filter((p) => p.kind === 'table');
  assert.strictEqual(tables.length, 1, `one table in ${JSON.stringify(body)}`);
  return (tables[0] as { table: Table }).table;
}

describe('renderer tables', () => {
  it('reads back the rows of a table the engine formatted', () => {
    const body = formatTable([{ name: 'id', typeOid: INT4 }, { name: 'name', typeOid: TEXT }], [['1', 'alice'], ['22', 'a | b'], ['3', '']]);
    const t = onlyTable(body);
    assert.deepStrictEqual(t.columns, ['id', 'name']);
    assert.deepStrictEqual(t.rows, [['1', 'alice'], ['22', 'a | b'], ['3', '']]);
    assert.strictEqual(t.total, 3);
    assert.strictEqual(t.nullsKnown, false);
    assert.deepStrictEqual(t.numeric, [true, false], 'a column of numbers is shown right-aligned');
  });

  it('joins multi-line values continued with psql wrap marks', () => {
    const body = formatTable([{ name: 'a', typeOid: TEXT }, { name: 'b', typeOid: TEXT }], [['one\ntwo', 'x'], ['y', 'last\nline+']]);
    assert.deepStrictEqual(onlyTable(body).rows, [['one\ntwo', 'x'], ['y', 'last\nline+']]);
  });

  it('keeps a value ending in + in the last column', () => {
    const body = formatTable([{ name: 'a', typeOid: TEXT }, { name: 'b', typeOid: TEXT }], [['x', 'c++'], ['longer value', 'c']]);
    assert.deepStrictEqual(onlyTable(body).rows, [['x', 'c++'], ['longer value', 'c']]);
  });

  it('counts rows not kept from the footer', () => {
    const body = formatTable([{ name: 'n', typeOid: INT4 }], [['1'], ['2']], { totalRows: 1_000_000 });
    const t = onlyTable(body);
    assert.deepStrictEqual(t.rows, [['1'], ['2']]);
    assert.strictEqual(t.total, 1_000_000);
  });

  it('lines up wide characters by display width', () => {
    const body = formatTable([{ name: 'city', typeOid: TEXT }, { name: 'n', typeOid: INT4 }], [['東京', '1'], ['Zürich', '22']]);
    assert.deepStrictEqual(onlyTable(body).rows, [['東京', '1'], ['Zürich', '22']]);
  });

  it('keeps text around tables as text parts', () => {
    const table = formatTable([{ name: 'x', typeOid: INT4 }], [['1']]);
    const parts = parseAlignedBody(`BEGIN\n${table}\nCOMMIT`);
    assert.deepStrictEqual(parts.map((p) => p.kind), ['text', 'table', 'text']);
    assert.deepStrictEqual(parts[0], { kind: 'text', text: 'BEGIN' });
    assert.deepStrictEqual(parts[2], { kind: 'text', text: 'COMMIT' });
  });

  it('writes CSV with quoting and NULL as an empty field', () => {
    const t: Table = { columns: ['a', 'b'], rows: [['x,y', null], ['say "hi"', 'line\nbreak']], nullsKnown: true };
    assert.strictEqual(toCsv(t), 'a,b\r\n"x,y",\r\n"say ""hi""","line\nbreak"\r\n');
  });

  it('writes Markdown with NULL distinct from an empty string and pipes escaped', () => {
    const t: Table = { columns: ['a', 'b'], rows: [['', null], ['x|y', 'two\nlines']], nullsKnown: true };
    assert.strictEqual(toMarkdown(t), '| a | b |\n| --- | --- |\n|  | *NULL* |\n| x\\|y | two<br>lines |\n');
  });
});
