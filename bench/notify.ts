// What notifications cost a run: 1,000 one-statement cells through the run loop with a webhook told of every step
// (a local HTTP server), against the same run without notifications.

import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
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

/** The webhook: a small HTTP server in a child process (as a remote one would be, it does not share the run's thread). */
const HOOK_SERVER = `
let posts = 0;
const s = require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => { posts++; res.writeHead(204).end(); }); });
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
process.stdin.on('data', () => process.stdout.write(String(posts) + '\\n'));
`;

function runbookText(notify: boolean, steps: boolean): string {
  const cells = Array.from({ length: CELLS }, (_, i) => `\n\`\`\`sql\nINSERT INTO bench_notify VALUES (${i});\n\`\`\`\n`);
  const front = notify ? `notify:\n  - url_env: BENCH_HOOK\n    format: json\n    steps: ${steps}\n` : '';
  return `---\ntitle: ${CELLS} cells\n${front}---\n\n# ${CELLS} cells\n${cells.join('')}`;
}

async function oneRun(url: string, file: string, hook: string | undefined, steps = true): Promise<number> {
  fs.writeFileSync(file, runbookText(hook !== undefined, steps));
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
  const hook = spawn(process.execPath, ['-e', HOOK_SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let waiting: ((l: string) => void) | undefined;
  let buf = '';
  hook.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w(l);
      } else lines.push(l);
    }
  });
  const nextLine = (): Promise<string> => (lines.length ? Promise.resolve(lines.shift()!) : new Promise((r) => (waiting = r)));
  const hookUrl = `http://127.0.0.1:${await nextLine()}/hook`;
  let counted = 0;
  const postsSince = async (): Promise<number> => {
    hook.stdin!.write('\n');
    const total = Number(await nextLine());
    const n = total - counted;
    counted = total;
    return n;
  };
  const admin = new Client(server.clientConfig);
  try {
    await admin.connect();
    await admin.query('CREATE TABLE bench_notify (id int)');
    const withSteps: number[] = [];
    const startFinish: number[] = [];
    const without: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      await admin.query('TRUNCATE bench_notify');
      const a = await oneRun(server.url, path.join(dir, `steps-${i}.runbook`), hookUrl, true);
      const n = await postsSince();
      if (n !== CELLS + 2) throw new Error(`the webhook got ${n} posts, expected ${CELLS + 2}`);
      await admin.query('TRUNCATE bench_notify');
      const c = await oneRun(server.url, path.join(dir, `ends-${i}.runbook`), hookUrl, false);
      if ((await postsSince()) !== 2) throw new Error('expected the start and finish posts only');
      await admin.query('TRUNCATE bench_notify');
      const b = await oneRun(server.url, path.join(dir, `without-${i}.runbook`), undefined);
      if (i === 0) continue; // warm-up
      withSteps.push(a);
      startFinish.push(c);
      without.push(b);
    }
    const a = median(withSteps);
    const c = median(startFinish);
    const b = median(without);
    const name = (what: string): string => `notify: ${CELLS} one-statement cells through the run loop, ${what} vs no notifications (median of ${RUNS}, no process start, webhook in a child process)`;
    return [
      { name: name('a webhook told of the start and the finish'), ratio: c / b, target: TARGET, details: { with_notify_ms: Math.round(c), without_ms: Math.round(b) } },
      { name: name('a webhook told of every step (steps: true)'), ratio: a / b, target: TARGET, details: { with_notify_ms: Math.round(a), without_ms: Math.round(b), per_cell_us: Math.round(((a - b) / CELLS) * 1000) } },
    ];
  } finally {
    await admin.end().catch(() => undefined);
    hook.kill();
    fs.rmSync(dir, { recursive: true, force: true });
    await server.close();
  }
}
