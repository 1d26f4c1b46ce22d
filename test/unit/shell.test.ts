// The shell engine runs real bash processes: exit codes, merged output, timeouts, cancel of the whole process group.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { runShell } from '../../src/engines/shell';

const opts = { cwd: os.tmpdir(), env: process.env };

describe('shell engine', function () {
  this.timeout(20_000);

  it('records exit code 0 and the output in order, stderr merged', async () => {
    const r = await runShell('echo one\necho two >&2\necho three', opts);
    assert.equal(r.status, 'ok');
    assert.equal(r.exit, 0);
    assert.equal(r.output, 'one\ntwo\nthree');
  });

  it('fails at the first failing command, pipelines included', async () => {
    const r = await runShell('false | cat\necho not reached', opts);
    assert.equal(r.status, 'error');
    assert.equal(r.exit, 1);
    assert.equal(r.output, 'runbook: line 1 failed with exit status 1', 'the failing line is named');
  });

  it('runs in the given folder with the given environment', async () => {
    const r = await runShell('pwd; echo "$RUNBOOK_TEST_VAR"', { cwd: '/', env: { ...process.env, RUNBOOK_TEST_VAR: 'x1' } });
    assert.equal(r.output, '/\nx1');
  });

  it('removes ANSI colour escapes', async () => {
    const r = await runShell("printf '\\033[31mred\\033[0m\\n'", opts);
    assert.equal(r.output, 'red');
  });

  it('kills the whole process group on timeout, background children included', async () => {
    const marker = `runbook-shell-timeout-${process.pid}`;
    const r = await runShell(`(exec -a ${marker} sleep 300) &\nsleep 300`, { ...opts, timeoutMs: 300, killGraceMs: 500 });
    assert.equal(r.status, 'error');
    assert.equal(r.reason, 'timeout');
    assert.equal(r.signal, 'SIGTERM');
    await new Promise((res) => setTimeout(res, 700));
    assert.notEqual(spawnSync('pgrep', ['-f', marker]).status, 0, 'the background child must be gone');
  });

  it('cancels through an AbortSignal', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const r = await runShell('echo started; sleep 300', { ...opts, signal: ac.signal });
    assert.equal(r.status, 'cancelled');
    assert.equal(r.output, 'started');
  });

  it('keeps the head and tail of a huge output and counts what it dropped', async () => {
    const r = await runShell('seq 1 200000', { ...opts, maxBytes: 1000 });
    assert.ok(r.omittedBytes > 1_000_000);
    assert.match(r.output, /^1\n2\n3\n[\s\S]*bytes of output not kept[\s\S]*\n200000$/);
  });
});
