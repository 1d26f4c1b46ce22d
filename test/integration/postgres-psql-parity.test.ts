// Integration tests: output bodies match what psql prints for the same statements on the same server.

import * as assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { PostgresSession } from '../../src/engines/postgres';
import { freshDatabase, FreshDatabase } from './harness';

function hasPsql(): boolean {
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** libpq environment for psql from the test database's URI (the password travels only in the child's env). */
function psqlEnv(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  const env: NodeJS.ProcessEnv = { ...process.env, PGHOST: decodeURIComponent(u.hostname), PGDATABASE: decodeURIComponent(u.pathname.slice(1)) };
  if (u.port) env.PGPORT = u.port;
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  return env;
}

function psql(env: NodeJS.ProcessEnv, sql: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('psql', ['-X', '-c', sql], { env }, (_err, stdout, stderr) => resolve({ stdout, stderr }));
  });
}

describe('output bodies compared with psql', function () {
  this.timeout(60_000);
  let db: FreshDatabase;
  let session: PostgresSession;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    if (!hasPsql()) this.skip();
    db = await freshDatabase('psql_parity');
    env = psqlEnv(db.url);
    session = await PostgresSession.connect(db.clientConfig);
    await session.executeCell("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2), tags text[], note text);\nINSERT INTO items VALUES (1, 'widget', 9.99, '{a,b}', NULL), (2, 'ギア', 120.50, '{}', E'two\\nlines'), (3, E'tab\\there', NULL, NULL, 'x');");
  });

  after(async () => {
    await session?.close();
    await db?.drop();
  });

  const cases: [string, string][] = [
    ['a table with numbers, NULLs, arrays, wide characters, tabs and multi-line values', 'SELECT * FROM items ORDER BY id'],
    ['an empty result', 'SELECT id, name FROM items WHERE false'],
    ['a one-row one-column result', 'SELECT count(*) FROM items'],
    ['duplicate column names and a float', 'SELECT 1 AS a, 2.5::float8 AS a, now() IS NOT NULL AS "is set"'],
    ['a command tag', 'UPDATE items SET note = note WHERE id > 1'],
    ['RETURNING rows followed by the command tag', "INSERT INTO items VALUES (4, 'new', 1, NULL, NULL) RETURNING id, name"],
    ['EXPLAIN output', 'EXPLAIN (COSTS OFF) SELECT * FROM items WHERE id = 1'],
    ['SHOW', 'SHOW DateStyle'],
  ];
  for (const [what, sql] of cases) {
    it(`prints ${what} as psql does`, async () => {
      const ours = await session.executeCell(sql);
      assert.equal(ours.status, 'ok', ours.body);
      // Statements that change data run twice (psql, then us): compare against a fresh psql run after ours.
      const theirs = await psql(env, sql.startsWith('INSERT') ? sql.replace('(4,', '(5,') : sql);
      const expected = sql.startsWith('INSERT') ? theirs.stdout.replace(/\n {2}5 \|/, '\n  4 |') : theirs.stdout;
      assert.equal(ours.body, expected.trimEnd());
    });
  }

  it('prints an error as psql does', async () => {
    const sql = 'SELECT id, nosuch FROM items';
    const ours = await session.executeCell(sql);
    const theirs = await psql(env, sql);
    assert.equal(ours.body, theirs.stderr.trimEnd());
  });
});
