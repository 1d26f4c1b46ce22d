// Small tools of the fault-injection suite (faults.test.ts): a seeded random source, the run's own backend, a grep of
// folders for a secret and its halves, a file's bytes and mtime to prove a link target untouched.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from 'pg';
import type { CliResult, startCli } from './cli';

/**
 * A seeded pseudo-random source (mulberry32): the same seed gives the same kill times, so a failure can be replayed
 * with `FAULTS_SEED=<seed>`. Returns numbers in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The pids of the run's own sessions on `admin`'s database: `application_name` `runbook`, or `runbook <run id>` where
 * the run is named on the server (docs/run.md, "Server sessions"); not the monitoring, cancel or commit-check
 * connections (`runbook monitor` …).
 */
export async function runSessionPids(admin: Client): Promise<{ pid: number; state: string; query: string }[]> {
  const r = await admin.query<{ pid: number; state: string; query: string }>(
    "SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database() AND application_name ~ '^runbook( [0-9]{8}T[0-9]{6}Z-[0-9a-f]{4})?$' AND pid <> pg_backend_pid()",
  );
  return r.rows;
}

/**
 * Every prefix and suffix of `secret` longer than 4 characters, the whole included: what a cut, a split write or a
 * half-done redaction could leave behind.
 */
export function halvesOf(secret: string): string[] {
  const out = new Set<string>([secret]);
  for (let i = 5; i < secret.length; i++) {
    out.add(secret.slice(0, i));
    out.add(secret.slice(secret.length - i));
  }
  return [...out];
}

/** Which of `needles` occur in `text` (bytes read as latin1 match UTF-8 needles read the same way). */
export function needlesIn(text: string, needles: string[]): string[] {
  return needles.filter((n) => text.includes(Buffer.from(n).toString('latin1')));
}

/**
 * Files under `dir` (at most 6 levels down, each under 8 MB) changed since `sinceMs` that hold one of `needles`,
 * with the needles each holds: `["/tmp/x/run.runbook: Kq…"]`.
 */
export function filesHolding(dir: string, sinceMs: number, needles: string[]): string[] {
  const hits: string[] = [];
  const walk = (d: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && depth < 6) walk(p, depth + 1);
      else if (e.isFile()) {
        try {
          const st = fs.statSync(p);
          if (st.mtimeMs < sinceMs - 1000 || st.size > 8 * 1024 * 1024) continue;
          const found = needlesIn(fs.readFileSync(p, 'latin1'), needles);
          if (found.length) hits.push(`${p}: ${found.map((n) => JSON.stringify(n)).join(', ')}`);
        } catch {
          // Vanished or unreadable (another engineer's file): not ours.
        }
      }
    }
  };
  walk(dir, 0);
  return hits;
}

/** A file's bytes and modification time (ns), to show that nothing wrote through a link to it. */
export function fingerprint(file: string): { bytes: string; mtimeNs: bigint } {
  return { bytes: fs.readFileSync(file, 'latin1'), mtimeNs: fs.statSync(file, { bigint: true }).mtimeNs };
}

/** Kills the child if it outlives `ms` (a hang is the fault), then resolves its result (`killed`: it had to be). */
export async function bounded(run: ReturnType<typeof startCli>, ms: number): Promise<CliResult & { killed: boolean }> {
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    run.child.kill('SIGKILL');
  }, ms);
  const r = await run.done;
  clearTimeout(timer);
  return { ...r, killed };
}
