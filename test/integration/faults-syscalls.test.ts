// kill -9 at exact system calls of the real CLI, injected with strace (`-e inject=SYSCALL:signal=KILL`): between a
// checkpoint's rename of the runbook and its removal of the journal, and between a fold's rewrite of the runbook and
// its rewrite of the journal. Random kills (faults.test.ts) hit these windows about once in a few hundred runs; here
// each is hit every time. Resumed as a user would, the file must verify and hold every event once (issue 9).

import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parseRunbook, type LogEvent } from '../../src/format';
import { CLI, runCli, sh, sql, startCli, waitFor, type CliResult } from './cli';
import { freshDatabase, type FreshDatabase } from './harness';
import { runSessionPids } from './fault-tools';

/** Whether strace can trace a child here (installed, and ptrace allowed in this container). */
const straceWorks = (): boolean => spawnSync('strace', ['-qq', '-o', '/dev/null', 'true']).status === 0;

/**
 * Runs the CLI in `cwd` under strace, killed with SIGKILL on entering its `when`-th `syscall` (on `file` only, when given:
 * an absolute path without links, as the CLI is given it; strace's `-P` resolves an existing path to its real path and
 * compares it with the first path the call passes). Bounded: killed after 60 s whatever happens.
 */
function runKilledAt(syscall: string, file: string | undefined, args: string[], cwd: string, when = 1): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  const only = file === undefined ? [] : ['-P', file];
  const child = spawn('strace', ['-f', '-qq', '-o', '/dev/null', '-e', `trace=${syscall}`, '-e', `inject=${syscall}:signal=KILL:when=${when}`, ...only, process.execPath, CLI, ...args], {
    cwd,
    env: { ...process.env, RUNBOOK_OPERATOR: 'test-operator' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    }),
  );
}

/**
 * Which rename(2) of a run puts a new file at `target` (1 for the first rename the run makes): found by running the
 * same command under strace on a copy of `dir`, against a server that refuses connections. What a run does to its
 * files before it connects (the lock, the fold of a journal) is the same there, and the database is not touched.
 * strace's `-P` matches only rename's first path (a random temporary name), so the kill is placed by this count.
 * @throws AssertionError when that run made no such rename
 */
function nthRenameOnto(target: string, dir: string, args: string[]): number {
  const copy = fs.mkdtempSync(`${dir}-copy-`);
  try {
    fs.cpSync(dir, copy, { recursive: true });
    const trace = path.join(copy, 'strace.out');
    const moved = args.map((a) => (a.startsWith(dir + path.sep) ? copy + a.slice(dir.length) : a)).map((a) => (/^postgres(ql)?:\/\//.test(a) ? 'postgresql://nobody@127.0.0.1:1/none' : a));
    spawnSync('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=rename', process.execPath, CLI, ...moved], { cwd: copy, env: { ...process.env, RUNBOOK_OPERATOR: 'test-operator' }, timeout: 60_000 });
    const renames = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => /\brename\(/.test(l));
    const want = JSON.stringify(copy + target.slice(dir.length));
    const n = renames.findIndex((l) => l.includes(`, ${want})`)) + 1;
    assert.ok(n > 0, `no rename onto ${want} in:\n${renames.join('\n')}`);
    return n;
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
}

/** Runs the CLI to the end as a user would after a kill: again with `--cancel-stale` when the refusal names it. */
function resume(args: string[], cwd: string): CliResult {
  const r = runCli(args, { cwd });
  if (r.status !== 1 || !/--cancel-stale/.test(r.stderr)) return r;
  const again = runCli([...args, '--cancel-stale'], { cwd });
  return { status: again.status, stdout: r.stdout + again.stdout, stderr: r.stderr + again.stderr };
}

const eventsOf = (file: string): LogEvent[] => parseRunbook(fs.readFileSync(file)).log?.events ?? [];
/** Run ids in the order their `run` events stand in the log (a duplicate shows twice). */
const runIds = (events: LogEvent[]): string[] => events.flatMap((e) => (e.e === 'run' ? [e.run.id] : []));

/** The file verifies, each run starts once in its log, each event stands once, and no journal is left. */
function assertWholeIn(file: string): LogEvent[] {
  const verify = runCli(['verify', file]);
  assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  const events = eventsOf(file);
  const ids = runIds(events);
  assert.equal(new Set(ids).size, ids.length, `every run starts once in the log: ${ids.join(', ')}`);
  const hashes = events.map((e) => e.h);
  assert.equal(new Set(hashes).size, hashes.length, 'no event stands in the log twice');
  assert.ok(!fs.existsSync(`${file}.journal`), 'no journal is left');
  return events;
}

/** The messages of the assertions `check` fails with (none when it passes). */
function assertionsOf(check: () => unknown): string[] {
  try {
    check();
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

/** The database, admin client and folder of a describe block of this file; the block is skipped where strace cannot trace. */
function straceFixture(database: string, folder: string): { db: FreshDatabase; admin: Client; dir: string } {
  const fx = {} as { db: FreshDatabase; admin: Client; dir: string };
  before(async function () {
    if (!straceWorks()) {
      console.log('      [faults-syscalls] strace cannot trace here (not installed, or ptrace refused): skipped');
      this.skip();
    }
    fx.db = await freshDatabase(database);
    fx.admin = new Client(fx.db.clientConfig);
    await fx.admin.connect();
    fx.dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), folder)));
  });
  after(async () => {
    await fx.admin?.end();
    await fx.db?.drop();
    if (fx.dir) fs.rmSync(fx.dir, { recursive: true, force: true });
  });
  return fx;
}

