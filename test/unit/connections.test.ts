// Unit tests: connection profiles file, libpq-style resolution (env, pg_service.conf, ~/.pgpass, URIs), password files.

import * as assert from 'assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConnectionConfigError, connectionShellEnv, findProfilesFile, loadProfiles, lookupPgpass, resolveConnection,
  saveProfile, TIMEOUT_DEFAULTS, writeTempPgpass, type ResolvedConnection,
} from '../../src/connections';

/** A throwaway home with a runbook folder nested two levels down; env points every libpq file lookup into it. */
interface Sandbox {
  root: string;
  home: string;
  runbookDir: string;
  env: NodeJS.ProcessEnv;
  write(rel: string, text: string, mode?: number): Promise<string>;
}

async function makeSandbox(): Promise<Sandbox> {
  const root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'runbook-conn-test-')));
  const home = path.join(root, 'home');
  const runbookDir = path.join(root, 'repo', 'migrations', '2026');
  await fs.mkdir(runbookDir, { recursive: true });
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.mkdir(home, { recursive: true });
  // Only what a test sets: no PG* variable or file of the machine running the tests leaks in.
  const env: NodeJS.ProcessEnv = { HOME: home, PGSYSCONFDIR: path.join(root, 'etc'), XDG_CONFIG_HOME: path.join(home, '.config') };
  return {
    root,
    home,
    runbookDir,
    env,
    async write(rel, text, mode = 0o644) {
      const file = path.isAbsolute(rel) ? rel : path.join(root, rel);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, text);
      await fs.chmod(file, mode);
      return file;
    },
  };
}

async function rejects(p: Promise<unknown>, check: (e: ConnectionConfigError) => void): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ConnectionConfigError, `expected ConnectionConfigError, got ${String(err)}`);
    check(err);
    return;
  }
  assert.fail('expected a ConnectionConfigError');
}

const EXAMPLE = `connections:
  prod-main:
    environment: production        # sandbox | development | staging | production (required)
    host: db.internal
    port: 5432
    database: app
    user: migrator
    sslmode: verify-full
    sslrootcert: ~/.postgresql/root.crt
    lock_timeout: 5s
    statement_timeout: 15min
    application_name: runbook
  staging: { environment: staging, url: "postgresql://migrator@staging-db/app" }
`;

