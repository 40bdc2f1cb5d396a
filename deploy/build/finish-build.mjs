// Second step of `npm run build` (after tsc -p tsconfig.build.json): copies the files the
// compiled code reads at run time beside it, and gives the rule-loading worker an entry that
// loads the compiled worker (the source entry, edge/engine/load-worker-boot.mjs, loads the
// TypeScript through tsx, which the compiled build does not need or ship).
//
//   node deploy/build/finish-build.mjs [outDir]     (default dist)
import { cpSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const outDir = path.resolve(process.argv[2] ?? 'dist');
const roots = ['protocol', 'common', 'gateway', 'edge', 'server', 'simulators', 'bin'];
const skip = new Set(['.ts', '.md']);

function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const from = path.join(dir, name);
    if (statSync(from).isDirectory()) {
      copyAssets(from);
      continue;
    }
    if (skip.has(path.extname(name)) || name === 'load-worker-boot.mjs') continue;
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
writeFileSync(
  path.join(outDir, 'edge/engine/load-worker-boot.mjs'),
  "// Compiled build: the worker is plain JavaScript beside this file (deploy/build/finish-build.mjs).\nawait import('./load-worker.js');\n",
);
// ESM: the compiled .js files are modules, like the sources (package.json "type": "module").
writeFileSync(path.join(outDir, 'package.json'), '{ "type": "module" }\n');
