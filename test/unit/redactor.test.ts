// The run's one redaction point: its own passwords in every form and field, across chunk boundaries, and URIs whose passwords hold awkward characters.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { Redactor, stripUriPassword } from '../../src/connections/redact';
import { parseConnectionUri } from '../../src/connections/uri';
import { ByteWindow } from '../../src/engines/byte-window';

const SECRET = 'S3cr3t qX9/pw?#@:';

describe('Redactor', () => {
  it('removes the run’s password in the forms it takes in output', () => {
    const r = new Redactor([SECRET]);
    const forms = [
      SECRET,
      encodeURIComponent(SECRET),
      JSON.stringify(SECRET).slice(1, -1),
      SECRET.replace(/'/g, "''"),
      SECRET.replace(/[\\:]/g, '\\$&'),
    ];
    for (const f of forms) assert.equal(r.redact(`before ${f} after`), 'before *** after', f);
    const q = new Redactor([`it's "q"\\x`]);
    assert.equal(q.redact(`{"v":"it's \\"q\\"\\\\x"} and 'it''s "q"\\x'`), `{"v":"***"} and '***'`);
  });

  it('redacts every string of a record, deep: messages, notices, details, hints, items, keys', () => {
    const r = new Redactor();
    r.addSecret(SECRET);
    const record = {
      status: 'error',
      ms: 12,
      statements: [{ tag: 'SELECT 1', notices: [`NOTICE: the password is ${SECRET}`], rows: 1 }],
      error: { message: `invalid input syntax for type integer: "postgres://app:${SECRET}@db/x"`, detail: `d ${SECRET}`, hint: `h ${SECRET}`, sqlstate: '22P02' },
      [`key ${SECRET}`]: true,
      items: [{ text: SECRET, by: 'x', at: 'y' }],
    };
    const out = r.redactRecord(record);
    const json = JSON.stringify(out);
    assert.ok(!json.includes('S3cr3t') && !json.includes('qX9'), json);
    assert.equal(out.ms, 12);
    assert.equal(out.statements[0].rows, 1);
    assert.equal(out.error.sqlstate, '22P02');
    assert.notEqual(out, record, 'a copy');
    assert.ok(JSON.stringify(record).includes('S3cr3t'), 'the input is left alone');
  });

  it('keeps an own "__proto__" key an own key, and pollutes nothing', () => {
    const parsed = JSON.parse('{"status":"ok","__proto__":{"polluted":"S3cr3t qX9/pw?#@:"},"constructor":{"prototype":1}}') as Record<string, unknown>;
    const out = new Redactor([SECRET]).redactValue(parsed);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.keys(out), ['status', '__proto__', 'constructor']);
    assert.equal(JSON.stringify(out), '{"status":"ok","__proto__":{"polluted":"***"},"constructor":{"prototype":1}}');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('learns the password of a connection URI as written and decoded', () => {
    for (const uri of [
      'postgresql://app:S3cr3t%20qX9%2Fpw@db/x',
      'postgresql://app:S3cr3t qX9%2Fpw@db/x',
      'postgresql://app:S3cr3t qX9/pw@db/x',
    ]) {
      const r = new Redactor();
      r.addConnectionText(uri);
      const text = `x S3cr3t qX9/pw y S3cr3t%20qX9%2Fpw z`;
      assert.equal(r.redact(text), 'x *** y *** z', uri);
    }
    const none = new Redactor();
    none.addConnectionText('prod-main');
    assert.deepEqual(none.secrets, []);
  });

  it('streams: the pieces add up to the whole output redacted, for any chunking', () => {
    const fragments = ['S3cr3t qX9/pw?#@:', 'S3cr3t', ' qX9', '/pw?#@:', 'PGPASSWORD=', "'a b'", '"', 'postgres://app:', 'hunter2', '@db/x', ' ', '\n', 'é', '😀', 'text', '\r'];
    const text = fc.array(fc.constantFrom(...fragments), { maxLength: 80 }).map((xs) => xs.join(''));
    fc.assert(
      fc.property(text, fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }), (t, sizes) => {
        const r = new Redactor([SECRET]);
        const s = r.stream();
        let out = '';
        let i = 0;
        for (let k = 0; i < t.length; k++) {
          const n = sizes[k % sizes.length];
          out += s.write(t.slice(i, i + n));
          i += n;
        }
        out += s.end();
        assert.equal(out, r.redact(t));
      }),
      { numRuns: 3000 },
    );
  });

  it('streams a long line without line breaks, holding back only what a match can still need', () => {
    const r = new Redactor([SECRET]);
    const s = r.stream();
    const text = `${'x'.repeat(9000)}${SECRET}${'y'.repeat(9000)}PGPASSWORD=hunter2${'z'.repeat(5000)}`;
    let out = '';
    let maxHeld = 0;
    for (let i = 0; i < text.length; i += 7) {
      out += s.write(text.slice(i, i + 7));
      const given = Math.min(text.length, i + 7);
      // Redaction shortens the text by a few characters, so this slightly overstates what is held.
      maxHeld = Math.max(maxHeld, given - out.length);
    }
    out += s.end();
    assert.ok(!out.includes('S3cr3t') && !out.includes('hunter2'));
    assert.equal(out, r.redact(text));
    assert.ok(maxHeld < 6000, `held ${maxHeld} characters`);
  });
});

