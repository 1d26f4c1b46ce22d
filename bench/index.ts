// `npm run bench`: runs every benchmark and prints each figure as a ratio against its baseline measured in the same run.

import { benchFormat, benchFrontMatter, type BenchResult } from './format';
import { benchEngine } from './engine';
import { benchLint } from './lint';
import { benchRunLog } from './run-log';
import { benchAppend, benchVerify } from './log';
import { benchMonitor } from './monitor';
import { benchNotify } from './notify';
import { benchBatches } from './batches';
import { benchRehearse } from './rehearse';

type Bench = { name: string; run: () => Promise<BenchResult[]> };

const benches: Bench[] = [
  { name: 'format', run: async () => [benchFormat(), benchFrontMatter()] },
  { name: 'engine', run: benchEngine },
  { name: 'lint', run: benchLint },
  { name: 'run-log', run: benchRunLog },
  { name: 'log', run: async () => [benchVerify(), benchAppend()] },
  { name: 'monitor', run: benchMonitor },
  { name: 'notify', run: benchNotify },
  { name: 'batches', run: benchBatches },
  { name: 'rehearse', run: benchRehearse },
];

/** Optional benchmarks written by other modules register here (engine, lint). */
export function addBench(b: Bench): void {
  benches.push(b);
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const results: BenchResult[] = [];
  for (const b of benches) {
    if (only.length > 0 && !only.includes(b.name)) continue;
    process.stdout.write(`running ${b.name}…\n`);
    try {
      for (const r of await b.run()) {
        results.push(r);
        const verdict = r.ratio <= r.target ? 'meets' : 'MISSES';
        process.stdout.write(`  ${r.name}\n    ratio ${r.ratio.toFixed(2)}× (target ≤ ${r.target}×, ${verdict})  ${Object.entries(r.details).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
      }
    } catch (e) {
      process.stdout.write(`  ${b.name} failed: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}

void main();
