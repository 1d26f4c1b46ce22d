// Writes findings for people (text, like squawk's reports), for programs (JSON) and for code-scanning tools (SARIF 2.1.0).

import { pathToFileURL } from 'node:url';
import { isAbsolute, relative } from 'node:path';
import type { Finding, Severity } from './findings-types';

/** Counts by severity, unacknowledged only, plus how many were acknowledged. */
export function countFindings(findings: Finding[]): Record<Severity, number> & { acknowledged: number } {
  const c = { error: 0, warning: 0, info: 0, acknowledged: 0 };
  for (const f of findings) {
    if (f.acknowledged) c.acknowledged++;
    else c[f.severity]++;
  }
  return c;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Text report: per finding its severity and rule, `file:line`, the statement, why, and the safe rewrite; then a
 * summary line.
 */
export function formatText(findings: Finding[]): string {
  const out: string[] = [];
  for (const f of findings) {
    const loc = `${f.file ?? '<runbook>'}:${f.fileLine ?? f.line}`;
    const ack = f.acknowledged ? ' (acknowledged)' : '';
    out.push(`${f.severity}[${f.rule}]${ack}: ${loc} (${f.cellNumber !== undefined ? `cell #${f.cellNumber}` : `cell ${f.cell + 1}`}${f.statement >= 0 ? `, statement ${f.statement + 1}` : ''})`);
    if (f.sql) {
      const lines = f.sql.split('\n');
      const shown = lines.length > 6 ? [...lines.slice(0, 5), `… (${lines.length - 5} more lines)`] : lines;
      for (const l of shown) out.push(`   | ${l}`);
    }
    out.push(`   why:  ${f.message}`);
    out.push(`   help: ${f.help}`);
    out.push('');
  }
  const c = countFindings(findings);
  const files = new Set(findings.map((f) => f.file)).size;
  out.push(`${plural(c.error, 'error')}, ${plural(c.warning, 'warning')}, ${c.info} info${c.acknowledged ? `, ${c.acknowledged} acknowledged` : ''}${files > 1 ? ` in ${files} files` : ''}`);
  return out.join('\n') + '\n';
}

/** JSON report: the findings array, one object per finding (the `Finding` shape). */
export function formatJson(findings: Finding[]): string {
  return JSON.stringify(findings, null, 2) + '\n';
}

const SARIF_LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { error: 'error', warning: 'warning', info: 'note' };

/**
 * SARIF 2.1.0 log (OASIS SARIF v2.1.0, https://docs.oasis-open.org/sarif/sarif/v2.1.0/): one run, one
 * `reportingDescriptor` per rule, one result per finding with its file and line; acknowledged findings carry an
 * `inSource` suppression (the cell's `ack` option).
 *
 * @param baseDir paths are written relative to it (with `%SRCROOT%` as the base id), as code-scanning tools expect
 */
export function formatSarif(findings: Finding[], baseDir: string = process.cwd()): string {
  const ruleIds = [...new Set(findings.map((f) => f.rule))].sort();
  const rules = ruleIds.map((id) => {
    const f = findings.find((x) => x.rule === id) as Finding;
    return {
      id,
      shortDescription: { text: id },
      helpUri: f.source === 'squawk' ? `https://squawkhq.com/docs/${id}` : `docs/safety.md#${id}`,
      help: { text: f.help },
      defaultConfiguration: { level: SARIF_LEVEL[f.severity] },
      properties: { source: f.source },
    };
  });
  const results = findings.map((f) => {
    const file = f.file ?? 'runbook';
    const uri = isAbsolute(file) ? relative(baseDir, file).split('\\').join('/') : file.split('\\').join('/');
    const result: Record<string, unknown> = {
      ruleId: f.rule,
      ruleIndex: ruleIds.indexOf(f.rule),
      level: SARIF_LEVEL[f.severity],
      message: { text: `${f.message} Help: ${f.help}` },
      locations: [{
        physicalLocation: {
          artifactLocation: uri.startsWith('..') ? { uri: pathToFileURL(file).href } : { uri, uriBaseId: '%SRCROOT%' },
          region: { startLine: Math.max(1, f.fileLine ?? f.line), ...(f.sql ? { snippet: { text: f.sql } } : {}) },
        },
      }],
      properties: { cell: f.cell, statement: f.statement, source: f.source, ...(f.table ? { table: f.table } : {}) },
    };
    if (f.acknowledged) result.suppressions = [{ kind: 'inSource', justification: `acknowledged in the cell's options: {"ack": ["${f.rule}"]}` }];
    return result;
  });
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{
      tool: { driver: { name: 'runbook lint', informationUri: 'https://squawkhq.com/docs/rules', rules } },
      originalUriBaseIds: { '%SRCROOT%': { uri: pathToFileURL(baseDir.endsWith('/') ? baseDir : baseDir + '/').href } },
      results,
    }],
  };
  return JSON.stringify(log, null, 2) + '\n';
}
