/**
 * Compatibility entry: the engine now lives in edge/engine/ (one part per file).
 * Import from './engine/index.js' (or edge/index.ts); this file only keeps older
 * imports working until their owners move them.
 */
export * from './engine/index.js';
