/**
 * Fuzz-style test of the ingest path (issue 13): random and mutated payloads,
 * wrong types, huge numbers, deep JSON, truncations and byte flips, published
 * through the real broker (aedes) to the real ingest while a legitimate
 * gateway (the real uplink with its outbox) keeps sending. Seeded, so a
 * failure replays: the seed and the case are in the assertion message.
 *
 * Asserts: no crash, every message gets exactly one outcome and none is a
 * server failure, every rejection is counted (by reason, summing up), and the
 * legitimate gateway's readings are all stored.
 */

import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../common/clock.js';
import { MqttUplink } from '../../gateway/uplink/mqtt-uplink.js';
import { MqttBroker } from '../../server/broker.js';
import { EventHub } from '../../server/events.js';
import { GatewayRegistry } from '../../server/gateways.js';
import { Ingest, type IngestOutcome, StoreAckPublisher } from '../../server/ingest.js';
import { SqliteTelemetryStore } from '../../server/store/sqlite-store.js';
import { waitFor } from '../server/fixtures.js';
import { testLedger } from '../support/ledger.js';

const SEED = 0x13c0ffee;
const CASES = 400;
const FUZZ = { gatewayId: 'gw-fuzz', enterpriseId: 'ent-fuzz' };
const LEGIT = { gatewayId: 'gw-legit', enterpriseId: 'ent-legit' };

/** mulberry32: a small seeded PRNG, so every run sends the same cases. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type Rng = ReturnType<typeof prng>;

const WEIRD_VALUES: unknown[] = [
  null,
  true,
  -0,
  1e308,
  -1e308,
  2 ** 53 + 1,
  -(2 ** 63),
  5e-324,
  '',
  'x'.repeat(300),
  '\u0000\ud800',
  '💥',
  [],
  {},
  { __proto__: { polluted: true } },
  [1, [2, [3]]],
  '1e999',
  'NaN',
];

function validBatch(rng: Rng, seq: number): Record<string, unknown> {
  return {
    v: 1,
    ...FUZZ,
    seq,
    sentAt: Date.now(),
    readings: Array.from({ length: 1 + rng.int(3) }, (_, i) => ({
      sensorId: `S${i}`,
      value: rng.next() * 100,
      quality: 'good',
      ts: Date.now() - rng.int(60_000),
    })),
  };
}

function validAlarm(rng: Rng, seq: number): Record<string, unknown> {
  const now = Date.now();
  return {
    v: 1,
    ...FUZZ,
    seq,
    sentAt: now,
    alarmId: `fuzz.${seq}`,
    ruleId: 'S0-gas',
    sensorId: 'S0',
    level: rng.pick([1, 2]),
    transition: 'raised',
    value: 30,
    unit: '%LEL',
    setpoint: 25, // GB/T 50493-2019 §5.5.3: level 1 <= 25 %LEL
    ts: now,
    drill: true, // never pages anyone
  };
}

/** Sets a random (possibly nested) key of `target` to a weird value, or deletes it. */
function mutate(rng: Rng, target: Record<string, unknown>): void {
  const keys = Object.keys(target);
  const key = rng.pick(keys);
  const value = target[key];
  if (Array.isArray(value) && value.length > 0 && rng.next() < 0.5) {
    mutate(rng, value[0] as Record<string, unknown>);
    return;
  }
  if (rng.next() < 0.2) delete target[key];
  else target[key] = rng.pick(WEIRD_VALUES);
}

function deepJson(depth: number, open: string, close: string): string {
  return open.repeat(depth) + close.repeat(depth);
}

/** One fuzz case: a topic channel and a payload. */
function fuzzCase(
  rng: Rng,
  seq: number,
): { channel: string; payload: string | Buffer; what: string } {
  const channel = rng.pick(['telemetry', 'telemetry', 'alarm', 'status', 'command', 'nonsense']);
  const base = channel === 'alarm' ? validAlarm(rng, seq) : validBatch(rng, seq);
  const kind = rng.int(10);
  switch (kind) {
    case 0: {
      const bytes = Buffer.alloc(rng.int(400));
      for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
      return { channel, payload: bytes, what: 'random bytes' };
    }
    case 1: {
      const text = JSON.stringify(base);
      return { channel, payload: text.slice(0, rng.int(text.length)), what: 'truncated' };
    }
    case 2: {
      const bytes = Buffer.from(JSON.stringify(base));
      for (let i = 0; i < 1 + rng.int(5); i++) bytes[rng.int(bytes.length)] = rng.int(256);
      return { channel, payload: bytes, what: 'byte flips' };
    }
    case 3:
      return {
        channel,
        payload: rng.pick([
          deepJson(100_000, '[', ']'),
          deepJson(50_000, '{"a":', '}').replace(/\{"a":\}$/, '1'),
          `{"v":1,"gatewayId":"gw-fuzz","enterpriseId":"ent-fuzz","seq":${seq},"readings":${deepJson(20_000, '[', ']')}}`,
        ]),
        what: 'deep JSON',
      };
    case 4:
      return {
        channel,
        payload: JSON.stringify({ ...base, seq: rng.pick([-1, 1.5, 2 ** 53, 1e308, '7', null]) }),
        what: 'bad seq',
      };
    case 5:
      return {
        channel,
        payload: JSON.stringify({
          ...base,
          readings: Array.from({ length: 10_001 }, () => ({
            sensorId: 'S0',
            value: 1,
            quality: 'good',
            ts: Date.now(),
          })),
        }),
        what: 'too many readings',
      };
    case 6:
      return {
        channel,
        payload: rng.pick([
          'null',
          '[]',
          '""',
          '0',
          'true',
          '{}',
          '',
          ' ',
          '{"__proto__":{"x":1}}',
        ]),
        what: 'not an object',
      };
    default: {
      for (let i = 0; i < 1 + rng.int(3); i++) mutate(rng, base);
      return { channel, payload: JSON.stringify(base), what: 'mutated' };
    }
  }
}

