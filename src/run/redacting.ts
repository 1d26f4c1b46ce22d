// The run's one redaction point at its edge: every output, log event and message a run hands its front end passes the redactor.

import type { Redactor } from '../connections';
import type { LogEvent } from '../format';
import type { CellProgress, LoggedEvent, RunReporter, RunSink } from './frontend';

/**
 * The sink, with every output and log event redacted on its way in (records, bodies, span reasons, refusal
 * reasons: whatever text the server or a cell produced). What the sink writes is what the file, the journal and
 * the notebook hold, so nothing reaches them unredacted.
 */
export function redactingSink(sink: RunSink, redactor: Redactor): RunSink {
  const redactEvent = (event: LogEvent, ctx?: { source?: string; body?: string }): LoggedEvent => ({
    event: redactor.redactValue(event),
    ctx: ctx && { source: ctx.source, body: ctx.body === undefined ? undefined : redactor.redact(ctx.body) },
  });
  return {
    handle: (i) => sink.handle(i),
    cellNow: (h) => sink.cellNow(h),
    outputOf: (h) => sink.outputOf(h),
    cellStarted: (c, h, run) => sink.cellStarted(c, h, run),
    commitXid: sink.commitXid && ((c, h, run, xid) => sink.commitXid!(c, h, run, xid)),
    shellGroup: sink.shellGroup && ((c, h, run, pgid) => sink.shellGroup!(c, h, run, pgid)),
    cellOutput: (c, h, output, source, ran, attempt) => sink.cellOutput(c, h, redactor.redactOutput(output), source, ran, attempt && redactEvent(attempt.event, attempt.ctx)),
    cellEnded: (h, ok) => sink.cellEnded(h, ok),
    amend: (changes, ev) => {
      const r = redactEvent(ev.event, ev.ctx);
      return sink.amend(changes.map((c) => ({ handle: c.handle, output: redactor.redactOutput(c.output) })), r);
    },
    log: (event, ctx) => {
      const r = redactEvent(event, ctx);
      return sink.log(r.event, r.ctx);
    },
    flush: () => sink.flush(),
  };
}

/** The reporter, with every text it is given redacted (progress lines, messages, shell output is redacted by the engine). */
export function redactingReporter(reporter: RunReporter | undefined, redactor: Redactor): RunReporter | undefined {
  if (!reporter) return undefined;
  return {
    target: reporter.target && ((display, recovered) => reporter.target!(redactor.redact(display), recovered)),
    cellStart: reporter.cellStart && ((c, pos, total) => reporter.cellStart!(c, pos, total)),
    progress: reporter.progress && ((c, p: CellProgress) => reporter.progress!(c, p.text === undefined ? p : { ...p, text: redactor.redact(p.text) })),
    output: reporter.output && ((c, chunk) => reporter.output!(c, chunk)),
    cellEnd: reporter.cellEnd && ((c, status, ms, summary) => reporter.cellEnd!(c, status, ms, redactor.redact(summary))),
    message: reporter.message && ((text) => reporter.message!(redactor.redact(text))),
    notice: reporter.notice && ((c, text) => reporter.notice!(c, redactor.redact(text))),
    monitor: reporter.monitor && ((view) => reporter.monitor!(redactor.redactValue(view))),
  };
}