describe('faults: kill -9 at exact system calls (strace fault injection, real CLI, real PostgreSQL)', function () {
  this.timeout(120_000);
  const fx = straceFixture('faults_syscalls', 'runbook-faults-syscalls-');

  /** Three cells; the second sleeps past the checkpoint interval (500 ms), so a checkpoint comes before the end. */
  const threeCells = sql('SELECT 1 AS one;') + sql('SELECT pg_sleep(0.6) AS slept;') + sql('SELECT 3 AS three;');



  for (const point of [
    { syscall: 'unlink', on: 'the journal', target: (f: string) => `${f}.journal`, why: 'after the checkpoint renamed the runbook and before it removed the journal' },
  ]) {
    it(`killed ${point.why}: the next run folds what the journal holds once, and ends the killed run as interrupted`, async () => {
      const name = `${point.syscall}.runbook`;
      const file = path.join(fx.dir, name);
      fs.writeFileSync(file, `# Killed at ${point.syscall}\n\n${threeCells}`);
      const killed = await runKilledAt(point.syscall, point.target(file), ['run', file, '-c', fx.db.url], fx.dir);
      assert.equal(killed.signal, 'SIGKILL', `the run was killed at ${point.syscall} of ${point.on}: ${killed.stdout}${killed.stderr}`);
      assert.ok(fs.existsSync(`${file}.journal`), 'the killed run left its journal');
      const r = resume(['run', name, '-c', fx.db.url], fx.dir);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /never finished: recorded as interrupted/);
      const events = assertWholeIn(file);
      const [first, second] = runIds(events);
      const end = events.find((e) => e.e === 'end' && e.end.run === first);
      assert.ok(end?.e === 'end' && end.end.status === 'interrupted', JSON.stringify(end));
      assert.equal(end.end.exit, undefined, 'a killed run\'s exit status is not known, so none is recorded');
      assert.ok(events.some((e) => e.e === 'end' && e.end.run === second && e.end.status === 'ok'));
      // The killed run's first cell finished before the kill: its attempt is in the log, once.
      const attempts = events.filter((e) => e.e === 'attempt' && e.attempt.run === first && e.attempt.cell === 1);
      assert.equal(attempts.length, 1, JSON.stringify(attempts));
    });
  }

  it('killed mid-cell, then the next run killed after its fold rewrote the runbook and before it rewrote the journal: the run after settles the cell once', async () => {
    const name = 'fold.runbook';
    const file = path.join(fx.dir, name);
    fs.writeFileSync(file, '# Killed twice\n\n' + sql('SELECT 1 AS one;') + sql("SELECT pg_sleep(30), 'syscalls-unfinished';") + sql('SELECT 3 AS three;'));
    const first = startCli(['run', name, '-c', fx.db.url], { cwd: fx.dir });
    await waitFor('cell 2 to run', async () => (await runSessionPids(fx.admin)).some((s) => s.query.includes('syscalls-unfinished')));
    first.child.kill('SIGKILL');
    await first.done;
    // Its backend may sleep on until the server notices the client is gone: a user stops it with --cancel-stale.
    const args = ['run', file, '-c', fx.db.url, '--only', '3', '--cancel-stale'];
    const second = await runKilledAt('rename', undefined, args, fx.dir, nthRenameOnto(`${file}.journal`, fx.dir, args));
    assert.equal(second.signal, 'SIGKILL', `the second run was killed at its fold: ${second.stdout}${second.stderr}`);
    assert.doesNotMatch(second.stdout, /never finished/, 'killed before it settled the first run (else this test proves nothing)');
    assert.match(fs.readFileSync(`${file}.journal`, 'utf8'), /"t":"started"/, 'the journal still says cell 2 started');
    const third = resume(['run', name, '-c', fx.db.url, '--only', '3', '--cancel-stale'], fx.dir);
    assert.equal(third.status, 0, third.stdout + third.stderr);
    assert.match(third.stdout, /cell 2 started at .* never finished/);
    const events = assertWholeIn(file);
    const cell2 = events.filter((e) => e.e === 'attempt' && e.attempt.cell === 2);
    assert.deepEqual(cell2.map((e) => (e.e === 'attempt' ? e.attempt.status : '')), ['unknown'], 'cell 2 is settled unknown, once');
    const cell1 = events.filter((e) => e.e === 'attempt' && e.attempt.cell === 1);
    assert.equal(cell1.length, 1, 'cell 1\'s attempt, folded by the killed second run and again by the third, stands once');
  });
});

