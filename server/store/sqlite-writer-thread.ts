/**
 * The telemetry writer thread: one {@link SqliteTelemetryWriter} on the store's
 * own file, fed by the main thread's `ThreadWriteLane` (sqlite-write-lane.ts).
 * Requests are handled one at a time, in the order they were posted, so groups
 * commit in the order ingest queued them. It logs nothing itself: outcomes and
 * failures go back to the main thread, which logs them.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { WriterReply, WriterRequest, WriterThreadData } from './sqlite-write-lane.js';
import { SqliteTelemetryWriter } from './sqlite-writer.js';

const port = parentPort!;
const { path, synchronous, nice } = workerData as WriterThreadData;

// A lower CPU priority for this thread only (on Linux a nice value is per thread, and pid 0
// means the calling thread): where cores are scarce, the thread alarms arrive on goes first and
// telemetry catches up after; with a core to spare the writer runs at full speed anyway.
if (nice !== undefined) {
  try {
    setPriority(nice);
  } catch {
    // not permitted here: the writer competes at normal priority
  }
}

function post(reply: WriterReply): void {
  port.postMessage(reply);
}

let writer: SqliteTelemetryWriter;
try {
  writer = SqliteTelemetryWriter.open(path, synchronous ? { synchronous } : {});
} catch (err) {
  const error = err as Error;
  post({
    kind: 'open-failed',
    message: error.message,
    cause: error.cause instanceof Error ? error.cause.message : '',
  });
  process.exit(1);
}

port.on('message', (request: WriterRequest) => {
  try {
    switch (request.kind) {
      case 'commit':
        post({
          kind: 'committed',
          id: request.id,
          ...writer.commit(request.batches, request.receivedAt),
        });
        return;
      case 'prune':
        post({ kind: 'pruned', id: request.id, deleted: writer.prune(request.before) });
        return;
      case 'close':
        writer.close();
        port.close();
        return;
    }
  } catch (err) {
    // commit() reports failures per batch; this is prune failing, or a bug.
    post({ kind: 'request-failed', id: request.id, message: (err as Error).message });
  }
});
post({ kind: 'ready' });
