#!/usr/bin/env node
// Drives the real VS Code workbench once with playwright-core: opens an example runbook, picks the connection, runs all, saves a screenshot in test-output/.
//
// Usage: node test/host/screenshot.mjs [--keep-temp]   (after `node esbuild.mjs`; npm run screenshot does both)
// Environment: VSCODE_HOST_DIR (default ./.vscode-host, from test/host/tooling/install.sh),
// DATABASE_URL (else the integration harness starts a throwaway server), CHROMIUM_PATH.
// Writes test-output/runbook-notebook.png (top of the notebook after Run All) and
// test-output/runbook-results.png (the validation queries' result tables), and
// test-output/runbook-checklist-prompt.png (the checklist multi-select), test-output/runbook-log-preview.png
// (the saved file's migration log in VS Code's Markdown preview), and from test/host/workspace/exec/monitor.runbook:
// test-output/runbook-checklist-click.png (a checklist's checkboxes in its output, one clicked),
// test-output/runbook-monitoring.png (the live monitoring view of a long cell while another session waits on a lock),
// test-output/runbook-cell-status.png (the cells' status bars: where each last ran, and where it would run now).
/* global process, console, setTimeout */ // Node globals: the ESLint config sets none for .mjs files.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import pg from 'pg';
import { vscodeDir } from './tooling/vscode-server.mjs';
import { database, prepareWorkspace, writeProfile } from './workspace.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const hostDir = path.resolve(root, process.env.VSCODE_HOST_DIR || '.vscode-host');
const outDir = path.join(root, 'test-output');
const keep = process.argv.includes('--keep-temp');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The "toggle all" checkbox of a multi-select quick pick: the first checkbox of the visible quick input.
const CHECK_ALL = '.quick-input-widget:visible .monaco-checkbox >> nth=0';
const step = (s) => console.log(`[screenshot] ${s}`);

/**
 * Saves the executed notebook, copies its migration log section (from `<!-- runbook:log -->` to the end, as the file
 * holds it) into a Markdown file of the workspace, and shoots VS Code's Markdown preview of it: what a reviewer sees
 * of the log on GitHub or in an editor. Writes test-output/runbook-log-preview.png.
 */
async function shootLogPreview(page) {
  step('save, then the migration log in the Markdown preview');
  await page.keyboard.press('Control+S');
  const file = path.join(ws, 'examples', 'add-order-status.runbook');
  const deadline = Date.now() + 30_000;
  while (!fs.readFileSync(file, 'utf8').includes('<!-- runbook:log -->') && Date.now() < deadline) await sleep(500);
  const text = fs.readFileSync(file, 'utf8');
  const at = text.indexOf('<!-- runbook:log -->');
  if (at < 0) throw new Error('the saved runbook has no migration log');
  fs.writeFileSync(path.join(ws, 'migration-log.md'), text.slice(at));
  await page.keyboard.press('Control+P');
  await page.keyboard.type('migration-log.md');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'migration-log.md' }).first().waitFor({ timeout: 30_000 });
  await page.keyboard.press('Enter');
  await sleep(1500);
  await page.keyboard.press('F1');
  await page.keyboard.type('Markdown: Open Preview');
  await sleep(800);
  await page.keyboard.press('Enter');
  await sleep(4000);
  await page.screenshot({ path: path.join(outDir, 'runbook-log-preview.png') });
  step(`wrote ${path.relative(root, path.join(outDir, 'runbook-log-preview.png'))}`);
}

/** The first visible match of `selector` in any frame of the page (outputs live in the notebook's webview frames). */
async function inFrames(page, selector, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      const m = frame.locator(selector);
      const n = await m.count().catch(() => 0);
      for (let i = 0; i < n; i++) if (await m.nth(i).isVisible().catch(() => false)) return m.nth(i);
    }
    await sleep(200);
  }
  throw new Error(`no visible ${selector} in any frame after ${timeoutMs} ms`);
}

/** Runs a command from the command palette. */
async function command(page, title) {
  await page.keyboard.press('F1');
  await page.keyboard.type(title);
  await sleep(800);
  await page.keyboard.press('Enter');
}

/**
 * exec/monitor.runbook: its checklist confirmed by clicking in the output, its long cell's live monitoring view while
 * another session waits on a lock, and the cells' status bars once the notebook's connection changed.
 */