/** `16 kill points (2 rename, 5 unlink, …)`: how many of each call a sweep killed at. */
function describePoints(points: readonly KillPoint[]): string {
  const kinds = [...new Set(points.map((p) => p.syscall))].map((k) => `${points.filter((p) => p.syscall === k).length} ${k}`);
  return `${points.length} kill points (${kinds.join(', ')})`;
}

/** One place to kill a run: its `n`-th call of `syscall` (counting only those on the runbook's journal, when `journal`). */
interface KillPoint {
  syscall: string;
  n: number;
  journal?: boolean;
}

/**
 * Every call a run makes that changes the runbook's folder: each rename(2), unlink(2) and link(2) of the run's main
 * thread, and each write(2) to the journal, from a trace of the same command run to the end on a copy of the runbook
 * (`restore` puts the files there: by default the runbook alone).
 */
function killPoints(file: string, args: (f: string) => string[], restore: (dir: string) => void = (d) => fs.copyFileSync(file, path.join(d, path.basename(file)))): KillPoint[] {
  const copyDir = fs.mkdtempSync(`${path.dirname(file)}-points-`);
  try {
    const copy = path.join(copyDir, path.basename(file));
    restore(copyDir);
    const trace = path.join(copyDir, 'strace.out');
    const env = { ...process.env, RUNBOOK_OPERATOR: 'test-operator' };
    spawnSync('strace', ['-qq', '-o', trace, '-e', 'trace=rename,unlink,link', process.execPath, CLI, ...args(copy)], { cwd: copyDir, env, timeout: 60_000 });
    const calls = fs.readFileSync(trace, 'utf8').split('\n');
    const points: KillPoint[] = [];
    for (const syscall of ['rename', 'unlink', 'link']) {
      const n = calls.filter((l) => l.startsWith(`${syscall}(`) && l.includes(copyDir)).length;
      for (let i = 1; i <= n; i++) points.push({ syscall, n: i });
    }
    fs.rmSync(copyDir, { recursive: true, force: true });
    fs.mkdirSync(copyDir);
    restore(copyDir);
    spawnSync('strace', ['-qq', '-o', trace, '-e', 'trace=write', '-P', `${copy}.journal`, process.execPath, CLI, ...args(copy)], { cwd: copyDir, env, timeout: 60_000 });
    const writes = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => l.startsWith('write(')).length;
    for (let i = 1; i <= writes; i++) points.push({ syscall: 'write', n: i, journal: true });
    return points;
  } finally {
    fs.rmSync(copyDir, { recursive: true, force: true });
  }
}