describe('connection profiles file', () => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await makeSandbox();
  });
  afterEach(async () => {
    await fs.rm(sb.root, { recursive: true, force: true });
  });

  it('finds runbook.connections.yaml in the runbook folder before one in a folder above', async () => {
    await sb.write('repo/runbook.connections.yaml', 'connections: {}\n');
    const near = await sb.write('repo/migrations/2026/runbook.connections.yaml', 'connections: {}\n');
    assert.strictEqual(findProfilesFile(sb.runbookDir, sb.env), near);
  });

  it('walks up to a folder above the runbook when its own folder has none', async () => {
    const up = await sb.write('repo/runbook.connections.yaml', 'connections: {}\n');
    assert.strictEqual(findProfilesFile(sb.runbookDir, sb.env), up);
  });

  it('prefers $RUNBOOK_CONNECTIONS over a file next to the runbook', async () => {
    await sb.write('repo/migrations/2026/runbook.connections.yaml', 'connections: {}\n');
    const explicit = await sb.write('elsewhere/conns.yaml', 'connections: {}\n');
    assert.strictEqual(findProfilesFile(sb.runbookDir, { ...sb.env, RUNBOOK_CONNECTIONS: explicit }), explicit);
  });

  it('falls back to $XDG_CONFIG_HOME/runbook/connections.yaml, then ~/.config', async () => {
    const xdg = await sb.write('home/.config/runbook/connections.yaml', 'connections: {}\n');
    assert.strictEqual(findProfilesFile(sb.runbookDir, sb.env), xdg);
    const env = { ...sb.env };
    delete env.XDG_CONFIG_HOME;
    assert.strictEqual(findProfilesFile(sb.runbookDir, env), xdg);
  });

  it('finds nothing, and loads no profiles, when no file exists', async () => {
    assert.strictEqual(findProfilesFile(sb.runbookDir, sb.env), undefined);
    assert.deepStrictEqual(await loadProfiles(sb.runbookDir, sb.env), { profiles: [] });
  });

  it('says where $RUNBOOK_CONNECTIONS points when that file is missing', async () => {
    const missing = path.join(sb.root, 'nope.yaml');
    await rejects(loadProfiles(sb.runbookDir, { ...sb.env, RUNBOOK_CONNECTIONS: missing }), (e) => {
      assert.match(e.message, /RUNBOOK_CONNECTIONS/);
      assert.ok(e.message.includes(missing));
    });
  });

  it('loads every key of a profile, expanding ~ in certificate paths', async () => {
    const file = await sb.write('repo/runbook.connections.yaml', EXAMPLE);
    const { file: found, profiles } = await loadProfiles(sb.runbookDir, sb.env);
    assert.strictEqual(found, file);
    assert.deepStrictEqual(profiles, [
      {
        name: 'prod-main', source: `${file}:2`, environment: 'production', host: 'db.internal', port: 5432, database: 'app',
        user: 'migrator', sslmode: 'verify-full', sslrootcert: path.join(sb.home, '.postgresql', 'root.crt'),
        lockTimeout: '5s', statementTimeout: '15min', applicationName: 'runbook',
      },
      { name: 'staging', source: `${file}:13`, environment: 'staging', url: 'postgresql://migrator@staging-db/app' },
    ]);
  });

  it('resolves a relative certificate path against the file’s folder', async () => {
    await sb.write('repo/runbook.connections.yaml', 'connections:\n  x: { environment: staging, sslcert: certs/client.crt }\n');
    const { profiles } = await loadProfiles(sb.runbookDir, sb.env);
    assert.strictEqual(profiles[0].sslcert, path.join(sb.root, 'repo', 'certs', 'client.crt'));
  });

  it('rejects a password key with its line and where the password belongs, without repeating it', async () => {
    const file = await sb.write('repo/runbook.connections.yaml', 'connections:\n  prod:\n    environment: production\n    password: hunter2\n');
    await rejects(loadProfiles(sb.runbookDir, sb.env), (e) => {
      assert.strictEqual(e.file, file);
      assert.strictEqual(e.line, 4);
      assert.ok(e.message.startsWith(`${file}:4:5:`), e.message);
      assert.match(e.message, /~\/\.pgpass/);
      assert.match(e.message, /PGPASSWORD/);
      assert.match(e.message, /pg_service\.conf/);
      assert.match(e.message, /SecretStorage/);
      assert.ok(!e.message.includes('hunter2'));
    });
  });

  it('rejects a url holding a password and shows the url without it', async () => {
    await sb.write('repo/runbook.connections.yaml', 'connections:\n  prod:\n    environment: production\n    url: postgresql://app:hunter2@db/prod\n');
    await rejects(loadProfiles(sb.runbookDir, sb.env), (e) => {
      assert.strictEqual(e.line, 4);
      assert.ok(e.message.includes('postgresql://app@db/prod'), e.message);
      assert.ok(!e.message.includes('hunter2'));
    });
  });

  it('names an unknown key with its line and the key it probably meant', async () => {
    const file = await sb.write('repo/runbook.connections.yaml', 'connections:\n  prod:\n    environment: production\n    lock_timout: 5s\n');
    await rejects(loadProfiles(sb.runbookDir, sb.env), (e) => {
      assert.ok(e.message.startsWith(`${file}:4:5:`), e.message);
      assert.match(e.message, /unknown key "lock_timout"/);
      assert.match(e.message, /Did you mean "lock_timeout"\?/);
    });
  });

  it('requires an environment and checks values', async () => {
    const cases: [string, RegExp, number][] = [
      ['connections:\n  dev:\n    host: x\n', /has no "environment"/, 2],
      ['connections:\n  dev:\n    environment: prod\n', /use one of sandbox, development, staging, production/, 3],
      ['connections:\n  dev:\n    environment: staging\n    port: 99999\n', /whole number from 1 to 65535/, 4],
      ['connections:\n  dev:\n    environment: staging\n    lock_timeout: soon\n', /number with a unit/, 4],
      ['connections:\n  dev:\n    environment: staging\n    sslmode: on\n', /use one of disable/, 4],
      ['connections:\n  dev:\n    environment: staging\n    url: mysql://x/y\n', /must start with postgres/, 4],
      ['connections:\n  dev:\n    environment: staging\n    host: [a, b]\n', /must be a single value/, 4],
      ['connections:\n  "bad name":\n    environment: staging\n', /may only hold letters/, 2],
      ['connection:\n  dev: {}\n', /Unknown top-level key "connection"/, 1],
    ];
    for (const [text, re, line] of cases) {
      await sb.write('repo/runbook.connections.yaml', text);
      await rejects(loadProfiles(sb.runbookDir, sb.env), (e) => {
        assert.match(e.message, re);
        assert.strictEqual(e.line, line, `${e.message}`);
      });
    }
  });

  it('reports YAML syntax errors with a line and without quoting the file’s text', async () => {
    await sb.write('repo/runbook.connections.yaml', 'connections:\n  prod:\n    environment: production\n    host: "db\n    note: PGPASSWORD=hunter2\n');
    await rejects(loadProfiles(sb.runbookDir, sb.env), (e) => {
      assert.match(e.message, /not valid YAML/);
      assert.ok(typeof e.line === 'number');
      assert.ok(!e.message.includes('hunter2'));
    });
  });

  it('accepts a lock_timeout in milliseconds and an empty file', async () => {
    await sb.write('repo/runbook.connections.yaml', 'connections:\n  dev: { environment: development, lock_timeout: 1500 }\n');
    assert.strictEqual((await loadProfiles(sb.runbookDir, sb.env)).profiles[0].lockTimeout, '1500');
    await sb.write('repo/runbook.connections.yaml', '');
    assert.deepStrictEqual((await loadProfiles(sb.runbookDir, sb.env)).profiles, []);
  });
});

