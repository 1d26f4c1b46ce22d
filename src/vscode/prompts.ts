// The operator prompts the extension shows (quick picks, input boxes, modal questions), with a way for host tests to answer them.
import * as vscode from 'vscode';

/** One prompt as shown: its kind, title/message and the options offered. Kept for tests to assert on. */
export interface PromptRecord {
  kind: 'quickPick' | 'inputBox' | 'message' | 'error';
  title: string;
  options: string[];
  /** The validation message an input box gave a scripted answer it refused (answers themselves are never kept: one may be a password). */
  refused?: string;
  /** Shown with no answer queued while {@link Prompts.headless}: dismissed at once. */
  unscripted?: true;
}

/**
 * Why a seam here: an extension-host test cannot type into VS Code's quick input. Everything behind
 * the prompt (engine, database, files) stays real; only the operator's answer is scripted, and every
 * prompt shown is recorded so a test can assert the operator was asked. Production use never
 * queues answers, so `window.show*` is called as is.
 */
export class Prompts {
  private readonly answers: unknown[] = [];
  /** Answers for the next prompt whose title matches, whatever else is asked first ({@link answerWhen}). */
  private readonly targeted: { title: RegExp; answer: unknown }[] = [];
  /** Every prompt shown, in order (bounded to the last 100). */
  readonly shown: PromptRecord[] = [];
  /**
   * Host tests set this: nobody is at the screen. Errors are recorded, not shown as modal dialogs nobody would
   * dismiss, and a prompt with no scripted answer is recorded (`unscripted`), logged and dismissed at once instead of
   * waiting forever; but for a checklist's pick, which the test answers by clicking in the cell's output.
   */
  headless = false;

  /** Queues answers for the next prompts (tests only): a label or labels for quick picks, text for input boxes, a button for messages; undefined dismisses. */
  answerNext(...answers: unknown[]): void {
    this.answers.push(...answers);
  }

  /**
   * Queues an answer for the next prompt whose title matches `title` (tests only). Other prompts (a notebook an earlier
   * test closed asking about its transaction) do not take it, as they would take an {@link answerNext} answer.
   */
  answerWhen(title: RegExp, answer: unknown): void {
    this.targeted.push({ title, answer });
  }

  /** Drops the answers no prompt took (a host test's leftovers must not answer the next test's questions); returns how many. */
  clearAnswers(): number {
    return this.answers.splice(0).length + this.targeted.splice(0).length;
  }

  private note(r: PromptRecord, answeredElsewhere = false): { scripted: boolean; answer: unknown } {
    this.shown.push(r);
    if (this.shown.length > 100) this.shown.shift();
    const t = this.targeted.findIndex((a) => a.title.test(r.title));
    if (t >= 0) return { scripted: true, answer: this.targeted.splice(t, 1)[0].answer };
    if (this.answers.length) return { scripted: true, answer: this.answers.shift() };
    if (!this.headless || answeredElsewhere) return { scripted: false, answer: undefined };
    r.unscripted = true;
    console.warn(`[runbook-prompt] no answer was scripted for the ${r.kind} "${r.title.split('\n')[0]}": dismissed (headless)`);
    return { scripted: true, answer: undefined };
  }

  /**
   * Multi-select quick pick; resolves the picked items (undefined when dismissed). With `signal`, aborting it hides
   * the pick (resolving undefined): another way of answering won (a checklist confirmed by clicking in its output).
   */
  async pickMany<T extends vscode.QuickPickItem>(items: T[], options: vscode.QuickPickOptions, signal?: AbortSignal): Promise<T[] | undefined> {
    const s = this.note({ kind: 'quickPick', title: options.title ?? '', options: items.map((i) => i.label) }, signal !== undefined);
    if (s.scripted) {
      if (s.answer === undefined) return undefined;
      const labels = new Set(Array.isArray(s.answer) ? (s.answer as string[]) : [String(s.answer)]);
      return items.filter((i) => labels.has(i.label));
    }
    if (!signal) return vscode.window.showQuickPick(items, { ...options, canPickMany: true });
    if (signal.aborted) return undefined;
    const qp = vscode.window.createQuickPick<T>();
    qp.items = items;
    qp.canSelectMany = true;
    qp.title = options.title;
    qp.placeholder = options.placeHolder;
    qp.ignoreFocusOut = options.ignoreFocusOut ?? false;
    return new Promise((resolve) => {
      let settled = false;
      const done = (v: T[] | undefined): void => {
        if (settled) return;
        settled = true;
        qp.dispose();
        resolve(v);
      };
      qp.onDidAccept(() => done([...qp.selectedItems]));
      qp.onDidHide(() => done(undefined));
      signal.addEventListener('abort', () => done(undefined), { once: true });
      qp.show();
    });
  }

  /** Single-select quick pick; resolves the picked item (undefined when dismissed). A scripted answer is the item's label.
   *  @throws Error when a scripted answer is no item's label (a test asking for something not offered). */
  async pick<T extends vscode.QuickPickItem>(items: T[], options: vscode.QuickPickOptions): Promise<T | undefined> {
    const labels = items.filter((i) => i.kind !== vscode.QuickPickItemKind.Separator).map((i) => i.label);
    const s = this.note({ kind: 'quickPick', title: options.title ?? '', options: labels });
    if (s.scripted) {
      if (s.answer === undefined) return undefined;
      const item = items.find((i) => i.label === s.answer && i.kind !== vscode.QuickPickItemKind.Separator);
      if (!item) throw new Error(`scripted answer "${String(s.answer)}" is not offered by "${options.title ?? ''}": ${labels.join(', ')}`);
      return item;
    }
    return vscode.window.showQuickPick(items, { ...options, canPickMany: false });
  }

  /**
   * Input box; resolves the text (undefined when dismissed). A scripted answer goes through
   * `validateInput` as typed text does: VS Code would keep the box open with the message, so a
   * refused answer counts as the operator dismissing it, and the message is recorded in `refused`.
   */
  async input(options: vscode.InputBoxOptions): Promise<string | undefined> {
    const r: PromptRecord = { kind: 'inputBox', title: `${options.title ?? ''} ${options.prompt ?? ''}`.trim(), options: [] };
    const s = this.note(r);
    if (!s.scripted) return vscode.window.showInputBox(options);
    if (s.answer === undefined) return undefined;
    const answer = String(s.answer);
    const verdict = await options.validateInput?.(answer);
    const refused = typeof verdict === 'string' ? verdict : verdict?.message;
    if (refused) {
      r.refused = refused;
      return undefined;
    }
    return answer;
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
