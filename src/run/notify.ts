// Notifications: tells webhooks (Slack-compatible, or plain JSON) that a run started, a cell failed or the run stopped,
// a step completed (opt-in) and the run finished — without ever stopping or slowing the run.
//
// Each delivery is an HTTP POST (node:http/https, keep-alive), bounded by a timeout (3 s), retried once on a network error, a
// timeout, 429 or a 5xx. Deliveries run in the background while the run goes on; at the end the run waits for what is
// still pending at most one timeout in all. A delivery that failed is recorded as a warning in the migration log at the
// run's next step (never concurrently with the loop's own writes). Everything sent passes the run's redactor.

import * as http from 'node:http';
import * as https from 'node:https';
import type { Redactor } from '../connections';
import { compareWithEstimate, formatDuration, parseEstimate, type NotifyTarget, type Output, type RunWindow } from '../format';
import { cellLabel, type RunnableCell } from './cells';
import type { RunObserver, RunSummary } from './loop';
import type { Run } from './run';
import { errorText } from './summary';
import { settleWithin } from './deadline';

/** ms one delivery attempt may take (docs/run.md, "Notifications"). */
export const NOTIFY_TIMEOUT_MS = 3000;

/** What a notifier is told about the run and where it reports. */
export interface NotifierOptions {
  targets: NotifyTarget[];
  /** The webhook URL of a target: the environment variable (CLI) or the secret (VS Code) it names; undefined when unset. */
  url(target: NotifyTarget): Promise<string | undefined> | string | undefined;
  redactor: Redactor;
  runbook: { title?: string; file?: string };
  target: { connection: string; environment: string };
  /** The front matter's estimate as written (`15m`). */
  estimate?: string;
  window?: RunWindow;
  /** Records a warning in the migration log (called only from the run's own steps). */
  warn(about: string, message: string, at?: Date): Promise<void>;
  /** ms per attempt; default {@link NOTIFY_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** One event as sent in the `json` format; the `slack` format says the same in words. */
export interface NotifyEvent {
  event: 'run.started' | 'cell.failed' | 'run.stopped' | 'step.completed' | 'run.finished';
  /** UTC ISO 8601 with ms. */
  at: string;
  run: string;
  runbook: { title?: string; file?: string };
  target: { connection: string; environment: string };
  operator: string;
  estimate?: string;
  /** ISO 8601 interval in UTC. */
  window?: string;
  cell?: { number: number; name?: string; status?: string; ms?: number };
  error?: string;
  reason?: string;
  result?: string;
  exit?: number;
  duration_ms?: number;
  /** `within`, `over`, `twice` (more than twice the estimate). */
  against_estimate?: string;
  summary?: string;
}

/** Statuses of a cell that count as failed for a notification. */
const FAILED = new Set(['error', 'cancelled', 'rolled back', 'unknown']);

/** Slack mrkdwn escapes (Slack docs, "Formatting text for app surfaces": `&`, `<`, `>`). */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The event in words, for Slack's `text` (and its section block). */
export function eventText(e: NotifyEvent): string {
  const name = e.runbook.title ?? e.runbook.file ?? 'runbook';
  const where = `${e.target.connection} (${e.target.environment})`;
  const cell = e.cell ? `cell ${e.cell.number}${e.cell.name ? ` (${e.cell.name})` : ''}` : '';
  switch (e.event) {
    case 'run.started':
      return `Run started: ${name}${e.runbook.file && e.runbook.title ? ` [${e.runbook.file}]` : ''} on ${where} by ${e.operator}` +
        `${e.estimate ? `; estimate ${e.estimate}` : ''}${e.window ? `; window ${e.window}` : ''} (run ${e.run})`;
    case 'cell.failed':
      return `Cell failed: ${cell} of ${name} on ${where}: ${e.error ?? e.cell?.status ?? 'failed'} (run ${e.run})`;
    case 'run.stopped':
      return `Run stopped at ${cell} of ${name} on ${where}: ${e.reason ?? ''} (run ${e.run})`;
    case 'step.completed':
      return `Step completed: ${cell} of ${name} on ${where}: ${e.cell?.status ?? ''}${e.cell?.ms !== undefined ? ` in ${formatDuration(e.cell.ms)}` : ''}`;
    case 'run.finished':
      return `Run finished: ${name} on ${where}: ${e.summary ?? e.result ?? ''} (run ${e.run})`;
  }
}

/** The body sent to a target: Slack-compatible incoming-webhook JSON, or the event itself. */
export function notifyBody(e: NotifyEvent, format: NotifyTarget['format']): unknown {
  if (format === 'json') return e;
  const text = slackEscape(eventText(e));
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }, { type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(`runbook · run ${e.run} · ${e.at}`) }] }] };
}

