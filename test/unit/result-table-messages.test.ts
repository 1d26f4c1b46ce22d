// Unit tests: errors and notices read as psql prints them (expected texts captured from psql 15 against PostgreSQL 18).

import * as assert from 'assert';
import { formatNotice, formatServerError, positionExcerpt } from '../../src/engines/postgres-messages';

function at(text: string, word: string): { text: string; offset: number } {
  return { text, offset: text.indexOf(word) };
}

describe('psql-style messages', () => {
  it('prints an error with LINE and a caret under the position', () => {
    const sql = 'SELECT 1;\nSELECT id,\n       nosuch\n  FROM t;';
    assert.equal(
      formatServerError({ severity: 'ERROR', message: 'column "nosuch" does not exist' }, at(sql, 'nosuch')),
      ['ERROR:  column "nosuch" does not exist', 'LINE 3:        nosuch', '               ^'].join('\n'),
    );
  });

  it('cuts a long line on the right when the position is near its start', () => {
    const sql = 'SELECT 1, nosuch, aaaaaaaaaa, bbbbbbbbbbbbbbb, cccccccccccccccccc, dddddddddddddddd, eeeeeeeeeeeeeeeeee, ffffffffffffff FROM pg_class';
    assert.deepEqual(positionExcerpt(sql, sql.indexOf('nosuch')), [
      'LINE 1: SELECT 1, nosuch, aaaaaaaaaa, bbbbbbbbbbbbbbb, ccccccccccccc...',
      '                  ^',
    ]);
  });

  it('cuts a long line on both sides when the position is far into it', () => {
    const sql =
      'SELECT 1 AS aaaaaaaaaa, 2 AS bbbbbbbbbbbbbbb, 3 AS cccccccccccccccccc, 4 AS dddddddddddddddd, 5 AS eeeeeeeeeeeeeeeeeeeeeee, 6 AS ffffffffffffffffffff, nosuch, 7 AS f, 8 AS ggggggggggggggggggggggggggggggggggggggg';
    assert.deepEqual(positionExcerpt(sql, sql.indexOf('nosuch')), [
      'LINE 1: ...eeeeeeeeeeeeeeeeeeeee, 6 AS ffffffffffffffffffff, nosuch, 7 ...',
      '                                                             ^',
    ]);
  });

  it('shows DETAIL, HINT, QUERY and CONTEXT in psql order', () => {
    const text = formatServerError({
      severity: 'ERROR',
      message: 'column "nosuch" does not exist',
      internalQuery: 'SELECT nosuch',
      internalPosition: '8',
      where: 'PL/pgSQL function inline_code_block line 1 at PERFORM',
    });
    assert.equal(
      text,
      [
        'ERROR:  column "nosuch" does not exist',
        'LINE 1: SELECT nosuch',
        '               ^',
        'QUERY:  SELECT nosuch',
        'CONTEXT:  PL/pgSQL function inline_code_block line 1 at PERFORM',
      ].join('\n'),
    );
    assert.equal(
      formatServerError({ severity: 'ERROR', message: 'duplicate key value violates unique constraint "t_pkey"', detail: 'Key (id)=(1) already exists.', hint: 'Pick another id.' }),
      ['ERROR:  duplicate key value violates unique constraint "t_pkey"', 'DETAIL:  Key (id)=(1) already exists.', 'HINT:  Pick another id.'].join('\n'),
    );
  });

  it('prints notices with their severity, detail and hint', () => {
    assert.equal(formatNotice({ severity: 'WARNING', message: 'balance missing', hint: 'backfill it' }), 'WARNING:  balance missing\nHINT:  backfill it');
  });

  it('keeps the caret under the position after CRLF line breaks and wide characters', () => {
    const sql = "SELECT '日本',\r\n  nosuch;";
    assert.deepEqual(positionExcerpt(sql, sql.indexOf('nosuch')), ['LINE 2:   nosuch;', '          ^']);
    const wide = "SELECT '日本', nosuch";
    assert.deepEqual(positionExcerpt(wide, wide.indexOf('nosuch')), ["LINE 1: SELECT '日本', nosuch", `${' '.repeat(23)}^`]);
  });
});
