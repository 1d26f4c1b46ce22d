// The monitoring sampler in words: the compact live line (CLI, VS Code) and the peaks as `runbook log` prints them.

import { formatAgeMs } from '../sql/catalog';
import type { MonitorPeaks, MonitorView } from './sampler';

/** `512 B`, `3.4 kB`, `1.2 MB`, `2.0 GB` (powers of 1000). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return `${v.toFixed(1)} ${units[u]}`;
}

/**
 * The compact live line: `14 conns (3 active, 1 idle in tx) · 0 waiting on locks · longest tx 2.1 s (pid 4711 psql)
 * · no replicas`. Application names come from the server: the caller sanitizes for its terminal.
 */
export function monitorLine(view: MonitorView): string {
  if (!view.sample) return `monitor: ${view.available ? '' : 'unavailable: '}${view.reason ?? 'no sample yet'}`;
  const s = view.sample;
  const idleTx = (s.byState['idle in transaction'] ?? 0) + (s.byState['idle in transaction (aborted)'] ?? 0);
  const parts = [`${s.connections} conns (${s.byState.active ?? 0} active, ${idleTx} idle in tx)`, `${s.lockWaiting} waiting on locks`];
  const lt = s.longestTransaction;
  if (lt) parts.push(`longest tx ${formatAgeMs(lt.ms)} (pid ${lt.pid}${lt.application ? ` ${lt.application}` : ''})`);
  const reps = s.replication.replicas;
  if (reps.length) {
    const worst = reps.reduce((m, r) => ((r.lagBytes ?? -1) > (m.lagBytes ?? -1) ? r : m), reps[0]);
    parts.push(`${reps.length} replica${reps.length === 1 ? '' : 's'}, lag ${worst.lagBytes === null ? '?' : formatBytes(worst.lagBytes)}${worst.replayLagMs !== null ? ` / ${formatAgeMs(worst.replayLagMs)}` : ''}`);
  } else parts.push(s.replication.standby ? 'standby' : 'no replicas');
  if (view.reason) parts.push(view.reason);
  return parts.join(' · ');
}

/** The peaks in lines (for `runbook log` and the run summary). */
export function peaksLines(p: MonitorPeaks): string[] {
  if (!p.available) return [`monitoring: unavailable: ${p.reason ?? 'unknown'}`];
  const out: string[] = [];
  const c = p.connections;
  const head = [`${p.samples} sample${p.samples === 1 ? '' : 's'} every ${formatAgeMs(p.intervalMs)}`];
  if (c) head.push(`peak ${c.max} connections (${c.active} active, ${c.idleInTransaction} idle in transaction)`);
  head.push(`at most ${p.lockWaiting ?? 0} waiting on locks`);
  if (p.longestTransaction) head.push(`longest transaction ${formatAgeMs(p.longestTransaction.ms)} (pid ${p.longestTransaction.pid}${p.longestTransaction.application ? `, ${p.longestTransaction.application}` : ''})`);
  const r = p.replication;
  if (r && 'replicas' in r) head.push(`${r.replicas} replica${r.replicas === 1 ? '' : 's'}, max lag ${r.maxLagBytes === null ? '?' : formatBytes(r.maxLagBytes)}${r.maxReplayLagMs !== null ? ` / ${formatAgeMs(r.maxReplayLagMs)}` : ''}`);
  else if (r) head.push(r.none);
  out.push(`monitoring: ${head.join('; ')}`);
  const st = p.statements;
  if (st && 'top' in st) {
    if (st.top.length === 0) out.push('  statements: no statement time recorded by pg_stat_statements during the run');
    for (const t of st.top) out.push(`  statement +${formatAgeMs(t.ms)} in ${t.calls} call${t.calls === 1 ? '' : 's'}: ${t.query.replace(/\s+/g, ' ')}`);
  } else if (st) out.push(`  statements: ${st.unavailable}`);
  if (p.error) out.push(`  last sampling error: ${p.error}`);
  return out;
}

/** The live monitoring view as label/value rows (VS Code's live output draws them as a small table). */
export function monitorRows(view: MonitorView): [string, string][] {
  if (!view.sample) return [['Monitoring', `${view.available ? '' : 'unavailable: '}${view.reason ?? 'no sample yet'}`]];
  const s = view.sample;
  const idleTx = (s.byState['idle in transaction'] ?? 0) + (s.byState['idle in transaction (aborted)'] ?? 0);
  const others = Object.entries(s.byState).filter(([k]) => k !== 'active' && !k.startsWith('idle in transaction')).map(([k, n]) => `${n} ${k}`);
  const rows: [string, string][] = [
    ['Connections', `${s.connections}: ${s.byState.active ?? 0} active, ${idleTx} idle in transaction${others.length ? `, ${others.join(', ')}` : ''}`],
    ['Waiting on locks', String(s.lockWaiting)],
    ['Longest transaction', s.longestTransaction ? `${formatAgeMs(s.longestTransaction.ms)}: pid ${s.longestTransaction.pid}${s.longestTransaction.application ? ` (${s.longestTransaction.application})` : ''}, ${s.longestTransaction.state ?? '?'}` : 'none open'],
  ];
  const reps = s.replication.replicas;
  rows.push(['Replication', reps.length
    ? reps.map((r) => `${r.name || '?'} ${r.state ?? '?'}: ${r.lagBytes === null ? '?' : formatBytes(r.lagBytes)} behind${r.replayLagMs !== null ? `, replay lag ${formatAgeMs(r.replayLagMs)}` : ''}`).join('; ')
    : s.replication.standby ? 'this server is a standby' : 'no replicas (pg_stat_replication is empty)']);
  if (view.reason) rows.push(['Note', view.reason]);
  return rows;
}