describe('resolveConnection', () => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await makeSandbox();
    await sb.write('repo/runbook.connections.yaml', EXAMPLE.replace('    sslmode: verify-full\n    sslrootcert: ~/.postgresql/root.crt\n', '') +
      '  bare: { environment: development }\n  svc: { environment: staging, service: billing, user: profile-user }\n');
  });
  afterEach(async () => {
    await fs.rm(sb.root, { recursive: true, force: true });
  });
  const resolve = (name: string, env: NodeJS.ProcessEnv = {}, secret?: (n: string) => Promise<string | undefined>) =>
    resolveConnection(name, { startDir: sb.runbookDir, env: { ...sb.env, ...env }, secret });

  it('uses the profile’s keys and records its own timeouts', async () => {
    const c = await resolve('prod-main', { PGHOST: 'env-host', PGUSER: 'env-user' });
    assert.strictEqual(c.clientConfig.host, 'db.internal');
    assert.strictEqual(c.clientConfig.user, 'migrator');
    assert.strictEqual(c.clientConfig.port, 5432);
    assert.strictEqual(c.clientConfig.database, 'app');
    assert.strictEqual(c.clientConfig.application_name, 'runbook');
    assert.strictEqual(c.profile.lockTimeout, '5s');
    assert.strictEqual(c.profile.statementTimeout, '15min');
    assert.deepStrictEqual(c.timeoutSource, { lockTimeout: 'profile', statementTimeout: 'profile' });
    assert.strictEqual(c.display, 'prod-main (production) migrator@db.internal:5432/app');
  });

  it('fills what the profile leaves out from PG* environment variables', async () => {
    const c = await resolve('bare', { PGHOST: 'env-host', PGPORT: '6543', PGDATABASE: 'envdb', PGUSER: 'envuser', PGAPPNAME: 'ops', PGSSLMODE: 'disable', PGOPTIONS: '-c search_path=app' });
    assert.deepStrictEqual(
      [c.clientConfig.host, c.clientConfig.port, c.clientConfig.database, c.clientConfig.user, c.clientConfig.application_name, c.clientConfig.ssl, c.clientConfig.options],
      ['env-host', 6543, 'envdb', 'envuser', 'ops', false, '-c search_path=app'],
    );
    assert.deepStrictEqual(c.libpqEnv, {
      PGHOST: 'env-host', PGPORT: '6543', PGDATABASE: 'envdb', PGUSER: 'envuser', PGAPPNAME: 'ops', PGCONNECT_TIMEOUT: '10',
      PGSSLMODE: 'disable', PGOPTIONS: '-c search_path=app',
    });
  });

  it('falls back to libpq’s defaults: localhost, 5432, the OS user, a database named after the user', async () => {
    const c = await resolve('bare');
    const me = os.userInfo().username;
    assert.deepStrictEqual([c.clientConfig.host, c.clientConfig.port, c.clientConfig.user, c.clientConfig.database], ['localhost', 5432, me, me]);
  });

  it('applies the environment’s default timeouts when the profile has none', async () => {
    const c = await resolve('staging');
    assert.strictEqual(c.profile.lockTimeout, TIMEOUT_DEFAULTS.staging.lockTimeout);
    assert.strictEqual(c.profile.statementTimeout, TIMEOUT_DEFAULTS.staging.statementTimeout);
    assert.deepStrictEqual(c.timeoutSource, { lockTimeout: 'default', statementTimeout: 'default' });
    assert.strictEqual(TIMEOUT_DEFAULTS.production.lockTimeout, '5s');
    // The url gives host, user and database; environment variables do not override them.
    assert.deepStrictEqual([c.clientConfig.host, c.clientConfig.user, c.clientConfig.database], ['staging-db', 'migrator', 'app']);
  });

  it('takes a service section over PG* variables but under the profile’s keys, as libpq does', async () => {
    await sb.write('home/.pg_service.conf', '# billing\n[other]\nhost=wrong\n\n[billing]\nhost = billing-db\nport=5433\ndbname=billing\nuser=svc-user\nkeepalives=1\n');
    const c = await resolve('svc', { PGHOST: 'env-host', PGDATABASE: 'envdb', PGPORT: '7000' });
    assert.deepStrictEqual([c.clientConfig.host, c.clientConfig.port, c.clientConfig.database, c.clientConfig.user], ['billing-db', 5433, 'billing', 'profile-user']);
  });

  it('selects a service with PGSERVICE for a profile that names none', async () => {
    await sb.write('home/.pg_service.conf', '[billing]\nhost=billing-db\n');
    const c = await resolve('bare', { PGSERVICE: 'billing', PGHOST: 'env-host' });
    assert.strictEqual(c.clientConfig.host, 'billing-db');
    assert.ok(!('PGSERVICE' in c.libpqEnv));
  });

  it('lets the per-user service file hide the system one, and uses the system one otherwise', async () => {
    await sb.write('etc/pg_service.conf', '[billing]\nhost=system-db\nport=5499\n[system-only]\nhost=sys2\n');
    await sb.write('home/.pg_service.conf', '[billing]\nhost=user-db\n');
    const c = await resolve('svc');
    assert.strictEqual(c.clientConfig.host, 'user-db');
    assert.strictEqual(c.clientConfig.port, 5432, 'the system file’s port is not merged in');
    const d = await resolve('bare', { PGSERVICE: 'system-only' });
    assert.strictEqual(d.clientConfig.host, 'sys2');
  });

  it('reads $PGSERVICEFILE instead of ~/.pg_service.conf', async () => {
    await sb.write('home/.pg_service.conf', '[billing]\nhost=home-db\n');
    const file = await sb.write('conf/services.conf', '[billing]\nhost=custom-db\n');
    const c = await resolve('svc', { PGSERVICEFILE: file });
    assert.strictEqual(c.clientConfig.host, 'custom-db');
  });

  it('says which files it looked in when a service is not defined', async () => {
    await rejects(resolve('svc'), (e) => {
      assert.match(e.message, /Definition of service "billing" not found/);
      assert.ok(e.message.includes(path.join(sb.home, '.pg_service.conf')));
      assert.ok(e.message.includes(path.join(sb.root, 'etc', 'pg_service.conf')));
    });
  });

  it('rejects a service file line that is not a libpq keyword, with its line', async () => {
    const file = await sb.write('home/.pg_service.conf', '[billing]\nhost=x\nhots=y\n');
    await rejects(resolve('svc'), (e) => {
      assert.strictEqual(e.file, file);
      assert.strictEqual(e.line, 3);
      assert.match(e.message, /"hots" is not a libpq connection keyword/);
    });
  });

  it('finds the password in ~/.pgpass (0600) by host, port, database and user', async () => {
    await sb.write('home/.pgpass', '# comment line here\nother:5432:app:migrator:wrong\ndb.internal:5432:app:migrator:pa\\:ss\n', 0o600);
    const c = await resolve('prod-main');
    assert.strictEqual(c.password, 'pa:ss');
    assert.strictEqual(c.clientConfig.password, 'pa:ss');
    assert.strictEqual(c.passwordSource, `password file ${path.join(sb.home, '.pgpass')}`);
    for (const v of Object.values(c.libpqEnv)) assert.ok(!v.includes('pa:ss'));
  });

  it('matches ~/.pgpass wildcards and $PGPASSFILE', async () => {
    const file = await sb.write('secrets/pass', '*:*:*:migrator:wild\n', 0o600);
    const c = await resolve('prod-main', { PGPASSFILE: file });
    assert.strictEqual(c.password, 'wild');
  });

  it('ignores a password file readable by others, and the missing-password error says why', async () => {
    const file = await sb.write('home/.pgpass', 'db.internal:5432:app:migrator:exposed\n', 0o644);
    const c = await resolve('prod-main');
    assert.strictEqual(c.password, undefined);
    const ask = c.clientConfig.password;
    assert.strictEqual(typeof ask, 'function');
    await rejects(Promise.resolve().then(() => (ask as () => Promise<string>)()), (e) => {
      assert.match(e.message, /server asked for a password for prod-main \(production\) migrator@db\.internal:5432\/app/);
      assert.ok(e.message.includes(`chmod 0600 ${file}`), e.message);
      assert.ok(e.message.includes('db.internal:5432:app:migrator:YOUR_PASSWORD'));
      assert.ok(!e.message.includes('exposed'));
    });
  });

  it('takes the password from the stored secret, then the service, then PGPASSWORD, then ~/.pgpass', async () => {
    await sb.write('home/.pgpass', '*:*:*:*:from-pgpass\n', 0o600);
    await sb.write('home/.pg_service.conf', '[billing]\nhost=b\npassword=from-service\n');
    const secret = async (name: string) => (name === 'svc' ? 'from-secret' : undefined);
    assert.strictEqual((await resolve('svc', { PGPASSWORD: 'from-env' }, secret)).password, 'from-secret');
    assert.strictEqual((await resolve('svc', { PGPASSWORD: 'from-env' })).password, 'from-service');
    assert.strictEqual((await resolve('bare', { PGPASSWORD: 'from-env' })).password, 'from-env');
    assert.strictEqual((await resolve('bare')).password, 'from-pgpass');
  });

  it('treats a URI as an ad-hoc development profile named without its password', async () => {
    const c = await resolve('postgresql://app:p%40ss@db.example:6000/prod?sslmode=disable&application_name=cli');
    assert.strictEqual(c.profile.name, 'postgresql://app@db.example:6000/prod?sslmode=disable&application_name=cli');
    assert.strictEqual(c.profile.environment, 'development');
    assert.strictEqual(c.password, 'p@ss');
    assert.strictEqual(c.passwordSource, 'the connection URI');
    assert.deepStrictEqual([c.clientConfig.host, c.clientConfig.port, c.clientConfig.user, c.clientConfig.database, c.clientConfig.application_name], ['db.example', 6000, 'app', 'prod', 'cli']);
    assert.ok(!c.display.includes('p@ss') && !c.display.includes('p%40ss'));
    // Said once: the URI names the server and database already.
    assert.strictEqual(c.display, 'postgresql://app@db.example:6000/prod?sslmode=disable&application_name=cli (development)');
    // A URI that leaves the host to the environment gets it said.
    assert.strictEqual((await resolve('postgresql:///envdb', { PGHOST: 'env-host', PGUSER: 'ops' })).display, 'postgresql:///envdb (development) ops@env-host:5432/envdb');
    assert.strictEqual(c.profile.lockTimeout, TIMEOUT_DEFAULTS.development.lockTimeout);
  });

  it('gives a URI to the server and database of a profile that profile’s environment and timeouts', async () => {
    // Another user, another password, same server and database: still the production database.
    const c = await resolve('postgresql://someone:pw@db.internal/app');
    assert.strictEqual(c.profile.environment, 'production');
    assert.strictEqual(c.matchedProfile, 'prod-main');
    assert.strictEqual(c.profile.lockTimeout, '5s');
    assert.match(c.display, /\(production, the server and database of profile prod-main\)/);
    const staging = await resolve('postgres://staging-db:5432/app');
    assert.strictEqual(staging.profile.environment, 'staging');
    // Another database on the same server is not that profile's.
    const other = await resolve('postgresql://db.internal/other');
    assert.strictEqual(other.profile.environment, 'development');
    assert.strictEqual(other.matchedProfile, undefined);
  });

  it('refuses a URI when the profiles file is broken: whether it is production cannot be told', async () => {
    await sb.write('repo/runbook.connections.yaml', 'connections:\n  x: [\n');
    await rejects(resolve('postgresql://db.internal/app'), (e) => assert.match(e.message, /whether the connection URI points at a profile's server/));
  });

  it('takes an ad-hoc URI’s environment from RUNBOOK_ENVIRONMENT and fills gaps from PG* variables', async () => {
    const c = await resolve('postgres:///prod', { RUNBOOK_ENVIRONMENT: 'production', PGHOST: 'env-host', PGUSER: 'u' });
    assert.strictEqual(c.profile.environment, 'production');
    assert.strictEqual(c.profile.lockTimeout, '5s');
    assert.deepStrictEqual([c.clientConfig.host, c.clientConfig.user, c.clientConfig.database], ['env-host', 'u', 'prod']);
    await rejects(resolve('postgres://db/x', { RUNBOOK_ENVIRONMENT: 'prod' }), (e) => assert.match(e.message, /RUNBOOK_ENVIRONMENT is "prod"/));
  });

  it('refuses a URI parameter it does not support, without showing the password', async () => {
    await rejects(resolve('postgresql://app:hunter2@db/prod?target_session_attrs=read-write'), (e) => {
      assert.match(e.message, /parameter "target_session_attrs"/);
      assert.ok(!e.message.includes('hunter2'));
    });
  });

  it('explains a malformed URI without showing its password', async () => {
    for (const uri of ['postgresql://app:hunter2@db:port/x', 'postgresql://app:hunter2@db/x?application_name=%ZZ']) {
      await rejects(resolve(uri), (e) => {
        assert.ok(e.message.includes('postgresql://app@db'), e.message);
        assert.ok(!e.message.includes('hunter2'));
      });
    }
  });

  it('reaches a Unix socket directory given as a URI host', async () => {
    const c = await resolve('postgresql://%2Fvar%2Frun%2Fpostgresql/app?user=me');
    assert.deepStrictEqual([c.clientConfig.host, c.clientConfig.database, c.clientConfig.user, c.clientConfig.ssl], ['/var/run/postgresql', 'app', 'me', false]);
  });

  it('lists the known profiles and the file when a name is unknown', async () => {
    const file = path.join(sb.root, 'repo', 'runbook.connections.yaml');
    await rejects(resolve('prod-mian'), (e) => {
      assert.ok(e.message.includes(`No connection named "prod-mian" in ${file}.`), e.message);
      assert.match(e.message, /Did you mean "prod-main"\?/);
      assert.match(e.message, /Known connections: prod-main \(production\), staging \(staging\), bare \(development\), svc \(staging\)\./);
    });
  });

  it('says where it looked and how to create the file when there is none', async () => {
    await fs.rm(path.join(sb.root, 'repo', 'runbook.connections.yaml'));
    await rejects(resolve('prod'), (e) => {
      assert.match(e.message, /no connections file was found/);
      assert.ok(e.message.includes(path.join(sb.runbookDir, 'runbook.connections.yaml')));
      assert.ok(e.message.includes(path.join(sb.home, '.config', 'runbook', 'connections.yaml')));
      assert.match(e.message, /connections:\n {2}prod:\n {4}environment:/);
    });
  });

  describe('SSL', () => {
    const withSsl = async (extra: string) => {
      await sb.write('repo/migrations/2026/runbook.connections.yaml', `connections:\n  s: { environment: staging, host: db.example, ${extra} }\n`);
      return resolve('s');
    };

    it('connects without SSL when sslmode is unset, disable or allow', async () => {
      assert.strictEqual((await withSsl('user: a')).clientConfig.ssl, false);
      assert.strictEqual((await withSsl('sslmode: disable')).clientConfig.ssl, false);
      assert.strictEqual((await withSsl('sslmode: allow')).clientConfig.ssl, false);
    });

    it('encrypts without checking the certificate for require and prefer', async () => {
      assert.deepStrictEqual((await withSsl('sslmode: require')).clientConfig.ssl, { rejectUnauthorized: false });
      assert.deepStrictEqual((await withSsl('sslmode: prefer')).clientConfig.ssl, { rejectUnauthorized: false });
    });

    it('checks the chain against sslrootcert for verify-ca, and the host name too for verify-full', async () => {
      await sb.write('repo/migrations/2026/ca.pem', 'CA PEM TEXT');
      const ca = (await withSsl('sslmode: verify-ca, sslrootcert: ca.pem')).clientConfig.ssl as import('node:tls').ConnectionOptions;
      assert.strictEqual(ca.ca, 'CA PEM TEXT');
      assert.strictEqual(ca.rejectUnauthorized, true);
      assert.strictEqual(typeof ca.checkServerIdentity, 'function');
      const full = (await withSsl('sslmode: verify-full, sslrootcert: ca.pem')).clientConfig.ssl as import('node:tls').ConnectionOptions;
      assert.deepStrictEqual(full, { ca: 'CA PEM TEXT', rejectUnauthorized: true });
      const sys = (await withSsl('sslmode: verify-full, sslrootcert: system')).clientConfig.ssl;
      assert.deepStrictEqual(sys, { rejectUnauthorized: true });
    });

    it('uses ~/.postgresql/root.crt by default and says so when it is missing', async () => {
      await rejects(withSsl('sslmode: verify-full'), (e) => assert.match(e.message, /root\.crt does not exist/));
      await sb.write('home/.postgresql/root.crt', 'HOME CA');
      assert.deepStrictEqual((await withSsl('sslmode: verify-full')).clientConfig.ssl, { ca: 'HOME CA', rejectUnauthorized: true });
    });

    it('reads a client certificate and key, and names a missing one', async () => {
      await sb.write('repo/migrations/2026/c.crt', 'CERT');
      await sb.write('repo/migrations/2026/c.key', 'KEY');
      const ssl = (await withSsl('sslmode: require, sslcert: c.crt, sslkey: c.key')).clientConfig.ssl;
      assert.deepStrictEqual(ssl, { cert: 'CERT', key: 'KEY', rejectUnauthorized: false });
      await rejects(withSsl('sslmode: require, sslcert: missing.crt'), (e) => assert.match(e.message, /client certificate \(sslcert\).*missing\.crt/));
    });
  });
});

