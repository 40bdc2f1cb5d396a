/**
 * The gateway under test of the e2e benchmark, in its own process as deployed
 * (an edge box, apart from the field devices and the emergency centre): its
 * synchronous alarm fsync then blocks only its own event loop, not the
 * simulators, the receivers and the in-memory baseline in the bench process.
 * Its raised alarms' edge hops (bench/e2e-trace.ts observeGateway) and its GC
 * pauses go back to the bench over the IPC channel, in wall-clock ms.
 *
 * Forked by E2eGatewayProcess (bench/e2e-plant.ts). Messages:
 *   bench → child: {type:'start', yaml, file, outboxPath, pkiDir}, {type:'stop'}
 *   child → bench: {type:'ready', enterpriseId}, {type:'hop', ...EdgeHop},
 *                  {type:'gc', ...GcPause}, {type:'failed', error}
 */
import path from 'node:path';
import { parseGatewayConfig } from '../gateway/config/index.js';
import { Gateway } from '../gateway/gateway.js';
import { type GcPause, GcProbe } from './e2e-stalls.js';
import { type EdgeHop, observeGateway } from './e2e-trace.js';

export interface GatewayStart {
  type: 'start';
  /** The gateway config (YAML) and the file name it is reported under. */
  yaml: string;
  file: string;
  outboxPath: string;
  pkiDir: string;
}

export type GatewayMessage =
  | { type: 'ready'; enterpriseId: string }
  | ({ type: 'hop' } & EdgeHop)
  | ({ type: 'gc' } & GcPause)
  | { type: 'failed'; error: string };

const send = (m: GatewayMessage) => process.send?.(m);
let gateway: Gateway | null = null;
const gc = new GcProbe('gateway', (pause) => send({ type: 'gc', ...pause }));
let stopping = false;

async function start(m: GatewayStart): Promise<void> {
  const config = parseGatewayConfig(m.yaml, m.file, {
    env: {},
    baseDir: path.dirname(m.file),
  });
  gateway = new Gateway(config, {
    outboxPath: m.outboxPath,
    opcuaPkiDir: m.pkiDir,
    software: 'hazardwatch-bench',
  });
  observeGateway(gateway, (hop) => send({ type: 'hop', ...hop }));
  gc.start();
  await gateway.start();
  send({ type: 'ready', enterpriseId: config.gateway.enterpriseId });
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  gc.stop();
  try {
    await gateway?.stop();
  } finally {
    if (process.connected) process.disconnect();
    // Whatever a library left scheduled must not keep the process past its stop.
    setTimeout(() => process.exit(0), 2_000).unref();
  }
}

process.on('message', (m: GatewayStart | { type: 'stop' }) => {
  if (m.type === 'start') {
    start(m).catch((err: unknown) => {
      send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
    });
  } else if (m.type === 'stop') {
    void stop();
  }
});
// The bench died: do not outlive it.
process.on('disconnect', () => void stop());
