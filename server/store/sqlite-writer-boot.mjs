// Entry of the telemetry writer thread (./sqlite-writer-thread.ts). Plain JavaScript so Node
// starts it under any runner (tsx, vitest); it loads the TypeScript through tsx, which is how
// every part of this product runs. The compiled build replaces this file with one that imports
// the compiled thread (deploy/build/finish-build.mjs).
import { tsImport } from 'tsx/esm/api';

await tsImport('./sqlite-writer-thread.ts', import.meta.url);
