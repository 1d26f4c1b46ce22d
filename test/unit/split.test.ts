// Unit tests: splitting SQL cells into statements with the PostgreSQL parser (offsets, lines, errors).

import * as assert from 'assert';
import { initSqlParser, splitStatements, splitStatementsSync, statementPositionToOffset, SqlStatement } from '../../src/sql/split';

function split(sql: string): SqlStatement[] {
  const r = splitStatementsSync(sql);
  if (!r.ok) assert.fail(`unexpected split error: ${r.error.message}`);
  return r.statements;
}

function kinds(statements: SqlStatement[]): string[] {
  return statements.map((s) => Object.keys(s.stmt)[0]);
}

describe('splitStatements', () => {
  before(async () => {
    await initSqlParser();
  });

  it('splits a cell into statements with their text, offsets and lines', () => {
    const sql = 'CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n\nSELECT * FROM t;\n';
    const s = split(sql);
    assert.deepStrictEqual(
      s.map((x) => [x.text, x.line, x.endLine]),
      [
        ['CREATE TABLE t (id int)', 1, 1],
        ['INSERT INTO t VALUES (1)', 2, 2],
        ['SELECT * FROM t', 4, 4],
      ],
    );
    for (const x of s) assert.strictEqual(sql.slice(x.start, x.end), x.text);
    assert.deepStrictEqual(kinds(s), ['CreateStmt', 'InsertStmt', 'SelectStmt']);
  });

  it('keeps semicolons inside dollar-quoted bodies, DO blocks and CREATE FUNCTION', () => {
    const sql = [
      'DO $$',
      'BEGIN',
      "  RAISE NOTICE 'one; two';",
      'END $$;',
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$',
      'BEGIN',
      '  PERFORM 1; RETURN 2;',
      'END',
      '$body$;',
      'SELECT f();',
    ].join('\n');
    const s = split(sql);
    assert.deepStrictEqual(kinds(s), ['DoStmt', 'CreateFunctionStmt', 'SelectStmt']);
    assert.deepStrictEqual(
      s.map((x) => [x.line, x.endLine]),
      [
        [1, 4],
        [5, 9],
        [10, 10],
      ],
    );
    assert.ok(s[0].text.endsWith('END $$'));
    assert.ok(s[1].text.endsWith('$body$'));
  });

  it('keeps semicolons inside a BEGIN ATOMIC body as one statement', () => {
    const s = split('CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT 3');
    assert.deepStrictEqual(kinds(s), ['CreateFunctionStmt', 'SelectStmt']);
    assert.strictEqual(s[1].text, 'SELECT 3');
  });

  it("handles E'' strings with escaped quotes and semicolons", () => {
    const s = split("SELECT E'it\\'s; here';SELECT 'a''b;c'");
    assert.deepStrictEqual(
      s.map((x) => x.text),
      ["SELECT E'it\\'s; here'", "SELECT 'a''b;c'"],
    );
  });

  it('gives leading comments to the statement that follows, and ignores semicolons in comments', () => {
    const sql = '-- step 1; add the column\nALTER TABLE t ADD c int; /* next; */\n-- step 2\nSELECT 1;\n-- done; nothing after\n';
    const s = split(sql);
    assert.strictEqual(s.length, 2);
    assert.strictEqual(s[0].text, 'ALTER TABLE t ADD c int');
    assert.deepStrictEqual(s[0].leading, { text: '-- step 1; add the column', start: 0, line: 1 });
    assert.strictEqual(s[0].line, 2);
    assert.strictEqual(s[1].text, 'SELECT 1');
    assert.strictEqual(s[1].leading?.text, '/* next; */\n-- step 2');
    assert.strictEqual(s[1].leading?.line, 2);
    assert.strictEqual(s[1].line, 4);
  });

  it('treats a comment-only cell and an empty cell as no statements', () => {
    assert.deepStrictEqual(splitStatementsSync(''), { ok: true, statements: [] });
    assert.deepStrictEqual(splitStatementsSync('  \n\t\n'), { ok: true, statements: [] });
    assert.deepStrictEqual(splitStatementsSync('-- nothing to run;\n/* really */'), { ok: true, statements: [] });
  });

  it('accepts a last statement without a final semicolon, and trims a trailing comment off it', () => {
    const s = split('SELECT 1;\nSELECT 2 -- the answer\n\n');
    assert.deepStrictEqual(
      s.map((x) => x.text),
      ['SELECT 1', 'SELECT 2'],
    );
    assert.strictEqual(s[1].endLine, 2);
  });

  it('maps byte offsets to string offsets when comments and strings hold non-ASCII text', () => {
    const sql = "-- réglage été ☃ 😀\nSELECT 'ü;ß' AS x; /* ñ */ SELECT '日本語';\nUPDATE t SET a = '😀' WHERE b = 'é'";
    const s = split(sql);
    assert.deepStrictEqual(
      s.map((x) => x.text),
      ["SELECT 'ü;ß' AS x", "SELECT '日本語'", "UPDATE t SET a = '😀' WHERE b = 'é'"],
    );
    for (const x of s) assert.strictEqual(sql.slice(x.start, x.end), x.text);
    assert.deepStrictEqual(
      s.map((x) => x.line),
      [2, 2, 3],
    );
    assert.strictEqual(s[1].leading?.text, '/* ñ */');
  });

  it('counts lines the same with CRLF line breaks', () => {
    const sql = 'BEGIN;\r\n\r\nUPDATE t\r\n   SET a = 1;\r\nCOMMIT;\r\n';
    const s = split(sql);
    assert.deepStrictEqual(
      s.map((x) => [x.text, x.line, x.endLine]),
      [
        ['BEGIN', 1, 1],
        ['UPDATE t\r\n   SET a = 1', 3, 4],
        ['COMMIT', 5, 5],
      ],
    );
  });

  it('reports a syntax error with the parser message and the line it points at, before anything runs', () => {
    const r = splitStatementsSync("SELECT 1;\n-- ☃ comment\nSELECT 'é' FRM t;");
    assert.strictEqual(r.ok, false);
    if (r.ok) return;
    assert.strictEqual(r.error.message, 'syntax error at or near "t"');
    assert.strictEqual(r.error.line, 3);
    assert.strictEqual(r.error.position, "SELECT 1;\n-- ☃ comment\nSELECT 'é' FRM ".length);
  });

  it('reports an unterminated dollar quote', () => {
    const r = splitStatementsSync('SELECT 1;\nDO $$ BEGIN\n  PERFORM 1;\n');
    assert.strictEqual(r.ok, false);
    if (r.ok) return;
    assert.match(r.error.message, /unterminated dollar-quoted string/);
    assert.strictEqual(r.error.line, 2);
  });

  it('says clearly that psql meta-commands such as \\set are not supported', () => {
    const r = splitStatementsSync("SELECT 1;\n\\set ON_ERROR_STOP on\nSELECT 2;");
    assert.strictEqual(r.ok, false);
    if (r.ok) return;
    assert.strictEqual(r.error.metaCommand, '\\set');
    assert.strictEqual(r.error.line, 2);
    assert.match(r.error.message, /psql meta-command \\set on line 2 is not supported/);
  });

  it('maps a server error position (1-based characters) back into the cell', () => {
    const sql = "SELECT 1;\nSELECT 'ü', nosuchcol\n  FROM t;";
    const s = split(sql);
    const offset = statementPositionToOffset(s[1], "SELECT 'ü', ".length + 1);
    assert.strictEqual(sql.slice(offset, offset + 9), 'nosuchcol');
  });

  it('splits a thousand statements quickly', async () => {
    const sql = Array.from({ length: 1000 }, (_, i) => `INSERT INTO t VALUES (${i}, 'row ${i}');`).join('\n');
    const r = await splitStatements(sql);
    assert.ok(r.ok);
    // Another text, so the parser runs again (warm) rather than the remembered result coming back.
    const t = performance.now();
    const again = splitStatementsSync(`${sql}\nSELECT 1;`);
    const ms = performance.now() - t;
    assert.ok(again.ok && again.statements.length === 1001);
    assert.ok(ms < 200, `took ${ms} ms`);
  });

  it('parses a cell once when the runner, the analysis and the engine split it in turn', () => {
    const sql = 'SELECT 1; SELECT 2;';
    const first = splitStatementsSync(sql);
    assert.strictEqual(splitStatementsSync(sql), first);
    assert.notStrictEqual(splitStatementsSync('SELECT 1; SELECT 3;'), first);
  });
});
