// Shell cell output as it crosses pipe chunks: characters, escape sequences and passwords split in two arrive whole, and the 1 MiB cut keeps valid UTF-8.
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import { runShell } from '../../src/engines/shell';
import { redact, Redactor } from '../../src/connections/redact';
import { decodeUtf8Lossless, encodeUtf8Lossless } from '../../src/format';

const opts = { cwd: os.tmpdir(), env: process.env };

/** True when `s` holds no lone surrogate (every character encodes to UTF-8 and back). */
function wellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

describe('shell output across pipe chunks', function () {
  this.timeout(30_000);

  it('decodes a character whose bytes arrive in two writes', async () => {
    // € is E2 82 AC: the first two bytes and the last reach the pipe 200 ms apart, in two chunks.
    const r = await runShell("printf '\\xe2\\x82'; sleep 0.2; printf '\\xac and \\xf0\\x9f'; sleep 0.2; printf '\\x98\\x80\\n'", opts);
    assert.equal(r.output, '€ and 😀');
  });

  it('removes an ANSI escape sequence split across two writes', async () => {
    const r = await runShell("printf '\\033[3'; sleep 0.2; printf '1mred\\033[0m\\n'", opts);
    assert.equal(r.output, 'red');
  });

  it('cuts a huge output on character boundaries: valid UTF-8, within maxBytes', async () => {
    // 💀 is U+1F480, the surrogate pair D83D DC80: a cut between the two halves leaves a lone U+DC80,
    // which the file encoder writes back as the invalid byte 0x80.
    for (const maxBytes of [1001, 1002, 1003, 4099]) {
      const r = await runShell("for i in $(seq 1 3000); do printf 'é💀日'; done; echo", { ...opts, maxBytes });
      assert.ok(r.omittedBytes > 0);
      const [head, tail] = r.output.split(/\n… \d+ bytes of output not kept …\n/);
      assert.ok(wellFormed(head) && wellFormed(tail), `lone surrogate at the cut (maxBytes ${maxBytes})`);
      assert.ok(!r.output.includes('\uFFFD'), 'no replacement character');
      assert.ok(Buffer.byteLength(head) + Buffer.byteLength(tail) <= maxBytes, 'the kept bytes fit maxBytes');
      // The kept text (its final line break dropped, as for every body) and the omitted bytes add up to the output.
      assert.equal(Buffer.byteLength(head) + Buffer.byteLength(tail) + r.omittedBytes, 3000 * Buffer.byteLength('é💀日'));
      const bytes = encodeUtf8Lossless(r.output);
      assert.equal(decodeUtf8Lossless(bytes).invalidOffsets.length, 0, 'the file gets valid UTF-8');
    }
  });

  it('prints 200,000 lines and keeps them all when they fit', async () => {
    const r = await runShell('seq 1 200000', { ...opts, maxBytes: 16 * 1024 * 1024 });
    assert.equal(r.status, 'ok');
    assert.equal(r.omittedBytes, 0);
    const lines = r.output.split('\n');
    assert.equal(lines.length, 200_000);
    assert.equal(lines[199_999], '200000');
  });
});

describe('shell output redaction', function () {
  this.timeout(30_000);
  const secret = 'S3cr3tqX9pw';

  it('redacts before the head/tail cut: no part of a password survives around it', async () => {
    // Unredacted, each output is 102 bytes and 100 are kept (50 head, 50 tail): bytes 50 and 51 are
    // dropped, in the middle of the password, so "S3cr3" would end the head and "X9pw" start the tail,
    // and redacting after the cut (as the runner also does) would find neither.
    const a = (n: number): string => `printf '%${n}s' '' | tr ' ' a`;
    const b = "printf '%45s\\n' '' | tr ' ' b";
    const literal = await runShell(`${a(45)}; printf '${secret}'; ${b}`, { ...opts, maxBytes: 100, redactor: new Redactor([secret]) });
    const pattern = await runShell(`${a(34)}; printf 'PGPASSWORD=${secret}'; ${b}`, { ...opts, maxBytes: 100 });
    for (const r of [literal, pattern]) {
      const written = redact(r.output, [secret]);
      for (const piece of ['S3cr3', 'X9pw']) assert.ok(!written.includes(piece), `"${piece}" kept: ${JSON.stringify(written)}`);
    }
  });

  it('redacts a password split across two chunks of live output', async () => {
    const chunks: string[] = [];
    const r = await runShell(`printf 'pw: ${secret.slice(0, 6)}'; sleep 0.3; printf '${secret.slice(6)} done\\n'; echo next`, {
      ...opts,
      redactor: new Redactor([secret]),
      onOutput: (c) => chunks.push(c),
    });
    assert.equal(chunks.join(''), 'pw: *** done\nnext\n');
    for (const c of chunks) assert.ok(!c.includes('S3cr') && !c.includes('qX9pw'), `chunk ${JSON.stringify(c)}`);
    assert.equal(r.output, 'pw: *** done\nnext');
  });

  it('redacts the patterns in live output even with no secret given', async () => {
    const chunks: string[] = [];
    await runShell("printf 'export PGPASSWORD=hunt'; sleep 0.2; printf 'er2\\n'", { ...opts, onOutput: (c) => chunks.push(c) });
    assert.equal(chunks.join(''), 'export PGPASSWORD=***\n');
  });
});
