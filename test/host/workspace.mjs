// The throwaway workspace and database the extension-host suite and the screenshot run on (used by run.mjs and screenshot.mjs).
/* global process, URL */ // Node globals: the ESLint config sets none for .mjs files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function copyRunbooks(from, to) {
  if (!fs.existsSync(from)) return;
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) {
    if (f.endsWith('.runbook')) fs.copyFileSync(path.join(from, f), path.join(to, f));
  }
}

/** A throwaway workspace: the suite saves notebooks and writes profiles into it. */
export function prepareWorkspace(root) {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-host-ws-'));
  fs.cpSync(path.join(root, 'test/host/workspace'), ws, { recursive: true });
  copyRunbooks(path.join(root, 'examples'), path.join(ws, 'examples'));
  copyRunbooks(path.join(root, 'test/fixtures'), path.join(ws, 'fixtures'));
  return ws;
}

/**
 * DATABASE_URL from the environment, else a server started by the integration test harness.
 * `throwaway` is true for the harness's server: tests may change its configuration (pg_hba.conf), never a DATABASE_URL one's.
 */
export async function database(root) {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, throwaway: false, stop: async () => {} };
  const harness = path.join(root, 'out/test/integration/harness.js');
  if (!fs.existsSync(harness)) throw new Error('DATABASE_URL is not set and out/test/integration/harness.js is missing (run tsc -p . first)');
  const { getTestDatabase } = await import(harness);
  const db = await getTestDatabase();
  const url = db.url ?? db.connectionString ?? db.databaseUrl;
  if (!url) throw new Error('the integration harness returned no connection URL');
  return { url, throwaway: true, stop: async () => { await (db.stop ?? db.close ?? (async () => {})).call(db); } };
}

/**
 * The suite's connection profile, written into the workspace. The password never goes into the
 * file: it reaches the extension host as PGPASSWORD, which libpq and pg read from the environment.
 */
export function writeProfile(ws, url) {
  const u = new URL(url);
  const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres';
  const yaml = [
    '# Written by test/host/run.mjs for the extension-host suite; the password comes from PGPASSWORD.',
    'connections:',
    '  host-test:',
    '    environment: development',
    `    host: ${JSON.stringify(decodeURIComponent(u.hostname))}`,
    `    port: ${Number(u.port || 5432)}`,
    `    database: ${JSON.stringify(db)}`,
    `    user: ${JSON.stringify(decodeURIComponent(u.username || 'postgres'))}`,
    '  # The same server labelled production: the suite checks the production guard and colours on it.',
    '  host-prod:',
    '    environment: production',
    `    host: ${JSON.stringify(decodeURIComponent(u.hostname))}`,
    `    port: ${Number(u.port || 5432)}`,
    `    database: ${JSON.stringify(db)}`,
    `    user: ${JSON.stringify(decodeURIComponent(u.username || 'postgres'))}`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(ws, 'runbook.connections.yaml'), yaml);
  return { PGPASSWORD: decodeURIComponent(u.password || '') };
}