async function monitorShots(page) {
  step('open exec/monitor.runbook');
  await page.keyboard.press('Control+P');
  await page.keyboard.type('monitor.runbook');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'monitor.runbook' }).first().waitFor({ timeout: 30_000 });
  await page.keyboard.press('Enter');
  await sleep(2500);
  const holder = new pg.Client({ connectionString: db.url, application_name: 'nightly-report' });
  const waiter = new pg.Client({ connectionString: db.url, application_name: 'billing-worker' });
  await holder.connect();
  await waiter.connect();
  await holder.query('CREATE TABLE IF NOT EXISTS shot_monitor (id int PRIMARY KEY, n int); INSERT INTO shot_monitor VALUES (1, 0) ON CONFLICT DO NOTHING');
  try {
    step('Run All: the checklist waits in its output');
    await command(page, 'Notebook: Run All');
    await sleep(2000);
    // The multi-select opens beside the checkboxes: dismissed, the checkboxes still wait.
    if (await page.locator('.quick-input-widget:visible').count()) await page.keyboard.press('Escape');
    const first = await inFrames(page, '.rb-checklist input[type=checkbox][data-index="0"]');
    await first.click();
    await sleep(1200);
    await page.mouse.move(10, 500);
    await page.screenshot({ path: path.join(outDir, 'runbook-checklist-click.png') });
    step('wrote test-output/runbook-checklist-click.png');
    await holder.query('BEGIN; UPDATE shot_monitor SET n = n + 1 WHERE id = 1');
    void waiter.query('UPDATE shot_monitor SET n = n + 1 WHERE id = 1').catch(() => undefined);
    await (await inFrames(page, '.rb-checklist input[type=checkbox][data-index="1"]')).click();
    step('the long cell runs: the monitoring view');
    await inFrames(page, '.rb-monitor');
    await sleep(1800);
    // Each sample redraws the output: the element found may be replaced before it scrolls (then it is in view anyway).
    await (await inFrames(page, '.rb-monitor')).scrollIntoViewIfNeeded({ timeout: 2_000 }).catch(() => undefined);
    await page.mouse.move(10, 500);
    await page.screenshot({ path: path.join(outDir, 'runbook-monitoring.png') });
    step('wrote test-output/runbook-monitoring.png');
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end().catch(() => undefined);
    await waiter.end().catch(() => undefined);
  }
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && (await page.locator('.notebook-editor .codicon-notebook-state-executing').count())) await sleep(500);
  step('Select Connection → host-prod: the status bars say where each cell last ran and where it would run now');
  await command(page, 'Runbook: Select Connection');
  await sleep(1500);
  await page.keyboard.type('host-prod');
  await sleep(500);
  await page.keyboard.press('Enter');
  await sleep(2000);
  await page.keyboard.press('Control+Home');
  await page.mouse.move(10, 500);
  await sleep(800);
  await page.screenshot({ path: path.join(outDir, 'runbook-cell-status.png') });
  step('wrote test-output/runbook-cell-status.png');
}

const ws = prepareWorkspace(root);
// Filled by shootLogPreview after the run; created now so that Quick Open's file index knows it.
fs.writeFileSync(path.join(ws, 'migration-log.md'), '');
const db = await database(root);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-shot-'));
const settings = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'extensions.autoCheckUpdates': false,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'window.commandCenter': false,
  'chat.commandCenter.enabled': false,
};
for (const f of ['user-data/User/settings.json', 'server-data/data/Machine/settings.json']) {
  fs.mkdirSync(path.dirname(path.join(tmp, f)), { recursive: true });
  fs.writeFileSync(path.join(tmp, f), JSON.stringify(settings, null, 2));
}
const env = { ...process.env, ...writeProfile(ws, db.url), EXTENSIONS_GALLERY: '{"serviceUrl":""}', VSCODE_AGENT_FOLDER: path.join(tmp, 'server-data') };
delete env.DATABASE_URL;

