#!/usr/bin/env node
// Checks the grammars in syntaxes/ with VS Code's own TextMate engine (vscode-textmate, from the installed VS Code server): SQL and shell embedded in their fences, output records marked, PostgreSQL cells tokenized as SQL.
// Usage: node test/host/grammar-check.mjs [HOST_DIR]   (run.mjs calls it before the extension-host suite)
/* global process, console */ // Node globals: the ESLint config sets none for .mjs files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { vscodeDir as serverDir } from './tooling/vscode-server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const vscodeDir = serverDir(path.resolve(root, process.argv[2] || process.env.VSCODE_HOST_DIR || '.vscode-host'));
const req = createRequire(path.join(vscodeDir, 'package.json'));
const tm = req('vscode-textmate');
const onig = req('vscode-oniguruma');
const builtin = (ext, file) => path.join(vscodeDir, 'extensions', ext, 'syntaxes', file);
const grammars = {
  'text.runbook': path.join(root, 'syntaxes/runbook.tmLanguage.json'),
  'text.runbook.checklist': path.join(root, 'syntaxes/checklist.tmLanguage.json'),
  'source.sql.postgres': path.join(root, 'syntaxes/postgres.tmLanguage.json'),
  'source.sql': builtin('sql', 'sql.tmLanguage.json'),
  'source.shell': builtin('shellscript', 'shell-unix-bash.tmLanguage.json'),
  'text.html.markdown': builtin('markdown-basics', 'markdown.tmLanguage.json'),
  'source.json': builtin('json', 'JSON.tmLanguage.json'),
};

await onig.loadWASM(fs.readFileSync(req.resolve('vscode-oniguruma/release/onig.wasm')).buffer);
const registry = new tm.Registry({
  onigLib: Promise.resolve({ createOnigScanner: (s) => new onig.OnigScanner(s), createOnigString: (s) => new onig.OnigString(s) }),
  loadGrammar: async (scope) => (grammars[scope] && fs.existsSync(grammars[scope]) ? tm.parseRawGrammar(fs.readFileSync(grammars[scope], 'utf8'), grammars[scope]) : null),
});

/** Scopes of the token at the first occurrence of `needle` on each line, per line. */
async function scopesAt(scope, text, needles) {
  const g = await registry.loadGrammar(scope);
  let stack = tm.INITIAL;
  const out = {};
  for (const line of text.split('\n')) {
    const r = g.tokenizeLine(line, stack);
    stack = r.ruleStack;
    for (const n of needles) {
      const at = line.indexOf(n);
      if (at < 0 || out[n]) continue;
      out[n] = r.tokens.find((t) => t.startIndex <= at && at < t.endIndex).scopes;
    }
  }
  return out;
}

const sample = [
  '---', 'title: Check', '---', '', '# Heading', '',
  '````sql {"name":"q"}', "SELECT '```' AS fence;", '````', '',
  '<!-- runbook:output {"status":"ok"} -->', '```text', ' fence', '```', '',
  '```bash', 'echo shell_word', '```', '', 'After the cells.',
].join('\n');
const s = await scopesAt('text.runbook', sample, ['SELECT', "'```'", 'runbook:output', 'echo', 'After', '"name"']);
assert.ok(s.SELECT.includes('meta.embedded.block.sql'), `SELECT is embedded SQL: ${s.SELECT}`);
assert.ok(s.SELECT.some((x) => x.startsWith('keyword')), `SELECT is a SQL keyword: ${s.SELECT}`);
assert.ok(s["'```'"].includes('meta.embedded.block.sql'), 'a shorter fence inside a longer one stays SQL');
assert.ok(s['runbook:output'].includes('keyword.other.output-record.runbook'), `output records are marked: ${s['runbook:output']}`);
assert.ok(s.echo.includes('meta.embedded.block.shellscript'), `shell cells embed shell: ${s.echo}`);
assert.ok(!s.After.some((x) => x.includes('embedded')), `text after the cells is Markdown again: ${s.After}`);
assert.ok(s['"name"'].includes('meta.cell-options.runbook'), `cell options are marked: ${s['"name"']}`);

// SQL cells are in the postgres language (named PostgreSQL); its grammar is VS Code's SQL grammar under its own scope.
const pg = await scopesAt('source.sql.postgres', "SELECT 'x' AS y -- note", ['SELECT', "'x'", '-- note']);
assert.ok(pg.SELECT[0] === 'source.sql.postgres' && pg.SELECT.some((x) => x.startsWith('keyword')), `SELECT is a keyword in a PostgreSQL cell: ${pg.SELECT}`);
assert.ok(pg["'x'"].some((x) => x.startsWith('string')), `a string: ${pg["'x'"]}`);
assert.ok(pg['-- note'].some((x) => x.startsWith('comment')), `a comment: ${pg['-- note']}`);

const c = await scopesAt('text.runbook.checklist', '- [x] done\n- [ ] open', ['[x]', '[ ]']);
assert.ok(c['[x]'].includes('markup.inserted.checklist.done.runbook'));
assert.ok(c['[ ]'].includes('markup.changed.checklist.open.runbook'));
console.log('grammar-check: runbook, PostgreSQL and checklist grammars tokenize as expected');
