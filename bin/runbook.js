#!/usr/bin/env node
// Entry point of the `runbook` command: runs the bundled CLI (built by `npm run build`, also on `npm ci`).
const path = require('path');
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
