// Checklist engine: reads a checklist cell's items, ticks confirmed ones in its Markdown, and records who confirmed what and when.

import type { Output } from '../format';

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
  /** UTC ISO 8601 with ms. */
  at: string;
}

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

/** Items confirmed in the cell's latest ok output record, by text. */
export function recordedItems(outputs: readonly Output[]): Map<string, ConfirmedItem> {
  const map = new Map<string, ConfirmedItem>();
  for (const o of outputs) {
    const items = o.record.items;
    if (!Array.isArray(items)) continue;
    for (const it of items as unknown[]) {
      const i = it as Partial<ConfirmedItem>;
      if (typeof i?.text === 'string' && typeof i.by === 'string' && typeof i.at === 'string') map.set(i.text, { text: i.text, by: i.by, at: i.at });
    }
  }
  return map;
}

/** Items that still need the operator's confirmation: not ticked, or ticked in the text but never recorded. */
export function pendingItems(source: string, outputs: readonly Output[]): ChecklistItem[] {
  const recorded = recordedItems(outputs);
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
 * Applies a confirmation: ticks `confirmed` items and returns the new source and the record items
 * (earlier recorded confirmations kept, new ones stamped with `by` and `at`).
 */
export function confirmItems(source: string, outputs: readonly Output[], confirmed: readonly ChecklistItem[], by: string, at: Date): { source: string; items: ConfirmedItem[]; pending: ChecklistItem[] } {
  const recorded = recordedItems(outputs);
  const stamp = at.toISOString();
  for (const c of confirmed) recorded.set(c.text, { text: c.text, by, at: stamp });
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
