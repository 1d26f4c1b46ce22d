// The executed example (test/fixtures/logged.runbook, and its Markdown-preview copy in docs/examples/) is what the log API writes.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRunbook, serializeRunbook, verifyRunbook } from '../../src/format';
import { buildScenario } from './log-scenario';

const ROOT = path.join(__dirname, '../../..');
const FILES = ['test/fixtures/logged.runbook', 'docs/examples/migration-log.md'];

describe('the executed example', () => {
  it('is the four-run scenario as the log API writes it, and verifies (UPDATE_GOLDEN=1 rewrites it)', () => {
    const text = serializeRunbook(buildScenario());
    for (const f of FILES) {
      const p = path.join(ROOT, f);
      if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(p)) fs.writeFileSync(p, text);
      assert.equal(fs.readFileSync(p, 'utf8'), text, `${f} is out of date: run the unit tests with UPDATE_GOLDEN=1`);
    }
    const rb = parseRunbook(text);
    assert.deepEqual(rb.problems, []);
    assert.deepEqual(verifyRunbook(rb).breaks, []);
  });
});
