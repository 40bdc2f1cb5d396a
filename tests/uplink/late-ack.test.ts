/**
 * A StoreAck that mqtt.js delivers after stop() closed the outbox threw "uplink outbox ... is not
 * open" out of the client's 'message' event and ended the gateway process. Seen at the end of the
 * e2e bench (issue 19): with the server in its own process, a backlog of acks was still arriving
 * while the gateway stopped. The ack of a stopped uplink is now dropped: its items stay in the
 * outbox and are resent (and deduplicated by the server) after the next start.
 */
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type StoreAck, topicFor } from '../../protocol/index.js';
import { startTestBroker } from '../support/broker.js';
import { createUplink, ENTERPRISE, GATEWAY, tempDir, useCleanups, waitUntil } from './support.js';

describe('an acknowledgement arriving after the uplink stopped', () => {
  const cleanups = useCleanups();

  it('late StoreAck after stop closed the outbox crashed the gateway: it is ignored', async () => {
    const dir = tempDir(cleanups);
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const uplink = createUplink(broker.url, path.join(dir, 'outbox.db'), ['GT-101']);
    await uplink.start();
    await waitUntil(() => uplink.connected, 'the uplink to connect');
    // The client mqtt.js hands the uplink's 'message' listener to; stop() lets go of it.
    const client = (uplink as unknown as { client: MqttClient }).client;
    await uplink.stop();

    const ack: StoreAck = { v: PROTOCOL_VERSION, seqs: [1] };
    // What mqtt.js does with a PUBLISH it had already parsed when the connection closed.
    expect(() =>
      client.emit(
        'message',
        topicFor(ENTERPRISE, GATEWAY, 'ack'),
        Buffer.from(JSON.stringify(ack)),
        // biome-ignore lint/suspicious/noExplicitAny: the packet is not read by the listener
        {} as any,
      ),
    ).not.toThrow();
  });
});
