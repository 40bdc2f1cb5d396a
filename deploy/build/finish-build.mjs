// Second step of `npm run build` (after tsc -p tsconfig.build.json): copies the files the
// compiled code reads at run time beside it, and gives each worker thread (the rule loader, the
// telemetry writer) an entry that loads the compiled worker (the source entries, `*-boot.mjs`,
// load the TypeScript through tsx, which the compiled build does not need or ship).
//
//   node deploy/build/finish-build.mjs [outDir]     (default dist)
import { cpSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const outDir = path.resolve(process.argv[2] ?? 'dist');
const roots = ['protocol', 'common', 'gateway', 'edge', 'server', 'simulators', 'bin'];
const skip = new Set(['.ts', '.md']);
// Source boot entry → the compiled module it starts.
const workerBoots = {
  'edge/engine/load-worker-boot.mjs': './load-worker.js',
  'server/store/sqlite-writer-boot.mjs': './sqlite-writer-thread.js',
};

function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const from = path.join(dir, name);
    if (statSync(from).isDirectory()) {
      copyAssets(from);
      continue;
    }
    if (skip.has(path.extname(name)) || from in workerBoots) continue;
    cpSync(from, path.join(outDir, from));
  }
}

if (!existsSync(outDir)) {
  process.stderr.write(
    `finish-build: '${outDir}' does not exist; run tsc -p tsconfig.build.json first\n`,
  );
  process.exit(2);
}
for (const root of roots) copyAssets(root);
for (const [boot, compiled] of Object.entries(workerBoots)) {
  writeFileSync(
    path.join(outDir, boot),
    `// Compiled build: the worker is plain JavaScript beside this file (deploy/build/finish-build.mjs).\nawait import('${compiled}');\n`,
  );
}
// ESM: the compiled .js files are modules, like the sources (package.json "type": "module").
writeFileSync(path.join(outDir, 'package.json'), '{ "type": "module" }\n');
