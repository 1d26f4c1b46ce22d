// The retry and batch cell options, the profile's retry default, the backoff bounds and the planner estimate's reading.

import * as assert from 'node:assert/strict';
import { checkOptions } from '../../src/format';
import { parseProfiles } from '../../src/connections';
import { backoffMs, retryPolicy } from '../../src/run/retry';
import { batchPolicy, batchProgressText, batchStatement, rowsFromPlan } from '../../src/run/batch';
import type { Cell } from '../../src/format';

const cell = (source: string, options: Record<string, unknown>): Cell => ({ kind: 'sql', source, options, outputs: [] }) as unknown as Cell;

describe('retry and batch options', () => {
  it('accepts the documented shapes and names what is wrong with others', () => {
    assert.deepEqual(checkOptions('sql', { retry: { attempts: 3, backoff: '200ms', max_delay: '5s' } }), []);
    assert.deepEqual(checkOptions('sql', { batch: true }), []);
    assert.deepEqual(checkOptions('sql', { batch: { pause: '100ms', max: 10, rows: 1000 } }), []);
    const bad = checkOptions('sql', { retry: { attempts: 0, backof: 1 }, batch: { pause: 'soon' } }).map((p) => p.message);
    assert.ok(bad.some((m) => /"retry": unknown key "backof"/.test(m)), bad.join('\n'));
    assert.ok(bad.some((m) => /"attempts" must be a whole number from 1 to 20/.test(m)));
    assert.ok(bad.some((m) => /"batch": "pause" must be a duration/.test(m)));
    assert.ok(checkOptions('sql', { retry: { attempts: 2, max_delay: '1h' } }).some((p) => /at most 5min/.test(p.message)));
    assert.ok(checkOptions('shell', { retry: { attempts: 2 } }).some((p) => /does not apply to shell cells/.test(p.message)));
  });

  it('reads the policy from the cell, else the profile; one attempt is no retry', () => {
    assert.deepEqual(retryPolicy(cell('x', { retry: { attempts: 4, backoff: '1s' } }), { attempts: 2 }), { attempts: 4, backoffMs: 1000, maxDelayMs: 10_000, source: 'cell' });
    assert.deepEqual(retryPolicy(cell('x', {}), { attempts: 2, max_delay: '2s' }), { attempts: 2, backoffMs: 500, maxDelayMs: 2000, source: 'profile' });
    assert.equal(retryPolicy(cell('x', { retry: { attempts: 1 } }), { attempts: 5 }), undefined);
    assert.deepEqual(batchPolicy(cell('x', { batch: { pause: '2s', max: 3 } })), { pauseMs: 2000, max: 3 });
    assert.equal(batchPolicy(cell('x', {})), undefined);
  });

  it('keeps every wait within [d/2, d] and under max_delay', () => {
    const p = { backoffMs: 500, maxDelayMs: 10_000 };
    for (let k = 1; k <= 20; k++) {
      const d = Math.min(10_000, 500 * 2 ** (k - 1));
      for (const r of [0, 0.5, 0.999999]) {
        const w = backoffMs(p, k, r);
        assert.ok(w >= d / 2 && w <= d, `try ${k}: ${w} outside [${d / 2}, ${d}]`);
      }
    }
  });

  it('takes the profile default from connections.yaml and rejects a bad one with its line', () => {
    const [p] = parseProfiles('connections:\n  dev:\n    environment: development\n    retry: {attempts: 3, backoff: 250ms}\n', '/x/runbook.connections.yaml');
    assert.deepEqual(p.retry, { attempts: 3, backoff: '250ms' });
    assert.throws(() => parseProfiles('connections:\n  dev:\n    environment: development\n    retry: 3\n', '/x/c.yaml'), /c\.yaml:4:\d+: "retry" of connection "dev" must be a mapping/);
    assert.throws(() => parseProfiles('connections:\n  dev:\n    environment: development\n    retry: {attempts: 3, jitter: full}\n', '/x/c.yaml'), /unknown key "jitter"/);
  });

  it('finds the one UPDATE or DELETE of a batch cell', async () => {
    const u = await batchStatement(cell('UPDATE s.t SET x = 1 WHERE id IN (SELECT id FROM s.t WHERE x IS NULL LIMIT 10);', {}));
    assert.deepEqual(u, { ok: true, statement: { text: 'UPDATE s.t SET x = 1 WHERE id IN (SELECT id FROM s.t WHERE x IS NULL LIMIT 10)', kind: 'UPDATE', table: 's.t' } });
    const d = await batchStatement(cell('DELETE FROM t WHERE id IN (SELECT id FROM t LIMIT 10)', {}));
    assert.equal(d.ok && d.statement.kind, 'DELETE');
    const two = await batchStatement(cell('DELETE FROM t; SELECT 1', {}));
    assert.equal(two.ok, false);
    const sel = await batchStatement(cell('SELECT 1', {}));
    assert.match(sel.ok ? '' : sel.why, /is Select, not an UPDATE or DELETE/);
  });

  it('reads the predicate rows under the Limit node of the plan, and writes the progress line', () => {
    const plan = { 'Node Type': 'ModifyTable', 'Plan Rows': 0, Plans: [{ 'Node Type': 'Nested Loop', 'Plan Rows': 10000, Plans: [{ 'Node Type': 'HashAggregate', Plans: [{ 'Node Type': 'Limit', 'Plan Rows': 10000, Plans: [{ 'Node Type': 'Seq Scan', 'Plan Rows': 987654 }] }] }] }] };
    assert.equal(rowsFromPlan(plan), 987654);
    assert.equal(rowsFromPlan({ 'Node Type': 'ModifyTable', Plans: [{ 'Node Type': 'Seq Scan', 'Plan Rows': 42 }] }), 42);
    assert.equal(batchProgressText(3, 20000, 2000, { rows: 100000, source: 'rows option' }), 'batch 3 · 20,000 of ~100,000 rows (20%) · 10,000 rows/s · ETA 8 s');
    assert.equal(batchProgressText(1, 0, 0, undefined), 'batch 1 · 0 rows · 0 rows/s · no estimate for an ETA');
  });
});
