// Marks a span's fate on the cells of a runbook file on disk (a VS Code notebook closed with "roll back").

import { cellLabel, runnableCells } from './cells';
import { RunbookStore } from './journal';
import { withSpan } from './record';
import type { EndedSpan } from './spans';

/**
 * Writes an ended span's fate into the file: each cell of the span whose latest output is still the one its run
 * recorded (same run id, same runnable-cell number) gets the span's status and record, and the log gets the span.
 * Cells whose output was replaced or never saved are left alone.
 *
 * @returns the cells marked, by number
 * @throws when the file cannot be read or written
 */
export function markSpanInFile(file: string, ended: EndedSpan, runId: string): number[] {
  const { store } = RunbookStore.open(file);
  const marked: number[] = [];
  try {
    const cells = runnableCells(store.runbook.cells);
    for (const sc of ended.cells) {
      const c = cells.find((x) => x.number === sc.number);
      const out = c?.cell.outputs[c.cell.outputs.length - 1];
      if (!c || !out || out.record.run !== sc.run) continue;
      c.cell.outputs = [withSpan(out, ended.span)];
      store.record(c.index);
      marked.push(sc.number);
    }
    if (marked.length) store.logEvent({ e: 'span', run: runId, span: ended.span, cells: marked });
  } finally {
    store.close();
  }
  return marked;
}

/** `cells 3, 4`: the numbers of a span's cells, for messages. */
export function spanCellsText(ended: EndedSpan): string {
  return ended.cells.map((c) => cellLabel(c)).join(', ');
}
