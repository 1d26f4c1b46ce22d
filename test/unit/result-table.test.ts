// Unit tests: result tables look like psql's aligned output (expected texts captured from psql 15/18).

import * as assert from 'assert';
import { formatTable, displayWidth, ResultColumn } from '../../src/engines/result-table';

const INT4 = 23;
const NUMERIC = 1700;
const TEXT = 25;

function col(name: string, typeOid = TEXT): ResultColumn {
  return { name, typeOid };
}

describe('formatTable', () => {
  it('centres headers, right-aligns numbers and shows NULL as empty, like psql', () => {
    // psql -X -c "select 1 as a, 'xyz' as bb, null::text as c, 12.5::numeric as n, 'x' as last"
    const text = formatTable([col('a', INT4), col('bb'), col('c'), col('n', NUMERIC), col('last')], [['1', 'xyz', null, '12.5', 'x']]);
    assert.strictEqual(text, [' a | bb  | c |  n   | last ', '---+-----+---+------+------', ' 1 | xyz |   | 12.5 | x', '(1 row)'].join('\n'));
  });

  it('continues multi-line values with + and counts wide characters as two columns', () => {
    const text = formatTable(
      [col('longer_name'), col('num', INT4), col('ml'), col('wide')],
      [
        ['ab', '5', 'a\nbc\nd', '日本'],
        ['abcdefghijklmnop', '12345', 'x', 'e'],
      ],
    );
    assert.strictEqual(
      text,
      [
        '   longer_name    |  num  | ml | wide ',
        '------------------+-------+----+------',
        ' ab               |     5 | a +| 日本',
        '                  |       | bc+| ',
        '                  |       | d  | ',
        ' abcdefghijklmnop | 12345 | x  | e',
        '(2 rows)',
      ].join('\n'),
    );
  });

  it('pads a multi-line last column before its + marker', () => {
    const text = formatTable(
      [col('n', INT4), col('last')],
      [
        ['1', 'ab\nc'],
        ['100', 'long text'],
      ],
    );
    assert.strictEqual(text, ['  n  |   last    ', '-----+-----------', '   1 | ab       +', '     | c', ' 100 | long text', '(2 rows)'].join('\n'));
  });

  it('expands tabs and shows carriage returns as psql does', () => {
    const text = formatTable([col('t'), col('cr'), col('z')], [['a\tb', 'x\ry', 'z']]);
    assert.strictEqual(text, ['     t     |  cr  | z ', '-----------+------+---', ' a       b | x\\ry | z', '(1 row)'].join('\n'));
  });

  it('prints multi-line headers and duplicate column names', () => {
    assert.strictEqual(
      formatTable([col('multi\nheader'), col('x', INT4)], [['a', '1']]),
      [' multi +| x ', ' header |   ', '--------+---', ' a      | 1', '(1 row)'].join('\n'),
    );
    assert.strictEqual(formatTable([col('a', INT4), col('a', INT4)], [['1', '2']]), [' a | a ', '---+---', ' 1 | 2', '(1 row)'].join('\n'));
  });

  it('prints an empty result and a result without columns', () => {
    assert.strictEqual(formatTable([col('x')], []), [' x ', '---', '(0 rows)'].join('\n'));
    assert.strictEqual(formatTable([], [[]]), ['--', '(1 row)'].join('\n'));
  });

  it('says how many rows were counted but not kept, and counts them in the footer', () => {
    const rows = [['1'], ['2']];
    const text = formatTable([col('generate_series', INT4)], rows, { totalRows: 5_000_000 });
    assert.strictEqual(
      text,
      [' generate_series ', '-----------------', '               1', '               2', '(… 4,999,998 more rows not kept)', '(5000000 rows)'].join('\n'),
    );
  });

  it('measures display width of wide, combining and emoji characters', () => {
    assert.strictEqual(displayWidth('abc'), 3);
    assert.strictEqual(displayWidth('日本'), 4);
    assert.strictEqual(displayWidth('e\u0301'), 1);
    assert.strictEqual(displayWidth('😀'), 2);
  });
});
