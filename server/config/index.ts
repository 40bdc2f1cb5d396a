export * from './cli.js';
export * from './schema.js';
export * from './server-config.js';
