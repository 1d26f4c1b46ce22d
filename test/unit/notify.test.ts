// The notifier against a local HTTP server: what it sends (redacted, both formats), its retry, and its bound at the end.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redactor } from '../../src/connections';
import { parseProfiles } from '../../src/connections/profilesFile';
import type { Output } from '../../src/format';
import type { RunnableCell } from '../../src/run/cells';
import type { RunSummary } from '../../src/run/loop';
import { eventText, notifier, notifyBody, type NotifyEvent } from '../../src/run/notify';
import type { Plan } from '../../src/run/plan';
import { startRun } from '../../src/run/run';
import { rehearsalDurations, remainingEstimateMs } from '../../src/run/window-watch';
import { sourceHash, type LogEvent } from '../../src/format';

const SECRET = 'S3cr3t-canary-pw';

async function server(handler: (path: string, res: http.ServerResponse) => void): Promise<{ url: string; bodies: { path: string; body: string }[]; close(): Promise<void> }> {
  const bodies: { path: string; body: string }[] = [];
  const open = new Set<http.ServerResponse>();
  const s = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', body });
      open.add(res);
      handler(req.url ?? '', res);
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    bodies,
    close: async () => {
      for (const r of open) r.destroy();
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

const cell = (n: number, name?: string): RunnableCell => ({ number: n, index: n, cell: { kind: 'sql', source: 'select 1', options: {}, outputs: [] }, ...(name ? { name } : {}) });
const summary = (over: Partial<RunSummary> = {}): RunSummary => ({ target: 'dev', environment: 'development', selected: 1, ran: 1, counts: { ok: 1 }, lost: [], allowed: [], recovered: 0, ms: 1200, ...over });
const plan = {} as Plan;

describe('notifications: what is sent', () => {
  it('says each event in words and escapes Slack\'s control characters', () => {
    const e: NotifyEvent = { event: 'cell.failed', at: '2026-12-03T02:00:00.000Z', run: 'r1', runbook: { title: 'A <b> & c', file: 'x.runbook' }, target: { connection: 'prod-main', environment: 'production' }, operator: 'ana', cell: { number: 3, name: 'add' }, error: 'boom' };
    assert.equal(eventText(e), 'Cell failed: cell 3 (add) of A <b> & c on prod-main (production): boom (run r1)');
    const slack = notifyBody(e, 'slack') as { text: string; blocks: { type: string }[] };
    assert.equal(slack.text, 'Cell failed: cell 3 (add) of A &lt;b&gt; &amp; c on prod-main (production): boom (run r1)');
    assert.deepEqual(slack.blocks.map((b) => b.type), ['section', 'context']);
    assert.equal(notifyBody(e, 'json'), e);
  });

  it('sends start, the failure and the finish redacted, retries a 500 once, and records failures as warnings', async () => {
    const srv = await server((p, res) => (p.startsWith('/fail') ? res.writeHead(500).end() : res.writeHead(200).end('ok')));
    const warnings: string[] = [];
    try {
      const redactor = new Redactor([SECRET]);
      const n = notifier({
        targets: [{ url_env: 'OK', format: 'json', steps: false }, { url_env: 'FAIL', format: 'slack', steps: false }],
        url: (t) => (t.url_env === 'OK' ? `${srv.url}/ok` : `${srv.url}/fail`),
        redactor, runbook: { title: `t ${SECRET}` }, target: { connection: 'dev', environment: 'development' }, estimate: '15m',
        warn: async (_about, m) => void warnings.push(m), timeoutMs: 500,
      });
      const run = startRun('runbook run', [], 'ana');
      await n.runStarted!(run, plan);
      const failed: Output = { record: { status: 'error', error: { message: `password ${SECRET} rejected` } } };
      await n.cellFinished!(cell(1, 'x'), failed, run);
      run.status = 'failed';
      run.exit = 1;
      await n.runFinished!(run, summary({ counts: { error: 1 }, stopped: { cell: cell(1, 'x'), reason: 'boom' } }));
      const ok = srv.bodies.filter((b) => b.path === '/ok').map((b) => JSON.parse(b.body) as NotifyEvent);
      assert.deepEqual(ok.map((e) => e.event), ['run.started', 'cell.failed', 'run.finished'], 'a stop at the failed cell is not told twice');
      assert.equal(ok[1].error, 'password *** rejected');
      assert.equal(ok[0].runbook.title, 't ***');
      assert.equal(srv.bodies.filter((b) => b.path === '/fail').length, 6, 'three events, each retried once');
      for (const b of srv.bodies) assert.ok(!b.body.includes(SECRET));
      assert.equal(warnings.length, 3);
      assert.match(warnings[0], /run\.started was not delivered to notification target FAIL \(slack\): HTTP 500 \(also on the retry\)/);
      for (const w of warnings) assert.ok(!w.includes(srv.url), 'a warning names the variable, not the URL');
    } finally {
      await srv.close();
    }
  });

  it('never waits at the end longer than one timeout in all, whatever hangs', async () => {
    const srv = await server(() => undefined); // never answers
    const warnings: string[] = [];
    try {
      const n = notifier({
        targets: [{ url_env: 'A', format: 'json', steps: true }, { url_env: 'B', format: 'slack', steps: true }],
        url: () => `${srv.url}/hang`, redactor: new Redactor(), runbook: {}, target: { connection: 'dev', environment: 'development' },
        warn: async (_a, m) => void warnings.push(m), timeoutMs: 300,
      });
      const run = startRun('runbook run', [], 'ana');
      const t0 = Date.now();
      await n.runStarted!(run, plan);
      await n.cellFinished!(cell(1), { record: { status: 'ok', ms: 3 } }, run);
      const steps = Date.now() - t0;
      run.status = 'ok';
      run.exit = 0;
      const t1 = Date.now();
      await n.runFinished!(run, summary());
      const end = Date.now() - t1;
      assert.ok(steps < 150, `the run's steps did not wait (${steps} ms)`);
      assert.ok(end >= 250 && end < 300 + 250, `the end waited about one timeout (${end} ms)`);
      assert.ok(warnings.some((w) => /had no answer within 300 ms when the run ended; whether they arrived is not known/.test(w)), warnings.join('\n'));
    } finally {
      await srv.close();
    }
  });
});

describe('notifications: reading the URL', () => {
  it('does not hold the run when a target\'s URL never comes (a secret store that does not answer) or cannot be read', async () => {
    const warnings: string[] = [];
    const n = notifier({
      targets: [{ url_env: 'HANGS', format: 'json', steps: false }, { url_env: 'THROWS', format: 'json', steps: false }],
      url: (t) => (t.url_env === 'HANGS' ? new Promise<string>(() => undefined) : Promise.reject(new Error(`no secret ${SECRET}`))),
      redactor: new Redactor([SECRET]), runbook: {}, target: { connection: 'dev', environment: 'development' },
      warn: async (_a, m) => void warnings.push(m), timeoutMs: 200,
    });
    const t0 = Date.now();
    await n.runStarted!(startRun('runbook run', [], 'ana'), plan);
    const ms = Date.now() - t0;
    assert.ok(ms >= 150 && ms < 2_000, `the start waited about one timeout for the URL that never came (${ms} ms)`);
    assert.deepEqual(warnings, [
      'notification target HANGS (json): the URL in HANGS could not be read within 200 ms; nothing is sent to it',
      'notification target THROWS (json): the URL in THROWS could not be read; nothing is sent to it',
    ]);
  });
});

describe('window: the rest of a run\'s estimate', () => {
  const c = (n: number, estimate?: string): RunnableCell => ({ number: n, index: n, cell: { kind: 'sql', source: '', options: estimate ? { estimate } : {}, outputs: [] } });
  it('sums the cells\' own estimates, else the front matter\'s minus the elapsed time', () => {
    assert.equal(remainingEstimateMs([c(1, '1m'), c(2, '90s')], 0, undefined), 150_000);
    assert.equal(remainingEstimateMs([c(1, '1m'), c(2)], 5 * 60_000, 15 * 60_000), 10 * 60_000);
    assert.equal(remainingEstimateMs([c(1, '12m'), c(2)], 5 * 60_000, 15 * 60_000), 12 * 60_000, 'at least what the cells say');
    assert.equal(remainingEstimateMs([c(1, '1m'), c(2)], 0, undefined), 60_000, 'a lower bound');
    assert.equal(remainingEstimateMs([c(1), c(2)], 0, undefined), undefined);
    assert.equal(remainingEstimateMs([c(1)], 20 * 60_000, 15 * 60_000), 0);
    assert.equal(remainingEstimateMs([c(1, '1m'), c(2)], 0, undefined, new Map([[2, 30_000]])), 90_000, 'a rehearsal\'s duration stands in for a missing estimate');
  });

  it('takes each cell\'s latest ok rehearsal of the same source, never a production run\'s', () => {
    const cells = [c(1), c(2)];
    const run = (id: string, environment: string): LogEvent => ({ e: 'run', run: { id, command: 'runbook run', by: 'a', started: '2026-12-01T00:00:00.000Z', connection: 'x', environment } });
    const attempt = (runId: string, cell: number, ms: number, src: string, status = 'ok'): LogEvent => ({ e: 'attempt', attempt: { run: runId, cell, status, ms }, src });
    const src = (n: number): string => sourceHash(cells[n - 1].cell);
    const events = [
      run('r1', 'staging'), attempt('r1', 1, 1000, src(1)), attempt('r1', 2, 2000, src(2)),
      run('r2', 'staging'), attempt('r2', 1, 1500, src(1)), attempt('r2', 2, 9000, src(2), 'error'),
      run('r3', 'production'), attempt('r3', 1, 99_000, src(1)),
      run('r4', 'staging'), attempt('r4', 2, 7000, 'another-source-hash'),
    ];
    assert.deepEqual([...rehearsalDurations(events, cells)], [[1, 1500], [2, 2000]]);
  });
});

describe('notify in connection profiles', () => {
  it('reads a profile\'s notify list', () => {
    const [p] = parseProfiles('connections:\n  prod:\n    environment: production\n    notify:\n      - url_env: SLACK_HOOK\n        format: slack\n        steps: true\n', '/x/runbook.connections.yaml');
    assert.deepEqual(p.notify, [{ url_env: 'SLACK_HOOK', format: 'slack', steps: true }]);
  });
  it('refuses a URL in the profile with file:line, never repeating it', () => {
    assert.throws(
      () => parseProfiles('connections:\n  prod:\n    environment: production\n    notify:\n      - url: https://hooks.example/T0/B0/tok3n\n        format: slack\n', '/x/c.yaml'),
      (e: Error) => /^\/x\/c\.yaml:5:\d+: "notify" of connection "prod": notify entry 1 has a "url" key: a webhook URL is a secret/.test(e.message) && !e.message.includes('tok3n'),
    );
    assert.throws(() => parseProfiles('connections:\n  prod:\n    environment: production\n    notify: SLACK\n', '/x/c.yaml'), /notify must be a list/);
  });
});