describe('connection URIs whose password holds awkward characters', () => {
  const passwords = ['pa QZ', 'pa/QZ', 'pa?QZ', 'pa#QZ', 'p@QZ', 'pa:QZ', 'pa%QZ', 'pa QZ/x?y#z@w'];

  it('never shows the password in the display name', () => {
    for (const pw of passwords) {
      const shown = stripUriPassword(`postgresql://app:${pw}@db.internal:5432/prod?sslmode=require`);
      assert.ok(!shown.includes('QZ'), `${pw} → ${shown}`);
      assert.match(shown, /^postgresql:\/\/app@/);
    }
    assert.equal(stripUriPassword('postgresql://app:pa ss@db.internal:5432/prod?sslmode=require'), 'postgresql://app@db.internal:5432/prod?sslmode=require');
  });

  it('parses the password libpq would read, or refuses without showing it', () => {
    for (const pw of passwords) {
      const uri = `postgresql://app:${pw}@db.internal:5432/prod`;
      try {
        const k = parseConnectionUri(uri);
        assert.equal(k.password, pw, uri);
        assert.equal(k.host, 'db.internal');
        assert.equal(k.user, 'app');
      } catch (e) {
        const message = (e as Error).message;
        assert.ok(!message.includes('QZ'), `${uri}: ${message}`);
      }
    }
    // An unsupported parameter after a password with "?": the parameter is the real one, and the password is not shown.
    assert.throws(() => parseConnectionUri('postgresql://app:pa?QZ@db/x?bogus=1'), (e: Error) => /"bogus"/.test(e.message) && !e.message.includes('QZ'));
    assert.throws(() => parseConnectionUri('postgresql://app:pa/QZ?x@db/x'), (e: Error) => !e.message.includes('QZ') && /%2F/.test(e.message));
  });
});

describe('ByteWindow', () => {
  const wellFormed = (s: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

  it('keeps head and tail on character boundaries, within the byte limit, whatever the pieces', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 30 }), { maxLength: 30 }), fc.integer({ min: 0, max: 200 }), (pieces, maxBytes) => {
        const w = new ByteWindow(maxBytes);
        for (const p of pieces) w.push(p);
        const { head, tail, omitted } = w.result();
        const whole = pieces.join('');
        const total = Buffer.byteLength(whole);
        assert.ok(wellFormed(head) && wellFormed(tail));
        assert.ok(Buffer.byteLength(head) + Buffer.byteLength(tail) <= maxBytes);
        assert.equal(Buffer.byteLength(head) + Buffer.byteLength(tail) + omitted, total);
        assert.ok(whole.startsWith(head) && whole.endsWith(tail));
        if (total <= maxBytes) assert.equal(head + tail, whole);
      }),
      { numRuns: 3000 },
    );
  });
});
