// Checklist engine: reads a checklist cell's items, ticks confirmed ones in its Markdown, and records who confirmed what and when.

import type { Output, OutputRecord } from '../format';

/** One item of a checklist cell. */
export interface ChecklistItem {
  /** 0-based line in the cell source. */
  line: number;
  text: string;
  /** Ticked in the Markdown (`[x]`). */
  checked: boolean;
}

/** Who confirmed an item and when, as written in the record's `items`. */
export interface ConfirmedItem {
  text: string;
  by: string;
  /** UTC ISO 8601 with ms: when this item was confirmed. */
  at: string;
  /** The run it was confirmed in. */
  run?: string;
}

/** An item the operator confirmed, and when (each item its own time: they are asked one by one). */
export interface ChecklistAnswer {
  item: ChecklistItem;
  at: Date;
}

/** Whether an earlier record's confirmations count now (e.g. not when it was made on another target). */
export type AcceptRecord = (record: OutputRecord) => boolean;

// GFM task list item (GFM spec 5.3): a list marker, `[ ]`/`[x]`/`[X]`, then the item text.
const ITEM = /^(\s*(?:[-*+]|\d{1,9}[.)])\s+)\[( |x|X)\](\s?)(.*)$/;

/** Items of a checklist cell, top-level and nested, in order. */
export function checklistItems(source: string): ChecklistItem[] {
  const items: ChecklistItem[] = [];
  source.split('\n').forEach((l, line) => {
    const m = ITEM.exec(l);
    if (m) items.push({ line, text: m[4].trim(), checked: m[2] !== ' ' });
  });
  return items;
}

/** Items confirmed in the cell's output records that `accept` takes (default: all), by text. */
export function recordedItems(outputs: readonly Output[], accept: AcceptRecord = () => true): Map<string, ConfirmedItem> {
  const map = new Map<string, ConfirmedItem>();
  for (const o of outputs) {
    if (!accept(o.record)) continue;
    const items = o.record.items;
    if (!Array.isArray(items)) continue;
    for (const it of items as unknown[]) {
      const i = it as Partial<ConfirmedItem>;
      if (typeof i?.text === 'string' && typeof i.by === 'string' && typeof i.at === 'string') {
        const item: ConfirmedItem = { text: i.text, by: i.by, at: i.at };
        const run = typeof i.run === 'string' ? i.run : typeof o.record.run === 'string' ? o.record.run : undefined;
        if (run) item.run = run;
        map.set(i.text, item);
      }
    }
  }
  return map;
}

/** Items that still need the operator's confirmation: not ticked, or ticked in the text but not recorded in a record `accept` takes. */
export function pendingItems(source: string, outputs: readonly Output[], accept?: AcceptRecord): ChecklistItem[] {
  const recorded = recordedItems(outputs, accept);
  return checklistItems(source).filter((i) => !i.checked || !recorded.has(i.text));
}

/** The cell source with the items on the given lines ticked (`[ ]` → `[x]`), or unticked; other bytes unchanged. */
export function tickItems(source: string, lines: readonly number[], checked = true): string {
  const set = new Set(lines);
  const mark = checked ? '[x]' : '[ ]';
  return source
    .split('\n')
    .map((l, i) => (set.has(i) ? l.replace(ITEM, (_m, pre: string, _c: string, sp: string, text: string) => `${pre}${mark}${sp}${text}`) : l))
    .join('\n');
}

/**
 * Applies a confirmation: ticks the answered items and returns the new source and the record items (earlier
 * confirmations that `opts.accept` takes kept as they were, new ones stamped with `by`, their own time and the run).
 */
export function confirmItems(
  source: string, outputs: readonly Output[], answers: readonly ChecklistAnswer[], by: string, opts: { accept?: AcceptRecord; run?: string } = {},
): { source: string; items: ConfirmedItem[]; pending: ChecklistItem[] } {
  const recorded = recordedItems(outputs, opts.accept);
  const confirmed = answers.map((a) => a.item);
  for (const a of answers) {
    const item: ConfirmedItem = { text: a.item.text, by, at: a.at.toISOString() };
    if (opts.run) item.run = opts.run;
    recorded.set(a.item.text, item);
  }
  let newSource = tickItems(source, confirmed.map((c) => c.line));
  // An item ticked in the text that the operator did not confirm is unticked, so the text and the
  // record never disagree.
  const done = new Set(confirmed.map((c) => c.line));
  const untick = checklistItems(newSource).filter((i) => i.checked && !done.has(i.line) && !recorded.has(i.text)).map((i) => i.line);
  if (untick.length) newSource = tickItems(newSource, untick, false);
  const all = checklistItems(newSource);
  const items = all.filter((i) => recorded.has(i.text)).map((i) => recorded.get(i.text)!);
  const pending = all.filter((i) => !i.checked || !recorded.has(i.text));
  return { source: newSource, items, pending };
}
