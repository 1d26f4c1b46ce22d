// Results of 250,000 lines from a real server and a real shell: kept, formatted and written without overflowing the stack.

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PostgresSession } from '../../src/engines/postgres';
import { parseRunbook } from '../../src/format';
import { freshDatabase, type FreshDatabase } from './harness';

const ROOT = path.join(__dirname, '../../..');
const N = 250_000;

describe('results larger than 125,000 lines (real PostgreSQL)', function () {
  this.timeout(180_000);
  let db: FreshDatabase;
  let session: PostgresSession;

  before(async () => {
    db = await freshDatabase('large_results');
    session = await PostgresSession.connect(db.clientConfig);
  });
  after(async () => {
    await session?.close();
    await db?.drop();
  });

  it(`keeps and formats ${N.toLocaleString('en-US')} rows of a SELECT when max_rows allows them`, async () => {
    const r = await session.executeCell(`SELECT g AS n FROM generate_series(1, ${N}) g`, { maxRows: N + 50_000 });
    assert.equal(r.status, 'ok', r.error?.message);
    assert.equal(r.statements[0].rows, N);
    assert.equal(r.statements[0].kept, N);
    const lines = r.body.split('\n');
    assert.equal(lines.length, N + 3);
    assert.equal(lines[lines.length - 1], `(${N} rows)`);
  });

  it(`keeps ${N.toLocaleString('en-US')} lines of COPY … TO STDOUT`, async () => {
    const r = await session.executeCell(`COPY (SELECT g FROM generate_series(1, ${N}) g) TO STDOUT`, { maxRows: N + 50_000 });
    assert.equal(r.status, 'ok', r.error?.message);
    assert.equal(r.statements[0].kept, N);
    assert.equal(r.body.split('\n').length, N);
  });

  it(`formats one value of ${N.toLocaleString('en-US')} lines`, async () => {
    const r = await session.executeCell(`SELECT string_agg(g::text, E'\\n') AS v FROM generate_series(1, ${N}) g`);
    assert.equal(r.status, 'ok', r.error?.message);
    assert.equal(r.body.split('\n').length, N + 3);
  });

  it('runs them and a shell cell printing as many lines through `runbook run`, and writes a file that reads back', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-large-'));
    const file = path.join(dir, 'large.runbook');
    fs.writeFileSync(
      file,
      `# Large\n\n\`\`\`sql\nSELECT g AS n FROM generate_series(1, ${N}) g;\n\`\`\`\n\n` +
        `\`\`\`sql\nCOPY (SELECT g FROM generate_series(1, ${N}) g) TO STDOUT;\n\`\`\`\n\n` +
        `\`\`\`bash\nseq 1 ${N}\n\`\`\`\n`,
    );
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/runbook.js'), 'run', file, '-c', db.url, '--max-rows', String(N + 50_000)], {
      encoding: 'utf8',
      timeout: 150_000,
      env: { ...process.env, RUNBOOK_OPERATOR: 'test-operator' },
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const rb = parseRunbook(fs.readFileSync(file));
    assert.deepEqual(rb.problems, []);
    const outs = rb.cells.filter((c) => c.kind !== 'markdown').map((c) => c.outputs[0]);
    assert.deepEqual(outs.map((o) => o.record.status), ['ok', 'ok', 'ok']);
    assert.equal(outs[0].record.statements?.[0].kept, N);
    assert.equal(outs[1].record.statements?.[0].kept, N);
    // 1.6 MB of shell output: the first and last 512 KiB are kept, the rest counted.
    const shellLines = outs[2].body!.split('\n');
    assert.equal(shellLines[0], '1');
    assert.equal(shellLines[shellLines.length - 1], String(N));
    assert.ok(Number(outs[2].record.omitted_bytes) > 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
