// The integration-test harness gives a real PostgreSQL server and isolated databases per test file.
import * as assert from 'node:assert/strict';
import { Client } from 'pg';
import { freshDatabase, getTestDatabase } from './harness';

async function withClient<T>(config: ConstructorParameters<typeof Client>[0], fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client(config);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('integration harness', function () {
  this.timeout(120_000);

  it('answers select version() on a real PostgreSQL server', async () => {
    const db = await getTestDatabase();
    const version = await withClient(db.clientConfig, async (c) => (await c.query<{ version: string }>('select version()')).rows[0].version);
    assert.match(version, /^PostgreSQL \d+/);
    assert.ok(version.includes(db.serverVersion.split(' ')[0]), `${version} should name ${db.serverVersion}`);
  });

  it('reaches the same server through its url as through its clientConfig', async () => {
    const db = await getTestDatabase();
    const viaUrl = await withClient({ connectionString: db.url }, async (c) => (await c.query('select inet_server_port() p, current_database() d')).rows[0]);
    const viaConfig = await withClient(db.clientConfig, async (c) => (await c.query('select inet_server_port() p, current_database() d')).rows[0]);
    assert.deepEqual(viaUrl, viaConfig);
  });

  it('starts one server per mocha process', async () => {
    const [a, b] = await Promise.all([getTestDatabase(), getTestDatabase()]);
    assert.equal(a, b);
  });

  it('gives each test file a database whose tables the others do not see', async () => {
    const one = await freshDatabase('harness one');
    const two = await freshDatabase('harness-two');
    try {
      assert.match(one.name, /^harness_one_[0-9a-f]{8}$/);
      await withClient(one.clientConfig, (c) => c.query('create table only_in_one (id int)'));
      const inTwo = await withClient(two.clientConfig, async (c) => (await c.query("select to_regclass('only_in_one') r")).rows[0].r);
      assert.equal(inTwo, null);
      const inOne = await withClient({ connectionString: one.url }, async (c) => (await c.query("select current_database() d, to_regclass('only_in_one')::text r")).rows[0]);
      assert.deepEqual(inOne, { d: one.name, r: 'only_in_one' });
    } finally {
      await one.drop();
      await two.drop();
    }
    const db = await getTestDatabase();
    const left = await withClient(db.clientConfig, async (c) => (await c.query('select count(*)::int n from pg_database where datname = any($1)', [[one.name, two.name]])).rows[0].n);
    assert.equal(left, 0);
  });
});
