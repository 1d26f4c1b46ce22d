// What notifications cost a run: 1,000 one-statement cells through the run loop with a webhook told of every step
// (a local HTTP server), against the same run without notifications.

import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { runnableCells, selectCells } from '../src/run/cells';
import { RunbookStore } from '../src/run/journal';
import { executeRun } from '../src/run/loop';
import { startRun } from '../src/run/run';
import { FileSink } from '../src/run/runner';
import { RunSession } from '../src/run/session';
import { median } from './engine-proc';
import { openBenchServer, serverKind } from './engine-server';
import type { BenchResult } from './format';

const CELLS = 1000;
const RUNS = 5;
/** A webhook must not slow the migration: at most 5% more, with a step event after every cell. */
const TARGET = 1.05;

function runbookText(notify: boolean): string {
  const cells = Array.from({ length: CELLS }, (_, i) => `\n\`\`\`sql\nINSERT INTO bench_notify VALUES (${i});\n\`\`\`\n`);
  const front = notify ? 'notify:\n  - url_env: BENCH_HOOK\n    format: json\n    steps: true\n' : '';
  return `---\ntitle: ${CELLS} cells\n${front}---\n\n# ${CELLS} cells\n${cells.join('')}`;
}

async function oneRun(url: string, file: string, hook: string | undefined): Promise<number> {
  fs.writeFileSync(file, runbookText(hook !== undefined));
  const t0 = performance.now();
  const { store } = RunbookStore.open(file);
  const session = await RunSession.open({ runbookDir: path.dirname(file), connection: url, operator: 'bench' });
  try {
    const all = runnableCells(store.runbook.cells);
    const outcome = await executeRun({
      run: startRun('bench', [], 'bench'), runbook: store.runbook, all, selected: selectCells(all, {}), session,
      sink: new FileSink(store), asker: {}, sessionOutlivesRun: false, webhookUrl: () => hook,
    });
    if (outcome.run.exit !== 0) throw new Error(`the bench run failed: ${JSON.stringify(outcome.summary.stopped ?? outcome.summary.refused)}`);
  } finally {
    store.close();
    await session.close();
  }
  return performance.now() - t0;
}

/**
 * 1,000 one-statement cells through `executeRun`, alternating a run whose front matter notifies a local webhook of
 * every step (1,002 POSTs) with one without notifications. Ratio of the medians; the webhook's count is checked.
 */
export async function benchNotify(): Promise<BenchResult[]> {
  const server = await openBenchServer(serverKind());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-bench-notify-'));
  let posts = 0;
  const hook = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  const admin = new Client(server.clientConfig);
  try {
    await admin.connect();
    await admin.query('CREATE TABLE bench_notify (id int)');
    const withNotify: number[] = [];
    const without: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      await admin.query('TRUNCATE bench_notify');
      posts = 0;
      const a = await oneRun(server.url, path.join(dir, `with-${i}.runbook`), hookUrl);
      if (posts !== CELLS + 2) throw new Error(`the webhook got ${posts} posts, expected ${CELLS + 2}`);
      await admin.query('TRUNCATE bench_notify');
      const b = await oneRun(server.url, path.join(dir, `without-${i}.runbook`), undefined);
      if (i === 0) continue; // warm-up
      withNotify.push(a);
      without.push(b);
    }
    const a = median(withNotify);
    const b = median(without);
    return [{
      name: `notify: ${CELLS} one-statement cells through the run loop, a local webhook told of every step vs no notifications (median of ${RUNS}, no process start)`,
      ratio: a / b,
      target: TARGET,
      details: { with_notify_ms: Math.round(a), without_ms: Math.round(b), per_cell_us: Math.round(((a - b) / CELLS) * 1000) },
    }];
  } finally {
    await admin.end().catch(() => undefined);
    hook.closeAllConnections();
    await new Promise<void>((r) => hook.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
    await server.close();
  }
}
