// The maintenance window of the front matter: ISO 8601 intervals and {start, duration}, UTC unless an offset is given.
import { strict as assert } from 'node:assert';
import { describeWindow, parseNotifyTargets, parseRunbook, parseWindow, windowPosition, windowStatusText, windowVerdict, type RunWindow } from '../../src/format';

const iso = (v: unknown): string => {
  const r = parseWindow(v);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.window.iso;
};
const error = (v: unknown): string => {
  const r = parseWindow(v);
  assert.ok(!r.ok, `expected ${JSON.stringify(v)} to be refused`);
  return r.error;
};
const T2 = Date.parse('2026-12-03T02:00:00Z');
const T4 = Date.parse('2026-12-03T04:00:00Z');

describe('window: reading the front matter\'s window', () => {
  it('reads start/end, start/duration and duration/end intervals, in UTC', () => {
    assert.equal(iso('2026-12-03T02:00Z/2026-12-03T04:00Z'), '2026-12-03T02:00:00.000Z/2026-12-03T04:00:00.000Z');
    assert.equal(iso('2026-12-03T02:00Z/PT2H'), '2026-12-03T02:00:00.000Z/2026-12-03T04:00:00.000Z');
    assert.equal(iso('PT2H/2026-12-03T04:00Z'), '2026-12-03T02:00:00.000Z/2026-12-03T04:00:00.000Z');
    assert.equal(iso(' 2026-12-03T02:00:00.000Z/PT1H30M '), '2026-12-03T02:00:00.000Z/2026-12-03T03:30:00.000Z');
  });

  it('takes a time without an offset as UTC, whatever the machine\'s zone, and honours an offset', () => {
    const tz = process.env.TZ;
    process.env.TZ = 'America/Los_Angeles';
    try {
      assert.equal(iso('2026-12-03T02:00/PT2H'), '2026-12-03T02:00:00.000Z/2026-12-03T04:00:00.000Z');
      assert.equal(iso({ start: '2026-12-03T02:00', duration: '2h' }), '2026-12-03T02:00:00.000Z/2026-12-03T04:00:00.000Z');
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
    assert.equal(iso('2026-12-03T03:00+01:00/2026-12-03T05:00+01:00'), '2026-12-03T02:00:00.000Z/2026-12-03T04:00:00.000Z');
    assert.equal(iso('2026-12-02T21:00-05:00/PT2H'), '2026-12-03T02:00:00.000Z/2026-12-03T04:00:00.000Z');
  });

  it('reads {start, duration} with an ISO 8601 or estimate-style duration, and a YAML timestamp', () => {
    assert.equal(iso({ start: '2026-12-03T02:00Z', duration: 'PT2H' }), '2026-12-03T02:00:00.000Z/2026-12-03T04:00:00.000Z');
    assert.equal(iso({ start: '2026-12-03T02:00Z', duration: '90m' }), '2026-12-03T02:00:00.000Z/2026-12-03T03:30:00.000Z');
    assert.equal(iso({ start: new Date(T2), duration: '1h30m' }), '2026-12-03T02:00:00.000Z/2026-12-03T03:30:00.000Z');
  });

  it('refuses what is not a window, saying what to write', () => {
    assert.match(error('2026-12-03T04:00Z/2026-12-03T02:00Z'), /ends before it starts.*ISO 8601 interval/);
    assert.match(error('tonight'), /"tonight" is not an ISO 8601 interval/);
    assert.match(error('2026-12-03T02:00Z'), /not an ISO 8601 interval/);
    assert.match(error('2026-12-03T02:00Z/2026-12-03T02:00Z'), /empty|ends before/);
    assert.match(error({ start: '2026-12-03T02:00Z' }), /duration .*is not a duration/);
    assert.match(error({ start: 'soon', duration: '2h' }), /start "soon" is not an ISO 8601 date-time/);
    assert.match(error({ start: '2026-12-03T02:00Z', duration: '2h', end: 'x' }), /unknown key "end"/);
    assert.match(error({ start: '2026-12-03T02:00Z', duration: 'PT0S' }), /not a duration/);
    assert.match(error(42), /must be an interval/);
    assert.match(error(['a']), /must be an interval/);
  });

  it('says where a moment stands, and the run\'s verdict', () => {
    const w: RunWindow = { startMs: T2, endMs: T4, iso: '' };
    assert.deepEqual(windowPosition(w, T2 - 60_000), { state: 'before', opensInMs: 60_000 });
    assert.deepEqual(windowPosition(w, T2), { state: 'inside', leftMs: 7_200_000 });
    assert.deepEqual(windowPosition(w, T4), { state: 'after', closedMs: 0 });
    assert.equal(windowStatusText(w, T2 + 40 * 60_000), 'window: 1 h 20 min left');
    assert.equal(windowStatusText(w, T2 - 3 * 3_600_000), 'window opens in 3 h');
    assert.equal(windowStatusText(w, T4 + 10 * 60_000), 'window closed 10 min ago');
    assert.equal(windowVerdict(w, T2 + 1, T4 - 1), 'within');
    assert.equal(windowVerdict(w, T2 + 1, T4 + 1), 'overran');
    assert.equal(windowVerdict(w, T2 - 1, T2 + 1), 'started outside');
    assert.equal(describeWindow(w), '2026-12-03 02:00:00 UTC – 2026-12-03 04:00:00 UTC (2 h)');
  });

  it('is checked in the front matter: an invalid window is an error on its line', () => {
    const rb = parseRunbook('---\ntitle: t\nwindow: 2026-12-03T04:00Z/2026-12-03T02:00Z\n---\n\n```sql\nselect 1;\n```\n');
    const p = rb.problems.find((x) => x.code === 'invalid-window');
    assert.ok(p);
    assert.equal(p.severity, 'error');
    assert.equal(p.line, 3);
    assert.match(p.message, /^front matter: window .* ends before it starts/);
    assert.deepEqual(parseRunbook('---\nwindow: 2026-12-03T02:00Z/PT2H\n---\n').problems, []);
    assert.deepEqual(parseRunbook('---\nwindow:\n  start: 2026-12-03T02:00Z\n  duration: 2h\n---\n').problems, []);
  });
});

describe('notify targets', () => {
  it('reads {url_env, format, steps?}', () => {
    assert.deepEqual(parseNotifyTargets([{ url_env: 'SLACK_URL', format: 'slack' }, { url_env: 'HOOK', format: 'json', steps: true }]), {
      ok: true, targets: [{ url_env: 'SLACK_URL', format: 'slack', steps: false }, { url_env: 'HOOK', format: 'json', steps: true }],
    });
    assert.deepEqual(parseNotifyTargets(undefined), { ok: true, targets: [] });
  });

  it('refuses a URL in the file, and says where it goes instead', () => {
    const r = parseNotifyTargets([{ url: 'https://hooks.example/T000/B000/XXXX', format: 'slack' }]);
    assert.ok(!r.ok);
    assert.match(r.error, /notify entry 1 has a "url" key: a webhook URL is a secret/);
    assert.doesNotMatch(r.error, /hooks\.example/, 'the URL itself is not repeated');
    const env = parseNotifyTargets([{ url_env: 'https://hooks.example/x', format: 'json' }]);
    assert.ok(!env.ok);
    assert.match(env.error, /url_env holds a URL/);
    assert.doesNotMatch(env.error, /hooks\.example/);
  });

  it('refuses a bad format, a missing url_env, unknown keys and a non-list', () => {
    const msg = (v: unknown): string => {
      const r = parseNotifyTargets(v);
      assert.ok(!r.ok);
      return r.error;
    };
    assert.match(msg([{ url_env: 'X', format: 'teams' }]), /format: slack or json, got "teams"/);
    assert.match(msg([{ format: 'json' }]), /needs url_env/);
    assert.match(msg([{ url_env: 'X', format: 'json', channel: '#ops' }]), /unknown key "channel"/);
    assert.match(msg([{ url_env: 'X', format: 'json', steps: 'yes' }]), /steps must be true or false/);
    assert.match(msg({ url_env: 'X' }), /must be a list/);
    const rb = parseRunbook('---\nnotify:\n  - url: https://hooks.example/abc\n    format: slack\n---\n');
    const p = rb.problems.find((x) => x.code === 'invalid-notify');
    assert.ok(p && p.severity === 'error' && p.line === 2);
  });
});
