/**
 * One server node in external mode, in its own process, for the kill -9 test:
 * `<broker url> <node id> <store path>`. Prints `started` once it consumes from the broker.
 */
import { CentralServer } from '../../server/central-server.js';
import { nodeConfig } from './harness.js';

const [url, nodeId, storePath] = process.argv.slice(2);
const server = new CentralServer(nodeConfig(url!, nodeId!, storePath!), { dashboard: false });
await server.start();
console.log('started');
