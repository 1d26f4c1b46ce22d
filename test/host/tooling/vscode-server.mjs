// Starts the VS Code server install.sh put in .vscode-host/ and opens its workbench in headless Chromium (used by test/host/run.mjs and screenshot.mjs).
/* global process, setTimeout */ // Node globals: the ESLint config sets none for .mjs files.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

/** The VS Code version install.sh installs (code-server 4.100.3); package.json's engines.vscode must accept it. */
export const VSCODE_VERSION = '1.100.3';

/** Folder of VS Code's server inside a host folder made by install.sh. */
export function vscodeDir(hostDir) {
  return path.join(hostDir, 'vscode');
}

/** Throws an Error saying what to run when the server or the browser is missing. */
export function checkInstall(hostDir, browser = chromiumPath()) {
  if (!fs.existsSync(path.join(hostDir, '.installed')) || !fs.existsSync(path.join(vscodeDir(hostDir), 'out/server-main.js'))) {
    throw new Error(`no VS Code server in ${hostDir}: run bash test/host/tooling/install.sh`);
  }
  if (!fs.existsSync(browser)) throw new Error(`no Chromium at ${browser}: apt-get install chromium, or set CHROMIUM_PATH`);
}

/** Debian's chromium unless CHROMIUM_PATH names another Chromium. */
export function chromiumPath() {
  return process.env.CHROMIUM_PATH || '/usr/bin/chromium';
}

/** Settings for a quiet, repeatable workbench: no welcome page, tips, update checks, telemetry or workspace trust prompt. */
export const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
};

/**
 * Starts VS Code's server on 127.0.0.1 on a free port, in its own process group, with fresh user data,
 * server data, extensions and logs folders under `stateDir` (the caller keeps or deletes it).
 * `settings` are written as user and machine settings. `env` reaches the server and so the extension
 * host and the tests in it. `onLine` gets each line the server prints.
 * Resolves once the server listens: `{ authority: '127.0.0.1:PORT', output(), stop() }`; `stop()` ends
 * the whole group (server, extension host, pty host, file watcher) within 5 s.
 * Rejects when the server exits before it listens, with the end of its output.
 */
export async function startServer({ hostDir, stateDir, env = process.env, settings = QUIET_SETTINGS, onLine = () => {} }) {
  const dirs = { server: path.join(stateDir, 'server-data'), user: path.join(stateDir, 'user-data'), extensions: path.join(stateDir, 'extensions'), logs: path.join(stateDir, 'logs') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  for (const f of [path.join(dirs.user, 'User/settings.json'), path.join(dirs.server, 'data/Machine/settings.json')]) {
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, JSON.stringify(settings, null, 2));
  }
  const server = spawn(
    process.execPath,
    [
      path.join(vscodeDir(hostDir), 'out/server-main.js'),
      '--host', '127.0.0.1', '--port', '0',
      '--without-connection-token', '--accept-server-license-terms',
      '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
      '--server-data-dir', dirs.server, '--user-data-dir', dirs.user, '--extensions-dir', dirs.extensions,
      '--logsPath', path.join(dirs.logs, 'server'),
    ],
    // No marketplace: nothing to reach, and the tests install no extension.
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { EXTENSIONS_GALLERY: '{"serviceUrl":""}', ...env, VSCODE_AGENT_FOLDER: dirs.server } },
  );
  let output = '';
  let partial = '';
  const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const l of lines) onLine(l);
      const m = /Extension host agent listening on (\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    void exited.then(({ code, signal }) => reject(new Error(`the VS Code server exited before it listened (code ${code}, signal ${signal}):\n${output.slice(-4000)}`)));
  });
  const kill = (sig) => {
    try {
      process.kill(-server.pid, sig);
    } catch {
      // the group is gone already
    }
  };
  return {
    authority: `127.0.0.1:${port}`,
    exited,
    output: () => output,
    async stop() {
      kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      kill('SIGKILL'); // the extension host or pty host may outlive the server
      fs.writeFileSync(path.join(dirs.logs, 'server.log'), output);
    },
  };
}

/**
 * The workbench URL that opens `folder` with the extension under development loaded and, when
 * `extensionTestsPath` is given, its tests run: the workbench's `payload` query parameter, which VS Code's
 * browser environment service reads (src/vs/workbench/services/environment/browser/environmentService.ts),
 * as VS Code's own browser integration tests use it.
 */
export function workbenchUrl(authority, { folder, extensionDevelopmentPath, extensionTestsPath }) {
  const remote = (p) => `vscode-remote://${authority}${path.resolve(p).split(path.sep).map(encodeURIComponent).join('/')}`;
  const payload = [['extensionDevelopmentPath', remote(extensionDevelopmentPath)], ['skipWelcome', 'true'], ['skipReleaseNotes', 'true']];
  if (extensionTestsPath) payload.push(['extensionTestsPath', remote(extensionTestsPath)]);
  return `http://${authority}/?folder=${encodeURIComponent(path.resolve(folder))}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** Headless Chromium through the project's playwright-core; `--no-sandbox` because CI runs as root. */
export function launchBrowser(executablePath = chromiumPath()) {
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
