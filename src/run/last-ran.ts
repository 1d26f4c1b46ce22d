// Where a cell last ran, in words, from its latest output's record (VS Code's cell status bar; no vscode import).

import type { OutputRecord } from '../format';

/** `02:08:03 UTC` for a time today (UTC), else `2026-11-28 02:08 UTC`. */
export function shortUtc(iso: string, now = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const s = d.toISOString();
  return s.slice(0, 10) === now.toISOString().slice(0, 10) ? `${s.slice(11, 19)} UTC` : `${s.slice(0, 10)} ${s.slice(11, 16)} UTC`;
}

/**
 * The status bar's account of a cell's latest record: `last: prod-main · production · 02:08:03 UTC` (checklists:
 * `confirmed 02:08:03 UTC`), a tooltip with the full UTC time, the local time and the status, and whether it ran
 * somewhere other than `now` (the notebook's current connection). Undefined for a record with no start time.
 */
export function lastRanText(r: OutputRecord, now: { connection: string; environment: string }, kind: 'sql' | 'shell' | 'checklist', today = new Date()): { text: string; tooltip: string; elsewhere: boolean } | undefined {
  if (typeof r.started !== 'string') return undefined;
  const d = new Date(r.started);
  const full = Number.isNaN(d.getTime()) ? r.started : `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
  const local = Number.isNaN(d.getTime()) ? '' : ` (local time ${d.toLocaleString(undefined, { timeZoneName: 'short' })})`;
  const status = String(r.status);
  const connection = typeof r.connection === 'string' ? r.connection : undefined;
  const environment = typeof r.environment === 'string' ? r.environment : undefined;
  const where = connection ? `${connection}${environment ? ` · ${environment}` : ''}` : 'an unknown connection';
  const elsewhere = kind !== 'checklist' && connection !== undefined && (connection !== now.connection || (environment !== undefined && environment !== now.environment));
  const run = typeof r.run === 'string' ? `, run ${r.run}` : '';
  if (kind === 'checklist') {
    // When its last item was confirmed (each item has its own time), else when the cell ran.
    const ats = (Array.isArray(r.items) ? (r.items as { at?: unknown }[]) : []).map((i) => (typeof i.at === 'string' ? i.at : '')).filter((a) => !Number.isNaN(Date.parse(a))).sort();
    const at = ats[ats.length - 1] ?? r.started;
    const atFull = `${new Date(at).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
    const atLocal = ` (local time ${new Date(at).toLocaleString(undefined, { timeZoneName: 'short' })})`;
    return { text: `${status === 'ok' ? 'confirmed' : status} ${shortUtc(at, today)}`, tooltip: `Last confirmed at ${atFull}${atLocal}${connection ? ` on ${where}` : ''}${run}; status ${status}.`, elsewhere: false };
  }
  return {
    text: `last: ${where} · ${shortUtc(r.started, today)}${status === 'ok' ? '' : ` · ${status}`}`,
    tooltip: `Last ran on ${where} at ${full}${local}${run}; status ${status}.${elsewhere ? ` That is not where it would run now (${now.connection} · ${now.environment}).` : ''}`,
    elsewhere,
  };
}
