/**
 * Bug (cluster mode, found in the review of the claim leases): a node that committed an alarm to
 * the shared ledger and died before its hub's 'alarm' event ran left the alarm without a
 * disposal record (so it never escalated) and without its MQTT emergency notification; the
 * gateway's resend reached another node, whose ledger call reported "no change", so nothing
 * asked for them again. Ingest now hands a resent transition to the platform, whose steps are
 * insert-if-absent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { alarmEvent } from './fixtures.js';

let server: CentralServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('an alarm resent after its first receiver died', () => {
  it('redelivery follow-up: gets its disposal record although the ledger already held it', async () => {
    server = new CentralServer(
      parseServerConfig({ http: { port: 0 }, mqtt: { port: 0 }, store: { path: ':memory:' } }),
      { dashboard: false },
    );
    await server.start();
    const event = alarmEvent({ seq: 1 });
    // The node that died: the ledger committed, nothing after it ran.
    expect((await server.ledger.record(event)).isNew).toBe(true);
    const key = {
      enterpriseId: event.enterpriseId,
      gatewayId: event.gatewayId,
      alarmId: event.alarmId,
    };
    expect(await server.platform.disposal.disposition(key)).toBeUndefined();

    // The gateway's resend, taken by this node.
    await server.ingest.handle({
      topic: topicFor(event.enterpriseId, event.gatewayId, 'alarm'),
      payload: Buffer.from(JSON.stringify(event)),
      qos: 1,
      retain: false,
      clientId: event.gatewayId,
    });
    let disposition = await server.platform.disposal.disposition(key);
    for (let i = 0; i < 50 && !disposition; i++) {
      await new Promise((r) => setTimeout(r, 20));
      disposition = await server.platform.disposal.disposition(key);
    }
    expect(disposition).toMatchObject({ status: 'open' });
  });
});
