/**
 * One cluster node in its own process, for kill -9 and rolling restarts: `<config.json>`.
 * Prints `started` once it consumes from the broker, `elected` / `deposed` as its leadership
 * changes, and `stopped` after a clean stop on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { CentralServer } from '../../server/central-server.js';
import type { ServerConfig } from '../../server/config/index.js';

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ServerConfig;
const server = new CentralServer(config, {
  dashboard: false,
  onLeadership: (leader) => console.log(leader ? 'elected' : 'deposed'),
});
process.once('SIGTERM', () => {
  void server.stop().then(() => {
    console.log('stopped');
    process.exit(0);
  });
});
await server.start();
console.log('started');