const server = spawn(
  process.execPath,
  [
    path.join(vscodeDir(hostDir), 'out/server-main.js'),
    '--host', '127.0.0.1', '--port', '0', '--without-connection-token', '--accept-server-license-terms',
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
    '--server-data-dir', path.join(tmp, 'server-data'), '--user-data-dir', path.join(tmp, 'user-data'),
    '--extensions-dir', path.join(tmp, 'extensions'), '--logsPath', path.join(tmp, 'logs'),
  ],
  { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env },
);
let browser;
let code = 1;
try {
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const onData = (b) => {
      out += b;
      const m = /Extension host agent listening on (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (c) => reject(new Error(`VS Code server exited (${c}):\n${out.slice(-2000)}`)));
  });
  const authority = `127.0.0.1:${port}`;
  const payload = [['extensionDevelopmentPath', `vscode-remote://${authority}${root}`], ['skipWelcome', 'true'], ['skipReleaseNotes', 'true']];
  const url = `http://${authority}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const page = await (await browser.newContext({ viewport: { width: 1500, height: 1000 } })).newPage();
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  await sleep(3000);

  step('open examples/add-order-status.runbook');
  await page.keyboard.press('Control+P');
  await page.keyboard.type('add-order-status.runbook');
  // The first file search starts ripgrep: on a busy machine it takes seconds, so wait for the result row.
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'add-order-status.runbook' }).first().waitFor({ timeout: 30_000 });
  await page.keyboard.press('Enter');
  await page.locator('.notebook-editor:visible').first().waitFor({ timeout: 30_000 });
  await sleep(2000);

  step('Runbook: Select Connection → host-test');
  await page.keyboard.press('F1');
  await page.keyboard.type('Runbook: Select Connection');
  await sleep(800);
  await page.keyboard.press('Enter');
  await sleep(1500);
  await page.keyboard.type('host-test');
  await sleep(500);
  await page.keyboard.press('Enter');
  await sleep(1000);

  step('Run All');
  await page.keyboard.press('F1');
  await page.keyboard.type('Notebook: Run All');
  await sleep(800);
  await page.keyboard.press('Enter');
  await sleep(2500);
  // The kernel picker may ask once which controller to use; the Runbook one is the only choice.
  if (await page.locator('.quick-input-widget:visible').count()) {
    const title = await page.locator('.quick-input-widget .quick-input-title').innerText().catch(() => '');
    step(`quick input: ${title || '(no title)'}`);
    if (/kernel/i.test(title)) {
      await page.keyboard.press('Enter');
      await sleep(2500);
    }
  }
  fs.mkdirSync(outDir, { recursive: true });
  // The schedule checklist: tick every item (the "toggle all" box), then OK.
  await page.waitForSelector(CHECK_ALL, { timeout: 30_000 });
  await page.locator(CHECK_ALL).click();
  await sleep(400);
  await page.screenshot({ path: path.join(outDir, 'runbook-checklist-prompt.png') });
  await page.keyboard.press('Enter');
  step('waiting for Run All to finish');
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const running = await page.locator('.notebook-editor .codicon-notebook-state-executing, .notebook-editor .codicon-notebook-state-pending').count();
    const visibleInput = await page.locator('.quick-input-widget:visible').count();
    if (visibleInput) {
      // A second checklist further down: confirm all of it too.
      await page.locator(CHECK_ALL).click().catch(() => undefined);
      await page.keyboard.press('Enter');
    } else if (running === 0) break;
    await sleep(1000);
  }
  await sleep(1500);
  fs.mkdirSync(outDir, { recursive: true });
  await page.keyboard.press('Control+Home');
  await page.mouse.move(900, 600);
  await sleep(500);
  await page.screenshot({ path: path.join(outDir, 'runbook-notebook.png') });
  step(`wrote ${path.relative(root, path.join(outDir, 'runbook-notebook.png'))}`);
  // Further down, through the notebook's outline (Go to Symbol lists the Markdown headings): the validation result tables.
  await page.keyboard.press('Control+Shift+O');
  await sleep(800);
  await page.keyboard.type('Validate');
  await sleep(800);
  await page.keyboard.press('Enter');
  await sleep(1500);
  await page.mouse.move(900, 600);
  for (let i = 0; i < 7; i++) {
    await page.mouse.wheel(0, 200);
    await sleep(120);
  }
  await sleep(2000);
  await page.screenshot({ path: path.join(outDir, 'runbook-results.png') });
  step(`wrote ${path.relative(root, path.join(outDir, 'runbook-results.png'))}`);
  await shootLogPreview(page);
  await monitorShots(page);
  code = 0;
} catch (e) {
  console.error(`[screenshot] failed: ${e instanceof Error ? e.stack : e}`);
} finally {
  await browser?.close().catch(() => undefined);
  try {
    process.kill(-server.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  await db.stop();
  if (!keep && code === 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(ws, { recursive: true, force: true });
  } else console.error(`[screenshot] state kept in ${tmp} and ${ws}`);
}
process.exit(code);