describe('password files for shell cells', () => {
  let sb: Sandbox;
  let conn: ResolvedConnection;
  beforeEach(async () => {
    sb = await makeSandbox();
    await sb.write('repo/runbook.connections.yaml', EXAMPLE.replace('    sslmode: verify-full\n    sslrootcert: ~/.postgresql/root.crt\n', ''));
    conn = await resolveConnection('prod-main', { startDir: sb.runbookDir, env: { ...sb.env, PGPASSWORD: 'we:ird\\pw' } });
  });
  afterEach(async () => {
    await fs.rm(sb.root, { recursive: true, force: true });
  });

  it('writes a 0600 file that libpq matches for any database on that server and user, with no name on disk, then closes it', async () => {
    const tmp = await writeTempPgpass(conn);
    assert.ok(tmp);
    const stat = await fs.stat(tmp.path);
    assert.ok(stat.isFile());
    assert.strictEqual(stat.mode & 0o777, 0o600);
    if (process.platform === 'linux') {
      assert.strictEqual(tmp.onDisk, false);
      assert.match(tmp.path, new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
      assert.strictEqual(stat.nlink, 0, 'unlinked: no name of it exists');
    } else {
      assert.strictEqual((await fs.stat(path.dirname(tmp.path))).mode & 0o777, 0o700);
    }
    assert.strictEqual(await fs.readFile(tmp.path, 'utf8'), 'db.internal:5432:*:migrator:we\\:ird\\\\pw\n');
    const back = await lookupPgpass({ host: 'db.internal', port: 5432, database: 'postgres', user: 'migrator' }, { HOME: sb.home, PGPASSFILE: tmp.path });
    assert.strictEqual(back.password, 'we:ird\\pw');
    await tmp.dispose();
    await tmp.dispose();
    await assert.rejects(fs.stat(tmp.path));
  });

  it('writes nothing when there is no password', async () => {
    const c = await resolveConnection('prod-main', { startDir: sb.runbookDir, env: sb.env });
    assert.strictEqual(await writeTempPgpass(c), undefined);
  });

  it('gives shell cells the resolved libpq variables, never PGPASSWORD, and none inherited', async () => {
    const env = connectionShellEnv(conn, { PATH: '/bin', PGPASSWORD: 'leak', PGSERVICE: 'other', PGHOST: 'inherited', PGTZ: 'UTC' }, '/tmp/x/pgpass');
    assert.deepStrictEqual(env, {
      PATH: '/bin', PGTZ: 'UTC', PGHOST: 'db.internal', PGPORT: '5432', PGDATABASE: 'app', PGUSER: 'migrator',
      PGAPPNAME: 'runbook', PGCONNECT_TIMEOUT: '10', PGPASSFILE: '/tmp/x/pgpass',
    });
  });
});

describe('saveProfile', () => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await makeSandbox();
  });
  afterEach(async () => {
    await fs.rm(sb.root, { recursive: true, force: true });
  });

  it('adds a profile to an existing file, keeping its comments and other profiles', async () => {
    const file = await sb.write('repo/runbook.connections.yaml', '# team connections\nconnections:\n  # the main one\n  prod-main:\n    environment: production # required\n    host: db\n');
    await saveProfile(file, { name: 'staging', environment: 'staging', host: 'staging-db', port: 5433, lockTimeout: '2s' });
    const text = await fs.readFile(file, 'utf8');
    assert.ok(text.startsWith('# team connections\nconnections:\n  # the main one\n  prod-main:\n    environment: production # required\n'), text);
    const { profiles } = await loadProfiles(sb.runbookDir, sb.env);
    assert.deepStrictEqual(profiles.map((p) => [p.name, p.environment, p.host, p.port, p.lockTimeout]), [
      ['prod-main', 'production', 'db', undefined, undefined],
      ['staging', 'staging', 'staging-db', 5433, '2s'],
    ]);
  });

  it('creates the file when missing, and refuses to overwrite a profile unless asked', async () => {
    const file = path.join(sb.home, '.config', 'runbook', 'connections.yaml');
    await saveProfile(file, { name: 'dev', environment: 'development', url: 'postgresql://me@localhost/app' });
    assert.strictEqual(await fs.readFile(file, 'utf8'), 'connections:\n  dev:\n    environment: development\n    url: postgresql://me@localhost/app\n');
    await rejects(saveProfile(file, { name: 'dev', environment: 'sandbox' }), (e) => assert.match(e.message, /already has a connection named "dev"/));
    await saveProfile(file, { name: 'dev', environment: 'sandbox' }, { replace: true });
    assert.deepStrictEqual((await loadProfiles(sb.runbookDir, sb.env)).profiles.map((p) => p.environment), ['sandbox']);
  });

  it('never writes a URL holding a password, nor an invalid profile', async () => {
    const file = path.join(sb.root, 'repo', 'runbook.connections.yaml');
    await rejects(saveProfile(file, { name: 'x', environment: 'staging', url: 'postgresql://a:hunter2@h/d' }), (e) => {
      assert.match(e.message, /holds a password/);
      assert.ok(!e.message.includes('hunter2'));
    });
    await rejects(saveProfile(file, { name: 'bad name', environment: 'staging' }), (e) => assert.match(e.message, /may only hold letters/));
    await assert.rejects(fs.stat(file));
  });
});
