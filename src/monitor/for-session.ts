// The run's monitoring connection and sampler for a session: one MonitorConnection shared by the safety hooks
// (lint, pre-flight, live lock view) and the sampler, or the reason there is none (the PGlite sandbox).

import type { Redactor } from '../connections';
import type { RunSession } from '../run/session';
import { MonitorConnection } from '../safety/monitor';
import { MonitorSampler, SANDBOX_UNAVAILABLE, type MonitorView } from './sampler';

/** What {@link monitoringFor} gives a front end. */
export interface RunMonitoring {
  /** The monitoring connection (hand it to the safety hooks); undefined where the target serves one connection. */
  connection?: MonitorConnection;
  /** The sampler, to add to the run's observers; undefined when monitoring is turned off. */
  sampler?: MonitorSampler;
  /** Closes the monitoring connection. Never throws. */
  close(): Promise<void>;
}

/**
 * Sets up a run's monitoring for `session`.
 *
 * @param options.intervalMs time between samples, ms (default 1 000); 0 turns the sampler off (the connection is
 *   still made for the safety hooks)
 * @param options.onView each sample (or why there is none), redacted with `redactor`, for the live line or view
 */
export function monitoringFor(session: RunSession, options: { intervalMs?: number; onView?: (view: MonitorView) => void; redactor?: Redactor } = {}): RunMonitoring {
  const second = session.secondConnection();
  const connection = second ? new MonitorConnection(second) : undefined;
  const redactor = options.redactor ?? session.redactor;
  const onView = options.onView;
  const sampler = options.intervalMs === 0 ? undefined : new MonitorSampler({
    use: connection && ((fn) => connection.use(fn)),
    unavailable: session.target.sandbox ? SANDBOX_UNAVAILABLE : 'the target gives no second connection to monitor on',
    intervalMs: options.intervalMs,
    onView: onView && ((v) => onView(redactor.redactValue(v))),
  });
  return { connection, sampler, close: async () => { await sampler?.stop(); await connection?.close(); } };
}
