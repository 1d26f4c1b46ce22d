// One-line descriptions of records and errors, for progress lines, summaries and stop reasons.

import { groupDigits } from '../format';

/** The error of a record in one line: `message (SQLSTATE 42P01) at line 2`; the status when it has no error. */
export function errorText(record: Record<string, unknown>): string {
  const e = record.error as { message?: string; sqlstate?: string; line?: number } | undefined;
  if (!e?.message) return `failed (${String(record.status)})`;
  return `${e.message}${e.sqlstate ? ` (SQLSTATE ${e.sqlstate})` : ''}${e.line ? ` at line ${e.line}` : ''}`;
}

/** One-line description of an output record: `3 statements, 1,204 rows` / `exit 0` / `2 items confirmed`, with findings. */
export function describeRecord(record: Record<string, unknown>): string {
  const base = describeResult(record);
  const span = record.span as { fate?: string; from?: number } | undefined;
  const withSpan = span && span.fate !== 'committed' ? `${base}${base ? '  ' : ''}[transaction ${span.fate === 'open' ? `open since cell ${span.from}` : span.fate}]` : base;
  if (!Array.isArray(record.findings) || record.findings.length === 0) return withSpan;
  const fs = record.findings as { severity?: string; acknowledged?: boolean }[];
  const errors = fs.filter((f) => f.severity === 'error' && !f.acknowledged).length;
  const warnings = fs.filter((f) => f.severity === 'warning' && !f.acknowledged).length;
  const acked = fs.filter((f) => f.acknowledged).length;
  const parts = [errors && `${errors} error${errors > 1 ? 's' : ''}`, warnings && `${warnings} warning${warnings > 1 ? 's' : ''}`, acked && `${acked} acknowledged`].filter(Boolean);
  return parts.length ? `${withSpan}  [findings: ${parts.join(', ')}]` : withSpan;
}

function describeResult(record: Record<string, unknown>): string {
  const tries = typeof record.retries === 'number' && record.retries > 0 ? ` (try ${record.retries + 1}: ${record.retries} retr${record.retries === 1 ? 'y' : 'ies'} on lock_timeout)` : '';
  return describeRun(record) + tries;
}

function describeRun(record: Record<string, unknown>): string {
  const batch = record.batch as { batches?: number; rows?: number; done?: boolean; max_reached?: boolean } | undefined;
  if (batch && typeof batch.batches === 'number') {
    return `${groupDigits(batch.batches)} batch${batch.batches === 1 ? '' : 'es'}, ${groupDigits(batch.rows ?? 0)} rows${batch.done ? ', done' : batch.max_reached ? ', stopped at max' : ''}`;
  }
  if (Array.isArray(record.statements)) {
    const st = record.statements as { rows?: number; tag?: string }[];
    let rows = 0;
    for (const s of st) rows += s.rows ?? 0;
    const last = st[st.length - 1]?.tag;
    return st.length === 1 ? `${last ?? ''}${rows && !/\d$/.test(last ?? '') ? `, ${rows} rows` : ''}` : `${st.length} statements, ${groupDigits(rows)} rows`;
  }
  if (typeof record.exit === 'number') return `exit ${record.exit}`;
  if (typeof record.signal === 'string') return `killed by ${record.signal}`;
  if (Array.isArray(record.items)) return `${record.items.length} item${record.items.length === 1 ? '' : 's'} confirmed`;
  return '';
}
