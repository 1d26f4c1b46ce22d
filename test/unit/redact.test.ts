// Unit tests: passwords are removed from output text before it is written, user names and hosts kept.

import * as assert from 'assert';
import { redact, stripUriPassword } from '../../src/connections/redact';

describe('redact', () => {
  describe('connection URIs', () => {
    const cases: [string, string][] = [
      // From shared/cases/11-shell-cells.md: what `echo` prints must not keep the password.
      ['echo "postgres://app:s3cret@db/prod"', 'echo "postgres://app:***@db/prod"'],
      ['postgres://app:s3cret@db/prod', 'postgres://app:***@db/prod'],
      ['postgresql://migrator:pw@db.internal:5432/app?sslmode=require', 'postgresql://migrator:***@db.internal:5432/app?sslmode=require'],
      ['POSTGRES://App:pw@Db/x', 'POSTGRES://App:***@Db/x'],
      ['url=postgres://app:p%40ss%3Aword@db/prod;', 'url=postgres://app:***@db/prod;'],
      ['postgres://app:p@ss@db/prod', 'postgres://app:***@db/prod'],
      ['postgres://app:a:b:c@db/prod', 'postgres://app:***@db/prod'],
      ["psql 'postgres://app:it\"s@db/prod'", "psql 'postgres://app:***@db/prod'"],
      ['postgres://:onlypass@db/prod', 'postgres://:***@db/prod'],
      ['mysql://root:toor@localhost/x and redis://:r3d1s@cache:6379', 'mysql://root:***@localhost/x and redis://:***@cache:6379'],
      ['a postgres://u:p1@h1/d and postgres://v:p2@h2/e', 'a postgres://u:***@h1/d and postgres://v:***@h2/e'],
    ];
    for (const [input, expected] of cases) {
      it(`redacts ${input}`, () => assert.strictEqual(redact(input), expected));
    }

    it('leaves URIs without a password alone', () => {
      for (const text of [
        'postgres://app@db:5432/prod',
        'postgresql://db/prod',
        'postgresql://db:5432/prod?application_name=x',
        'https://example.com:8443/path?a=b',
        'see https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING',
        'mail oncall@example.com about db:5432',
      ]) {
        assert.strictEqual(redact(text), text);
      }
    });
  });

  describe('PGPASSWORD and password=', () => {
    const cases: [string, string][] = [
      ['PGPASSWORD=s3cret psql -h db', 'PGPASSWORD=*** psql -h db'],
      ['export PGPASSWORD=s3cret', 'export PGPASSWORD=***'],
      ['export PGPASSWORD="a b c"; psql', 'export PGPASSWORD="***"; psql'],
      ["export PGPASSWORD='it has \"quotes\"'", "export PGPASSWORD='***'"],
      ['PGPASSWORD="esc\\"aped" psql', 'PGPASSWORD="***" psql'],
      ['PGPASSWORD=a&&psql', 'PGPASSWORD=***&&psql'],
      ['DB_PASSWORD=hunter2\nPOSTGRES_PASSWORD=x', 'DB_PASSWORD=***\nPOSTGRES_PASSWORD=***'],
      ['host=db user=app password=s3cret dbname=prod', 'host=db user=app password=*** dbname=prod'],
      ["host=db password='a b' dbname=prod", "host=db password='***' dbname=prod"],
      ["password = 'it\\'s' port=5432", "password = '***' port=5432"],
      ['sslpassword=keypass', 'sslpassword=***'],
      ['runbook --password=p@ss:word --x', 'runbook --password=*** --x'],
      ['Password=p;Host=db', 'Password=***;Host=db'],
      ['{"user":"app","password":"s3\\"cret","host":"db"}', '{"user":"app","password":"***","host":"db"}'],
      ['{"PGPASSWORD": "x"}', '{"PGPASSWORD": "***"}'],
      ["CREATE ROLE app LOGIN PASSWORD 'it''s secret';", "CREATE ROLE app LOGIN PASSWORD '***';"],
      ["ALTER USER app WITH password 'x'", "ALTER USER app WITH password '***'"],
    ];
    for (const [input, expected] of cases) {
      it(`redacts ${input.replace(/\n/g, '\\n')}`, () => assert.strictEqual(redact(input), expected));
    }

    it('keeps prose that mentions passwords without giving one', () => {
      for (const text of [
        'FATAL:  password authentication failed for user "app"',
        'psql: error: fe_sendauth: no password supplied',
        'Password for user app: ',
      ]) {
        assert.strictEqual(redact(text), text);
      }
    });
  });

  describe('literal secrets', () => {
    it('removes every occurrence of a given secret, case-sensitively', () => {
      assert.strictEqual(redact('pw is Tr0ub4dor& and Tr0ub4dor& again; tr0ub4dor& differs', ['Tr0ub4dor&']), 'pw is *** and *** again; tr0ub4dor& differs');
    });

    it('removes a secret holding regular-expression characters and quotes', () => {
      assert.strictEqual(redact("echo a.b*c(d)[e]$f'g\"h\\i done", ['a.b*c(d)[e]$f\'g"h\\i']), 'echo *** done');
      assert.strictEqual(redact('axbxc', ['a.b']), 'axbxc');
    });

    it('removes the percent-encoded form of a secret too', () => {
      assert.strictEqual(redact('conn string ...p%40ss%3Aw... end', ['p@ss:w']), 'conn string ...***... end');
    });

    it('removes the longer of two overlapping secrets whole', () => {
      assert.strictEqual(redact('x secret-long y secret z', ['secret', 'secret-long']), 'x *** y *** z');
    });

    it('ignores empty secrets', () => {
      assert.strictEqual(redact('unchanged text', ['']), 'unchanged text');
    });
  });

  it('returns the same string when nothing matches', () => {
    const text = 'SELECT 1\n?column?\n----------\n        1\n(1 row)\n';
    assert.strictEqual(redact(text, ['not-there']), text);
  });

  it('redacts 20 MB of psql output in one pass within a second or so', function () {
    this.timeout(20000);
    const line = '  42 | users_email_idx | 2026-11-28 02:00:41.120+00 | {"a": 1} | https://example.com/x\n';
    const body = line.repeat(Math.ceil(20e6 / line.length));
    const text = `${body}PGPASSWORD=s3cret psql postgres://app:s3cret@db/prod\n${body}`;
    const start = process.hrtime.bigint();
    const out = redact(text, ['s3cret']);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(!out.includes('s3cret'), 'the password is gone');
    assert.ok(out.includes('PGPASSWORD=*** psql postgres://app:***@db/prod'));
    assert.strictEqual(out.length, text.length - 2 * 's3cret'.length + 2 * 3);
    // About 0.1 s on the 2-core development machine; the bound leaves room for a loaded CI.
    assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms for ${text.length} characters`);
  });

  it('stays linear on adversarial text', function () {
    this.timeout(20000);
    // Sizes where a linear pass takes tens of ms and a quadratic one (backtracking) would take hours: the bound
    // only has to tell those apart, so a loaded machine does not make it flaky.
    for (const text of ['a.'.repeat(2e5), 'x://a:'.repeat(1e5), 'password='.repeat(1e5), "password '".repeat(1e5)]) {
      const start = Date.now();
      redact(text);
      assert.ok(Date.now() - start < 3000, `slow on ${text.slice(0, 12)}…`);
    }
  });
});

describe('stripUriPassword', () => {
  it('drops the password and keeps user, host, port, database and parameters', () => {
    assert.strictEqual(stripUriPassword('postgresql://app:p%40ss@db:5432/prod?sslmode=require'), 'postgresql://app@db:5432/prod?sslmode=require');
    assert.strictEqual(stripUriPassword('postgres://app:a@b@db/prod'), 'postgres://app@db/prod');
  });

  it('drops a password= query parameter', () => {
    assert.strictEqual(stripUriPassword('postgresql://app@db/prod?password=x&sslmode=require'), 'postgresql://app@db/prod?sslmode=require');
    assert.strictEqual(stripUriPassword('postgresql://app@db/prod?sslmode=require&password=x'), 'postgresql://app@db/prod?sslmode=require');
    assert.strictEqual(stripUriPassword('postgresql://app@db/prod?password=x'), 'postgresql://app@db/prod');
  });

  it('leaves a URI without a password unchanged', () => {
    assert.strictEqual(stripUriPassword('postgresql://app@db:5432/prod'), 'postgresql://app@db:5432/prod');
  });
});
