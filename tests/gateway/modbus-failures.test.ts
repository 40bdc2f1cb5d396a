/**
 * Issue 11 item 5: a wrong unit id (or any failed poll) is said at once, once. The
 * bad readings carry what failed as their reason from the first failed poll on, each
 * failure kind is logged once per device (not every poll), and so is the recovery.
 * Against the real Modbus simulator with fault injection.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import { ModbusSource } from '../../gateway/acquisition/modbus/modbus-source.js';
import type { DeviceStatusEvent } from '../../gateway/acquisition/source.js';
import type { ModbusDeviceConfig } from '../../gateway/config/types.js';
import type { Reading } from '../../protocol/payloads.js';
import { device, modbusFixtures, recorder, tag, until } from './modbus-fixtures.js';

const { cleanups, simulator } = modbusFixtures();

interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

const WARN = 40;

/** A source with a logger whose records the test reads, and every reading with its poll count. */
function observedSource(config: ModbusDeviceConfig) {
  const logs: LogRecord[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logs.push(JSON.parse(String(chunk)) as LogRecord);
      done();
    },
  });
  const events: DeviceStatusEvent[] = [];
  const rec = recorder();
  /** Polls started when each batch reached the sink. */
  const pollsAt: number[] = [];
  const source: ModbusSource = new ModbusSource(
    config,
    (readings: Reading[]) => {
      pollsAt.push(source.counters.polls);
      rec.sink(readings);
    },
    {
      clock: new ManualClock(),
      backoff: { initialMs: 100, maxMs: 200 },
      logger: pino({ level: 'debug' }, stream),
      onDeviceStatus: (e) => events.push(e),
    },
  );
  cleanups.push(() => source.stop());
  const warnings = (prefix: string) =>
    logs.filter((l) => l.level >= WARN && l.msg.startsWith(prefix));
  const infos = (prefix: string) => logs.filter((l) => l.level < WARN && l.msg.startsWith(prefix));
  return { source, rec, logs, events, pollsAt, warnings, infos };
}

const gas = (sim: Parameters<typeof device>[0], unitId: number) =>
  device(
    sim,
    [tag('GT-1', { table: 'input', address: 0 }), tag('GT-2', { table: 'holding', address: 0 })],
    { unitId, timeoutMs: 100, pollIntervalMs: 50 },
  );

describe('a wrong unit id', () => {
  it('that nothing answers: the first failed poll says which unit did not reply, logged once', async () => {
    const sim = await simulator([{ unitId: 1, registers: { input: { 0: 5 } } }]);
    const o = observedSource(gas(sim, 7));
    await o.source.start();
    await until(() => o.rec.batches.length >= 1, 'the first readings');
    // The first poll's readings already say what failed.
    expect(o.pollsAt[0]).toBe(1);
    const timeout = 'timeout: no reply from unit 7 within 100 ms';
    expect(o.rec.batches[0]!.map((r) => [r.sensorId, r.quality, r.reason])).toEqual([
      ['GT-2', 'bad', timeout],
      ['GT-1', 'bad', timeout],
    ]);
    expect(o.warnings('read failed')).toHaveLength(1);
    expect(o.warnings('read failed')[0]).toMatchObject({
      msg: `read failed: ${timeout}`,
      unitId: 7,
    });

    await until(() => o.events.length >= 1, 'device offline');
    expect(o.events[0]).toMatchObject({ online: false, reason: timeout });
    expect(o.rec.of('GT-1').map((r) => r.reason)).toContain(`comm lost: ${timeout}`);
    const probes = o.source.counters.polls;
    await until(() => o.source.counters.polls >= probes + 3, 'three more probes');
    // Once, not every poll: one line for the failure, one for the device going offline.
    expect(o.warnings('read failed')).toHaveLength(1);
    expect(o.warnings('device offline')).toHaveLength(1);
    expect(o.warnings('device offline')[0]!.msg).toBe(`device offline: ${timeout}`);
  });

  it('behind a gateway answering exception 11: offline, named, and back online once', async () => {
    // A TCP-to-RTU gateway answers for its serial side: unit 7 there does not respond.
    const sim = await simulator([{ unitId: 7, registers: { input: { 0: 5 } } }]);
    sim.addFault({ kind: 'exception', code: 11, unitId: 7 });
    const o = observedSource(gas(sim, 7));
    await o.source.start();
    await until(() => o.rec.batches.length >= 1, 'the first readings');
    const noTarget = 'exception 11 (gateway target device failed to respond)';
    expect(o.pollsAt[0]).toBe(1);
    expect(o.rec.batches[0]!.every((r) => r.quality === 'bad' && r.reason === noTarget)).toBe(true);
    // The device behind the gateway does not answer: that is no reply, so the device
    // goes offline (it used to stay 'online' with bad readings forever).
    await until(() => o.events.length >= 1, 'device offline');
    expect(o.events[0]).toMatchObject({ online: false, reason: noTarget });
    const probes = o.source.counters.polls;
    await until(() => o.source.counters.polls >= probes + 2, 'two more probes');
    expect(o.warnings('read failed')).toHaveLength(1);
    expect(o.warnings('device offline')).toHaveLength(1);

    sim.clearFaults();
    await until(() => o.rec.of('GT-1').at(-1)?.value === 5, 'good again');
    const polls = o.source.counters.polls;
    await until(() => o.source.counters.polls >= polls + 3, 'three good polls');
    expect(o.events.map((e) => e.online)).toEqual([false, true]);
    expect(o.infos('device online')).toHaveLength(1);
    expect(o.infos('reads succeed again')).toEqual([]);
  });

  it('answered by another unit id: said at once and once, though the link reconnects each poll', async () => {
    const sim = await simulator([{ unitId: 1, registers: { input: { 0: 5 } } }]);
    sim.addFault({ kind: 'wrong-unit' }); // replies carry unit 2
    const o = observedSource(gas(sim, 1));
    await o.source.start();
    await until(() => o.rec.batches.length >= 1, 'the first readings');
    const wrongUnit = 'wrong unit id: asked unit 1, reply from unit 2';
    expect(o.pollsAt[0]).toBe(1);
    expect(o.rec.batches[0]!.map((r) => [r.quality, r.reason])).toEqual([
      ['bad', `comm lost: ${wrongUnit}`],
      ['bad', `comm lost: ${wrongUnit}`],
    ]);
    await until(() => o.source.counters.reconnects >= 3, 'three reconnects');
    expect(o.events).toEqual([expect.objectContaining({ online: false, reason: wrongUnit })]);
    expect(o.logs.filter((l) => l.level >= WARN)).toEqual([
      expect.objectContaining({ msg: `device offline: ${wrongUnit}` }),
    ]);
    expect(o.rec.of('GT-1').every((r) => r.value === null)).toBe(true);
  });
});

