// What a rehearsal costs: `runbook rehearse` of the larger example (examples/user-preferences.runbook) on the PGlite
// sandbox, against a plain `runbook run` of the same runbook on the same sandbox, both in-process from a fresh copy.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { rehearseRunbook } from '../src/rehearse/rehearse';
import { runRunbook } from '../src/run/runner';
import { median } from './engine-proc';
import type { BenchResult } from './format';

const RUNS = 3;
/**
 * A rehearsal runs the up-steps twice, the rehearsal cells and the rollback, and takes two schema snapshots: about
 * 2.5× the work of one run. Target: at most 3.5× a plain run (the snapshots must not dominate).
 */
const TARGET = 3.5;
const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'user-preferences.runbook');

function copy(dir: string, n: number): string {
  const file = path.join(dir, `run-${n}.runbook`);
  fs.copyFileSync(EXAMPLE, file);
  return file;
}

/** Median wall time of a plain run and of a rehearsal, ms; the ratio; and the snapshots' share of the rehearsal. */
export async function benchRehearse(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-bench-rehearse-'));
  try {
    const plain: number[] = [];
    const rehearsal: number[] = [];
    const snapshots: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t0 = Date.now();
      const run = await runRunbook({ file: copy(dir, i), operator: 'bench', confirmChecklists: true });
      plain.push(Date.now() - t0);
      if (run.run.exit !== 0) throw new Error(`the plain run failed: ${JSON.stringify(run.summary.stopped?.reason)}`);
      t0 = Date.now();
      const r = await rehearseRunbook({ file: copy(dir, 100 + i), operator: 'bench' });
      rehearsal.push(Date.now() - t0);
      if (r.exit !== 0) throw new Error(`the rehearsal failed: ${JSON.stringify(r.record.phases.find((p) => p.status === 'failed'))}`);
      snapshots.push(r.record.phases.filter((p) => p.phase === 'snapshot' || p.phase === 'compare').reduce((n, p) => n + (p.ms ?? 0), 0));
    }
    const p = median(plain);
    const rh = median(rehearsal);
    const s = median(snapshots);
    return [{
      name: 'rehearse: runbook rehearse of examples/user-preferences.runbook on the PGlite sandbox vs a plain run of it',
      ratio: rh / p,
      target: TARGET,
      details: { plain_ms: p, rehearsal_ms: rh, snapshots_ms: s, snapshot_share: `${Math.round((100 * s) / rh)}%`, runs: RUNS },
    }];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
