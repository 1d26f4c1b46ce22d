// Extension-host test: a runbook run in VS Code and the same runbook run with `runbook run` give the same file, but for times, durations and operator.
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { parseRunbook } from '../../src/format';
import type { RunbookApi } from '../../src/vscode/extension';
import { EXTENSION_ID, observer, scratchCopy, waitFor, workspaceRoot } from './helpers';

/**
 * Keys whose values may differ between two runs of the same runbook: times, durations, operator, run and transaction ids,
 * process ids, and `locks`, the live lock view, which samples every 250 ms and so catches a short lock
 * in one run and not in the next (src/safety/lockwatch.ts).
 */
const VARYING = new Set(['started', 'ms', 'by', 'at', 'xactAgeMs', 'pid', 'locks', 'run', 'xid']);
/** Part of "operator": how the checklist was confirmed (`runbook run --confirm-checklists` says so; the picker does not). */
const OPERATOR_ONLY = new Set(['confirmed_with']);

function blank(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(blank);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => !OPERATOR_ONLY.has(k)).map(([k, v]) => [k, VARYING.has(k) ? '…' : blank(v)]));
  }
  return value;
}

/**
 * Parts of a log event that differ between two runs of the same runbook: the hash chain (it hashes times), times,
 * the run id, the operator, how the run was asked for (the CLI's command and flags, VS Code's cell selection), and the
 * monitoring sampler's peaks (`monitor`: samples taken and what they saw depend on timing, like `locks`).
 */
const EVENT_VARYING = new Set(['h', 'prev', 'rec', 'out', 'after', 'at', 'id', 'ended', 'command', 'flags', 'by', 'started', 'ms', 'run', 'xid', 'monitor']);

function blankEvent(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(blankEvent);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).filter(([k]) => !EVENT_VARYING.has(k)).map(([k, v]) => [k, blankEvent(v)]));
  return value;
}

/** The log's events, blanked where two runs differ, one per line. */
function normalizedLog(file: string): string {
  return (parseRunbook(fs.readFileSync(file)).log?.events ?? []).map((e) => JSON.stringify(blankEvent(e))).join('\n');
}

/** The file with the values that may differ between two runs blanked, in the record lines and in durations shown in bodies. */
function normalized(file: string): string {
  const text = fs.readFileSync(file, 'utf8');
  // The log section is compared event by event (normalizedLog).
  const at = text.indexOf('\n<!-- runbook:log -->');
  return (at >= 0 ? text.slice(0, at) : text)
    // The lock view's summary line in a body is there only when a sample caught a lock (see VARYING).
    .replace(/^Locks: .*\n(\n)?/gm, '')
    .split('\n')
    .map((line) => {
      const m = /^(<!-- runbook:output )(.*)( -->)$/.exec(line);
      // The visible line under a record shows its start time, which differs like `started`.
      return m ? m[1] + JSON.stringify(blank(JSON.parse(m[2]))) + m[3] : line.replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/g, '…').replace(/run `\d{8}T\d{6}Z-[0-9a-f]{4}`/g, 'run `…`').replace(/\b\d+(\.\d+)? ?(ms|s|min)\b/g, '…');
    })
    .join('\n');
}

