// Shell engine: runs a shell cell with bash in its own process group, streams output, kills the whole group on cancel or timeout.

import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { Redactor } from '../connections/redact';
import type { OutputStatus } from '../format';
import { ByteWindow } from './byte-window';

/** How a shell cell ended. */
export interface ShellResult {
  status: Extract<OutputStatus, 'ok' | 'error' | 'cancelled'>;
  /** Exit code of bash; undefined when a signal ended it. */
  exit?: number;
  /** Signal that ended bash (e.g. `SIGTERM` after cancel or timeout). */
  signal?: string;
  /** Why the run ended early: `cancelled`, `timeout` (after `timeoutMs`), or a spawn error. */
  reason?: string;
  /**
   * Output (stdout and stderr merged in order), decoded as UTF-8 across chunk boundaries, ANSI escapes
   * removed, redacted, then at most `maxBytes` UTF-8 bytes kept (head and tail, cut on character boundaries).
   */
  output: string;
  /** Bytes (UTF-8, of the redacted text) of output that were not kept. */
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
  /**
   * Called with the output as it arrives: stripped of ANSI escapes and redacted. A line that has not
   * ended may be held back until it does (up to about 4 KB of it), so that a password split across two
   * chunks is removed whole; the pieces add up to the whole output.
   */
  onOutput?: (chunk: string) => void;
  /** Output bytes kept in the result (half from the start, half from the end); default 1 MiB. */
  maxBytes?: number;
  /**
   * The run's redactor (its passwords and the patterns). Output is redacted as it arrives, before it
   * is shown or cut. Default: a redactor with the patterns only.
   */
  redactor?: Redactor;
  /** ms between SIGTERM and SIGKILL when stopping the group; default 2000. */
  killGraceMs?: number;
  /** Called synchronously once bash is spawned, with its process group id (= its pid), e.g. to journal it. */
  onStart?: (pgid: number) => void;
}

// CSI and OSC escape sequences (colours, cursor movement, titles): meaningless in a file.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;
// The start of an escape sequence that has not ended yet (its rest is in the next chunk).
// eslint-disable-next-line no-control-regex
const ANSI_OPEN = /\u001b(?:\[[0-?]*[ -/]*|\][^\u0007\u001b]*\u001b?)?$/;
/** Longest unfinished escape sequence held back for the next chunk (an OSC 8 hyperlink can be long). */
const MAX_ESCAPE = 4096;

/**
 * One pipe's bytes to text: UTF-8 decoded across chunk boundaries (a character split between two
 * chunks arrives whole; invalid bytes become U+FFFD), ANSI escapes removed, also when split.
 */
class PipeText {
  private readonly decoder = new StringDecoder('utf8');
  private open = '';

  /** Text of the next chunk that can be passed on now. */
  write(chunk: Buffer): string {
    return this.strip(this.open + this.decoder.write(chunk), false);
  }

  /** The rest at end of stream (an unfinished escape sequence is dropped). */
  end(): string {
    return this.strip(this.open + this.decoder.end(), true);
  }

  private strip(text: string, last: boolean): string {
    this.open = '';
    const esc = text.lastIndexOf('\u001b');
    if (esc >= 0 && text.length - esc <= MAX_ESCAPE && ANSI_OPEN.test(text.slice(esc))) {
      if (!last) this.open = text.slice(esc);
      text = text.slice(0, esc);
    }
    return text.replace(ANSI, '');
  }
}

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
    if (pgid !== undefined) opts.onStart?.(pgid);
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

    // Decode, strip, redact, then keep: the cut only ever sees redacted text, so it cannot keep the
    // two ends of a password, and it cuts UTF-8 bytes on character boundaries.
    const window = new ByteWindow(maxBytes);
    const redacting = (opts.redactor ?? new Redactor()).stream();
    const pass = (text: string): void => {
      const safe = redacting.write(text);
      if (safe === '') return;
      window.push(safe);
      opts.onOutput?.(safe);
    };
    const pipes = { out: new PipeText(), err: new PipeText() };
    const flush = (): void => {
      pass(pipes.out.end());
      pass(pipes.err.end());
      const rest = redacting.end();
      if (rest !== '') {
        window.push(rest);
        opts.onOutput?.(rest);
      }
    };
    child.stdout.on('data', (b: Buffer) => pass(pipes.out.write(b)));
    child.stderr.on('data', (b: Buffer) => pass(pipes.err.write(b)));
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
      flush();
      const { head, tail, omitted } = window.result();
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