/** Every string of a JSON value through the redactor (keys are ours and hold no secret). */
function redactDeep(v: unknown, r: Redactor): unknown {
  if (typeof v === 'string') return r.redact(v);
  if (Array.isArray(v)) return v.map((x) => redactDeep(x, r));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactDeep(x, r)]));
  return v;
}

/** The run's result in one line, as the log's end says it: `ok, exit status 0 · 3 ok · 1.2 s (estimated 15 min)`. */
export function finishSummary(run: Run, s: RunSummary, estimate: string | undefined): { text: string; verdict?: string } {
  const counts = Object.entries(s.counts).map(([k, n]) => `${n} ${k}`).join(', ') || 'no cell ran';
  const e = estimate !== undefined ? parseEstimate(estimate) : undefined;
  const verdict = e?.ok ? compareWithEstimate(s.ms, e.ms) : undefined;
  const est = e?.ok ? ` (estimated ${formatDuration(e.ms)}${verdict === 'within' ? '' : verdict === 'over' ? ': over the estimate' : ': more than twice the estimate'})` : '';
  const stop = s.stopped ? ` · stopped at ${cellLabel(s.stopped.cell)}: ${s.stopped.reason}` : '';
  const lost = s.lost.length ? ` · ${s.lost.join('; ')}` : '';
  return { text: `${run.status ?? 'unknown'}, exit status ${run.exit ?? 1} · cells: ${counts} of ${s.selected} · ${formatDuration(s.ms)}${est}${stop}${lost}`, verdict };
}

// One keep-alive agent per scheme: a run with `steps: true` posts after every cell, and a new TCP (and TLS) connection
// for each would cost more than the post.
const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

/**
 * Posts `body` once with node:http(s) (lighter per request than fetch: about 3 ms of the run's thread per post with
 * fetch against well under 1 ms, bench/notify.ts). Resolves why it failed (no answer within `timeoutMs`, an HTTP
 * status, a socket error code) and whether a retry could help; never rejects, never names the URL.
 */
function postOnce(url: string, body: string, timeoutMs: number, stop: AbortSignal): Promise<{ error?: string; retry: boolean }> {
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      resolve({ error: 'not a valid URL', retry: false });
      return;
    }
    const lib = u.protocol === 'https:' ? https : http;
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), stop]);
    const req = lib.request(u, { method: 'POST', agent: agents[u.protocol as 'http:' | 'https:'], headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, signal }, (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 300 ? { retry: false } : { error: `HTTP ${status}`, retry: status >= 500 || status === 429 });
      });
      res.on('error', () => resolve({ error: 'the answer broke off', retry: true }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') resolve({ error: `no answer within ${formatDuration(timeoutMs)}`, retry: !stop.aborted });
      else resolve({ error: e.code ?? e.message, retry: true });
    });
    req.end(body);
  });
}

/**
 * A target's URL, read within `timeoutMs` (a VS Code secret store that never answers must not hold the run before its
 * first statement). Resolves `{ url }` (undefined when unset) or `{ error }` saying why it could not be read.
 */
function readUrl(o: NotifierOptions, t: NotifyTarget, timeoutMs: number): Promise<{ url?: string; error?: string }> {
  const read = Promise.resolve()
    .then(() => o.url(t))
    .then((u) => ({ url: u?.trim() || undefined }), () => ({ error: 'could not be read' }));
  return settleWithin(read, timeoutMs, () => ({ error: `could not be read within ${formatDuration(timeoutMs)}` }));
}

/**
 * A run observer that sends the run's events to its notification targets. Its steps never wait for a delivery, but
 * for the run's end, where it waits for what is pending at most one timeout in all; deliveries still pending then are
 * abandoned and recorded as not known to have arrived.
 */
