#!/usr/bin/env node
// Runs the extension-host suite (out/test/host) in the VS Code server of .vscode-host/ (test/host/tooling/install.sh), on a temp workspace and a real PostgreSQL.
//
// Usage: node test/host/run.mjs [--electron] [--keep-temp] [--verbose] [--grep REGEXP] [--timeout-s N]
//   --electron   run the same suite in desktop VS Code through @vscode/test-electron (downloads
//                VS Code, or uses VSCODE_EXECUTABLE when set) instead of the offline server host.
//   --keep-temp  keep the workspace and the server's state and logs also after a passing run.
//   --verbose    also print the workbench's own start-up lines.
//   --grep       run only the tests whose full title matches REGEXP.
//   --timeout-s  give up after N seconds (default 600, or RUNBOOK_HOST_TIMEOUT_S).
// Exit status: 0 every test passed; 1 a test or the grammar check failed; 2 the run itself failed (no
// server, no browser, the workbench crashed, the timeout passed). After a failure the workspace and
// the logs (server, extension host, workbench console) are kept and their folders named.
// Environment:
//   VSCODE_HOST_DIR  where install.sh put the VS Code server (default ./.vscode-host)
//   CHROMIUM_PATH    the Chromium to drive (default /usr/bin/chromium)
//   DATABASE_URL     PostgreSQL the suite runs cells against; when unset, the integration
//                    harness (out/test/integration/harness.js) starts a throwaway server, and the
//                    suite gets RUNBOOK_HOST_THROWAWAY_SERVER=1 (it may then change pg_hba.conf).
// The workspace is a temporary copy of test/host/workspace plus examples/*.runbook and
// test/fixtures/*.runbook, so saving notebooks never touches the checkout.
//
// How a run works (as VS Code runs its own browser integration tests): the server starts; Chromium
// opens its workbench with the extension and out/test/host/index.js in the URL's payload; the
// workbench starts the Node extension host, which loads the extension and awaits index.js's run().
// Everything the extension host logs comes back through window.codeAutomationLog, and run()'s
// result through window.codeAutomationExit(code) (0 resolved, 1 rejected), both bound here.
/* global process, console, setTimeout, clearTimeout */ // Node globals: the ESLint config sets none for .mjs files.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { fileURLToPath } from 'node:url';
import { checkInstall, launchBrowser, startServer, VSCODE_VERSION, workbenchUrl } from './tooling/vscode-server.mjs';
import { database, prepareWorkspace, writeProfile } from './workspace.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const hostDir = path.resolve(root, process.env.VSCODE_HOST_DIR || '.vscode-host');
const testsPath = path.join(root, 'out/test/host/index.js');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const valueOf = (name) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
const keep = flag('--keep-temp');
const verbose = flag('--verbose');
const grep = valueOf('--grep');
const timeoutS = Number(valueOf('--timeout-s') ?? process.env.RUNBOOK_HOST_TIMEOUT_S ?? 600);
const say = (s) => console.error(`test:host: ${s}`);

// Workbench start-up lines that say nothing about the tests (all of them stay in logs/output.log).
const CHATTER = /^(Resolving connection token|Creation of workbench contribution|Resolved connection token|Creating a socket|Ignoring fetching additional builtin extensions|Updating additional builtin extensions cache|ChatSessionStore: |\[Service Worker\])/;

/** What an interrupted run must still stop: the server runs in its own process group, so Ctrl-C does not reach it. */
const stopOnSignal = [];

/**
 * The UI bridge: a host test that must click in the rendered output (a webview the extension host cannot reach)
 * logs `[runbook-ui] click {"selector": …, "id": …}`; this runner clicks the first visible match in any frame of the
 * workbench page with playwright, and logs `[runbook-ui] clicked ID` or `[runbook-ui] failed ID: why` to the
 * output. The test waits for what the click does (the notebook's outputs), so the reply is only for the log.
 */
