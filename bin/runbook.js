#!/usr/bin/env node
// Entry point of the `runbook` command: runs the bundled CLI (built by `npm run build`, also on `npm ci`).
const path = require('path');
// Run libpg-query's WASM parser on V8's baseline compiler only. Left to tier up, V8 compiles the
// parser's huge functions with TurboFan in the background: about 250 ms of CPU and 45 MB of memory
// per run, more than a whole 1,000-statement runbook costs otherwise, and never paid back in a
// short-lived CLI. Must run before the module is compiled (docs/benchmarks.md).
require('v8').setFlagsFromString('--liftoff-only');
let cli;
try {
  cli = require(path.join(__dirname, '..', 'dist', 'cli.js'));
} catch (e) {
  process.stderr.write(`runbook: the CLI is not built (${e.message}). Run \`npm run build\` in ${path.join(__dirname, '..')}.\n`);
  process.exit(1);
}
cli.main(process.argv).catch((e) => {
  process.stderr.write(`runbook: ${e && e.message ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
