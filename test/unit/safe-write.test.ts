// Symbolic links, hard links and FIFOs planted beside a runbook: the journal and every rewrite refuse to follow them; mode and owner are kept; a read-only runbook or folder is refused before a run.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunbookStore, journalPath } from '../../src/run/journal';
import { checkRunbookWritable, RunbookWriteError, writeFileAtomic } from '../../src/run/safe-write';

const TEXT = '# T\n\n```sql\nselect 1;\n```\n';
const isRoot = process.geteuid?.() === 0;

describe('writing beside a runbook', function () {
  this.timeout(20_000);
  let dir: string;
  let file: string;
  let victim: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-safe-write-'));
    file = path.join(dir, 'a.runbook');
    fs.writeFileSync(file, TEXT);
    victim = path.join(dir, 'victim.txt');
    fs.writeFileSync(victim, 'precious\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Opens the runbook for a run, lets `plant` put something at the journal path (as between two checkpoints), records a cell. */
  const recordAfter = (plant: () => void) => (): void => {
    const { store } = RunbookStore.open(file, { checkpointMs: 60_000 });
    plant();
    store.runbook.cells[1].outputs = [{ record: { status: 'ok', attacker: 'chosen text' } }];
    store.record(1);
  };

  it('refuses a symbolic link planted at the journal path, and leaves its target alone', () => {
    assert.throws(recordAfter(() => fs.symlinkSync(victim, journalPath(file))), (e: unknown) => e instanceof RunbookWriteError && e.problem === 'journal-not-ours' && /symbolic link/.test(e.message));
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  });

  it('refuses a dangling symbolic link at the journal path (it would create the file it names)', () => {
    const target = path.join(dir, 'created-elsewhere');
    assert.throws(recordAfter(() => fs.symlinkSync(target, journalPath(file))), RunbookWriteError);
    assert.ok(!fs.existsSync(target));
  });

  it('refuses a hard link planted at the journal path', () => {
    assert.throws(recordAfter(() => fs.linkSync(victim, journalPath(file))), (e: unknown) => e instanceof RunbookWriteError && /2 hard links/.test(e.message));
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  });

  it('refuses a FIFO at the journal path at once instead of blocking on it', () => {
    const t = Date.now();
    assert.throws(recordAfter(() => execFileSync('mkfifo', [journalPath(file)])), (e: unknown) => e instanceof RunbookWriteError && /FIFO/.test(e.message));
    assert.ok(Date.now() - t < 5000);
  });

  it('rewrites through a temporary file nobody can plant: links at the old predictable names stay untouched', () => {
    // Before, the temporary file was `.a.runbook.<pid>.tmp`, opened with O_TRUNC through any link.
    fs.symlinkSync(victim, path.join(dir, `.a.runbook.${process.pid}.tmp`));
    writeFileAtomic(file, Buffer.from(TEXT + '\nmore\n'));
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
    assert.equal(fs.readFileSync(file, 'utf8'), TEXT + '\nmore\n');
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp') && !f.includes(String(process.pid))), [], 'no temporary file left');
  });

  it('refuses to rewrite a symbolic-linked runbook, and follows it only when asked, keeping the link', () => {
    const real = path.join(dir, 'real.runbook');
    fs.writeFileSync(real, TEXT);
    const link = path.join(dir, 'link.runbook');
    fs.symlinkSync(real, link);
    assert.throws(() => writeFileAtomic(link, Buffer.from('x')), (e: unknown) => e instanceof RunbookWriteError && e.problem === 'symlink');
    assert.throws(() => checkRunbookWritable(link), (e: unknown) => e instanceof RunbookWriteError && e.problem === 'symlink' && e.message.includes(real));
    assert.equal(fs.readFileSync(real, 'utf8'), TEXT);
    assert.equal(checkRunbookWritable(link, { followSymlink: true }).path, real);
    writeFileAtomic(link, Buffer.from('rewritten\n'), { followSymlink: true });
    assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the link is still a link');
    assert.equal(fs.readFileSync(real, 'utf8'), 'rewritten\n');
  });

  it('keeps the runbook’s mode, and its owner and group where we are root', function () {
    fs.chmodSync(file, 0o640);
    if (isRoot) fs.chownSync(file, 65534, 65534);
    writeFileAtomic(file, Buffer.from('rewritten\n'));
    const st = fs.statSync(file);
    assert.equal(st.mode & 0o777, 0o640);
    if (!isRoot) this.skip(); // (the mode was checked; owner changes need root)
    assert.equal(st.uid, 65534);
    assert.equal(st.gid, 65534);
  });

  it('refuses a read-only runbook clearly, even for root', () => {
    fs.chmodSync(file, 0o444);
    assert.throws(() => checkRunbookWritable(file), (e: unknown) => e instanceof RunbookWriteError && e.problem === 'read-only' && /chmod u\+w/.test(e.message));
  });

  it('accepts a plain writable runbook, cheaply and without leaving anything behind', () => {
    const t = process.hrtime.bigint();
    const w = checkRunbookWritable(file);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    assert.equal(w.path, file);
    assert.equal(w.ownerKept, true);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['a.runbook', 'victim.txt']);
    assert.ok(ms < 1000, `${ms} ms`);
  });

  it('refuses a runbook or folder we may not write (as an unprivileged user)', function () {
    if (!isRoot) this.skip(); // needs root to act as another user; covered by chmod where not root
    const sub = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-ro-'));
    try {
      fs.chmodSync(sub, 0o755);
      const mine = path.join(sub, 'shared.runbook');
      fs.writeFileSync(mine, TEXT, { mode: 0o666 });
      fs.chmodSync(mine, 0o666);
      const theirs = path.join(sub, 'theirs.runbook');
      fs.writeFileSync(theirs, TEXT, { mode: 0o644 });
      const mod = path.join(__dirname, '../../src/run/safe-write.js');
      const script = `const m=require(${JSON.stringify(mod)});for(const f of process.argv.slice(1)){try{m.checkRunbookWritable(f);console.log('ok')}catch(e){console.log(e.problem)}}`;
      const r = spawnSync(process.execPath, ['-e', script, mine, theirs], { uid: 65534, gid: 65534, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['folder-not-writable', 'not-writable']);
    } finally {
      fs.rmSync(sub, { recursive: true, force: true });
    }
  });
});
