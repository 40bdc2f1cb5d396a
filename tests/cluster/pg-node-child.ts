/**
 * One cluster node in its own process, for kill -9 and rolling restarts: `<config.json>`.
 * Prints `started <mqtt port>` once it consumes from the broker (port 0 in external mode), `elected` / `deposed` as its leadership
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
// The port: the cluster bench runs its single-process server (embedded broker) through this too.
console.log(`started ${server.mqttPort}`);
