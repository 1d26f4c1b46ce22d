// The real-world corpus (shared/corpus/harness-postgres beside the checkout, bench/corpus.ts; 389 migration files) lints
// without a crash, in a stable order, and the findings match the snapshot in test/fixtures/lint/corpus-findings.json.

import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { compareFindings, lintFiles, type Finding } from '../../src/sql/lint';
import { corpusDir } from '../../bench/corpus';

// Compiled to out/test/unit: the repository root is three levels up.
const ROOT = resolve(__dirname, '../../..');
const CORPUS = corpusDir(ROOT);
const SNAPSHOT = join(ROOT, 'test/fixtures/lint/corpus-findings.json');

/** One line per finding: enough to see any change of rule, place or severity in a diff. */
function snapshotLine(f: Finding): string {
  return `${basename(f.file ?? '')}:${f.line} s${f.statement} ${f.severity} ${f.rule}`;
}

describe('linting the harness-postgres corpus', function () {
  this.timeout(60_000);
  let files: string[];
  let first: Finding[];

  before(async function () {
    if (!CORPUS || !existsSync(CORPUS)) this.skip();
    const dir = CORPUS as string;
    files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort().map((f) => join(dir, f));
    first = await lintFiles(files);
  });

  it('lints every file without a crash', () => {
    assert.equal(files.length, 389);
    const withFindings = new Set(first.map((f) => f.file));
    assert.ok(withFindings.size > 300, String(withFindings.size));
    assert.ok(first.every((f) => f.line >= 1 && f.cell === 0 && f.statement >= 0 && f.message && f.help));
  });

  it('reports findings in a stable order: by file as given, then cell, line, rule', async () => {
    const again = await lintFiles(files);
    assert.deepEqual(again, first);
    for (let i = 1; i < first.length; i++) {
      const a = first[i - 1];
      const b = first[i];
      if (a.file === b.file) assert.ok(compareFindings(a, b) <= 0, `${snapshotLine(a)} before ${snapshotLine(b)}`);
      else assert.ok(files.indexOf(a.file ?? '') < files.indexOf(b.file ?? ''));
    }
  });

  it('matches the snapshot of findings (UPDATE_LINT_SNAPSHOT=1 rewrites it)', () => {
    const lines = first.map(snapshotLine);
    if (process.env.UPDATE_LINT_SNAPSHOT === '1') writeFileSync(SNAPSHOT, JSON.stringify(lines, null, 1) + '\n');
    const expected = JSON.parse(readFileSync(SNAPSHOT, 'utf8')) as string[];
    assert.deepEqual(lines, expected);
  });
});
