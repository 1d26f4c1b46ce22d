// Measures a child process for the engine benchmarks: wall time from spawn to exit, CPU time and peak resident memory.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** One measured run of a command. */
export interface ProcRun {
  /** From spawn to exit, ms: process start (Node boot, module loading) included. */
  wallMs: number;
  /** User + system CPU of the process, ms; undefined when GNU time is not installed. */
  cpuMs?: number;
  /**
   * Peak resident set size, KiB: GNU time's `%M` (getrusage `ru_maxrss`), else the last `VmHWM`
   * read from /proc/PID/status while polling every 10 ms (Linux, proc(5)); undefined elsewhere.
   */
  peakRssKb?: number;
  /** Exit status (null when killed by a signal). */
  code: number | null;
  /** The last 2,000 characters of stderr, to explain a failure. */
  stderr: string;
}

/** Options of {@link measureProcess}. */
export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the process after this many ms (default 120,000). */
  timeoutMs?: number;
}

const GNU_TIME = '/usr/bin/time';
let gnuTime: boolean | undefined;

/** Whether GNU time (`apt-get install time`) is there and takes `-f`/`-o`. */
export function hasGnuTime(): boolean {
  gnuTime ??= fs.existsSync(GNU_TIME) && spawnSync(GNU_TIME, ['-f', '%M', '-o', '/dev/null', 'true']).status === 0;
  return gnuTime;
}

/** Whether `cmd --version` runs (e.g. `psql` installed). */
export function commandWorks(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

/**
 * Runs `cmd args` with stdout to /dev/null and measures it. Through GNU time when it is
 * installed (its fork/exec adds about a millisecond, the same for every command measured),
 * otherwise directly, polling /proc for the peak RSS.
 */
export function measureProcess(cmd: string, args: readonly string[], opts: MeasureOptions = {}): Promise<ProcRun> {
  const useTime = hasGnuTime();
  const report = useTime ? path.join(os.tmpdir(), `runbook-bench-time-${process.pid}-${Date.now()}.txt`) : undefined;
  const [file, argv] = report ? [GNU_TIME, ['-f', '%M %U %S', '-o', report, cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr = (stderr + s).slice(-2000);
    });
    let hwm: number | undefined;
    const poll = report
      ? undefined
      : setInterval(() => {
          try {
            const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) hwm = Number(m[1]);
          } catch {
            // exited, or no /proc
          }
        }, 10);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      reject(e);
    });
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      const run: ProcRun = { wallMs, code, stderr, peakRssKb: hwm };
      if (report) {
        // GNU time writes "Command exited with non-zero status N" first when the command fails.
        const last = fs.readFileSync(report, 'utf8').trim().split('\n').pop() ?? '';
        fs.rmSync(report, { force: true });
        const m = /^(\d+) ([\d.]+) ([\d.]+)$/.exec(last);
        if (m) {
          run.peakRssKb = Number(m[1]);
          run.cpuMs = (Number(m[2]) + Number(m[3])) * 1000;
        }
      }
      resolve(run);
    });
  });
}

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Summary of several runs of one command: medians of wall, CPU and peak RSS, and the fastest wall. */
export interface RunStats {
  runs: number;
  wallMs: number;
  minWallMs: number;
  cpuMs?: number;
  peakRssKb?: number;
}

/** Medians of `runs`. */
export function stats(runs: readonly ProcRun[]): RunStats {
  const cpu = runs.map((r) => r.cpuMs).filter((x): x is number => x !== undefined);
  const rss = runs.map((r) => r.peakRssKb).filter((x): x is number => x !== undefined);
  const s: RunStats = { runs: runs.length, wallMs: median(runs.map((r) => r.wallMs)), minWallMs: Math.min(...runs.map((r) => r.wallMs)) };
  if (cpu.length) s.cpuMs = median(cpu);
  if (rss.length) s.peakRssKb = median(rss);
  return s;
}

/** One command measured by {@link alternate}. */
export interface Side {
  run: () => Promise<ProcRun>;
  prepare?: () => Promise<void>;
  check?: (r: ProcRun) => Promise<void>;
}

/**
 * Runs two commands `runs` times each, alternating which goes first (A B, B A, …) so a machine
 * that slows down or speeds up during the bench weighs on both alike. `prepare` runs, unmeasured,
 * before every run (reset a table, copy a fresh file); `check` may throw on a wrong result.
 * One unmeasured warm-up run of each comes first (page cache, server caches).
 */
export async function alternate<K extends string>(runs: number, sides: Record<K, Side>): Promise<Record<K, ProcRun[]>> {
  const keys = Object.keys(sides) as K[];
  const out = Object.fromEntries(keys.map((k) => [k, [] as ProcRun[]])) as Record<K, ProcRun[]>;
  const once = async (k: K): Promise<ProcRun> => {
    await sides[k].prepare?.();
    const r = await sides[k].run();
    if (r.code !== 0) throw new Error(`${k} exited with ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    await sides[k].check?.(r);
    return r;
  };
  for (const k of keys) await once(k);
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? keys : [...keys].reverse();
    for (const k of order) out[k].push(await once(k));
  }
  return out;
}
