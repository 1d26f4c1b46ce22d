// Format benchmark: parse + serialize of a 5,000-cell runbook with 20 MB of outputs, against markdown-it parsing the same text.

import MarkdownIt from 'markdown-it';
import { parseRunbook, serializeRunbook } from '../src/format';

/** One benchmark's figures, printed by bench/index.ts. */
export interface BenchResult {
  name: string;
  /** ours / baseline (lower is better). */
  ratio: number;
  target: number;
  details: Record<string, string | number>;
}

/** Builds a runbook of `cells` cells whose outputs add up to about `outputBytes` bytes. */
export function generateRunbook(cells: number, outputBytes: number): string {
  const parts: string[] = ['---\ntitle: Generated\nconnection: bench\n---\n\n# Generated runbook\n'];
  const perOutput = Math.floor(outputBytes / (cells / 2)); // half the cells (sql, shell) have an output
  const row = ' 123456 | some text value here | 2026-11-28 02:00:00+00\n';
  const rows = Math.max(1, Math.floor(perOutput / row.length));
  const body = ' id     | label                | at\n--------+----------------------+-----------------------\n' + row.repeat(rows) + `(${rows} rows)`;
  for (let i = 0; i < cells; i++) {
    switch (i % 4) {
      case 0:
        parts.push(`\n## Step ${i}\n\nSome *prose* explaining step ${i}, with \`code\` and a [link](https://example.com).\n`);
        break;
      case 1:
        parts.push(`\n\`\`\`sql {"name":"step-${i}"}\nSELECT id, label, at FROM events WHERE id > ${i} ORDER BY id;\n\`\`\`\n\n<!-- runbook:output {"status":"ok","started":"2026-11-28T02:00:00.000Z","ms":12,"statements":[{"tag":"SELECT ${rows}","rows":${rows},"ms":12}]} -->\n\`\`\`text\n${body}\n\`\`\`\n`);
        break;
      case 2:
        parts.push(`\n\`\`\`bash\necho step ${i}\n\`\`\`\n\n<!-- runbook:output {"status":"ok","exit":0} -->\n\`\`\`text\n${body}\n\`\`\`\n`);
        break;
      default:
        parts.push(`\n- [x] Check ${i} done\n- [ ] Check ${i} pending\n`);
    }
  }
  return parts.join('');
}

/** Median wall time of `runs` calls of `fn`, ms. */
export function timeMs(fn: () => void, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Runs the format benchmark (target ratio ≤ 1.0). */
export function benchFormat(runs = 5): BenchResult {
  const text = generateRunbook(5000, 20 * 1024 * 1024);
  const md = new MarkdownIt();
  // Warm up both (JIT), then take the median of `runs`.
  md.parse(text, {});
  serializeRunbook(parseRunbook(text));
  let ok = true;
  const ours = timeMs(() => {
    ok = serializeRunbook(parseRunbook(text)) === text && ok;
  }, runs);
  const base = timeMs(() => md.parse(text, {}), runs);
  if (!ok) throw new Error('format benchmark: round trip changed the text');
  return {
    name: 'format: parse+serialize vs markdown-it parse (5,000 cells, 20 MB outputs)',
    ratio: ours / base,
    target: 1.0,
    details: { bytes: Buffer.byteLength(text), ours_ms: Math.round(ours), markdown_it_ms: Math.round(base) },
  };
}

/**
 * Front matter of 40,000 keys against 10,000 keys (target ratio ≤ 6: four times the keys, linear
 * time is 4×; yaml's own duplicate-key check made it quadratic, 16×, and 26 s for 40,000 keys).
 */
export function benchFrontMatter(runs = 3): BenchResult {
  const doc = (n: number): string => `---\n${Array.from({ length: n }, (_, i) => `key${i}: value ${i}`).join('\n')}\n---\n\n# Many keys\n`;
  const small = doc(10_000);
  const large = doc(40_000);
  parseRunbook(doc(1000));
  const s = timeMs(() => parseRunbook(small), runs);
  const l = timeMs(() => parseRunbook(large), runs);
  return {
    name: 'format: front matter of 40,000 keys vs 10,000 keys (linear is 4×)',
    ratio: l / s,
    target: 6,
    details: { keys_10k_ms: Math.round(s), keys_40k_ms: Math.round(l) },
  };
}