export function notifier(o: NotifierOptions): RunObserver {
  const timeoutMs = o.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const stop = new AbortController();
  const pending = new Set<Promise<void>>();
  const failures: { at: Date; message: string }[] = [];
  let urls: { t: NotifyTarget; url?: string }[] = [];
  let failedCell: number | undefined;
  let operator = '';
  let runId = '';

  const label = (t: NotifyTarget): string => `notification target ${t.url_env} (${t.format})`;
  const base = (event: NotifyEvent['event']): NotifyEvent => ({
    event, at: new Date().toISOString(), run: runId, runbook: o.runbook, target: o.target, operator,
    ...(o.estimate ? { estimate: o.estimate } : {}), ...(o.window ? { window: o.window.iso } : {}),
  });
  const send = (e: NotifyEvent): void => {
    const clean = redactDeep(e, o.redactor) as NotifyEvent;
    for (const { t, url } of urls) {
      if (!url) continue;
      if (e.event === 'step.completed' && !t.steps) continue;
      const body = JSON.stringify(notifyBody(clean, t.format));
      const p = (async () => {
        let r = await postOnce(url, body, timeoutMs, stop.signal);
        if (r.error && r.retry && !stop.signal.aborted) r = await postOnce(url, body, timeoutMs, stop.signal);
        // Once the run's end stopped waiting, what is abandoned is reported once, as a whole.
        if (r.error && !stop.signal.aborted) failures.push({ at: new Date(), message: `${e.event} was not delivered to ${label(t)}: ${r.error}${r.retry ? ' (also on the retry)' : ''}; the run went on` });
      })();
      const tracked = p.finally(() => pending.delete(tracked));
      pending.add(tracked);
    }
  };
  const flush = async (): Promise<void> => {
    while (failures.length) {
      const f = failures.shift()!;
      await o.warn('notify', o.redactor.redact(f.message), f.at);
    }
  };

  return {
    async runStarted(run: Run) {
      runId = run.id;
      operator = run.operator;
      urls = [];
      for (const t of o.targets) {
        const read = await readUrl(o, t, timeoutMs);
        let url = read.url;
        if (read.error) {
          failures.push({ at: new Date(), message: `${label(t)}: the URL in ${t.url_env} ${read.error}; nothing is sent to it` });
        } else if (url && !/^https?:\/\//i.test(url)) {
          failures.push({ at: new Date(), message: `${label(t)}: the value of ${t.url_env} is not an http:// or https:// URL; nothing is sent to it` });
          url = undefined;
        } else if (!url) failures.push({ at: new Date(), message: `${label(t)}: ${t.url_env} is not set (in VS Code: "Runbook: Set Notification Webhook"); nothing is sent to it` });
        if (url) o.redactor.addSecret(url);
        urls.push({ t, url });
      }
      send(base('run.started'));
      await flush();
    },
    async beforeCell() {
      await flush();
      return undefined;
    },
    async cellFinished(c: RunnableCell, output: Output) {
      const status = String(output.record.status);
      const cell = { number: c.number, ...(c.name ? { name: c.name } : {}), status, ...(typeof output.record.ms === 'number' ? { ms: output.record.ms } : {}) };
      if (FAILED.has(status)) {
        failedCell = c.number;
        send({ ...base('cell.failed'), cell, error: errorText(output.record) });
      } else send({ ...base('step.completed'), cell });
      await flush();
    },
    async runFinished(run: Run, s: RunSummary) {
      if (!runId) return; // refused before it started: nobody was told it started
      if (s.stopped && s.stopped.cell.number !== failedCell) send({ ...base('run.stopped'), cell: { number: s.stopped.cell.number, ...(s.stopped.cell.name ? { name: s.stopped.cell.name } : {}) }, reason: s.stopped.reason });
      const sum = finishSummary(run, s, o.estimate);
      send({ ...base('run.finished'), result: run.status ?? 'unknown', exit: run.exit ?? 1, duration_ms: s.ms, ...(sum.verdict ? { against_estimate: sum.verdict } : {}), summary: sum.text });
      // At most one timeout in all for everything still pending.
      const late = await settleWithin(Promise.all([...pending]).then(() => false), timeoutMs, () => true);
      if (late) {
        failures.push({ at: new Date(), message: `${pending.size} notification${pending.size === 1 ? '' : 's'} had no answer within ${formatDuration(timeoutMs)} when the run ended; whether ${pending.size === 1 ? 'it' : 'they'} arrived is not known` });
        stop.abort();
      }
      await flush();
    },
  };
}