describe('a reply from another unit id, again and again', () => {
  it('opens the breaker: the link is not rebuilt on every poll', async () => {
    const sim = await simulator([{ unitId: 1, registers: { input: { 0: 5 } } }]);
    sim.addFault({ kind: 'wrong-unit' });
    const o = observedSource(gas(sim, 1));
    await o.source.start();
    // Each such reply closes the link (it may be a shifted reply); after failuresToOpen
    // polls the breaker must open, so the device is only probed every backoff period.
    await until(() => o.source.counters.breakerSkips >= 10, 'polls skipped by the breaker');
    const polls = o.source.counters.polls;
    const skipped = o.source.counters.breakerSkips;
    await until(() => o.source.counters.breakerSkips >= skipped + 10, 'ten more skipped polls');
    // Ten poll ticks at most see one probe per backoff (>= 100 ms, two poll intervals).
    expect(o.source.counters.polls - polls).toBeLessThanOrEqual(6);
    expect(o.events.map((e) => e.online)).toEqual([false]);
  });
});

describe('failures of a device that stays online', () => {
  it('logs an exception once with its name, and its end once', async () => {
    const sim = await simulator([{ unitId: 1, registers: { input: { 0: 5 }, holding: { 0: 6 } } }]);
    sim.addFault({ kind: 'exception', code: 4, table: 'holding', times: 4 });
    const o = observedSource(gas(sim, 1));
    await o.source.start();
    await until(() => o.rec.of('GT-2').some((r) => r.value === 6), 'GT-2 good again');
    const failure = 'exception 4 (server device failure)';
    expect(
      o.rec
        .of('GT-2')
        .slice(0, 4)
        .map((r) => r.reason),
    ).toEqual([failure, failure, failure, failure]);
    expect(o.rec.of('GT-1').every((r) => r.quality === 'good')).toBe(true);
    expect(o.warnings('read failed')).toEqual([
      expect.objectContaining({ msg: `read failed: ${failure}`, table: 'holding', address: 0 }),
    ]);
    expect(o.infos('reads succeed again')).toEqual([
      expect.objectContaining({ msg: 'reads succeed again (after exception 4)' }),
    ]);
    expect(o.events.map((e) => e.online)).toEqual([true]);
  });
});

describe('a device nobody listens for', () => {
  it('says the connection was refused, at once and once', async () => {
    const port = await freePort();
    const config = {
      id: 'dev-1',
      protocol: 'modbus-tcp',
      host: '127.0.0.1',
      port,
      unitId: 1,
      pollIntervalMs: 50,
      timeoutMs: 100,
      maxRegistersPerRead: 125,
      tags: [tag('GT-1', { table: 'input', address: 0 })],
    } satisfies ModbusDeviceConfig;
    const o = observedSource(config);
    await o.source.start();
    await until(() => o.source.counters.failedConnects >= 3, 'three refused connects');
    const refused = `connection refused by 127.0.0.1:${port}`;
    expect(o.rec.batches).toEqual([
      [expect.objectContaining({ quality: 'bad', reason: `comm lost: ${refused}` })],
    ]);
    expect(o.logs.filter((l) => l.level >= WARN).map((l) => l.msg)).toEqual([
      `device offline: ${refused}`,
    ]);
  });
});
