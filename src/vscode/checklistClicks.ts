// Checklist items confirmed by clicking in a cell's output: the renderer posts a message per click, routed here to
// the run that waits for that checklist.
import type * as vscode from 'vscode';

/** A message the renderer posts from a checklist's live output (src/renderer/index.ts). */
export interface ChecklistMessage {
  type: 'checklistItem' | 'checklistStop';
  /** The waiting checklist's token (one per question). */
  token: string;
  /** `checklistItem`: the 0-based index of the item among the pending items shown. */
  index?: number;
}

/** Whether a renderer message is a checklist click (a copy request or anything else is not). */
export function isChecklistMessage(m: unknown): m is ChecklistMessage {
  const x = m as Partial<ChecklistMessage> | null;
  return !!x && (x.type === 'checklistItem' || x.type === 'checklistStop') && typeof x.token === 'string' && (x.index === undefined || Number.isInteger(x.index));
}

/**
 * The checklists waiting for clicks, by token. The extension's renderer messaging hands every checklist message to
 * {@link receive}; a run's asker {@link register}s while its checklist waits.
 */
export class ChecklistClicks {
  private readonly waiting = new Map<string, (m: ChecklistMessage) => void>();

  /** Routes messages with `token` to `handler` until the returned disposable is disposed. */
  register(token: string, handler: (m: ChecklistMessage) => void): vscode.Disposable {
    this.waiting.set(token, handler);
    return { dispose: () => void this.waiting.delete(token) };
  }

  /** A message from the renderer; false when no checklist waits for its token (a stale output clicked). */
  receive(m: ChecklistMessage): boolean {
    const h = this.waiting.get(m.token);
    if (!h) return false;
    h(m);
    return true;
  }
}
