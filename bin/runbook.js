#!/usr/bin/env node
// Entry point of the `runbook` command: loads the bundled CLI (built by `npm run build`).
require('../dist/cli.js');
