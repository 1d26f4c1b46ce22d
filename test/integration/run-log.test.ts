// Integration test of the migration log the run loop writes: four runs in one file, verified, and each kind of edit caught.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parseRunbook, type LogEvent } from '../../src/format';
import { freshDatabase, type FreshDatabase } from './harness';
import { runCli, type CliResult } from './cli';

const cli = (args: string[], cwd?: string): CliResult => runCli(args, { cwd });
const sql = (source: string, name: string): string => `\`\`\`sql {"name":"${name}"}\n${source}\n\`\`\`\n\n`;
const eventsOf = (file: string): LogEvent[] => parseRunbook(fs.readFileSync(file)).log?.events ?? [];

describe('the migration log of real runs', function () {
  this.timeout(180_000);
  let db: FreshDatabase;
  let dir: string;
  let admin: Client;
  let file: string;

  before(async () => {
    db = await freshDatabase('run_log');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-log-'));
    admin = new Client(db.clientConfig);
    await admin.connect();
    file = path.join(dir, 'log.runbook');
    fs.writeFileSync(file, '---\ntitle: Log test\nestimate: 5m\n---\n\n# Log test\n\n' + sql('CREATE TABLE log_items (id int);', 'create') + sql('INSERT INTO log_items VALUES (1);', 'insert') +
      sql('SELECT 1 / (SELECT count(*) - 1 FROM log_items) AS check_items;', 'check') + '- [ ] Checked by hand\n\n' + sql('SELECT count(*) AS items FROM log_items;', 'count'));
  });
  after(async () => {
    await admin.end();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a run, a failed run, a refused run and a resume in one log, in order, and verify passes on it', async () => {
    assert.equal(cli(['run', file, '-c', db.url, '--only', 'create']).status, 0);
    const failed = cli(['run', file, '-c', db.url, '--from', 'insert', '--confirm-checklists']);
    assert.equal(failed.status, 1, 'the check divides by zero with one row');
    assert.match(failed.stdout, /division by zero/);
    const refused = cli(['run', file, '-c', db.url, '--from', 'check']);
    assert.equal(refused.status, 1, 'nobody can confirm the checklist: refused before anything runs');
    await admin.query('INSERT INTO log_items VALUES (2)');
    const resumed = cli(['run', file, '-c', db.url, '--from', 'check', '--confirm-checklists']);
    assert.equal(resumed.status, 0, resumed.stdout + resumed.stderr);

    const events = eventsOf(file);
    const runs = events.filter((e) => e.e === 'run').map((e) => (e.e === 'run' ? e.run : undefined)!);
    const ends = events.filter((e) => e.e === 'end').map((e) => (e.e === 'end' ? e.end : undefined)!);
    assert.equal(runs.length, 4);
    assert.deepEqual(ends.map((e) => e.status), ['ok', 'failed', 'refused', 'ok']);
    assert.deepEqual(runs.map((r) => r.flags?.slice(2)), [['--only', 'create'], ['--from', 'insert', '--confirm-checklists'], ['--from', 'check'], ['--from', 'check', '--confirm-checklists']]);
    assert.ok(runs.every((r) => r.flags?.[0] === '--connection' && !/:[^:@/]+@/.test(String(r.flags?.[1]))), 'the URI is recorded without a password');
    // Every run's events sit between its start and its end, and the attempts are in the order the cells ran.
    const attempts = events.filter((e) => e.e === 'attempt').map((e) => (e.e === 'attempt' ? `${runs.findIndex((r) => r.id === e.attempt.run) + 1}:#${e.attempt.cell}:${e.attempt.status}` : ''));
    assert.deepEqual(attempts, ['1:#1:ok', '2:#2:ok', '2:#3:error', '4:#3:ok', '4:#4:ok', '4:#5:ok']);
    assert.match(String(ends[2].reasons?.[0]), /cell 4 is a checklist with 1 item to confirm/);
    const v = cli(['verify', file]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const log = cli(['log', file]);
    assert.equal(log.status, 0);
    assert.match(log.stdout, /refused/);
    assert.match(log.stdout, /estimated 5 min/);
  });

  it('fails verify, naming the first break, on each kind of edit', () => {
    const text = fs.readFileSync(file, 'utf8');
    const attempt = (edited: string): { status: number | null; out: string } => {
      const f = path.join(dir, `edited-${Math.random().toString(36).slice(2)}.runbook`);
      fs.writeFileSync(f, edited);
      const r = cli(['verify', f]);
      return { status: r.status, out: r.stdout + r.stderr };
    };
    assert.notEqual(text.replace(/\n {5}2\n/, '\n     3\n'), text, 'the count body is there to edit');
    const body = attempt(text.replace(/\n {5}2\n/, '\n     3\n'));
    assert.equal(body.status, 1, body.out);
    const record = attempt(text.replace(/("name":"count"[\s\S]*?runbook:output \{"status":"ok","started":"[^"]+","ms":)(\d+)/, (_m, a: string, ms: string) => `${a}${Number(ms) + 1}`));
    assert.equal(record.status, 1, record.out);
    const lines = text.split('\n');
    const firstAttempt = lines.findIndex((l) => l.includes('runbook:event {"e":"attempt"'));
    const removed = attempt([...lines.slice(0, firstAttempt), ...lines.slice(firstAttempt + 1)].join('\n'));
    assert.equal(removed.status, 1, removed.out);
    const source = attempt(text.replace('SELECT count(*) AS items FROM log_items;', 'SELECT count(*) + 1 AS items FROM log_items;'));
    assert.equal(source.status, 1, source.out);
    for (const r of [body, record, removed, source]) assert.match(r.out, /line \d+/, 'verify names where the first break is');
  });

  it('writes an executed copy with --output and leaves the template byte for byte', () => {
    const template = path.join(dir, 'template.runbook');
    fs.writeFileSync(template, '# Template\n\n' + sql('SELECT 42 AS answer;', 'answer'));
    const before = fs.readFileSync(template);
    const r = cli(['run', template, '-c', db.url, '--output', 'executed/{environment}-{date}.runbook', '--report', 'junit', 'reports/run.xml'], dir);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(fs.readFileSync(template), before);
    const copies = fs.readdirSync(path.join(dir, 'executed'));
    assert.equal(copies.length, 1);
    assert.match(copies[0], /^development-\d{4}-\d{2}-\d{2}\.runbook$/);
    const copy = path.join(dir, 'executed', copies[0]);
    assert.match(fs.readFileSync(copy, 'utf8'), /answer[\s\S]*42/);
    assert.equal(cli(['verify', copy]).status, 0);
    assert.match(fs.readFileSync(path.join(dir, 'reports', 'run.xml'), 'utf8'), /<testsuite[^>]*tests="1"[^>]*failures="0"/);
  });
});