describe('faults: kill -9 at every step a run takes on its files (strace fault injection, real CLI, real PostgreSQL)', function () {
  this.timeout(300_000);
  const fx = straceFixture('faults_steps', 'runbook-faults-steps-');

  /** A runbook of `total` cells to kill at every step, with what each insert cell writes (key by cell number). */
  interface Sweep {
    title: string;
    total: number;
    cells: (table: string) => string;
    /** Autocommit insert cells: key by cell number. */
    inserts: Record<number, string>;
    /** A BEGIN … COMMIT span's insert: its cell and key. */
    span?: { cell: number; key: string };
    /** A shell cell that appends a line to `TABLE.ran` (in the runbook's folder) each time it runs. */
    shell?: number;
  }
  const sweeps: Sweep[] = [
    {
      // The second sleeps past the checkpoint interval (500 ms), so the run checkpoints mid-way.
      title: 'three autocommit cells',
      total: 3,
      cells: (t) => sql(`INSERT INTO ${t} VALUES ('a');`) + sql(`SELECT pg_sleep(0.6); INSERT INTO ${t} VALUES ('b');`) + sql(`INSERT INTO ${t} VALUES ('c');`),
      inserts: { 1: 'a', 2: 'b', 3: 'c' },
    },
    {
      title: 'a BEGIN … COMMIT span between two autocommit cells',
      total: 5,
      cells: (t) => sql(`INSERT INTO ${t} VALUES ('a');`) + sql('BEGIN;') + sql(`SELECT pg_sleep(0.6); INSERT INTO ${t} VALUES ('b');`) + sql('COMMIT;') + sql(`INSERT INTO ${t} VALUES ('c');`),
      inserts: { 1: 'a', 5: 'c' },
      span: { cell: 3, key: 'b' },
    },
    {
      // Its bash's process group is journaled (a `pgid` line) as it starts.
      title: 'a shell cell between two autocommit cells',
      total: 3,
      cells: (t) => sql(`INSERT INTO ${t} VALUES ('a');`) + sh(`sleep 0.6\necho ran >> ${t}.ran`) + sql(`INSERT INTO ${t} VALUES ('c');`),
      inserts: { 1: 'a', 3: 'c' },
      shell: 2,
    },
  ];

  /** Runs a file on from `from` as a user would: a refusal that names the `--from` that works is followed once. */
  function resumeFrom(file: string, from: number): CliResult & { from: number } {
    const r = resume(['run', file, '-c', fx.db.url, ...(from > 1 ? ['--from', String(from)] : [])], fx.dir);
    const suggested = /--from (\d+)/.exec(r.stderr);
    if (r.status === 0 || !suggested || Number(suggested[1]) === from) return { ...r, from };
    const again = resume(['run', file, '-c', fx.db.url, ...(Number(suggested[1]) > 1 ? ['--from', suggested[1]] : [])], fx.dir);
    return { status: again.status, stdout: r.stdout + again.stdout, stderr: r.stderr + again.stderr, from: Number(suggested[1]) };
  }

  for (const [n, sweep] of sweeps.entries()) {
    it(`${sweep.title}: loses no finished record, runs nothing twice unrecorded and leaves a log that verifies, wherever the run is killed`, async () => {
      const probeTable = `steps${n}_probe`;
      await fx.admin.query(`CREATE TABLE ${probeTable} (k text)`);
      const probe = path.join(fx.dir, `${probeTable}.runbook`);
      fs.writeFileSync(probe, '# Steps\n\n' + sweep.cells(probeTable));
      const points = killPoints(probe, (f) => ['run', f, '-c', fx.db.url]);
      assert.ok(points.filter((p) => p.syscall === 'write').length >= sweep.total, `a journal write per cell at least: ${JSON.stringify(points)}`);
      assert.ok(points.some((p) => p.syscall === 'rename') && points.some((p) => p.syscall === 'unlink'), JSON.stringify(points));
      const failures: string[] = [];
      let killed = 0;
      for (const [i, point] of points.entries()) {
        const table = `steps${n}_${i}`;
        await fx.admin.query(`CREATE TABLE ${table} (k text)`);
        const file = path.join(fx.dir, `${table}.runbook`);
        fs.writeFileSync(file, '# Steps\n\n' + sweep.cells(table));
        const where = `${point.syscall} #${point.n}${point.journal ? ' on the journal' : ''}`;
        const first = await runKilledAt(point.syscall, point.journal ? `${file}.journal` : undefined, ['run', file, '-c', fx.db.url], fx.dir, point.n);
        if (first.signal === 'SIGKILL') killed++;
        else if (first.status !== 0) failures.push(`${where}: the run was neither killed nor ok: ${first.stdout}${first.stderr}`);
        // As a user would: run again from the first cell not shown ok (the tool refuses a --from it cannot honour).
        const shownOk = [...first.stdout.matchAll(/^\[\d+\/\d+\] #(\d+) \(\w+\)\s+ok/gm)].map((m) => Number(m[1]));
        const from = shownOk.length ? Math.max(...shownOk) + 1 : 1;
        if (from <= sweep.total) {
          const r = resumeFrom(file, from);
          if (r.status !== 0) failures.push(`${where}: the resumed run --from ${r.from} ended ${r.status}: ${r.stdout}${r.stderr}`);
        } else if (first.signal === 'SIGKILL') {
          // Every cell was shown ok, then the process was killed writing its records: when the journal holds records
          // the file lacks, verify fails naming `runbook recover` (else the file is whole and verify passes).
          const v = runCli(['verify', file]);
          if (v.status !== 0 && !/INCOMPLETE: .*runbook recover/.test(v.stdout)) failures.push(`${where}: verify failed for another reason: ${v.stdout}${v.stderr}`);
          const r = runCli(['recover', file]);
          if (r.status !== 0) failures.push(`${where}: recover ended ${r.status}: ${r.stdout}${r.stderr}`);
        }
        try {
          failures.push(...(await recordProblems(file, table, sweep)).map((p) => `${where}: ${p}`));
        } catch (e) {
          failures.push(`${where}: ${(e as Error).message}`);
        }
      }
      console.log(`      [faults-syscalls] ${sweep.title}: ${describePoints(points)}, ${killed} runs killed there`);
      assert.deepEqual(failures, []);
      assert.ok(killed >= points.length - 2, `almost every kill point was reached (${killed} of ${points.length}): a run's steps are the same from run to run`);
    });
  }

  /**
   * What is wrong with a file after its runs, against the table its inserts wrote: it must verify, start each run
   * once, leave no journal, and cover every row: an insert applied n times has at least n attempts that say it may
   * have (ok, or unknown), every ok attempt is in the table; the span's row once per committed span, at most once more
   * per span whose fate is unknown.
   */
  async function recordProblems(file: string, table: string, sweep: Sweep): Promise<string[]> {
    const out: string[] = [];
    const events = eventsOf(file);
    const verify = runCli(['verify', file]);
    if (verify.status !== 0) out.push(verify.stdout + verify.stderr);
    const ids = runIds(events);
    if (new Set(ids).size !== ids.length) out.push(`a run starts twice in the log: ${ids.join(', ')}`);
    if (fs.existsSync(`${file}.journal`)) out.push('a journal is left');
    const rows = new Map((await fx.admin.query<{ k: string; n: number }>(`SELECT k, count(*)::int AS n FROM ${table} GROUP BY k`)).rows.map((r) => [r.k, r.n]));
    for (const [cell, k] of Object.entries(sweep.inserts)) {
      const attempts = events.flatMap((e) => (e.e === 'attempt' && e.attempt.cell === Number(cell) ? [e.attempt.status] : []));
      const ok = attempts.filter((s) => s === 'ok').length;
      const unknown = attempts.filter((s) => s === 'unknown').length;
      const applied = rows.get(k) ?? 0;
      if (applied < 1 || ok > applied || applied > ok + unknown) out.push(`cell ${cell}: ${applied} in the table, attempts ${JSON.stringify(attempts)}`);
    }
    if (sweep.shell !== undefined) {
      const ranFile = path.join(path.dirname(file), `${table}.ran`);
      const ran = fs.existsSync(ranFile) ? fs.readFileSync(ranFile, 'utf8').split('\n').filter(Boolean).length : 0;
      const attempts = events.flatMap((e) => (e.e === 'attempt' && e.attempt.cell === sweep.shell ? [e.attempt.status] : []));
      const ok = attempts.filter((x) => x === 'ok').length;
      if (ran < 1 || ok > ran || ran > ok + attempts.filter((x) => x === 'unknown').length) out.push(`the shell cell ran ${ran} times, attempts ${JSON.stringify(attempts)}`);
    }
    if (sweep.span) {
      const fates = events.flatMap((e) => (e.e === 'span' && e.cells.includes(sweep.span!.cell) ? [e.span.fate] : []));
      const committed = fates.filter((f) => f === 'committed').length;
      const applied = rows.get(sweep.span.key) ?? 0;
      if (committed < 1 || committed > applied || applied > committed + fates.filter((f) => f === 'unknown').length) out.push(`the span's row: ${applied} in the table, span fates ${JSON.stringify(fates)}`);
    }
    return out;
  }

  /** A runbook `NAME.runbook` of `cells` in its own folder `NAME-seed`, the state each step of a sweep starts from. */
  function seedRunbook(title: string, cells: string): { name: string; seed: string; file: string } {
    const name = `${title}.runbook`;
    const seed = path.join(fx.dir, `${title}-seed`);
    fs.mkdirSync(seed);
    const file = path.join(seed, name);
    fs.writeFileSync(file, `# ${title}\n\n${cells}`);
    return { name, seed, file };
  }

  it('a resumed run killed at any step of folding and settling what a killed run left: the run after settles it once', async () => {
    const { name, seed, file } = seedRunbook('settle', sql('SELECT 1 AS one;') + sql("SELECT pg_sleep(1), 'steps-unfinished';") + sql('SELECT 3 AS three;'));
    const first = startCli(['run', file, '-c', fx.db.url], { cwd: seed });
    await waitFor('cell 2 to run', async () => (await runSessionPids(fx.admin)).some((s) => s.query.includes('steps-unfinished')));
    first.child.kill('SIGKILL');
    await first.done;
    // The server ends the dead client's statement by itself: every step below starts from the same server state.
    await waitFor('the killed run\'s session to end', async () => !(await runSessionPids(fx.admin)).some((s) => s.query.includes('steps-unfinished')), 15_000);
    assert.ok(fs.existsSync(`${file}.journal`));
    const restore = (to: string): void => {
      for (const f of fs.readdirSync(seed)) fs.copyFileSync(path.join(seed, f), path.join(to, f));
    };
    const resumeArgs = (f: string): string[] => ['run', f, '-c', fx.db.url, '--from', '2'];
    const points = killPoints(file, resumeArgs, restore);
    const failures: string[] = [];
    let killed = 0;
    for (const [i, point] of points.entries()) {
      const where = `${point.syscall} #${point.n}${point.journal ? ' on the journal' : ''}`;
      const at = path.join(fx.dir, `settle-${i}`);
      fs.mkdirSync(at);
      restore(at);
      const f = path.join(at, name);
      const second = await runKilledAt(point.syscall, point.journal ? `${f}.journal` : undefined, resumeArgs(f), at, point.n);
      if (second.signal === 'SIGKILL') killed++;
      const shownOk = [...second.stdout.matchAll(/^\[\d+\/\d+\] #(\d+) \(\w+\)\s+ok/gm)].map((m) => Number(m[1]));
      const from = Math.max(2, ...shownOk.map((n) => n + 1));
      const third = from <= 3 ? resume(['run', f, '-c', fx.db.url, '--from', String(from)], at) : runCli(['recover', f]);
      if (third.status !== 0) failures.push(`${where}: the run after ended ${third.status}: ${third.stdout}${third.stderr}`);
      // Settled once the journal is gone: a run after recover records what recover could not settle.
      if (fs.existsSync(`${f}.journal`)) {
        const r = resume(['run', f, '-c', fx.db.url, '--only', '3'], at);
        if (r.status !== 0) failures.push(`${where}: the run that settles ended ${r.status}: ${r.stdout}${r.stderr}`);
      }
      const verify = runCli(['verify', f]);
      if (verify.status !== 0) failures.push(`${where}: ${verify.stdout}${verify.stderr}`);
      const events = eventsOf(f);
      const ids = runIds(events);
      if (new Set(ids).size !== ids.length) failures.push(`${where}: a run starts twice in the log: ${ids.join(', ')}`);
      const dead = ids[0];
      const unknown = events.filter((e) => e.e === 'attempt' && e.attempt.run === dead && e.attempt.cell === 2);
      if (unknown.length !== 1 || (unknown[0].e === 'attempt' && unknown[0].attempt.status !== 'unknown')) failures.push(`${where}: cell 2 of the killed run is not settled unknown once: ${JSON.stringify(unknown)}`);
      const ends = events.filter((e) => e.e === 'end' && e.end.run === dead);
      if (ends.length !== 1 || (ends[0].e === 'end' && ends[0].end.status !== 'interrupted')) failures.push(`${where}: the killed run's end is not recorded interrupted once: ${JSON.stringify(ends)}`);
      if (fs.existsSync(`${f}.journal`)) failures.push(`${where}: a journal is left`);
      fs.rmSync(at, { recursive: true, force: true });
    }
    console.log(`      [faults-syscalls] resumed run: ${describePoints(points)}, ${killed} runs killed there`);
    assert.deepEqual(failures, []);
    assert.ok(killed >= points.length - 2, `almost every kill point was reached (${killed} of ${points.length})`);
  });
  it('runbook recover killed at any step: recovering again leaves the file whole, each event once', async () => {
    const { name, seed, file } = seedRunbook('recover', sql('SELECT 1 AS one;') + sql('SELECT pg_sleep(0.6) AS slept;') + sql('SELECT 3 AS three;'));
    // A run killed writing its final checkpoint (at the fsync(2) of the new file, the one before the folder's): the
    // records since the checkpoint mid-way, its end too, only in the journal. The fsyncs are counted on a copy.
    const copy = fs.mkdtempSync(`${seed}-fsyncs-`);
    fs.copyFileSync(file, path.join(copy, name));
    const trace = path.join(copy, 'strace.out');
    spawnSync('strace', ['-qq', '-o', trace, '-e', 'trace=fsync', process.execPath, CLI, 'run', path.join(copy, name), '-c', fx.db.url], { cwd: copy, timeout: 60_000 });
    const fsyncs = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => l.startsWith('fsync(')).length;
    fs.rmSync(copy, { recursive: true, force: true });
    const killed = await runKilledAt('fsync', undefined, ['run', file, '-c', fx.db.url], seed, fsyncs - 1);
    assert.equal(killed.signal, 'SIGKILL', killed.stdout + killed.stderr);
    assert.match(runCli(['verify', file]).stdout, /INCOMPLETE: .* not yet in the file/, 'the journal holds records the file lacks');
    const restore = (to: string): void => {
      for (const f of fs.readdirSync(seed)) fs.copyFileSync(path.join(seed, f), path.join(to, f));
    };
    const points = killPoints(file, (f) => ['recover', f], restore);
    assert.ok(points.length >= 3, JSON.stringify(points));
    const failures: string[] = [];
    for (const [i, point] of points.entries()) {
      const where = `${point.syscall} #${point.n}${point.journal ? ' on the journal' : ''}`;
      const at = path.join(fx.dir, `recover-${i}`);
      fs.mkdirSync(at);
      restore(at);
      const f = path.join(at, name);
      const first = await runKilledAt(point.syscall, point.journal ? `${f}.journal` : undefined, ['recover', f], at, point.n);
      if (first.signal !== 'SIGKILL') failures.push(`${where}: recover was not killed there: ${first.stdout}${first.stderr}`);
      const again = runCli(['recover', f]);
      if (again.status !== 0) failures.push(`${where}: recovering again ended ${again.status}: ${again.stdout}${again.stderr}`);
      failures.push(...assertionsOf(() => assertWholeIn(f)).map((m) => `${where}: ${m}`));
      fs.rmSync(at, { recursive: true, force: true });
    }
    console.log(`      [faults-syscalls] runbook recover: ${describePoints(points)}`);
    assert.deepEqual(failures, []);
  });
});
