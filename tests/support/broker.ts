import net from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';

/** A bare aedes broker on a free loopback port, for tests of MQTT clients. */
export async function startTestBroker(
  port = 0,
): Promise<{ port: number; url: string; broker: Aedes; close(): Promise<void> }> {
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    port: actual,
    url: `mqtt://127.0.0.1:${actual}`,
    broker,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}

/** An independent subscriber that collects every message on a filter. */
export async function collectMessages(
  url: string,
  filter: string,
): Promise<{
  messages: { topic: string; payload: unknown; retain: boolean }[];
  client: MqttClient;
  waitFor(
    predicate: (m: { topic: string; payload: unknown }) => boolean,
    ms?: number,
  ): Promise<void>;
}> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 100 });
  const messages: { topic: string; payload: unknown; retain: boolean }[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload: JSON.parse(payload.toString()), retain: packet.retain });
    for (const w of waiters) w();
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    messages,
    client,
    waitFor: (predicate, ms = 5_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching message within ${ms} ms`)),
          ms,
        );
        const check = () => {
          if (messages.some(predicate)) {
            clearTimeout(timer);
            resolve();
          }
        };
        waiters.push(check);
        check();
      }),
  };
}
