// Entry point of the extension-host test run: VS Code loads this module (extensionTestsPath) and awaits run().
import * as fs from 'fs';
import * as path from 'path';

/** Mocha's constructor as far as this runner uses it (mocha 12 ships ESM with a CJS build beside it). */
interface MochaLike {
  addFile(file: string): void;
  run(done: (failures: number) => void): unknown;
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
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec', ...(grep ? { grep } : {}) });
  for (const f of fs.readdirSync(__dirname).filter((f) => f.endsWith('.vscode.test.js')).sort()) {
    mocha.addFile(path.join(__dirname, f));
  }
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures ? reject(new Error(`${failures} extension host test(s) failed.`)) : resolve()));
  });
}
