/**
 * One server node of the cluster benchmark in its own process (spawned by cluster-support.ts),
 * so that nodes use the cores as separate machines would and can be killed with SIGKILL:
 * `<config.json>`. Prints `started <mqttPort>` once it consumes from the broker (the port is 0
 * in external mode), `elected` / `deposed` as its leadership changes, and `stopped` after a
 * clean stop on SIGTERM. Its stdout goes to the benchmark, never to the metric lines.
 */
import { readFileSync } from 'node:fs';
import { CentralServer } from '../server/central-server.js';
import type { ServerConfig } from '../server/config/index.js';

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
console.log(`started ${server.mqttPort}`);
