// Running the real `runbook` CLI from integration tests: to completion, or beside the test (for faults injected while it runs).

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRunbook, type Cell, type OutputRecord } from '../../src/format';

/** The repository root (tests run from out/test/integration). */
export const ROOT = path.join(__dirname, '../../..');
/** The CLI as users start it. */
export const CLI = path.join(ROOT, 'bin/runbook.js');

/** What a finished CLI process left. */
export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The environment the CLI runs in: the test's, a fixed operator, and `env`. */
function cliEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...process.env, RUNBOOK_OPERATOR: 'test-operator', ...env };
}

/**
 * Runs the CLI to completion (no terminal: stdin is empty). Blocks this process: a fault proxy living in the test
 * process would stop with it — use {@link startCli} then.
 */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: cliEnv(opts.env ?? {}), encoding: 'utf8', input: '', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI beside the test (as another user with `uid`/`gid`, when root); `done` resolves with its result when it exits. */
export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; uid?: number; gid?: number } = {}): { child: ReturnType<typeof spawn>; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: cliEnv(opts.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'], uid: opts.uid, gid: opts.gid });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('exit', (status) => resolve({ status, stdout, stderr })));
  return { child, done };
}

/** A SQL cell's text with its options on the fence. */
export const sql = (source: string, options: Record<string, unknown> = {}): string => `\`\`\`sql${Object.keys(options).length ? ' ' + JSON.stringify(options) : ''}\n${source}\n\`\`\`\n\n`;
/** A shell cell's text. */
export const sh = (source: string, options: Record<string, unknown> = {}): string => `\`\`\`bash${Object.keys(options).length ? ' ' + JSON.stringify(options) : ''}\n${source}\n\`\`\`\n\n`;
/** The runnable cells of a runbook file as it is now. */
export const cellsOf = (file: string): Cell[] => parseRunbook(fs.readFileSync(file)).cells.filter((c) => c.kind !== 'markdown');
/** A cell's (first) output record. */
export const rec = (c: Cell): OutputRecord => c.outputs[0]?.record;
/** Each runnable cell's status, undefined for a cell with no output. */
export const statuses = (file: string): (string | undefined)[] => cellsOf(file).map((c) => (c.outputs[0] ? String(rec(c).status) : undefined));

/** Polls `predicate` every 50 ms; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, predicate: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