describe('parity with runbook run', function () {
  this.timeout(120_000);

  it('writes the same migration log as the CLI through a stop, a refusal and a resume, but for times, durations, operator and run ids', async () => {
    const ext = vscode.extensions.getExtension<RunbookApi>(EXTENSION_ID)!;
    const api = await ext.activate();
    const source = path.join(workspaceRoot(), 'exec', 'parity.runbook');
    const viaCli = scratchCopy(source, 'cli');
    const viaVscode = scratchCopy(source, 'vscode');
    // Both runs start from the same database state (the table absent), so their notices match too.
    const dropTable = async (): Promise<void> => {
      const c = await observer();
      await c.query('DROP TABLE IF EXISTS parity_items').finally(() => c.end());
    };
    try {
      await dropTable();
      // RUNBOOK_CLI: another build of the runbook command to compare against (default: this checkout's).
      const cliPath = process.env.RUNBOOK_CLI ?? path.join(ext.extensionPath, 'bin', 'runbook.js');
      const runCli = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync('node', [cliPath, 'run', viaCli, ...args], { encoding: 'utf8', env: process.env, timeout: 60_000 });
      const cli = runCli('--confirm-checklists');
      assert.strictEqual(cli.status, 1, `runbook run stops at the failing cell (exit 1):\n${String(cli.stdout)}\n${String(cli.stderr)}`);
      const refused = runCli('--only', 'span-insert');
      assert.strictEqual(refused.status, 1, `a cell inside a span alone is refused:\n${String(refused.stderr)}`);
      const resumed = runCli('--from', 'after');
      assert.strictEqual(resumed.status, 0, `the resume after the span runs:\n${String(resumed.stdout)}\n${String(resumed.stderr)}`);

      await dropTable();
      const doc = await vscode.workspace.openNotebookDocument(vscode.Uri.file(viaVscode));
      await vscode.window.showNotebookDocument(doc);
      await vscode.commands.executeCommand('notebook.selectKernel', { id: 'runbook-notebooks.runner', extension: EXTENSION_ID });
      api.prompts.headless = true;
      api.prompts.answerNext(['Window confirmed', 'Backup verified']);
      await vscode.commands.executeCommand('notebook.execute', doc.uri);
      const named = (name: string): vscode.NotebookCell => doc.getCells().find((c) => (c.metadata.runbook as { options?: { name?: string } }).options?.name === name)!;
      await waitFor(() => named('fails').executionSummary?.success !== undefined, 'Run All to reach the failing cell');
      const refusalsBefore = api.prompts.shown.filter((p) => p.kind === 'error').length;
      const insert = named('span-insert');
      await vscode.commands.executeCommand('notebook.cell.execute', { ranges: [{ start: insert.index, end: insert.index + 1 }], document: doc.uri });
      await waitFor(() => api.prompts.shown.filter((p) => p.kind === 'error').length > refusalsBefore, 'the refusal of a cell inside a span');
      const after = named('after');
      await vscode.commands.executeCommand('notebook.cell.execute', { ranges: [{ start: after.index, end: doc.cellCount }], document: doc.uri });
      await waitFor(() => after.executionSummary?.success === true, 'the resume after the span');
      assert.ok(await doc.save());
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');

      assert.strictEqual(normalizedLog(viaVscode), normalizedLog(viaCli), 'the same log events, in the same order');
      const runs = (parseRunbook(fs.readFileSync(viaCli)).log?.events ?? []).filter((e) => e.e === 'run').length;
      assert.strictEqual(runs, 3, 'the failed run, the refused run and the resume are all in the log');
      const a = normalized(viaCli);
      const b = normalized(viaVscode);
      if (a !== b) {
        const la = a.split('\n');
        const lb = b.split('\n');
        const i = la.findIndex((l, k) => l !== lb[k]);
        assert.fail(`first difference at line ${i + 1}:\n  runbook run: ${la[i]}\n  VS Code:     ${lb[i]}`);
      }
      assert.match(a, /"status":"error".*"sqlstate":"22012"/, 'the failing cell is recorded');
      assert.match(a, /"status":"rolled back".*"span":\{"from":7,"fate":"rolled back"/, 'the span of the failing cell is rolled back on its first cell');
      assert.strictEqual((a.match(/runbook:output/g) ?? []).length, 9, 'checklist, setup, fill, read, shell, span-begin, span-insert, fails, after: the rollback cell and the span\'s COMMIT have no output');
    } finally {
      for (const f of [viaCli, viaVscode]) {
        fs.rmSync(f, { force: true });
        fs.rmSync(`${f}.journal`, { force: true });
      }
    }
  });
});