const UI_CLICK = /^\[runbook-ui\] click (\{.*\})$/;
async function uiClick(page, request) {
  const { selector, id } = JSON.parse(request);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      const match = frame.locator(selector);
      const n = await match.count().catch(() => 0);
      for (let i = 0; i < n; i++) {
        const el = match.nth(i);
        if (!(await el.isVisible().catch(() => false)) || !(await el.isEnabled().catch(() => false))) continue;
        await el.scrollIntoViewIfNeeded().catch(() => undefined);
        await el.click({ timeout: 5_000 });
        return `[runbook-ui] clicked ${id}`;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return `[runbook-ui] failed ${id}: no visible, enabled ${selector} in any frame`;
}

/** Counts from mocha's spec summary (`N passing`, `N failing`, `N pending`) in the forwarded output. */
function mochaSummary(output) {
  const count = (what) => Number(new RegExp(`^\\s*(\\d+) ${what}\\b`, 'm').exec(output)?.[1] ?? 0);
  return /^\s*\d+ passing/m.test(output) ? { passing: count('passing'), failing: count('failing'), pending: count('pending') } : undefined;
}

/** The suite in the offline server host; resolves the exit status. Cleans up the server and browser in all cases. */
async function runInServerHost(ws, env) {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-host-state-'));
  const logs = path.join(state, 'logs');
  let output = '';
  let server;
  let browser;
  let timer;
  let code = 2;
  try {
    stopOnSignal.push(() => server?.stop());
    server = await startServer({
      hostDir,
      stateDir: state,
      env,
      // What the server says about the extension itself, e.g. "Extension is not compatible with Code 1.100.3".
      onLine: (l) => l.includes(root) && !l.includes(hostDir) && say(`[server] ${l}`),
    });
    browser = await launchBrowser();
    const page = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const result = new Promise((resolve) => {
      page.on('crash', () => resolve({ code: 2, why: 'the workbench page crashed' }));
      void server.exited.then(({ code: c, signal }) => resolve({ code: 2, why: `the VS Code server exited during the run (code ${c}, signal ${signal})` }));
      timer = setTimeout(() => resolve({ code: 2, why: `no result after ${timeoutS} s (--timeout-s)` }), timeoutS * 1000);
    });
    let settle;
    const exited = new Promise((resolve) => (settle = resolve));
    await page.exposeFunction('codeAutomationExit', (c, files) => {
      // The workbench hands over its log files (extension host, renderer) with the result.
      for (const f of files ?? []) {
        const to = path.join(logs, 'workbench', f.relativePath);
        fs.mkdirSync(path.dirname(to), { recursive: true });
        fs.writeFileSync(to, f.contents);
      }
      settle({ code: c === 0 ? 0 : 1, why: c === 0 ? undefined : `run() of the tests rejected (exit code ${c})` });
    });
    await page.exposeFunction('codeAutomationLog', (type, logArgs) => {
      const line = util.format(...(Array.isArray(logArgs) ? logArgs : [logArgs])); // console.log-style arguments
      output += line + '\n';
      if (verbose || !CHATTER.test(line)) (type === 'error' || type === 'warn' ? process.stderr : process.stdout).write(line + '\n');
      const click = UI_CLICK.exec(line);
      if (click) void uiClick(page, click[1]).then((r) => { output += r + '\n'; process.stdout.write(r + '\n'); }, (e) => process.stdout.write(`[runbook-ui] failed: ${e}\n`));
    });
    await page.goto(workbenchUrl(server.authority, { folder: ws, extensionDevelopmentPath: root, extensionTestsPath: testsPath }));
    const r = await Promise.race([exited, result]);
    code = r.code;
    if (r.why) say(r.why);
    if (code !== 0 && pageErrors.length) say(`errors in the workbench page:\n  ${pageErrors.join('\n  ')}`);
  } catch (e) {
    say(`could not run the suite: ${e instanceof Error ? e.message : e}`);
  } finally {
    clearTimeout(timer);
    await browser?.close().catch(() => undefined);
    await server?.stop();
    fs.mkdirSync(logs, { recursive: true });
    fs.writeFileSync(path.join(logs, 'output.log'), output);
    const s = mochaSummary(output);
    // One line for CI logs; mocha's own `N passing` lines above are what .ci/run adds up.
    say(s ? `${s.passing} passing, ${s.failing} failing, ${s.pending} pending (VS Code ${VSCODE_VERSION} server host)` : 'mocha printed no summary: the suite did not finish');
    if (code === 0 && !keep) fs.rmSync(state, { recursive: true, force: true });
    else say(`server state and logs kept in ${state}`);
  }
  return code;
}

/** The suite in desktop VS Code through @vscode/test-electron (needs a download or VSCODE_EXECUTABLE). */
async function runInElectron(ws, env) {
  const { runTests } = await import('@vscode/test-electron');
  Object.assign(process.env, env); // runTests passes this process's environment to VS Code
  try {
    await runTests({
      extensionDevelopmentPath: root,
      extensionTestsPath: testsPath,
      launchArgs: [ws, '--disable-extensions', '--disable-workspace-trust'],
      ...(process.env.VSCODE_EXECUTABLE ? { vscodeExecutablePath: process.env.VSCODE_EXECUTABLE } : { version: VSCODE_VERSION }),
    });
    return 0;
  } catch (err) {
    console.error(`test:vscode: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
}

/** The grammars checked with VS Code's own TextMate engine from the installed server (seconds cheaper than a host run). */
function grammarCheck() {
  const child = spawn(process.execPath, [path.join(root, 'test/host/grammar-check.mjs'), hostDir], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
}

const electron = flag('--electron');
if (!(timeoutS > 0)) {
  say(`--timeout-s must be a positive number of seconds, not ${valueOf('--timeout-s')}`);
  process.exit(2);
}
if (!fs.existsSync(testsPath)) {
  say(`${path.relative(root, testsPath)} is missing: run tsc -p . first`);
  process.exit(2);
}
if (!electron) {
  try {
    checkInstall(hostDir);
  } catch (e) {
    say(e.message);
    process.exit(2);
  }
}
const grammar = electron ? 0 : await grammarCheck();
const ws = prepareWorkspace(root);
const db = await database(root);
const stopping = async (sig, status) => {
  say(`${sig}: stopping`);
  for (const stop of stopOnSignal) await stop();
  await db.stop();
  process.exit(status);
};
process.once('SIGINT', () => void stopping('SIGINT', 130));
process.once('SIGTERM', () => void stopping('SIGTERM', 143));
const env = { ...process.env, ...writeProfile(ws, db.url), RUNBOOK_HOST_WORKSPACE: ws, RUNBOOK_HOST_CONNECTION: 'host-test' };
// The server host drives a real page: tests may ask it to click in the rendered outputs (uiClick above).
if (!electron) env.RUNBOOK_HOST_UI_BRIDGE = '1';
if (db.throwaway) env.RUNBOOK_HOST_THROWAWAY_SERVER = '1';
if (grep) env.RUNBOOK_HOST_GREP = grep;
delete env.DATABASE_URL; // the suite must reach the server through the profile, as a user would
const code = (electron ? await runInElectron(ws, env) : await runInServerHost(ws, env)) || grammar;
await db.stop();
if (code === 0 && !keep) fs.rmSync(ws, { recursive: true, force: true });
else say(`workspace kept in ${ws}`);
process.exit(code);
