// Entry point of the extension-host test run: VS Code loads this module (extensionTestsPath) and awaits run().
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { RunbookApi } from '../../src/vscode/extension';
import { EXTENSION_ID } from './helpers';

/** Mocha's constructor as far as this runner uses it (mocha 12 ships ESM with a CJS build beside it). */
interface MochaLike {
  addFile(file: string): void;
  run(done: (failures: number) => void): { on(event: 'fail', listener: (test: { fullTitle(): string }) => void): unknown };
}
type MochaCtor = new (options: Record<string, unknown>) => MochaLike;

function loadMocha(): MochaCtor {
  // Why two paths: `require('mocha')` needs Node's require(esm) (Node ≥ 20.19); the CJS build works on any Node.
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('mocha/lib/mocha.cjs') as MochaCtor;
  } catch {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const m = require('mocha') as MochaCtor & { default?: MochaCtor };
    return m.default ?? m;
  }
}

/**
 * Runs every compiled `*.vscode.test.js` beside this file in one mocha run (bdd UI).
 * `RUNBOOK_HOST_GREP` narrows the run to tests whose full title matches (a RegExp source).
 * Resolves when every test passed; rejects with the number of failures otherwise.
 */
export function run(): Promise<void> {
  const Mocha = loadMocha();
  const grep = process.env.RUNBOOK_HOST_GREP;
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec', rootHooks: { afterEach: dropLeftoverAnswers }, ...(grep ? { grep } : {}) });
  for (const f of fs.readdirSync(__dirname).filter((f) => f.endsWith('.vscode.test.js')).sort()) {
    mocha.addFile(path.join(__dirname, f));
  }
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => (failures ? reject(new Error(`${failures} extension host test(s) failed.`)) : resolve()));
    runner.on('fail', (test) => console.log(whatTheHostShowed(test.fullTitle())));
  });
}

/** After each test: answers it scripted that no prompt took are dropped (and named), so they cannot answer the next test's questions. */
function dropLeftoverAnswers(this: { currentTest?: { fullTitle(): string } }): void {
  const left = vscode.extensions.getExtension<RunbookApi>(EXTENSION_ID)?.exports?.prompts.clearAnswers() ?? 0;
  if (left) console.log(`[host] ${left} scripted answer${left === 1 ? '' : 's'} no prompt took in "${this.currentTest?.fullTitle() ?? '?'}": dropped`);
}

/**
 * What a failed test left on screen, for a CI log that outlives the machine: the last prompts the extension showed
 * (kind, title, options; never an answer) and the notebooks open, with their sessions' transaction state. A test that
 * timed out waiting on a prompt nobody scripted names it here.
 */
function whatTheHostShowed(title: string): string {
  const api = vscode.extensions.getExtension<RunbookApi>(EXTENSION_ID)?.exports;
  const prompts = (api?.prompts.shown ?? []).slice(-8).map((p) => `  ${p.kind}: ${p.title.split('\n')[0]}${p.options.length ? ` [${p.options.join(' | ')}]` : ''}`);
  const open = vscode.workspace.notebookDocuments.map((d) => {
    const connection = api?.connections.current(d);
    const tx = connection ? api?.sessions.txState(d, connection) : undefined;
    return `  ${path.basename(d.uri.fsPath)}${d.isDirty ? ' (dirty)' : ''}${d === vscode.window.activeNotebookEditor?.notebook ? ' (active)' : ''}${tx ? ` session on ${connection}: ${tx}` : ''}`;
  });
  return [`[host] after the failure of "${title}":`, 'last prompts shown:', ...(prompts.length ? prompts : ['  none']), 'notebooks open:', ...(open.length ? open : ['  none'])].join('\n');
}
