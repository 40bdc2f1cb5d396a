/**
 * The server, wired as it runs, tells an emergency centre that an alarm it was paged for has
 * returned to normal (issue 15: the centre "never learns that an alarm was cleared or
 * closed"). Real parts: the central server with its embedded broker, a gateway as an MQTT
 * client, and the simulated emergency centre on a free port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { EmergencyReceiver } from '../../simulators/emergency-receiver.js';
import { alarmEvent, SECRET } from './fixtures.js';

describe('the central server and an emergency centre', () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterAll(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  it('pages the centre for a level-2 alarm and then tells it the alarm cleared', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-followups-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const receiver = new EmergencyReceiver({ port: 0, secret: SECRET });
    await receiver.start();
    cleanups.push(() => receiver.stop());
    const server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0 },
        store: { path: join(dir, 'db.sqlite') },
        emergencyCentres: [
          { id: 'ecc-1', name: 'County centre', url: receiver.notifyUrl, secret: SECRET },
        ],
        linkage: { retryInitialMs: 20, retryMaxMs: 100 },
      }),
    );
    await server.start();
    cleanups.push(() => server.stop());
    const gateway = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: 'gw-01',
      reconnectPeriod: 0,
    });
    cleanups.push(() => gateway.endAsync(true));
    const topic = topicFor('ent-01', 'gw-01', 'alarm');
    const raisedAt = Date.now();
    const alarm = { alarmId: 'GT-101-gas.L2.followup', ts: raisedAt, sentAt: raisedAt };
    await gateway.publishAsync(
      topic,
      JSON.stringify(alarmEvent({ ...alarm, seq: 1, transition: 'raised' })),
      { qos: 1 },
    );
    await expect.poll(() => receiver.notifications.length, { timeout: 10_000 }).toBe(1);
    expect(receiver.notifications[0]).toMatchObject({ alarmId: alarm.alarmId, status: 'active' });

    await gateway.publishAsync(
      topic,
      JSON.stringify(
        alarmEvent({ ...alarm, seq: 2, transition: 'cleared', ts: raisedAt + 1_000, value: 3 }),
      ),
      { qos: 1 },
    );
    await expect.poll(() => receiver.notifications[0]?.status, { timeout: 10_000 }).toBe('cleared');
    expect(receiver.notifications).toHaveLength(1);
  }, 30_000);
});
