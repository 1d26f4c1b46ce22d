// Batched backfill benchmark: 1,000,000 rows updated 10,000 at a time by a `{"batch":true}` cell through the real
// `runbook run` CLI, against psql running the same batches (the same UPDATE, as many times) on the same server.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parseRunbook } from '../src/format';
import type { BatchRecord } from '../src/run/batch';
import { alternate, commandWorks, measureProcess, stats } from './engine-proc';
import { openBenchServer, serverKind } from './engine-server';
import type { BenchResult } from './format';

/** Rows backfilled, rows per batch (from the issue: 1,000,000 rows). */
const ROWS = Number(process.env.RUNBOOK_BENCH_BATCH_ROWS ?? 1_000_000);
const BATCH = 10_000;
/** Measured runs of each side (after one warm-up each). */
const RUNS = Number(process.env.RUNBOOK_BENCH_BATCH_RUNS ?? 3);
/** Target from issue 12: the batched backfill within 1.2× of a psql loop running the same batches. */
const TARGET = 1.2;

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = process.env.RUNBOOK_BENCH_CLI ? path.resolve(process.env.RUNBOOK_BENCH_CLI) : path.join(ROOT, 'bin', 'runbook.js');
const PSQL = process.env.PSQL ?? 'psql';
const UPDATE = `UPDATE bench_backfill SET x = 1 WHERE id IN (SELECT id FROM bench_backfill WHERE x IS NULL LIMIT ${BATCH})`;

/**
 * The benchmark: wall time of the whole backfill, process start included, median of {@link RUNS} alternating runs;
 * the table is rebuilt (unmeasured) before each run. psql runs `ROWS / BATCH + 1` times the UPDATE (the last
 * affects 0 rows, where the runbook stops too) in one session, each in autocommit like the runbook's batches.
 * @throws Error when the server cannot start, a run fails, or a run leaves rows un-backfilled.
 */
export async function benchBatches(): Promise<BenchResult[]> {
  if (!commandWorks(PSQL)) {
    process.stdout.write(`  batches: psql not found (set PSQL=/path/to/psql): skipped\n`);
    return [];
  }
  const server = await openBenchServer(serverKind());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-bench-batches-'));
  const admin = new Client(server.clientConfig);
  await admin.connect();
  try {
    await admin.query('DROP TABLE IF EXISTS bench_backfill; CREATE TABLE bench_backfill (id int PRIMARY KEY, x int)');
    const reset = async (): Promise<void> => {
      await admin.query(`TRUNCATE bench_backfill; INSERT INTO bench_backfill SELECT g, NULL FROM generate_series(1, ${ROWS}) g`);
      await admin.query('VACUUM ANALYZE bench_backfill');
    };
    const expectDone = async (): Promise<void> => {
      const r = await admin.query<{ n: string }>('SELECT count(*) AS n FROM bench_backfill WHERE x IS NULL');
      if (Number(r.rows[0].n) !== 0) throw new Error(`${r.rows[0].n} rows left un-backfilled`);
    };
    const rb = path.join(dir, 'backfill.runbook');
    const text = `# Backfill\n\n\`\`\`sql {"batch":true}\n${UPDATE};\n\`\`\`\n`;
    const script = path.join(dir, 'backfill.sql');
    fs.writeFileSync(script, `${UPDATE};\n`.repeat(ROWS / BATCH + 1));
    let record: BatchRecord | undefined;
    const r = await alternate(RUNS, {
      runbook: {
        prepare: async () => {
          await reset();
          fs.writeFileSync(rb, text);
        },
        run: () => measureProcess(process.execPath, [CLI, 'run', rb, '-c', server.url], { cwd: dir, timeoutMs: 600_000 }),
        check: async () => {
          await expectDone();
          const out = parseRunbook(fs.readFileSync(rb)).cells.find((c) => c.kind === 'sql')?.outputs[0]?.record;
          record = out?.batch as BatchRecord | undefined;
          if (out?.status !== 'ok' || record?.rows !== ROWS || !record.done) throw new Error(`the runbook recorded ${JSON.stringify(out?.batch)} (status ${String(out?.status)})`);
        },
      },
      psql: {
        prepare: reset,
        run: () => measureProcess(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', script, server.url], { cwd: dir, timeoutMs: 600_000 }),
        check: expectDone,
      },
    });
    const ours = stats(r.runbook);
    const base = stats(r.psql);
    return [{
      name: `batches: backfill of ${ROWS.toLocaleString('en-US')} rows, ${BATCH.toLocaleString('en-US')} per batch, runbook run {"batch":true} vs psql running the same ${ROWS / BATCH + 1} UPDATEs (${server.label}, median of ${RUNS})`,
      ratio: ours.wallMs / base.wallMs,
      target: TARGET,
      details: {
        runbook_ms: Math.round(ours.wallMs), psql_ms: Math.round(base.wallMs), ratio_of_min: (ours.minWallMs / base.minWallMs).toFixed(2),
        batches: record?.batches ?? 'n/a', longest_batch_ms: record?.longest_batch_ms ?? 'n/a',
      },
    }];
  } finally {
    await admin.end().catch(() => undefined);
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
