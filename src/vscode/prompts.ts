// The operator prompts the extension shows (quick picks, input boxes, modal questions), with a way for host tests to answer them.
import * as vscode from 'vscode';

/** One prompt as shown: its kind, title/message and the options offered. Kept for tests to assert on. */
export interface PromptRecord {
  kind: 'quickPick' | 'inputBox' | 'message' | 'error';
  title: string;
  options: string[];
}

/**
 * Why a seam here: an extension-host test cannot type into VS Code's quick input. Everything behind
 * the prompt (engine, database, files) stays real; only the operator's answer is scripted, and every
 * prompt shown is recorded so a test can assert the operator was asked. Production use never
 * queues answers, so `window.show*` is called as is.
 */
export class Prompts {
  private readonly answers: unknown[] = [];
  /** Every prompt shown, in order (bounded to the last 100). */
  readonly shown: PromptRecord[] = [];
  /** Host tests set this: errors are recorded, not shown as modal dialogs nobody would dismiss. */
  headless = false;

  /** Queues answers for the next prompts (tests only): a label or labels for quick picks, text for input boxes, a button for messages; undefined dismisses. */
  answerNext(...answers: unknown[]): void {
    this.answers.push(...answers);
  }

  private note(r: PromptRecord): { scripted: boolean; answer: unknown } {
    this.shown.push(r);
    if (this.shown.length > 100) this.shown.shift();
    if (this.answers.length === 0) return { scripted: false, answer: undefined };
    return { scripted: true, answer: this.answers.shift() };
  }

  /** Multi-select quick pick; resolves the picked items (undefined when dismissed). */
  async pickMany<T extends vscode.QuickPickItem>(items: T[], options: vscode.QuickPickOptions): Promise<T[] | undefined> {
    const s = this.note({ kind: 'quickPick', title: options.title ?? '', options: items.map((i) => i.label) });
    if (s.scripted) {
      if (s.answer === undefined) return undefined;
      const labels = new Set(Array.isArray(s.answer) ? (s.answer as string[]) : [String(s.answer)]);
      return items.filter((i) => labels.has(i.label));
    }
    return vscode.window.showQuickPick(items, { ...options, canPickMany: true });
  }

  /** Input box; resolves the text (undefined when dismissed). */
  async input(options: vscode.InputBoxOptions): Promise<string | undefined> {
    const s = this.note({ kind: 'inputBox', title: `${options.title ?? ''} ${options.prompt ?? ''}`.trim(), options: [] });
    if (s.scripted) return s.answer === undefined ? undefined : String(s.answer);
    return vscode.window.showInputBox(options);
  }

  /**
   * Tells the operator something went wrong and nothing (more) ran, in a modal error they must dismiss (a refusal at
   * 2 a.m. must not be a toast in a corner). Does not wait for the dismissal.
   */
  error(message: string, detail: string): void {
    this.shown.push({ kind: 'error', title: `${message}\n${detail}`, options: [] });
    if (this.shown.length > 100) this.shown.shift();
    if (!this.headless) void vscode.window.showErrorMessage(message, { modal: true, detail });
  }

  /** Modal question with buttons; resolves the button chosen (undefined when dismissed). */
  async ask(message: string, detail: string, ...buttons: string[]): Promise<string | undefined> {
    const s = this.note({ kind: 'message', title: message, options: buttons });
    if (s.scripted) return s.answer === undefined ? undefined : String(s.answer);
    return vscode.window.showWarningMessage(message, { modal: true, detail }, ...buttons);
  }
}
