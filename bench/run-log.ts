// What the migration log and its hash chain cost a run: 1,000 one-statement cells through the run loop, with the log and without it.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import type { Runbook } from '../src/format';
import { runnableCells, selectCells } from '../src/run/cells';
import type { LoggedEvent } from '../src/run/frontend';
import { RunbookStore } from '../src/run/journal';
import { executeRun } from '../src/run/loop';
import { startRun } from '../src/run/run';
import { FileSink } from '../src/run/runner';
import { RunSession } from '../src/run/session';
import { median } from './engine-proc';
import { openBenchServer, serverKind } from './engine-server';
import type { BenchResult } from './format';

const CELLS = 1000;
const RUNS = 7;
/** Issue 10's target: the log and the chain cost at most 10% more than a run without them. */
const TARGET = 1.1;

/**
 * The file sink without the log: outputs are journaled and checkpointed exactly as in a run, the log's events
 * are dropped. Benchmark code only: a real run always keeps its log.
 */
class NoLogSink extends FileSink {
  override async cellOutput(c: unknown, handle: unknown, output: Parameters<FileSink['cellOutput']>[2], source?: string, ran?: unknown, attempt?: LoggedEvent): Promise<void> {
    void attempt;
    return super.cellOutput(c, handle, output, source, ran);
  }
  override async log(): Promise<void> {}
}

function runbookText(): string {
  const cells = Array.from({ length: CELLS }, (_, i) => `\n\`\`\`sql\nINSERT INTO bench_log VALUES (${i}, 'row ${i}');\n\`\`\`\n`);
  return `---\ntitle: ${CELLS} cells\n---\n\n# ${CELLS} cells\n${cells.join('')}`;
}

/** One run through the loop (no process start), on the file sink with or without the log; ms. */
async function oneRun(url: string, file: string, withLog: boolean): Promise<number> {
  fs.writeFileSync(file, runbookText());
  const t0 = performance.now();
  const { store } = RunbookStore.open(file);
  const rb: Runbook = store.runbook;
  const session = await RunSession.open({ runbookDir: path.dirname(file), connection: url, operator: 'bench' });
  try {
    const all = runnableCells(rb.cells);
    const outcome = await executeRun({
      run: startRun('bench', [], 'bench'), runbook: rb, all, selected: selectCells(all, {}), session,
      sink: withLog ? new FileSink(store) : new NoLogSink(store), asker: {}, sessionOutlivesRun: false,
    });
    if (outcome.run.exit !== 0) throw new Error(`the bench run failed: ${JSON.stringify(outcome.summary.stopped ?? outcome.summary.refused)}`);
  } finally {
    store.close();
    await session.close();
  }
  const ms = performance.now() - t0;
  const events = (await import('../src/format')).parseRunbook(fs.readFileSync(file)).log?.events.length ?? 0;
  if (withLog !== events > 0) throw new Error(`expected ${withLog ? 'a' : 'no'} log, found ${events} events`);
  return ms;
}

/**
 * 1,000 one-statement cells through `executeRun` with the CLI's file sink, alternating a run that keeps the log
 * (every attempt appended with its hash chain, journaled, rendered at checkpoints) with one whose sink drops the
 * log's events. Ratio of the medians.
 *
 * @throws Error when a run fails or a log is (not) written as it should be
 */
export async function benchRunLog(): Promise<BenchResult[]> {
  const server = await openBenchServer(serverKind());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-bench-log-'));
  const admin = new Client(server.clientConfig);
  try {
    await admin.connect();
    await admin.query('CREATE TABLE bench_log (id int, note text)');
    const withLog: number[] = [];
    const without: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      await admin.query('TRUNCATE bench_log');
      const a = await oneRun(server.url, path.join(dir, `with-${i}.runbook`), true);
      await admin.query('TRUNCATE bench_log');
      const b = await oneRun(server.url, path.join(dir, `without-${i}.runbook`), false);
      if (i === 0) continue; // warm-up
      withLog.push(a);
      without.push(b);
    }
    const a = median(withLog);
    const b = median(without);
    return [{
      name: `run-log: ${CELLS} one-statement cells through the run loop, with the migration log and its hash chain vs without (median of ${RUNS}, no process start)`,
      ratio: a / b,
      target: TARGET,
      details: { with_log_ms: Math.round(a), without_log_ms: Math.round(b), per_cell_us: Math.round(((a - b) / CELLS) * 1000) },
    }];
  } finally {
    await admin.end().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    await server.close();
  }
}
