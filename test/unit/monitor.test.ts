// The monitoring sampler's pure parts: statement growth between snapshots, the live line and rows, the peaks in
// words, and the cell status bar's "where it last ran".

import { strict as assert } from 'node:assert';
import { statementGrowth } from '../../src/monitor/statements';
import { monitorLine, monitorRows, peaksLines, formatBytes } from '../../src/monitor/text';
import type { ActivitySample } from '../../src/monitor/sample';
import { lastRanText, shortUtc } from '../../src/run/last-ran';
import { isChecklistMessage } from '../../src/vscode/checklistClicks';

const sample: ActivitySample = {
  at: 1200, connections: 7, byState: { active: 2, idle: 3, 'idle in transaction': 2 }, lockWaiting: 1,
  longestTransaction: { pid: 4711, application: 'psql', state: 'idle in transaction', ms: 125_000 },
  replication: { standby: false, replicas: [{ name: 'replica1', state: 'streaming', lagBytes: 2_500_000, replayLagMs: 400 }] }, queryMs: 3,
};

describe('monitoring sampler (pure parts)', () => {
  it('ranks statements by the time they gained, leaving out those that did not run', () => {
    const before = new Map([['1/10', { query: 'SELECT $1', calls: 5, totalMs: 10 }], ['2/10', { query: 'UPDATE t SET a = $1', calls: 1, totalMs: 100 }]]);
    const after = new Map([
      ['1/10', { query: 'SELECT $1', calls: 7, totalMs: 12 }],
      ['2/10', { query: 'UPDATE t SET a = $1', calls: 1, totalMs: 100 }],
      ['3/10', { query: 'CREATE INDEX i ON t (a)', calls: 1, totalMs: 900.04 }],
    ]);
    assert.deepEqual(statementGrowth(before, after), [
      { queryid: '3', query: 'CREATE INDEX i ON t (a)', calls: 1, ms: 900 },
      { queryid: '1', query: 'SELECT $1', calls: 2, ms: 2 },
    ]);
  });

  it('says a sample in one line and in rows', () => {
    assert.equal(monitorLine({ available: true, sample, intervalMs: 1000 }), '7 conns (2 active, 2 idle in tx) · 1 waiting on locks · longest tx 2 min 5 s (pid 4711 psql) · 1 replica, lag 2.5 MB / 0.4 s');
    assert.equal(monitorLine({ available: false, reason: 'the PGlite sandbox serves one connection at a time', intervalMs: 1000 }), 'monitor: unavailable: the PGlite sandbox serves one connection at a time');
    const rows = monitorRows({ available: true, sample, intervalMs: 1000 });
    assert.deepEqual(rows.map((r) => r[0]), ['Connections', 'Waiting on locks', 'Longest transaction', 'Replication']);
    assert.equal(rows[0][1], '7: 2 active, 2 idle in transaction, 3 idle');
    assert.equal(rows[3][1], 'replica1 streaming: 2.5 MB behind, replay lag 0.4 s');
    assert.equal(formatBytes(999), '999 B');
  });

  it('says the peaks, and what it could not know', () => {
    assert.deepEqual(peaksLines({ available: false, reason: 'no second connection', intervalMs: 1000, samples: 0 }), ['monitoring: unavailable: no second connection']);
    const lines = peaksLines({
      available: true, intervalMs: 1000, samples: 3, connections: { max: 7, active: 2, idleInTransaction: 2 }, lockWaiting: 1,
      longestTransaction: sample.longestTransaction!, replication: { none: 'no replicas (pg_stat_replication is empty)' },
      statements: { unavailable: 'pg_stat_statements is not installed in this database' },
    });
    assert.deepEqual(lines, [
      'monitoring: 3 samples every 1.0 s; peak 7 connections (2 active, 2 idle in transaction); at most 1 waiting on locks; longest transaction 2 min 5 s (pid 4711, psql); no replicas (pg_stat_replication is empty)',
      '  statements: pg_stat_statements is not installed in this database',
    ]);
  });
});

describe('where a cell last ran', () => {
  const today = new Date('2026-11-28T10:00:00Z');
  it('names the connection, environment and UTC time of its record, and warns when it is not where it would run now', () => {
    const r = { status: 'ok', started: '2026-11-28T02:08:03.512Z', connection: 'prod-main', environment: 'production', run: '20261128T020041Z-7f3a' };
    const same = lastRanText(r, { connection: 'prod-main', environment: 'production' }, 'sql', today)!;
    assert.equal(same.text, 'last: prod-main · production · 02:08:03 UTC');
    assert.equal(same.elsewhere, false);
    assert.match(same.tooltip, /^Last ran on prod-main · production at 2026-11-28 02:08:03 UTC \(local time .+\), run 20261128T020041Z-7f3a; status ok\.$/);
    const other = lastRanText(r, { connection: 'staging', environment: 'staging' }, 'sql', today)!;
    assert.equal(other.elsewhere, true);
    assert.match(other.tooltip, /That is not where it would run now \(staging · staging\)\./);
    assert.equal(lastRanText({ status: 'error', started: '2026-11-27T23:00:00Z' }, { connection: 'x', environment: 'development' }, 'sql', today)!.text, 'last: an unknown connection · 2026-11-27 23:00 UTC · error');
    assert.equal(lastRanText({ status: 'ok' }, { connection: 'x', environment: 'development' }, 'sql', today), undefined);
    assert.equal(shortUtc('2026-11-28T09:59:59Z', today), '09:59:59 UTC');
    const cl = lastRanText({ status: 'ok', started: '2026-11-28T02:00:00Z', items: [{ text: 'a', by: 'x', at: '2026-11-28T02:00:05Z' }, { text: 'b', by: 'x', at: '2026-11-28T02:00:09Z' }] }, { connection: 'x', environment: 'development' }, 'checklist', today)!;
    assert.equal(cl.text, 'confirmed 02:00:09 UTC');
  });

  it('takes only well-formed checklist clicks from the renderer', () => {
    assert.equal(isChecklistMessage({ type: 'checklistItem', token: 't', index: 0 }), true);
    assert.equal(isChecklistMessage({ type: 'checklistStop', token: 't' }), true);
    assert.equal(isChecklistMessage({ type: 'checklistItem', token: 't', index: 0.5 }), false);
    assert.equal(isChecklistMessage({ type: 'copy', text: 'x' }), false);
    assert.equal(isChecklistMessage(null), false);
  });
});
