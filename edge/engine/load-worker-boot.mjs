// Entry of the rule-loading worker thread (./load-worker.ts). Plain JavaScript so Node
// starts it under any runner (tsx, vitest); it loads the TypeScript worker through tsx,
// which is how every part of this product runs.
import { tsImport } from 'tsx/esm/api';

await tsImport('./load-worker.ts', import.meta.url);
