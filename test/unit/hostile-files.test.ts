// Hostile and clumsy files: Object-property keys, huge front matter, line separators and control characters in server text, escape sequences meant for the terminal.
/* eslint-disable no-control-regex -- control characters are what these tests are about */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkOptions, isOutput, parseRunbook, serializeRunbook, type Runbook } from '../../src/format';
import { parseFrontMatterYaml } from '../../src/format/front-matter';
import { blockingProblems, runnableCells } from '../../src/run/runner';
import { runCheck } from '../../src/cli/check';
import { runLint } from '../../src/cli/lint';
import { terminalText, terminalLines } from '../../src/cli/terminal-text';

const ROOT = path.join(__dirname, '../../..');
const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/runbook.js'), ...args], { cwd: ROOT, encoding: 'utf8' });

/** Every key of `Object.prototype`: `constructor`, `__proto__`, `toString`, `hasOwnProperty`, `__defineGetter__`… */
const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype);
// C0 and C1 controls, DEL, line and paragraph separators, NEL, bidi overrides: what a terminal or an editor obeys.
const CONTROL_TEXT = 'a\u2028b\u2029c\u0085d\u001b[2J\u001b]0;title\u0007e\rok\bf\u007fg\u009b31mh\u202ei\u0000j';

function tmp(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-hostile-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('hostile files', function () {
  this.timeout(60_000);

  describe('keys named like Object properties', () => {
    const options = JSON.stringify(Object.fromEntries(PROTO_KEYS.map((k) => [k, 1])));
    const record = JSON.stringify({ status: 'ok', ...Object.fromEntries(PROTO_KEYS.map((k) => [k, { [k]: 1 }])), error: Object.fromEntries(PROTO_KEYS.map((k) => [k, 1])) });
    const text = [
      '---',
      ...PROTO_KEYS.map((k) => `${k}: ${k}`),
      '---',
      '',
      '# hostile',
      '',
      '```sql ' + options,
      'select 1;',
      '```',
      '',
      `<!-- runbook:output ${record} -->`,
      '',
      '- [ ] one',
      '',
      `<!-- runbook:output ${record} -->`,
      '',
    ].join('\n');

    it('checks options with such keys as unknown options, without crashing', () => {
      for (const k of PROTO_KEYS) {
        const problems = checkOptions('sql', JSON.parse(`{"${k}":1}`) as Record<string, unknown>);
        assert.deepEqual(problems.map((p) => p.code), ['unknown-cell-option'], k);
        assert.match(problems[0].message, new RegExp(`unknown cell option "${k}"`));
      }
    });

    it('parses them in options, records and front matter, and writes the file back unchanged', () => {
      const rb = parseRunbook(text);
      assert.equal(serializeRunbook(rb), text);
      assert.equal(rb.problems.filter((p) => p.code === 'unknown-cell-option').length, PROTO_KEYS.length);
      assert.equal(rb.problems.filter((p) => p.severity === 'error').length, 0);
      const fm = rb.frontMatter!.data!;
      assert.equal(Object.getPrototypeOf(fm), Object.prototype);
      for (const k of PROTO_KEYS) assert.ok(Object.hasOwn(fm, k), `front matter key ${k} is its own`);
      assert.equal(({} as Record<string, unknown>).x, undefined);
      const sql = rb.cells.find((c) => c.kind === 'sql')!;
      assert.ok(Object.hasOwn(sql.options, '__proto__'));
      assert.ok(Object.hasOwn(sql.outputs[0].record, 'constructor'));
    });

    it('refuses to run a cell with such options, with a message instead of a crash', () => {
      const rb = parseRunbook(text);
      const problems = blockingProblems(rb, runnableCells(rb.cells));
      assert.equal(problems.filter((p) => p.code === 'unknown-cell-option').length, PROTO_KEYS.length);
    });

    it('`runbook check` and `runbook run --dry-run` report them and exit normally', () => {
      const file = tmp('proto.runbook', text);
      const check = cli('check', file);
      assert.equal(check.status, 0, check.stderr);
      assert.match(check.stderr, /unknown cell option "__proto__"/);
      assert.doesNotMatch(check.stderr, /Cannot read properties/);
      const dry = cli('run', '--dry-run', file);
      assert.doesNotMatch(dry.stderr, /Cannot read properties/);
      assert.match(dry.stdout, /would run 2 of 2 cells/);
    });
  });

  describe('journal entries', () => {
    it('tells an output that can be written back from one that would break the file', () => {
      assert.ok(isOutput({ record: { status: 'ok' } }));
      assert.ok(isOutput({ record: { status: 'ok', __proto__x: 1 }, body: 'x', bodyLang: 'text' }));
      assert.ok(isOutput(JSON.parse('{"record":{"status":"ok","__proto__":{"a":1}}}')));
      for (const bad of [null, 'x', [], { record: 'x' }, { record: [] }, { record: {} }, { record: { status: 1 } }, { record: { status: 'ok' }, body: { toString: 1 } }, { record: { status: 'ok' }, bodyLang: 'text\n<!-- runbook:output {"status":"ok"} -->' }, { record: { status: 'ok' }, bodyLang: 'a`b' }]) {
        assert.equal(isOutput(bad), false, JSON.stringify(bad));
      }
    });
  });

  describe('front matter', () => {
    it('keeps refusing duplicate keys, and says which one and where', () => {
      const rb = parseRunbook('---\ntitle: x\na: 1\nb:\n  c: 1\n  c: 2\n---\n\n# t\n');
      const p = rb.problems.find((x) => x.code === 'front-matter');
      assert.ok(p);
      assert.equal(p.line, 6);
      assert.match(p.message, /Map keys must be unique \("c" appears twice\)/);
      assert.equal(rb.frontMatter?.data, undefined);
      assert.equal(parseFrontMatterYaml('a: 1\nb: 1\n').ok, true);
      assert.equal(parseFrontMatterYaml('{a: 1, a: 2}').ok, false);
    });

    it('reads front matter in time linear in its keys (40,000 keys took 10 s and more)', () => {
      const fm = (n: number) => `---\n${Array.from({ length: n }, (_, i) => `key${i}: value ${i}`).join('\n')}\n---\n\n# t\n`;
      const time = (text: string): number => {
        let best = Infinity;
        for (let i = 0; i < 2; i++) {
          const t = process.hrtime.bigint();
          const rb = parseRunbook(text);
          best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e6);
          assert.equal(rb.problems.length, 0);
        }
        return best;
      };
      time(fm(1000)); // warm up
      const small = time(fm(5000));
      const large = time(fm(20_000));
      // Four times the keys: about four times the time when linear, sixteen when quadratic.
      assert.ok(large / small < 9, `5,000 keys ${small.toFixed(0)} ms, 20,000 keys ${large.toFixed(0)} ms`);
    });
  });

  describe('line separators and control characters in server text', () => {
    const rb = (): Runbook => ({
      cells: [{ kind: 'sql', language: 'sql', source: 'select 1', options: { name: CONTROL_TEXT }, outputs: [{ record: { status: 'error', error: { message: CONTROL_TEXT, detail: CONTROL_TEXT }, statements: [{ notices: [CONTROL_TEXT] }] }, body: CONTROL_TEXT.replace(/\r/g, '') }] }],
      trailing: '',
      eol: '\n',
      problems: [],
    });

    it('writes the record on one line that reads back to the same text', () => {
      const text = serializeRunbook(rb());
      const line = text.split('\n').find((l) => l.startsWith('<!-- runbook:output'))!;
      assert.doesNotMatch(line, /[\u2028\u2029\u0085\u001b\u009b\u202e\u007f\r]/, 'no raw separator or control in the record line');
      const back = parseRunbook(text);
      assert.deepEqual(back.problems.map((p) => p.code), ['nul-byte'], 'only the NUL of the body is worth a warning');
      assert.equal(back.cells[0].outputs[0].record.error?.message, CONTROL_TEXT);
      assert.equal(back.cells[0].outputs[0].body, CONTROL_TEXT.replace(/\r/g, ''));
      assert.equal(back.cells[0].options.name, CONTROL_TEXT);
      assert.equal(serializeRunbook(back), text);
    });

    it('reads a record line holding a raw U+2028 or U+2029 (as older versions wrote it)', () => {
      const text = '```sql\nselect 1\n```\n\n<!-- runbook:output {"status":"error","error":{"message":"a\u2028b\u2029c"}} -->\n';
      const back = parseRunbook(text);
      assert.deepEqual(back.problems, []);
      assert.equal(back.cells[0].outputs[0].record.error?.message, 'a\u2028b\u2029c');
      assert.equal(serializeRunbook(back), text);
    });
  });

  describe('what reaches the terminal', () => {
    it('escapes every control character, keeping text and (when asked) line breaks', () => {
      const shown = terminalText(CONTROL_TEXT);
      assert.doesNotMatch(shown, /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
      assert.equal(shown, 'a\\u2028b\\u2029c\\u0085d\\u001b[2J\\u001b]0;title\\u0007e\\rok\\bf\\u007fg\\u009b31mh\\u202ei\\u0000j');
      assert.equal(terminalText('plain text\twith tab'), 'plain text\twith tab');
      assert.equal(terminalText('two\nlines'), 'two\\nlines');
      assert.equal(terminalLines('ERROR:  x\r\nDETAIL:  \u001b[1Ay', '  '), 'ERROR:  x\n  DETAIL:  \\u001b[1Ay');
    });

    it('`runbook check` prints escapes, not the control characters of the file; the file keeps them', () => {
      const evil = '\u001b[2K\r[1/1] #1 (sql)  ok\u001b]0;pwned\u0007';
      const text = `# t\n\n\`\`\`sql {"${evil.replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}":1}\nselect 1;\n\`\`\`\n`;
      const file = tmp(`evil\u001b[31m.runbook`, text);
      const lines: string[] = [];
      const status = runCheck([file], {}, (s) => lines.push(s), (s) => lines.push(s));
      assert.equal(status, 0);
      const printed = lines.join('\n');
      assert.doesNotMatch(printed, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, printed);
      assert.match(printed, /\\u001b\[2K\\r\[1\/1\] #1 \(sql\) {2}ok/);
      assert.equal(fs.readFileSync(file, 'utf8'), text, 'check changes nothing in the file');
      const viaCli = cli('check', file);
      assert.doesNotMatch(viaCli.stdout + viaCli.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    });

    it('`runbook lint` prints escapes and no password, and keeps the values in JSON', async () => {
      const sqlText = "CREATE ROLE app LOGIN PASSWORD 'hunter2';\nALTER TABLE \"t\u001b[2J\u001b[1;1H ok \u2028\" ALTER COLUMN c TYPE bigint;";
      const file = tmp('lint.runbook', `# t\n\n\`\`\`sql\n${sqlText}\n\`\`\`\n`);
      let text = '';
      const code = await runLint([file], {}, { out: (x) => (text += x), err: (x) => (text += x) });
      assert.equal(code, 1, text);
      assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028]/, text);
      assert.match(text, /\\u001b\[2J/);
      assert.doesNotMatch(text, /hunter2/);
      let json = '';
      await runLint([file], { format: 'json' }, { out: (x) => (json += x), err: (x) => (json += x) });
      assert.doesNotMatch(json, /[\u2028\u001b]/);
      assert.doesNotMatch(json, /hunter2/);
      const parsed = JSON.parse(json) as { findings?: { sql?: string }[] } | { sql?: string }[];
      const list = Array.isArray(parsed) ? parsed : (parsed.findings ?? []);
      assert.ok(list.some((f) => f.sql?.includes('\u001b[2J')), 'JSON keeps the real text');
    });

    it('`runbook lint --min-severity constructor` is refused, not taken for a severity', async () => {
      const file = tmp('x.sql', 'ALTER TABLE t ALTER COLUMN c TYPE bigint;\n');
      let err = '';
      const code = await runLint([file], { minSeverity: 'constructor' }, { out: () => undefined, err: (x) => (err += x) });
      assert.equal(code, 2);
      assert.match(err, /unknown --min-severity constructor/);
    });

    it('`runbook check` does not copy a password a file holds into its messages', () => {
      const file = tmp('pw.runbook', '```sql\nselect 1\n```\n\n<!-- runbook:output {"x":PGPASSWORD=hunter2} -->\n');
      const lines: string[] = [];
      runCheck([file], {}, (s) => lines.push(s), (s) => lines.push(s));
      assert.match(lines.join('\n'), /not valid JSON/);
      assert.doesNotMatch(lines.join('\n'), /hunter2/);
    });
  });
});
