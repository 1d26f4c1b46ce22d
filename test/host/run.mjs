#!/usr/bin/env node
// Runs the extension-host suite (out/test/host) in VS Code's server via ../shared/vscode-host, on a temp workspace and a real PostgreSQL.
//
// Usage: node test/host/run.mjs [--electron] [--keep-temp] [--verbose] [--grep REGEXP]
//   --electron  run the same suite in desktop VS Code through @vscode/test-electron (downloads
//               VS Code, or uses VSCODE_EXECUTABLE when set) instead of the offline server host.
// Environment:
//   VSCODE_HOST_TOOLS  folder with install.sh and run-tests.mjs (default ../shared/vscode-host)
//   VSCODE_HOST_DIR    where install.sh put code-server (default ./.vscode-host)
//   DATABASE_URL       PostgreSQL the suite runs cells against; when unset, the integration
//                      harness (out/test/integration/harness.js) starts a throwaway server.
// The workspace is a temporary copy of test/host/workspace plus examples/*.runbook and
// test/fixtures/*.runbook, so saving notebooks never touches the checkout.
/* global process, console */ // Node globals: the ESLint config sets none for .mjs files.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { database, prepareWorkspace, writeProfile } from './workspace.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tools = path.resolve(root, process.env.VSCODE_HOST_TOOLS || '../shared/vscode-host');
const hostDir = path.resolve(root, process.env.VSCODE_HOST_DIR || '.vscode-host');
const args = process.argv.slice(2);
const passThrough = args.filter((a) => a === '--keep-temp' || a === '--verbose');
const grepAt = args.indexOf('--grep');
const grep = grepAt >= 0 ? args[grepAt + 1] : undefined;

const ws = prepareWorkspace(root);
const db = await database(root);
const env = { ...process.env, ...writeProfile(ws, db.url), RUNBOOK_HOST_WORKSPACE: ws, RUNBOOK_HOST_CONNECTION: 'host-test' };
if (grep) env.RUNBOOK_HOST_GREP = grep;
delete env.DATABASE_URL; // the suite must reach the server through the profile, as a user would
async function runInServerHost() {
  const child = spawn(
    process.execPath,
    [
      path.join(tools, 'run-tests.mjs'),
      '--host-dir', hostDir,
      '--extension-dev-path', root,
      '--tests-path', path.join(root, 'out/test/host/index.js'),
      '--workspace', ws,
      ...passThrough,
    ],
    { stdio: 'inherit', env }
  );
  return new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 2 : 1))));
}

async function runInElectron() {
  const { runTests } = await import('@vscode/test-electron');
  Object.assign(process.env, env); // runTests passes this process's environment to VS Code
  try {
    await runTests({
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(root, 'out/test/host/index.js'),
      launchArgs: [ws, '--disable-extensions', '--disable-workspace-trust'],
      ...(process.env.VSCODE_EXECUTABLE ? { vscodeExecutablePath: process.env.VSCODE_EXECUTABLE } : { version: '1.100.3' }),
    });
    return 0;
  } catch (err) {
    console.error(`test:vscode: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
}

// The grammar is checked with VS Code's own TextMate engine from the installed server (seconds cheaper than a host run).
async function grammarCheck() {
  const child = spawn(process.execPath, [path.join(root, 'test/host/grammar-check.mjs'), hostDir], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
}

const grammar = args.includes('--electron') ? 0 : await grammarCheck();
const code = (args.includes('--electron') ? await runInElectron() : await runInServerHost()) || grammar;
await db.stop();
if (code === 0 && !passThrough.includes('--keep-temp')) fs.rmSync(ws, { recursive: true, force: true });
else console.error(`test:host: workspace kept in ${ws}`);
process.exit(code);
