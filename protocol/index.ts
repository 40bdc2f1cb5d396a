export * from './envelope.js';
export * from './linkage.js';
export * from './payloads.js';
export * from './topics.js';
export * from './validate.js';
