/**
 * A central server process for the crash test: `<port> <store> <okBatches>`.
 * After `okBatches` telemetry commits, the store stops committing: each later
 * batch hangs (its PUBACK already went out, aedes sends it before ingest) and
 * the process prints `blocked <seq>`, waiting to be killed with kill -9.
 */
import type { TelemetryBatch } from '../../protocol/index.js';
import { startServer } from './support.js';

const [port, storePath, okBatches] = process.argv.slice(2);
const server = await startServer(storePath!, Number(port));
const store = server.store;
const write = store.writeBatch.bind(store);
let committed = 0;
store.writeBatch = async (batch: TelemetryBatch) => {
  if (committed >= Number(okBatches)) {
    console.log(`blocked ${batch.seq}`);
    return new Promise<void>(() => {});
  }
  await write(batch);
  committed++;
};
console.log('listening');
