/**
 * The central server of the e2e benchmark, in its own process as in production
 * (the server runs on another machine than the gateway): started from a config
 * file exactly as server/main.ts starts it (configFromArgs, then CentralServer),
 * plus the alarm-hop observers, whose marks go back to the bench over the IPC
 * channel (stdout stays free; logs go to stderr, bench/child-env.ts).
 *
 * Marks are wall-clock milliseconds, `performance.timeOrigin + performance.now()`:
 * monotonic clocks of two processes have different origins, the wall clock is
 * the one both share (same machine, same system clock). Within this process the
 * differences keep performance.now()'s sub-millisecond resolution.
 *
 * Forked by E2eServerProcess (bench/e2e-plant.ts). Messages:
 *   child → bench: {type:'ready', mqttPort, httpPort}, {type:'hop', ...ServerHop},
 *                  {type:'gc', ...GcPause} (bench/e2e-stalls.ts)
 *                  {type:'stats', ...ServerStats} (answer to 'stats')
 *   bench → child: {type:'stats'}, {type:'stop'} (stops cleanly, then exits)
 */
import { CentralServer } from '../server/central-server.js';
import { configFromArgs } from '../server/config/index.js';
import { type GcPause, GcProbe } from './e2e-stalls.js';

/** One server-side alarm hop: ingest received / ledger committed, notifier sending / answered. */
export interface ServerHop {
  hop: 'received' | 'ledger-committed' | 'sending' | 'answered';
  alarmId: string;
  /** The alarm transition (ingest hops); the notifier pages raised alarms only. */
  transition: string;
  /** Wall-clock ms (performance.timeOrigin + performance.now() in the server process). */
  at: number;
}

/** What the server has stored so far and its memory, to tell whether it keeps up with a load. */
export interface ServerStats {
  /** Telemetry readings committed since start (Ingest.metrics().readings). */
  readings: number;
  heapUsedMb: number;
  rssMb: number;
  /** performance.eventLoopUtilization() at the time: two of them give a phase's utilisation. */
  loop: { idle: number; active: number };
  /** process.cpuUsage() in µs: user and system time of all the process's threads. */
  cpu: { user: number; system: number };
  /** Wall-clock ms when read. */
  at: number;
}

export type ServerMessage =
  | { type: 'ready'; mqttPort: number; httpPort: number }
  | ({ type: 'hop' } & ServerHop)
  | ({ type: 'gc' } & GcPause)
  | ({ type: 'stats' } & ServerStats)
  | { type: 'failed'; error: string };

const send = (m: ServerMessage) => process.send?.(m);
const origin = performance.timeOrigin;

async function main(): Promise<void> {
  const config = configFromArgs(process.argv.slice(2), process.env);
  if (!config) throw new Error('e2e server: --config <file> is required');
  const server = new CentralServer(config);
  server.ingest.observeAlarms((hop, event, at) =>
    send({
      type: 'hop',
      hop,
      alarmId: event.alarmId,
      transition: event.transition,
      at: origin + at,
    }),
  );
  const notifier = (hop: 'sending' | 'answered') => (t: { alarmId: string; at: number }) =>
    send({ type: 'hop', hop, alarmId: t.alarmId, transition: 'raised', at: origin + t.at });
  server.notifier.on('sending', notifier('sending'));
  server.notifier.on('answered', notifier('answered'));
  const gc = new GcProbe('server', (pause) => send({ type: 'gc', ...pause }));
  gc.start();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    gc.stop();
    try {
      await server.stop();
    } finally {
      if (process.connected) process.disconnect();
      // Exit even if a handle lingers: the parent SIGKILLs a lingering child after 15 s, and a
      // killed process never writes its --cpu-prof profile.
      setImmediate(() => process.exit());
    }
  };
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') void stop();
    else if (m?.type === 'stats') {
      const memory = process.memoryUsage();
      send({
        type: 'stats',
        readings: server.ingest.metrics().readings,
        heapUsedMb: Math.round(memory.heapUsed / 2 ** 20),
        rssMb: Math.round(memory.rss / 2 ** 20),
        loop: (({ idle, active }) => ({ idle, active }))(performance.eventLoopUtilization()),
        cpu: process.cpuUsage(),
        at: origin + performance.now(),
      });
    }
  });
  // The bench died: do not outlive it.
  process.on('disconnect', () => void stop());
  await server.start();
  send({ type: 'ready', mqttPort: server.mqttPort, httpPort: server.httpPort });
}

main().catch((err: unknown) => {
  send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
  process.exitCode = 1;
  if (process.connected) process.disconnect();
});
