/**
 * Emergency follow-ups (issue 15): a centre paged for an alarm learns, through the same signed
 * webhook, that the alarm returned to normal and that its disposal was closed. Real parts: the
 * server's EmergencyNotifier and the simulated centre (simulators/emergency-receiver.ts) on a
 * free port; the event hub as the server wires it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AlarmRecord } from '../../server/alarms/ledger.js';
import { Database } from '../../server/db/database.js';
import { EventHub } from '../../server/events.js';
import { EmergencyNotifier } from '../../server/linkage/emergency-notifier.js';
import { EmergencyReceiver } from '../../simulators/emergency-receiver.js';
import { SECRET } from '../server/fixtures.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const ALARM: AlarmRecord = {
  alarmId: 'GT-101-gas.L2.7',
  gatewayId: 'gw-01',
  enterpriseId: 'ent-01',
  ruleId: 'GT-101-gas',
  sensorId: 'GT-101',
  sensorName: 'Reactor hall methane',
  installationId: 'unit-1',
  location: 'Reactor hall',
  gas: 'methane',
  level: 2,
  state: 'active',
  value: 50.513343811035156,
  unit: '%LEL',
  setpoint: 50,
  raisedAt: Date.UTC(2026, 0, 1, 8),
  clearedAt: null,
  drill: false,
  message: 'methane level 2',
  receivedAt: Date.UTC(2026, 0, 1, 8),
};

async function start(status?: number) {
  const receiver = new EmergencyReceiver({ port: 0, secret: SECRET });
  await receiver.start();
  cleanups.push(() => receiver.stop());
  // A centre that does not know follow-ups answers them 400; notifications still go to the receiver.
  const fetchImpl: typeof fetch =
    status === undefined
      ? fetch
      : async (url, init) =>
          String(init?.body).includes('"kind"')
            ? new Response('{}', { status, headers: { 'content-type': 'application/json' } })
            : fetch(url, init);
  const database = new Database({ kind: 'sqlite', path: ':memory:' });
  await database.start();
  cleanups.push(() => database.stop());
  const notifier = new EmergencyNotifier({
    database,
    nodeId: 'node-1',
    centres: [
      { id: 'ecc-1', name: 'County centre', url: receiver.notifyUrl, secret: SECRET, minLevel: 2 },
    ],
    retryInitialMs: 20,
    retryMaxMs: 50,
    fetch: fetchImpl,
  });
  await notifier.start();
  cleanups.push(() => notifier.stop());
  const events = new EventHub();
  cleanups.push(notifier.follow(events));
  return { receiver, notifier, events };
}

const until = async (check: () => boolean | Promise<boolean>, what: string) => {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
};

describe('emergency follow-ups', () => {
  it('never told the centre an alarm was cleared or closed (issue 15): now both arrive, signed, once', async () => {
    const { receiver, notifier, events } = await start();
    expect(await notifier.notify(ALARM)).toBe(1);
    await receiver.waitFor((n) => n.alarmId === ALARM.alarmId);
    const clearedAt = Date.UTC(2026, 0, 1, 8, 5);
    events.emit('alarm', { ...ALARM, state: 'cleared', clearedAt });
    events.emit('alarm', { ...ALARM, state: 'cleared', clearedAt }); // a repeat sends nothing new
    await until(() => receiver.notifications[0]?.status === 'cleared', 'the cleared follow-up');
    expect(receiver.notifications[0]?.clearedAt).toBe(new Date(clearedAt).toISOString());
    events.emit('disposal', {
      enterpriseId: 'ent-01',
      gatewayId: 'gw-01',
      alarmId: ALARM.alarmId,
      level: 2,
      drill: false,
      status: 'closed',
      openedAt: ALARM.receivedAt,
      acknowledgedAt: ALARM.receivedAt + 60_000,
      acknowledgedBy: 'regulator',
      assignee: null,
      measures: 1,
      closedAt: ALARM.receivedAt + 600_000,
      closedBy: 'regulator',
      escalationLevel: 0,
    });
    await until(() => receiver.notifications[0]?.status === 'closed', 'the closed follow-up');
    expect(receiver.notifications[0]).toMatchObject({ closedBy: 'regulator' });
    expect(receiver.stats()).toMatchObject({ accepted: 3, rejected: 0 });
    // The centre's answer is recorded after it arrived there.
    await until(
      async () => (await notifier.followUps()).filter((f) => f.state === 'delivered').length === 2,
      'both follow-ups recorded as delivered',
    );
  });

  it('does not insist on a centre that refuses follow-ups with a 4xx', async () => {
    const { receiver, notifier, events } = await start(400);
    await notifier.notify(ALARM);
    await receiver.waitFor();
    events.emit('alarm', { ...ALARM, state: 'cleared', clearedAt: Date.UTC(2026, 0, 1, 8, 5) });
    await until(async () => (await notifier.followUps())[0]?.state === 'refused', 'the refusal');
    await new Promise((r) => setTimeout(r, 120)); // longer than the retry interval
    expect((await notifier.followUps())[0]).toMatchObject({ state: 'refused', attempts: 1 });
  });

  it('sends no follow-up for an alarm that paged nobody', async () => {
    const { notifier, events } = await start();
    events.emit('alarm', { ...ALARM, level: 1, alarmId: 'l1', state: 'cleared', clearedAt: 1 });
    await new Promise((r) => setTimeout(r, 50)); // the follow-up is recorded asynchronously
    expect(await notifier.followUps()).toEqual([]);
  });
});
