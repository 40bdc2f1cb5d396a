/**
 * The e2e benchmark's background telemetry (bench/e2e-load.ts) in its own
 * process: the other gateways of a real plant run on other machines, so their
 * MQTT and JSON work must not share the event loop of the gateway under test.
 *
 * Forked by E2eLoadProcess (bench/e2e-plant.ts). Messages:
 *   bench → child: {type:'start', options}, {type:'stop'}
 *   child → bench: {type:'started'}, {type:'stopped', rate}, {type:'failed', error}
 */
import { BackgroundTelemetry } from './e2e-load.js';

export type LoadMessage =
  | { type: 'started' }
  | { type: 'stopped'; rate: number }
  | { type: 'failed'; error: string };

const send = (m: LoadMessage) => process.send?.(m);
let load: BackgroundTelemetry | null = null;

process.on(
  'message',
  (
    m:
      | { type: 'start'; options: ConstructorParameters<typeof BackgroundTelemetry>[0] }
      | { type: 'stop' },
  ) => {
    void (async () => {
      try {
        if (m.type === 'start') {
          load = new BackgroundTelemetry(m.options);
          await load.start();
          send({ type: 'started' });
        } else {
          const rate = load?.rate() ?? 0;
          await load?.stop();
          load = null;
          send({ type: 'stopped', rate });
          if (process.connected) process.disconnect();
        }
      } catch (err) {
        send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
      }
    })();
  },
);
process.on('disconnect', () => void load?.stop());
