/**
 * A small gateway process for the kill -9 test: an uplink with a disk outbox.
 *   produce <url> <outbox> <t0> : produces readings and alarms; after each tick
 *     prints `durable <k>` (readings 0..k-1 of every sensor are committed to the
 *     outbox) and `alarm <id>` for each alarm pair committed.
 *   drain <url> <outbox>        : connects, prints `drained` once the outbox is empty.
 */
import { createUplink, Producer, sensorIds } from './support.js';

const [mode, url, outbox, t0] = process.argv.slice(2);
const ids = sensorIds(10);
const uplink = createUplink(url!, outbox!, ids, { ackTimeoutMs: 1_000 });
await uplink.start();

if (mode === 'produce') {
  let alarms = 0;
  const producer: Producer = new Producer(uplink, ids, {
    tickMs: 20,
    perTick: 10,
    alarmEvery: 10,
    t0: Number(t0),
    onTick: () => {
      uplink.flush();
      console.log(`durable ${producer.produced}`);
      while (alarms < producer.alarmIds.length) console.log(`alarm ${producer.alarmIds[alarms++]}`);
    },
  });
  producer.start();
} else {
  const timer = setInterval(() => {
    const h = uplink.health();
    if (h.backlog.telemetry.items + h.backlog.alarms.items === 0) {
      clearInterval(timer);
      console.log('drained');
      void uplink.stop().then(() => process.exit(0));
    }
  }, 50);
}
