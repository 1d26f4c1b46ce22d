// Reports a CI system reads (JSON, JUnit) from the migration log's events, and the placeholders of --output PATH.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { buildJsonReport, buildJunitReport, xmlText } from '../../src/run/report';
import { expandOutputPath, outputPathFor, OutputPathError, pathComponent } from '../../src/run/output-path';
import type { LogEvent } from '../../src/format';
import { buildScenario } from './log-scenario';

const events = (): LogEvent[] => buildScenario().log!.events;
const count = (xml: string, re: RegExp): number => (xml.match(re) ?? []).length;

describe('reports', () => {
  it('reports the last run by default: passed, its attempts, duration against the estimate', () => {
    const j = buildJsonReport(events(), { file: 'migrations/add-status.runbook' });
    assert.equal(j.run.id, '20261128T021845Z-40d7');
    assert.equal(j.passed, true);
    assert.equal(j.end?.exit, 0);
    assert.equal(j.estimate, 'within');
    assert.equal(j.estimateMs, 900_000);
    assert.deepEqual(j.attempts.map((a) => [a.cell, a.status, a.final]), [[3, 'uncommitted', 'ok'], [4, 'uncommitted', 'ok'], [5, 'ok', 'ok'], [6, 'ok', 'ok'], [7, 'ok', 'ok']]);
  });

  it('marks the cells of a rolled-back span as rolled back, never ok', () => {
    const j = buildJsonReport(events(), { file: 'f.runbook', run: '20261128T020041Z-7f3a' });
    assert.equal(j.passed, false);
    assert.deepEqual(j.attempts.map((a) => `${a.cell}:${a.final}`), ['1:ok', '2:ok', '3:rolled back', '4:error', '5:skipped', '6:skipped', '7:skipped']);
    assert.equal(j.issues.length, 3);
    assert.throws(() => buildJsonReport(events(), { file: 'f.runbook', run: 'nope' }), /f\.runbook: the migration log has no run nope/);
  });

  it('writes JUnit with one testcase per attempt, failures and skips counted', () => {
    const xml = buildJunitReport(events(), { file: 'f.runbook', run: '20261128T020041Z-7f3a' });
    assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="runbook" tests="7" failures="2" errors="0" skipped="3"'), xml);
    assert.equal(count(xml, /<testcase /g), 7);
    assert.equal(count(xml, /<failure /g), 2);
    assert.equal(count(xml, /<skipped\/>/g), 3);
    assert.match(xml, /<testcase name="#4 backfill" classname="f\.runbook" time="185\.000">\n {6}<failure type="error" message="error: canceling statement due to lock timeout \(SQLSTATE 55P03\)">/);
    assert.match(xml, /<testcase name="#3 begin" [^>]*>\n {6}<failure type="rolled back" message="uncommitted, then rolled back with its transaction">/);
    assert.match(xml, /<property name="environment" value="production"\/>/);
    // Every element opened is closed.
    assert.equal(count(xml, /<testcase [^>]*[^/]>/g), count(xml, /<\/testcase>/g));
  });

  it('fails a refused run in JUnit even though no cell failed', () => {
    const xml = buildJunitReport(events(), { file: 'f.runbook', run: '20261128T021512Z-b210' });
    assert.match(xml, /<testcase name="#5 commit"[^>]*>\n {6}<failure type="refused"/);
    const refusedNoAttempt = buildJunitReport([
      { e: 'run', run: { id: 'r', command: 'runbook run', by: 'a', started: '2026-11-28T02:00:00.000Z', connection: 'prod-main', environment: 'production' } },
      { e: 'end', end: { run: 'r', ended: '2026-11-28T02:00:01.000Z', status: 'refused', exit: 1, reasons: ['cell 4: unacknowledged finding adding-not-nullable-field'] } },
    ], { file: 'f.runbook' });
    assert.match(refusedNoAttempt, /<testcase name="run" classname="f\.runbook" time="1\.000">\n {6}<failure type="refused" message="refused, exit status 1">cell 4: unacknowledged finding adding-not-nullable-field<\/failure>/);
    const interrupted = buildJunitReport([{ e: 'run', run: { id: 'r', command: 'runbook run', by: 'a', started: '2026-11-28T02:00:00.000Z', connection: 's', environment: 'sandbox' } }], { file: 'f.runbook' });
    assert.match(interrupted, /message="the run has no end in the log \(interrupted\)"/);
  });

  it('escapes XML and drops characters XML cannot hold', () => {
    assert.equal(xmlText('a<b>&"c\'\u0001\ud800'), 'a&lt;b&gt;&amp;&quot;c&apos;\ufffd\ufffd');
  });
});

describe('--output PATH placeholders', () => {
  const v = { connection: 'prod-main', environment: 'production', run: '20261128T020041Z-7f3a', started: '2026-11-28T02:00:41.120Z' };

  it('expands {connection}, {environment}, {date} and {run}, and {{ }} as braces', () => {
    assert.equal(expandOutputPath('executed/{connection}-{date}.runbook', v), 'executed/prod-main-2026-11-28.runbook');
    assert.equal(expandOutputPath('{environment}/{run}{{x}}.runbook', v), 'production/20261128T020041Z-7f3a{x}.runbook');
  });

  it('refuses unknown placeholders and stray braces, naming the known ones', () => {
    assert.throws(() => expandOutputPath('{conection}.runbook', v), (e: Error) => e instanceof OutputPathError && /unknown placeholder \{conection\} \(known: \{connection\}, \{environment\}, \{date\}, \{run\}\)/.test(e.message));
    assert.throws(() => expandOutputPath('a{b.runbook', v), /unmatched "\{"/);
  });

  it('keeps each value one safe path component, and never a password', () => {
    assert.equal(pathComponent('../../etc'), 'etc');
    assert.equal(pathComponent('a b/c'), 'a-b-c');
    assert.equal(pathComponent('postgres://app:s3cret@db.internal:5433/orders'), 'db.internal-5433-orders');
    assert.ok(!expandOutputPath('{connection}', { ...v, connection: 'postgresql://u:s3cret@h/db' }).includes('s3cret'));
  });

  it('refuses a path that is the template itself', () => {
    assert.throws(() => outputPathFor('m/t.runbook', 'm/t.runbook', v, '/w'), /is the template itself/);
    assert.equal(outputPathFor('m/t.runbook', 'out/{connection}.runbook', v, '/w'), path.resolve('/w/out/prod-main.runbook'));
  });
});
