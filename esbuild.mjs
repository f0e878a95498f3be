// Bundles the CLI, the demo upstream and the VS Code extension into dist/, and the dashboard
// page script into media/.
// Type checking is separate (`npm run check`): esbuild only strips types.
// `--if-stale` (npm start) builds only when a file the last build read, or this script or
// package.json, changed since; the last build's inputs come from esbuild's own metafile.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const ifStale = process.argv.includes('--if-stale');
const buildRecord = 'dist/.build-inputs.json';

/** Whether the last build was made the same way and nothing it read (or would write) changed since. */
function isCurrent() {
  if (!existsSync(buildRecord)) return false;
  const record = JSON.parse(readFileSync(buildRecord, 'utf8'));
  if (record.production !== production) return false;
  const builtAt = statSync(buildRecord).mtimeMs;
  if (!record.outputs.every((file) => existsSync(file))) return false;
  return [...record.inputs, 'esbuild.mjs', 'package.json', 'package-lock.json'].every((file) => existsSync(file) && statSync(file).mtimeMs <= builtAt);
}

if (ifStale && isCurrent()) {
  console.error('dist/ is current: not rebuilding (npm run build rebuilds)');
  process.exit(0);
}

/** Prints problems in the shape VS Code's esbuild problem matcher reads. */
const problemReporter = {
  name: 'problem-reporter',
  setup(build) {
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // jsonc-parser's UMD build hides its requires from esbuild; its ESM build bundles cleanly.
  mainFields: ['module', 'main'],
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  metafile: true,
  plugins: [problemReporter],
};

const entries = [
  { entryPoints: { cli: 'src/cli/main.ts' }, banner: { js: '#!/usr/bin/env node' } },
  { entryPoints: { 'demo-server': 'src/demo/demoServer.ts' } },
  // The extension host provides `vscode`.
  { entryPoints: { extension: 'src/vscode/extension.ts' }, external: ['vscode'] },
  // The dashboard's page script: a browser bundle, served from media/ (the webview's only root).
  { entryPoints: { dashboard: 'src/webview/dashboard.ts' }, platform: 'browser', format: 'iife', target: 'es2022', outdir: 'media' },
];

const contexts = await Promise.all(
  entries.map((entry) => esbuild.context({ ...common, outdir: 'dist', ...entry })),
);
if (watch) {
  await Promise.all(contexts.map((ctx) => ctx.watch()));
} else {
  const results = await Promise.all(contexts.map((ctx) => ctx.rebuild()));
  await Promise.all(contexts.map((ctx) => ctx.dispose()));
  // The hub config's JSON schema (package.json jsonValidation), generated from the loader's zod schema.
  writeFileSync('dist/hub-config.schema.json', execFileSync(process.execPath, ['dist/cli.js', 'schema']));
  // Written last, so an interrupted build is never taken for a current one.
  const inputs = [...new Set(results.flatMap((result) => Object.keys(result.metafile.inputs)))];
  const outputs = [...results.flatMap((result) => Object.keys(result.metafile.outputs)), 'dist/hub-config.schema.json'];
  writeFileSync(buildRecord, JSON.stringify({ production, inputs, outputs }));
}
