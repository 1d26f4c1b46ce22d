// Reads the YAML of a runbook's front matter in time linear in its size, duplicate keys still refused.

import { isMap, isScalar, parseDocument, visit } from 'yaml';
import { parseEstimate } from './estimate';
import { parseNotifyTargets } from './notify-targets';
import { parseWindow, type RunWindow } from './window';

/** What the front matter's YAML holds, or why it could not be read. */
export type FrontMatterYaml =
  | { ok: true; data: unknown }
  | { ok: false; message: string; /** 0-based line within the YAML text. */ line: number };

function lineOf(text: string, offset: number): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Parses YAML text as `yaml`'s `parse()` does, with the same duplicate-key rule (two scalar keys with
 * the same value in one mapping are an error, YAML 1.2.2 §3.2.1.1), checked with a set per mapping.
 * `yaml` checks each new key against every earlier one of its mapping (`mapIncludes`), which made a
 * 40,000-key front matter take tens of seconds; its check is turned off (`uniqueKeys: false`) and done
 * here instead.
 *
 * Keys named like `Object.prototype` members (`__proto__`, `constructor`) become own properties
 * (`yaml` defines them rather than assigning them), so nothing inherits through front matter.
 *
 * @returns the value (any YAML value: the caller decides whether a mapping is required) or the first error
 */
export function parseFrontMatterYaml(text: string): FrontMatterYaml {
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { uniqueKeys: false });
  } catch (e) {
    return { ok: false, message: (e as Error).message.split('\n')[0], line: 0 };
  }
  const first = doc.errors[0];
  if (first) return { ok: false, message: first.message.split('\n')[0], line: lineOf(text, first.pos[0]) };
  let duplicate: { key: unknown; offset: number } | undefined;
  visit(doc, {
    Map(_key, map) {
      if (!isMap(map)) return undefined;
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const k = pair.key;
        if (!isScalar(k)) continue;
        if (seen.has(k.value)) {
          duplicate = { key: k.value, offset: k.range?.[0] ?? 0 };
          return visit.BREAK;
        }
        seen.add(k.value);
      }
      return undefined;
    },
  });
  if (duplicate) {
    return { ok: false, message: `Map keys must be unique (${JSON.stringify(String(duplicate.key))} appears twice)`, line: lineOf(text, duplicate.offset) };
  }
  try {
    return { ok: true, data: doc.toJS({ maxAliasCount: 100 }) };
  } catch (e) {
    // An alias expanding past maxAliasCount ("billion laughs"), or a bad tag value.
    return { ok: false, message: (e as Error).message.split('\n')[0], line: 0 };
  }
}

/** A problem with a front matter key the tool reads; `key` is the key at fault (for its line). */
export interface FrontMatterProblem {
  key: string;
  severity: 'error' | 'warning';
  code: string;
  message: string;
}

/**
 * Checks the front matter keys the tool reads: `estimate` (a warning: only the log's comparison needs it), `window`
 * and `notify` (errors: a production run must not go ahead without the window it was written for, nor without the
 * notifications it promises). Never throws.
 */
export function frontMatterProblems(data: Record<string, unknown>): FrontMatterProblem[] {
  const out: FrontMatterProblem[] = [];
  if (data.estimate !== undefined) {
    const e = parseEstimate(data.estimate);
    if (!e.ok) out.push({ key: 'estimate', severity: 'warning', code: 'invalid-estimate', message: `front matter: ${e.error} (the migration log cannot compare the run's duration with it)` });
  }
  if (data.window !== undefined) {
    const w = parseWindow(data.window);
    if (!w.ok) out.push({ key: 'window', severity: 'error', code: 'invalid-window', message: `front matter: ${w.error}` });
  }
  if (data.notify !== undefined) {
    const n = parseNotifyTargets(data.notify);
    if (!n.ok) out.push({ key: 'notify', severity: 'error', code: 'invalid-notify', message: `front matter: ${n.error}` });
  }
  return out;
}

/** The front matter's window, when it has a valid one. */
export function frontMatterWindow(data: Record<string, unknown> | undefined): RunWindow | undefined {
  if (data?.window === undefined) return undefined;
  const w = parseWindow(data.window);
  return w.ok ? w.window : undefined;
}
