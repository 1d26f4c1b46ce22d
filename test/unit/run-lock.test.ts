// The lock beside a runbook file: created exclusively with its holder, a live holder refused, a stale one (dead or
// reused pid) taken over by exactly one of two racing processes, another host's never taken, released only when ours.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRunbook } from '../../src/format';
import { advisoryKeyOf, runApplicationName } from '../../src/run/server-sessions';
import { groupAlive, groupsLeft, stopGroup } from '../../src/run/shell-groups';
import { acquireRunLock, lockPathFor, processStartTime, RunLockedError, takeoverMessage, type LockHolder } from '../../src/run/run-lock';

const LOCK_MODULE = path.resolve(__dirname, '../../src/run/run-lock.js');

/** A pid that was just used and is now gone (a finished child). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function writeLock(file: string, h: Partial<LockHolder>): string {
  const p = lockPathFor(file);
  const holder = { pid: 1, host: os.hostname(), run: '20260101T000000Z-dead', operator: 'someone', started: '2026-01-01T00:00:00.000Z', ...h };
  fs.writeFileSync(p, JSON.stringify(holder) + '\n', { mode: 0o600 });
  return p;
}

/** Runs `acquireRunLock` in a child process at wall-clock time `at` (ms), holding a won lock for `holdMs`. */
function racer(file: string, run: string, at: number, holdMs: number): Promise<{ won: boolean; message?: string }> {
  const code = `
    const { acquireRunLock } = require(${JSON.stringify(LOCK_MODULE)});
    while (Date.now() < ${at}) {}
    try {
      const l = acquireRunLock(${JSON.stringify(file)}, { run: ${JSON.stringify(run)}, operator: 'racer' });
      process.stdout.write(JSON.stringify({ won: true, took: !!l.tookOver }));
      setTimeout(() => l.release(), ${holdMs});
    } catch (e) {
      process.stdout.write(JSON.stringify({ won: false, message: e.message }));
    }`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(kill);
      try {
        resolve(JSON.parse(out) as { won: boolean; message?: string });
      } catch {
        reject(new Error(`racer printed ${out}`));
      }
    });
  });
}