describe('ingest fuzz', () => {
  it('survives a few hundred random and mutated payloads, counting every reject, while a real gateway is stored', async () => {
    const clock = systemClock;
    const store = new SqliteTelemetryStore({ path: ':memory:', clock });
    const ledger = testLedger({ clock });
    await store.start();
    await ledger.start();
    cleanups.push(() => store.stop());
    cleanups.push(() => ledger.stop());
    const events = new EventHub();
    let broker: MqttBroker | null = null;
    const acks = new StoreAckPublisher({
      publish: (topic, payload) => broker!.publish(topic, payload),
    });
    const ingest = new Ingest({
      store,
      ledger,
      gateways: new GatewayRegistry(clock),
      events,
      acks,
      clock,
    });
    const outcomes = new Map<string, IngestOutcome[]>();
    broker = new MqttBroker({
      port: 0,
      onPublish: async (message) => {
        const outcome = await ingest.handle(message);
        const source = message.clientId ?? '(broker)';
        const list = outcomes.get(source) ?? [];
        list.push(outcome);
        outcomes.set(source, list);
      },
    });
    await broker.start();
    cleanups.push(async () => {
      await acks.stop();
      await ingest.stop();
      await broker!.stop();
    });
    const url = `mqtt://127.0.0.1:${broker.port}`;

    // The legitimate gateway, sending throughout.
    const uplink = new MqttUplink({
      url,
      ...LEGIT,
      sensors: [{ sensorId: 'GT-1', name: 'GT-1', kind: 'gas', unit: '%LEL' }],
      clock,
      publishIntervalMs: 20,
      ackTimeoutMs: 2_000,
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    const t0 = Date.now() - 120_000;
    let legitReadings = 0;

    const fuzzer = await mqtt.connectAsync(url, { clientId: FUZZ.gatewayId, reconnectPeriod: 100 });
    cleanups.push(() => fuzzer.endAsync(true));
    const rng = prng(SEED);
    const sent: string[] = [];
    for (let i = 0; i < CASES; i++) {
      const c = fuzzCase(rng, 1_000 + i);
      sent.push(`case ${i} (${c.what}) on ${c.channel}`);
      const topic = `hazardwatch/v1/${FUZZ.enterpriseId}/${FUZZ.gatewayId}/${c.channel}`;
      await fuzzer.publishAsync(topic, c.payload, { qos: 1 });
      if (i % 10 === 0) {
        uplink.publishReadings([
          { sensorId: 'GT-1', value: legitReadings, quality: 'good', ts: t0 + legitReadings },
        ]);
        legitReadings++;
      }
    }
    uplink.flush();
    await waitFor(
      () => (outcomes.get(FUZZ.gatewayId)?.length ?? 0) >= CASES,
      `every fuzz case to be handled (seed ${SEED})`,
      30_000,
    );
    await waitFor(
      () => uplink.health().backlog.telemetry.items === 0,
      'the legitimate gateway to be acknowledged',
      30_000,
    );

    const fuzzOutcomes = outcomes.get(FUZZ.gatewayId)!;
    expect(fuzzOutcomes).toHaveLength(CASES);
    const failed = fuzzOutcomes
      .map((o, i) => [o, sent[i]] as const)
      .filter(([o]) => o.result === 'failed');
    expect(failed, `server failures (seed ${SEED})`).toEqual([]);
    const rejected = fuzzOutcomes.filter((o) => o.result === 'rejected').length;
    const metrics = ingest.metrics();
    expect(rejected).toBeGreaterThan(CASES / 2);
    expect(metrics.rejected).toBe(rejected);
    expect(Object.values(metrics.rejectedByReason).reduce((a, b) => a + b, 0)).toBe(rejected);
    expect(metrics.storeFailures).toBe(0);
    // Still serving: the fuzzing client is still connected and a valid batch from it is stored.
    expect(fuzzer.connected).toBe(true);
    await fuzzer.publishAsync(
      `hazardwatch/v1/${FUZZ.enterpriseId}/${FUZZ.gatewayId}/telemetry`,
      JSON.stringify(validBatch(prng(1), 999_999)),
      { qos: 1 },
    );
    await waitFor(() => fuzzOutcomes.length === CASES + 1, 'the valid batch after the fuzz');
    expect(fuzzOutcomes.at(-1)).toEqual({ result: 'stored', channel: 'telemetry' });

    const rows = await store.queryRange({
      gatewayId: LEGIT.gatewayId,
      sensorId: 'GT-1',
      from: t0,
      to: t0 + CASES,
      limit: 10_000,
    });
    expect(rows.map((r) => r.value)).toEqual(Array.from({ length: legitReadings }, (_, k) => k));
    expect(uplink.health().rejected).toBe(0);
  }, 60_000);
});
