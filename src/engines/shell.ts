// Shell engine: runs a shell cell with bash in its own process group, streams output, kills the whole group on cancel or timeout.

import { spawn } from 'node:child_process';
import type { OutputStatus } from '../format';

/** How a shell cell ended. */
export interface ShellResult {
  status: Extract<OutputStatus, 'ok' | 'error' | 'cancelled'>;
  /** Exit code of bash; undefined when a signal ended it. */
  exit?: number;
  /** Signal that ended bash (e.g. `SIGTERM` after cancel or timeout). */
  signal?: string;
  /** Why the run ended early: `cancelled`, `timeout` (after `timeoutMs`), or a spawn error. */
  reason?: string;
  /** Output (stdout and stderr merged in order), ANSI escapes removed, at most `maxBytes` kept (head and tail). */
  output: string;
  /** Bytes of output that were not kept. */
  omittedBytes: number;
  ms: number;
}

/** Options for {@link runShell}. */
export interface ShellOptions {
  /** Working directory: the runbook's folder. */
  cwd: string;
  /** Full environment for the process (the caller adds the connection's libpq variables). */
  env: NodeJS.ProcessEnv;
  /** Kill the process group after this many ms (0 or undefined: no limit). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each chunk of output as it arrives (already stripped of ANSI escapes). */
  onOutput?: (chunk: string) => void;
  /** Output bytes kept in the result (half from the start, half from the end); default 1 MiB. */
  maxBytes?: number;
  /** ms between SIGTERM and SIGKILL when stopping the group; default 2000. */
  killGraceMs?: number;
}

// CSI and OSC escape sequences (colours, cursor movement, titles): meaningless in a file.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;

/**
 * Runs `script` with `bash -e -o pipefail` (the cell fails at the first failing command, pipelines
 * included) in a new process group (`detached`), with stdin closed and stderr merged into stdout
 * in order (`exec 2>&1`), like a careful terminal. Cancel (the AbortSignal) and the timeout send
 * SIGTERM to the whole group, then SIGKILL after `killGraceMs`, so background children die too;
 * when bash exits, whatever it left running in its group is stopped the same way.
 * Never rejects: a spawn failure is returned as status `error` with `reason`.
 */
export function runShell(script: string, opts: ShellOptions): Promise<ShellResult> {
  const started = Date.now();
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  const grace = opts.killGraceMs ?? 2000;
  return new Promise((resolve) => {
    let head = '';
    let tail = '';
    let total = 0;
    let reason: string | undefined;
    let settled = false;
    // The ERR trap names the failing line (of the cell: the two prefix lines are subtracted), since
    // errexit alone stops silently.
    const prefix = `exec 2>&1\ntrap 'printf "runbook: line %s failed with exit status %s\\n" "$((LINENO - 2))" "$?"' ERR\n`;
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', prefix + script], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pgid = child.pid;
    const killGroup = (sig: NodeJS.Signals): void => {
      if (pgid === undefined) return;
      try {
        process.kill(-pgid, sig);
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const stopGroup = (why: string): void => {
      reason ??= why;
      killGroup('SIGTERM');
      killTimer ??= setTimeout(() => killGroup('SIGKILL'), grace);
    };
    const onAbort = (): void => stopGroup('cancelled');
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = opts.timeoutMs ? setTimeout(() => stopGroup('timeout'), opts.timeoutMs) : undefined;

    const half = Math.floor(maxBytes / 2);
    const take = (buf: Buffer): void => {
      const s = buf.toString('utf8').replace(ANSI, '');
      total += Buffer.byteLength(s);
      opts.onOutput?.(s);
      if (head.length < half) {
        const room = half - head.length;
        head += s.slice(0, room);
        if (s.length > room) tail = (tail + s.slice(room)).slice(-half);
      } else {
        tail = (tail + s).slice(-half);
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const finish = (code: number | null, sig: NodeJS.Signals | null, spawnError?: Error): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      // Anything the script left running in its process group is part of the cell: stop it.
      killGroup('SIGTERM');
      setTimeout(() => {
        killGroup('SIGKILL');
        if (killTimer) clearTimeout(killTimer);
      }, Math.min(grace, 500)).unref();
      const omitted = Math.max(0, total - Buffer.byteLength(head) - Buffer.byteLength(tail));
      const output = omitted > 0 ? `${head}\n… ${omitted} bytes of output not kept …\n${tail}` : head + tail;
      const status = reason === 'cancelled' ? 'cancelled' : spawnError || code !== 0 ? 'error' : 'ok';
      const result: ShellResult = { status, output: output.replace(/\n$/, ''), omittedBytes: omitted, ms: Date.now() - started };
      if (code !== null) result.exit = code;
      if (sig) result.signal = sig;
      if (spawnError) result.reason = `bash could not be started: ${spawnError.message}`;
      else if (reason) result.reason = reason;
      resolve(result);
    };
    child.on('error', (e) => finish(null, null, e));
    // 'close' waits for the pipes: background children holding them open are killed on 'exit' first.
    child.on('exit', () => {
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), Math.min(grace, 500)).unref();
    });
    child.on('close', (code, sig) => finish(code, sig));
  });
}
