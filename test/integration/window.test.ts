// The maintenance window on a real server through the real CLI: a production run outside it is refused, allowed with
// --outside-window (recorded with who), the rest that would overrun it stops a non-interactive run, and the log says so.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRunbook, parseWindow, type LogEvent } from '../../src/format';
import { freshDatabase, type FreshDatabase } from './harness';
import { cellsOf, rec, runCli, sql } from './cli';

const iso = (ms: number): string => new Date(ms).toISOString();
const MIN = 60_000;
const eventsOf = (file: string): LogEvent[] => parseRunbook(fs.readFileSync(file)).log?.events ?? [];

describe('window (CLI, real PostgreSQL)', function () {
  this.timeout(120_000);
  let db: FreshDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    db = await freshDatabase('window');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-window-'));
    const u = new URL(db.url);
    const where = `    host: ${u.hostname}\n    port: ${u.port || 5432}\n    database: ${decodeURIComponent(u.pathname.slice(1))}\n    user: ${decodeURIComponent(u.username)}\n`;
    fs.writeFileSync(path.join(dir, 'runbook.connections.yaml'), `connections:\n  prod-main:\n    environment: production\n${where}  dev-main:\n    environment: development\n${where}`);
    env = { PGPASSWORD: decodeURIComponent(u.password), HOME: dir, RUNBOOK_CONNECTIONS: path.join(dir, 'runbook.connections.yaml') };
  });
  after(async () => {
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, front: string, body: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `---\n${front}---\n\n# ${name}\n\n${body}`);
    return file;
  };

  it('refuses a production run outside its window before anything runs, and allows it with --outside-window, recorded with who', () => {
    const window = `${iso(Date.now() - 3 * 60 * MIN)}/PT1H`;
    const file = write('outside.runbook', `title: Outside\nconnection: prod-main\nwindow: ${window}\n`, sql('SELECT 1 AS read_only;') + sql('CREATE TABLE w_outside(id int);'));
    const refused = runCli(['run', file, '--confirm-production', 'prod-main', '--without-rehearsal'], { env });
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /outside the runbook's window, .* UTC \(1 h\): it closed 2 h .*ago\. A production run outside its window is refused: .*--outside-window/);
    assert.deepEqual(cellsOf(file).map((c) => c.outputs.length), [0, 0], 'nothing ran, not even the read-only cell');
    let events = eventsOf(file);
    const end = events.find((e) => e.e === 'end');
    assert.ok(end && end.e === 'end' && end.end.status === 'refused' && /outside its window/.test(end.end.reasons?.join(' ') ?? ''));
    const run1 = events.find((e) => e.e === 'run');
    const expected = parseWindow(window);
    assert.ok(expected.ok && run1?.e === 'run');
    assert.equal(run1.run.window, expected.window.iso, 'the run records the window, in UTC');

    const allowed = runCli(['run', file, '--confirm-production', 'prod-main', '--without-rehearsal', '--outside-window'], { env });
    assert.equal(allowed.status, 0, allowed.stdout + allowed.stderr);
    assert.deepEqual(cellsOf(file).map((c) => rec(c).status), ['ok', 'ok']);
    events = eventsOf(file);
    const run2 = events.filter((e) => e.e === 'run').pop();
    assert.ok(run2?.e === 'run');
    assert.ok(run2.run.flags?.includes('--outside-window'));
    const warning = events.find((e) => e.e === 'warning' && e.warning.run === run2.run.id);
    assert.ok(warning?.e === 'warning');
    assert.equal(warning.warning.about, 'window');
    assert.match(warning.warning.message, /started outside its window .*allowed by test-operator \(--outside-window\)/);
    const end2 = events.filter((e) => e.e === 'end').pop();
    assert.ok(end2?.e === 'end');
    assert.deepEqual(end2.end.window, { interval: run2.run.window, verdict: 'started outside', override: { by: 'test-operator', with: '--outside-window' } });
    const log = runCli(['log', file], { env });
    assert.equal(log.status, 0, log.stderr);
    assert.match(log.stdout, /- Window: .* UTC – .* UTC \(1 h\)/);
    assert.match(log.stdout, /\*\*warning\*\* \(window\): production run started outside its window/);
    assert.match(log.stdout, /\*\*Window:\*\* .*\*\*started outside it\*\*, allowed by test-operator \(`--outside-window`\)/);
    const verify = runCli(['verify', file], { env });
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  });

  it('runs inside the window without asking, and outside it on a non-production connection', () => {
    const inside = write('inside.runbook', `connection: prod-main\nwindow:\n  start: ${iso(Date.now() - 10 * MIN)}\n  duration: 1h\n`, sql('CREATE TABLE w_inside(id int);'));
    const r = runCli(['run', inside, '--confirm-production', 'prod-main', '--without-rehearsal'], { env });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const end = eventsOf(inside).filter((e) => e.e === 'end').pop();
    assert.ok(end?.e === 'end');
    assert.equal(end.end.window?.verdict, 'within');
    assert.equal(end.end.window?.override, undefined);
    const dev = write('dev.runbook', `connection: dev-main\nwindow: ${iso(Date.now() - 3 * 60 * MIN)}/PT1H\n`, sql('CREATE TABLE w_dev(id int);'));
    const d = runCli(['run', dev], { env });
    assert.equal(d.status, 0, d.stdout + d.stderr);
    const devEnd = eventsOf(dev).filter((e) => e.e === 'end').pop();
    assert.ok(devEnd?.e === 'end' && devEnd.end.window?.verdict === 'started outside' && devEnd.end.window.override === undefined);
  });

  it('stops a non-interactive run before the mutating cell whose estimate would overrun the window, with the reason recorded', () => {
    const window = `${iso(Date.now() - 10 * MIN)}/${iso(Date.now() + 2 * MIN)}`;
    const file = write('overrun.runbook', `connection: prod-main\nwindow: ${window}\n`, sql('SELECT 1 AS quick;') + sql('CREATE TABLE w_overrun(id int);', { estimate: '10m' }) + sql('SELECT 2;'));
    const r = runCli(['run', file, '--confirm-production', 'prod-main', '--without-rehearsal'], { env });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /Stopped at cell 2: The rest of the run \(2 cells from cell 2, estimated 10 min\) would end about .* UTC, after the window closes at .* UTC; nobody can be asked here/);
    const cells = cellsOf(file);
    assert.equal(rec(cells[0]).status, 'ok');
    assert.equal(cells[1].outputs.length, 0, 'the mutating cell did not run');
    const events = eventsOf(file);
    const end = events.filter((e) => e.e === 'end').pop();
    assert.ok(end?.e === 'end' && end.end.status === 'stopped' && /would end about/.test(end.end.reasons?.[0] ?? ''));
    assert.ok(events.some((e) => e.e === 'warning' && e.warning.about === 'window' && /nobody can be asked/.test(e.warning.message)));
  });

  it('says and logs when the run takes longer than its estimate', () => {
    const file = write('estimate.runbook', 'connection: dev-main\nestimate: 1s\n', sql('SELECT pg_sleep(1.3);') + sql('SELECT 1;'));
    const r = runCli(['run', file], { env });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /The run has taken longer than its estimate of 1\.0 s/);
    const w = eventsOf(file).find((e) => e.e === 'warning');
    assert.ok(w?.e === 'warning' && w.warning.about === 'estimate', JSON.stringify(w));
    assert.equal(runCli(['verify', file], { env }).status, 0);
  });
});