describe('the lock beside a runbook (src/run/run-lock.ts)', function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-lock-'));
    file = path.join(dir, 'migrate.runbook');
    fs.writeFileSync(file, '# M\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is a hidden file beside the runbook, mode 0600, naming pid, start time, host, run, operator and since when; release removes it', () => {
    const lock = acquireRunLock(file, { run: 'R1', operator: 'alice' });
    assert.equal(lock.path, path.join(dir, '.migrate.runbook.lock'));
    const st = fs.lstatSync(lock.path);
    assert.ok(st.isFile());
    assert.equal(st.mode & 0o777, 0o600);
    const h = JSON.parse(fs.readFileSync(lock.path, 'utf8')) as LockHolder;
    assert.equal(h.pid, process.pid);
    assert.equal(h.host, os.hostname());
    assert.equal(h.run, 'R1');
    assert.equal(h.operator, 'alice');
    assert.match(h.started, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    if (fs.existsSync('/proc/self/stat')) assert.equal(h.start, processStartTime(process.pid));
    assert.equal(lock.tookOver, undefined);
    lock.release();
    assert.equal(fs.existsSync(lock.path), false);
    assert.deepEqual(fs.readdirSync(dir), ['migrate.runbook'], 'no temporary file is left');
  });

  it('refuses a second run while the holder lives, naming it, and leaves its lock as it was', () => {
    const first = acquireRunLock(file, { run: 'R1', operator: 'alice' });
    const before = fs.readFileSync(first.path, 'utf8');
    assert.throws(() => acquireRunLock(file, { run: 'R2', operator: 'bob' }), (e: unknown) => {
      assert.ok(e instanceof RunLockedError);
      assert.match(e.message, new RegExp(`pid ${process.pid} on ${os.hostname()} \\(run R1, operator alice, since \\d{4}-`));
      assert.match(e.message, /nothing was run/);
      return true;
    });
    assert.equal(fs.readFileSync(first.path, 'utf8'), before);
    first.release();
  });

  it('takes over a lock whose process is gone, and says so', () => {
    const pid = deadPid();
    writeLock(file, { pid, start: '12345' });
    const lock = acquireRunLock(file, { run: 'R2', operator: 'bob' });
    assert.ok(lock.tookOver);
    assert.match(takeoverMessage(lock)!, new RegExp(`stale lock .*pid ${pid} .*run 20260101T000000Z-dead.*its process ${pid} is gone`));
    assert.equal((JSON.parse(fs.readFileSync(lock.path, 'utf8')) as LockHolder).run, 'R2');
    lock.release();
    assert.deepEqual(fs.readdirSync(dir), ['migrate.runbook'], 'the stale lock moved aside is removed too');
  });

  it('takes over a lock whose pid lives but belongs to another process (another start time)', function () {
    if (!fs.existsSync('/proc/self/stat')) this.skip();
    writeLock(file, { pid: process.pid, start: '1' });
    const lock = acquireRunLock(file, { run: 'R3', operator: 'bob' });
    assert.match(lock.tookOver!.reason, /now belongs to another process/);
    lock.release();
  });

  it('never takes over another host\'s lock: the message says how to remove it', () => {
    const p = writeLock(file, { pid: deadPid(), host: 'other-box.example' });
    const before = fs.readFileSync(p, 'utf8');
    assert.throws(() => acquireRunLock(file, { run: 'R4', operator: 'bob' }), (e: unknown) => {
      assert.ok(e instanceof RunLockedError);
      assert.match(e.message, /on other-box\.example .*run 20260101T000000Z-dead, operator someone/);
      assert.ok(e.message.includes(`rm ${JSON.stringify(p)}`));
      return true;
    });
    assert.equal(fs.readFileSync(p, 'utf8'), before);
  });

  it('of two processes racing for a stale lock, exactly one wins (6 rounds)', async () => {
    for (let round = 0; round < 6; round++) {
      writeLock(file, { pid: deadPid() });
      const at = Date.now() + 400;
      const results = await Promise.all([racer(file, `A${round}`, at, 800), racer(file, `B${round}`, at, 800)]);
      const won = results.filter((r) => r.won);
      assert.equal(won.length, 1, `round ${round}: ${JSON.stringify(results)}`);
      assert.match(results.find((r) => !r.won)!.message!, /is being run already: pid \d+/);
      assert.equal(fs.existsSync(lockPathFor(file)), false, 'the winner released its lock');
      assert.deepEqual(fs.readdirSync(dir), ['migrate.runbook']);
    }
  });

  it('release never removes a lock that is no longer ours', () => {
    const lock = acquireRunLock(file, { run: 'R5', operator: 'alice' });
    writeLock(file, { pid: process.pid, run: 'SOMEONE-ELSE' });
    lock.release();
    assert.equal((JSON.parse(fs.readFileSync(lock.path, 'utf8')) as LockHolder).run, 'SOMEONE-ELSE');
  });

  it('removes the half-taken lock files of a killed process, and keeps a live one\'s and what is not ours', () => {
    const base = lockPathFor(file);
    const holder = (pid: number): string => JSON.stringify({ pid, host: os.hostname(), run: `R-${pid}`, operator: 'x', started: '2026-01-01T00:00:00.000Z' }) + '\n';
    const dead = deadPid();
    const deadNew = `${base}.new-0123456789abcdef`;
    const deadStale = `${base}.stale-fedcba9876543210`;
    const liveNew = `${base}.new-00000000aaaaaaaa`;
    const notOurs = `${base}.new-backup`;
    fs.writeFileSync(deadNew, holder(dead));
    fs.writeFileSync(deadStale, holder(dead));
    fs.writeFileSync(liveNew, holder(process.pid));
    fs.writeFileSync(notOurs, holder(dead));
    const lock = acquireRunLock(file, { run: 'R7', operator: 'alice' });
    lock.release();
    assert.ok(!fs.existsSync(deadNew) && !fs.existsSync(deadStale), 'a dead process\'s leftovers are removed');
    assert.ok(fs.existsSync(liveNew), 'a live process is still using its file');
    assert.ok(fs.existsSync(notOurs), 'a name this tool does not make is left alone');
  });

  it('removes the temporary copies a killed rewrite left beside the runbook once it holds the lock, and nothing else', () => {
    const dirOf = path.dirname(file);
    const name = path.basename(file);
    const leftRunbook = path.join(dirOf, `.${name}.0123456789abcdef01234567.tmp`);
    const leftJournal = path.join(dirOf, `.${name}.journal.fedcba9876543210fedcba98.tmp`);
    const other = path.join(dirOf, `.other.runbook.0123456789abcdef01234567.tmp`);
    const guessable = path.join(dirOf, `.${name}.tmp`);
    const victim = path.join(dirOf, 'victim.txt');
    const link = path.join(dirOf, `.${name}.aaaaaaaaaaaaaaaaaaaaaaaa.tmp`);
    for (const f of [leftRunbook, leftJournal, other, guessable, victim]) fs.writeFileSync(f, 'x\n');
    fs.symlinkSync(victim, link);
    // Held by a live run: nothing of its is touched.
    const live = writeLock(file, { pid: process.pid, start: processStartTime(process.pid) });
    assert.throws(() => acquireRunLock(file, { run: 'R8', operator: 'alice' }), RunLockedError);
    assert.ok(fs.existsSync(leftRunbook) && fs.existsSync(leftJournal), 'a live run may be about to rename them');
    fs.rmSync(live);
    const lock = acquireRunLock(file, { run: 'R8', operator: 'alice' });
    lock.release();
    assert.ok(!fs.existsSync(leftRunbook) && !fs.existsSync(leftJournal), 'a killed rewrite\'s copies are removed');
    assert.ok(fs.existsSync(other) && fs.existsSync(guessable), 'another runbook\'s, and a name this tool does not make, are left');
    assert.ok(fs.lstatSync(link).isSymbolicLink() && fs.readFileSync(victim, 'utf8') === 'x\n', 'a link is left, its target untouched');
  });

  it('does not follow a symbolic link planted at the lock path', () => {
    const victim = path.join(dir, 'victim.txt');
    fs.writeFileSync(victim, 'precious\n');
    fs.symlinkSync(victim, lockPathFor(file));
    assert.throws(() => acquireRunLock(file, { run: 'R6', operator: 'alice' }));
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  });

  it('is removed when the process exits (process.exit), and left by SIGKILL for the next run to find stale', async () => {
    const code = (exit: string): string => `const l = require(${JSON.stringify(LOCK_MODULE)}).acquireRunLock(${JSON.stringify(file)}, { run: 'R7', operator: 'x' }); process.stdout.write('held'); ${exit}`;
    const r = spawnSync(process.execPath, ['-e', code('process.exit(3)')], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.stdout, 'held');
    assert.equal(r.status, 3);
    assert.equal(fs.existsSync(lockPathFor(file)), false);
    const child = spawn(process.execPath, ['-e', code('setInterval(() => {}, 1000)')], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    assert.equal(fs.existsSync(lockPathFor(file)), true);
    const next = acquireRunLock(file, { run: 'R8', operator: 'y' });
    assert.match(next.tookOver!.reason, new RegExp(`its process ${child.pid} is gone`));
    next.release();
  });
});

describe('the run on the server: its name and its advisory lock key (src/run/server-sessions.ts)', () => {
  it('names the session `runbook <run id>`, keeping a profile\'s own name in front within 63 bytes', () => {
    assert.equal(runApplicationName(undefined, '20261128T020041Z-7f3a'), 'runbook 20261128T020041Z-7f3a');
    assert.equal(runApplicationName('runbook', '20261128T020041Z-7f3a'), 'runbook 20261128T020041Z-7f3a');
    assert.equal(runApplicationName('billing deploy', '20261128T020041Z-7f3a'), 'billing deploy runbook 20261128T020041Z-7f3a');
    const long = runApplicationName('é'.repeat(40), '20261128T020041Z-7f3a');
    assert.ok(Buffer.byteLength(long) <= 63, long);
    assert.ok(long.endsWith(' runbook 20261128T020041Z-7f3a'));
    assert.ok(!long.includes('\ufffd'));
  });

  it('keys the advisory lock on the title, else the base name, the same on every machine', () => {
    const titled = parseRunbook('---\ntitle: Widen orders\n---\n\n# x\n');
    const a = advisoryKeyOf(titled, '/one/a.runbook');
    assert.deepEqual(advisoryKeyOf(titled, '/two/b.runbook'), a);
    assert.equal(a.identity, 'title:Widen orders');
    const k = BigInt(a.key);
    assert.ok(k >= -(2n ** 63n) && k < 2n ** 63n);
    const plain = parseRunbook('# x\n');
    assert.equal(advisoryKeyOf(plain, '/one/a.runbook').identity, 'file:a.runbook');
    assert.equal(advisoryKeyOf(plain, '/two/a.runbook').key, advisoryKeyOf(plain, '/one/a.runbook').key);
    assert.notEqual(advisoryKeyOf(plain, '/one/b.runbook').key, advisoryKeyOf(plain, '/one/a.runbook').key);
  });
});

describe('left-over shell process groups (src/run/shell-groups.ts)', function () {
  this.timeout(20_000);
  it('finds a live group on this host (not another host\'s, not a reused leader pid) and stops it with SIGTERM', async () => {
    const child = spawn('bash', ['-c', 'sleep 30 & sleep 30'], { detached: true, stdio: 'ignore' });
    const pgid = child.pid!;
    const killer = setTimeout(() => process.kill(-pgid, 'SIGKILL'), 15_000);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const g = { index: 0, number: 1, run: 'R', pgid, host: os.hostname(), at: '2026-01-01T00:00:00.000Z' };
      const start = processStartTime(pgid);
      assert.deepEqual(groupsLeft([{ ...g, start }]).map((x) => x.pgid), [pgid]);
      assert.deepEqual(groupsLeft([{ ...g, host: 'other-box' }]), []);
      if (start !== undefined) assert.deepEqual(groupsLeft([{ ...g, start: '1' }]), [], 'a reused leader pid is not the run\'s group');
      assert.equal(await stopGroup(pgid, 2000), 'terminated');
      assert.equal(groupAlive(pgid), false);
      assert.deepEqual(groupsLeft([{ ...g, start }]), []);
    } finally {
      clearTimeout(killer);
    }
  });
});
