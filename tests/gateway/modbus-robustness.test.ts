import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { Acquisition } from '../../gateway/acquisition/index.js';
import { ModbusLinkPool } from '../../gateway/acquisition/modbus/link.js';
import type { ModbusSource } from '../../gateway/acquisition/modbus/modbus-source.js';
import type { DeviceStatusEvent } from '../../gateway/acquisition/source.js';
import { WriteError } from '../../gateway/acquisition/writer.js';
import type { Fault, ModbusDeviceSimulator, UnitSpec } from '../../simulators/modbus-device.js';
import { device, modbusFixtures, recorder, tag, until } from './modbus-fixtures.js';

const { cleanups, simulator, source } = modbusFixtures();

describe('Modbus replies that do not belong to their request', () => {
  // Two reads of the same function code and length, with different values: a late reply
  // to the first taken as the answer to the second would show as a swapped value.
  const twoBlocks = (sim: ModbusDeviceSimulator) =>
    device(sim, [
      tag('A', { table: 'holding', address: 0 }),
      tag('B', { table: 'holding', address: 100 }),
    ]);
  const units: UnitSpec[] = [{ unitId: 1, registers: { holding: { 0: 111, 100: 222 } } }];

  it('never shifts a value when a reply arrives after its timeout (TCP transaction id)', async () => {
    const sim = await simulator(units);
    sim.addFault({ kind: 'delay', ms: 250, table: 'holding', from: 0, to: 0, times: 3 });
    const rec = recorder();
    await source(twoBlocks(sim), rec.sink).start();
    await until(
      () => rec.of('A').filter((r) => r.quality === 'good').length >= 5,
      'good A readings',
    );
    expect(
      rec.of('A').some((r) => r.reason === 'timeout: no reply from unit 1 within 150 ms'),
    ).toBe(true);
    expect(rec.onlyValue('A', 111)).toBe(true);
    expect(rec.onlyValue('B', 222)).toBe(true);
  });

  /** Starts a source against a simulator with `fault`; resolves once `sensorId` is good again after a reconnect. */
  async function reconnectAfter(fault: Fault, sensorId: string) {
    const sim = await simulator(units);
    sim.addFault(fault);
    const rec = recorder();
    const s = source(twoBlocks(sim), rec.sink);
    await s.start();
    await until(() => s.counters.reconnects >= 1, 'a reconnect');
    await until(() => rec.of(sensorId).at(-1)?.quality === 'good', `${sensorId} good again`);
    return rec;
  }

  it('reconnects on a reply with the wrong unit id, and never reports its value', async () => {
    const rec = await reconnectAfter(
      { kind: 'wrong-unit', table: 'holding', from: 100, to: 100, times: 1 },
      'B',
    );
    expect(rec.onlyValue('B', 222)).toBe(true);
    expect(
      rec.of('B').some((r) => r.reason === 'wrong unit id: asked unit 1, reply from unit 2'),
    ).toBe(true);
  });

  it('reconnects on a reply with the wrong function code', async () => {
    const rec = await reconnectAfter(
      { kind: 'wrong-function', table: 'holding', from: 0, to: 0, times: 1 },
      'A',
    );
    expect(rec.onlyValue('A', 111)).toBe(true);
  });

  it('drops a reply carrying another transaction id (a timeout, never a value)', async () => {
    const sim = await simulator(units);
    sim.addFault({ kind: 'wrong-transaction', table: 'holding', from: 0, to: 0, times: 2 });
    const rec = recorder();
    await source(twoBlocks(sim), rec.sink).start();
    await until(() => rec.of('A').filter((r) => r.quality === 'good').length >= 3, 'A good');
    expect(
      rec
        .of('A')
        .slice(0, 2)
        .map((r) => r.reason),
    ).toEqual([
      'timeout: no reply from unit 1 within 150 ms',
      'timeout: no reply from unit 1 within 150 ms',
    ]);
    expect(rec.onlyValue('A', 111)).toBe(true);
  });
});

describe('a dead device on a shared RTU-over-TCP bus', () => {
  it('does not stall the other device, is reported offline once and online once', async () => {
    const sim = await simulator(
      [
        { unitId: 1, registers: { holding: { 0: 11 } } },
        { unitId: 2, registers: { holding: { 0: 22 } } },
      ],
      'rtu-tcp',
    );
    sim.addFault({ kind: 'silence', unitId: 2 });
    const backoff = { initialMs: 400, maxMs: 800 };
    const links = new ModbusLinkPool({ backoff });
    const events: DeviceStatusEvent[] = [];
    const healthy = recorder();
    const dead = recorder();
    const base = { protocol: 'modbus-rtu-tcp' as const, timeoutMs: 100, pollIntervalMs: 50 };
    const one = source(
      device(sim, [tag('U1', { table: 'holding', address: 0 })], { ...base, id: 'u1', unitId: 1 }),
      healthy.sink,
      { links, backoff, onDeviceStatus: (e) => events.push(e) },
    );
    const two = source(
      device(sim, [tag('U2', { table: 'holding', address: 0 })], { ...base, id: 'u2', unitId: 2 }),
      dead.sink,
      { links, backoff, onDeviceStatus: (e) => events.push(e) },
    );
    await one.start();
    await two.start();
    await until(() => dead.of('U2').some((r) => r.reason?.startsWith('comm lost')), 'u2 offline');

    // Window: from u2 going offline until it has sent 3 more probes (2 of them
    // certainly timed out), counted in poll cycles, not seconds. Both devices
    // tick every pollIntervalMs, so u2's ticks count the window's poll cycles.
    const ticks = (s: ModbusSource) =>
      s.counters.polls + s.counters.skippedPolls + s.counters.breakerSkips;
    const u1Polls = one.counters.polls;
    const u1Good = healthy.of('U1').length;
    const u2Ticks = ticks(two);
    const u2Probes = two.counters.polls;
    await until(() => two.counters.polls - u2Probes >= 3, 'three probes of u2', 10_000);
    const cycles = ticks(two) - u2Ticks;
    const probes = two.counters.polls - u2Probes;
    const good = healthy.of('U1').length - u1Good;

    // The breaker is open: u2 is probed once per backoff (>= 400 ms, many poll cycles),
    // not polled every cycle.
    expect(probes).toBeLessThan(cycles / 4);
    // Every poll u1 started produced a good reading (the last may still be in flight)...
    expect(good).toBeGreaterThanOrEqual(one.counters.polls - u1Polls - 1);
    // ...and u1 polled in every cycle except those its request spent queued behind one of
    // u2's probe timeouts (timeoutMs / pollIntervalMs cycles each, plus one of slack).
    const cyclesPerTimeout = Math.ceil(base.timeoutMs / base.pollIntervalMs) + 1;
    expect(good).toBeGreaterThanOrEqual(cycles - (probes + 1) * cyclesPerTimeout);
    expect(healthy.of('U1').filter((r) => r.quality !== 'good' || r.value !== 11)).toEqual([]);
    expect(dead.of('U2').filter((r) => r.reason?.startsWith('comm lost'))).toHaveLength(1);
    expect(two.counters.breakerSkips).toBeGreaterThan(5);

    sim.clearFaults();
    await until(() => dead.of('U2').at(-1)?.value === 22, 'u2 back');
    expect(events.filter((e) => e.deviceId === 'u2').map((e) => e.online)).toEqual([false, true]);
    expect(events.filter((e) => e.deviceId === 'u1').map((e) => e.online)).toEqual([true]);
  });
});

describe('coalescing against devices that refuse some addresses', () => {
  const tags = [
    tag('H0', { table: 'holding', address: 0 }),
    tag('H5', { table: 'holding', address: 5 }),
    tag('I0', { table: 'input', address: 0 }),
  ];
  const implemented = { holding: [[0, 1] as const, [5, 6] as const] };

  it('splits a merged read refused with exception 2 and remembers the split', async () => {
    const sim = await simulator([
      { unitId: 1, implemented, registers: { holding: { 0: 1, 5: 6 }, input: { 0: 9 } } },
    ]);
    const rec = recorder();
    const s = source(device(sim, tags), rec.sink);
    expect(s.readPlan).toHaveLength(2);
    await s.start();
    await until(() => rec.batches.length >= 4, 'four polls');
    expect(rec.of('H0').every((r) => r.value === 1)).toBe(true);
    expect(rec.of('H5').every((r) => r.value === 6)).toBe(true);
    expect(s.readPlan).toHaveLength(3);
    expect(s.counters.splits).toBe(1);
  });

  it('splits a merged read met with silence while the device answers its other reads', async () => {
    const sim = await simulator([
      {
        unitId: 1,
        implemented,
        illegalAddress: 'silence',
        registers: { holding: { 0: 1, 5: 6 }, input: { 0: 9 } },
      },
    ]);
    const rec = recorder();
    const s = source(device(sim, tags), rec.sink);
    await s.start();
    await until(() => rec.of('H5').some((r) => r.value === 6), 'H5 after the split');
    expect(rec.of('H0')[0]).toMatchObject({
      quality: 'bad',
      reason: 'timeout: no reply from unit 1 within 150 ms',
    });
    expect(rec.of('I0').every((r) => r.value === 9)).toBe(true);
    expect(s.readPlan).toHaveLength(3);
  });
});

describe('poll groups', () => {
  it('polls each group at its own interval', async () => {
    const sim = await simulator([{ unitId: 1 }]);
    const requests = { 3: 0, 4: 0 } as Record<number, number>;
    sim.on('request', (_unit, fc) => {
      requests[fc] = (requests[fc] ?? 0) + 1;
    });
    const config = device(
      sim,
      [
        tag('FAST', { table: 'holding', address: 0 }),
        tag('SLOW', { table: 'input', address: 0 }, { pollGroup: 'slow' }),
      ],
      { pollIntervalMs: 50, pollGroups: [{ name: 'slow', intervalMs: 500 }] },
    );
    const s = source(config, () => {});
    await s.start();
    // Counted against each other, not against the wall clock: by the third slow poll
    // (two 500 ms intervals) the 50 ms group has run many times; a shared interval
    // would give about as many of each.
    await until(() => (requests[4] ?? 0) >= 3, 'three polls of the slow group');
    expect(requests[3]).toBeGreaterThan(3 * requests[4]!);
  });
});

describe('data types on the wire', () => {
  it('reads the bits of one status word with one request', async () => {
    const sim = await simulator([{ unitId: 1, registers: { holding: { 200: 0b101 } } }]);
    const rec = recorder();
    const bits = [0, 1, 2].map((bit) =>
      tag(`BIT${bit}`, { table: 'holding', address: 200, type: 'bool', bit }),
    );
    const s = source(device(sim, bits), rec.sink);
    expect(s.readPlan).toHaveLength(1);
    await s.start();
    await until(() => rec.batches.length >= 1, 'a poll');
    expect(rec.batches[0]!.map((r) => [r.sensorId, r.value])).toEqual([
      ['BIT0', true],
      ['BIT1', false],
      ['BIT2', true],
    ]);
  });

  it('maps raw 4-20 mA counts to quality by NAMUR NE 43', async () => {
    // Counts in µA: 4000 at 4 mA, 20000 at 20 mA; range 0..100 %LEL.
    const currents = [3500, 3700, 12_000, 20_700, 21_500];
    const sim = await simulator([{ unitId: 1, registers: { holding: { 100: currents } } }]);
    const rec = recorder();
    const loopTags = currents.map((_, i) =>
      tag(
        `LOOP${i}`,
        { table: 'holding', address: 100 + i, currentLoop: { rawAt4mA: 4000, rawAt20mA: 20_000 } },
        { rangeMin: 0, rangeMax: 100 },
      ),
    );
    await source(device(sim, loopTags), rec.sink).start();
    await until(() => rec.batches.length >= 1, 'a poll');
    expect(rec.batches[0]!.map((r) => [r.quality, r.reason, r.value])).toEqual([
      ['bad', 'ne43 fault low', null],
      ['uncertain', 'ne43 below range', -1.875],
      ['good', undefined, 50],
      ['uncertain', 'ne43 above range', 104.375],
      ['bad', 'ne43 fault high', null],
    ]);
  });

  it('rounds values to what the device said: 20.9, not 20.900000000000002 (issue 11 item 7)', async () => {
    // 209 * 0.1, a float32 of 47.59389, the same with decimals: 1, and 4-20 mA counts.
    const float = [0x423e, 0x6025]; // Math.fround(47.59389) = 47.59389114379883
    const sim = await simulator([
      { unitId: 1, registers: { holding: { 0: 209, 2: float, 4: float, 10: 7333 } } },
    ]);
    const rec = recorder();
    const tags = [
      tag('SCALED', { table: 'holding', address: 0, type: 'int16', scale: 0.1 }),
      tag('FLOAT', { table: 'holding', address: 2, type: 'float32' }),
      tag('DECIMALS', { table: 'holding', address: 4, type: 'float32' }, { decimals: 1 }),
      tag(
        'LOOP',
        { table: 'holding', address: 10, currentLoop: { rawAt4mA: 4000, rawAt20mA: 20_000 } },
        { rangeMin: 0, rangeMax: 100 },
      ),
    ];
    await source(device(sim, tags), rec.sink).start();
    await until(() => rec.batches.length >= 1, 'a poll');
    expect(rec.batches[0]!.map((r) => [r.sensorId, r.value])).toEqual([
      ['SCALED', 20.9],
      ['FLOAT', 47.59389],
      ['DECIMALS', 47.6],
      ['LOOP', 20.83125],
    ]);
  });

  it('reads an ASCII string spanning several registers', async () => {
    const sim = await simulator([
      { unitId: 1, registers: { holding: { 10: [0x4754, 0x2d31, 0x3031, 0] } } },
    ]);
    const rec = recorder();
    const name = tag('NAME', { table: 'holding', address: 10, type: 'string', count: 4 });
    await source(device(sim, [name]), rec.sink).start();
    await until(() => rec.batches.length >= 1, 'a poll');
    expect(rec.of('NAME')[0]?.value).toBe('GT-101');
  });
});

describe('writes for local linkage', () => {
  async function writerFor(sim: ModbusDeviceSimulator) {
    const s = source(device(sim, [tag('H0', { table: 'holding', address: 0 })]), () => {});
    await s.start();
    await until(() => s.online, 'device online');
    return s;
  }

  it('writes a coil (FC 5) and several coils (FC 15), confirmed by reading back', async () => {
    const sim = await simulator([{ unitId: 1 }]);
    const s = await writerFor(sim);
    await expect(s.writeCoil(3, true)).resolves.toEqual({ value: true, verified: true });
    expect(sim.get(1, 'coil', 3)).toBe(1);
    await expect(s.writeCoils(8, [true, false, true])).resolves.toEqual({
      value: [true, false, true],
      verified: true,
    });
    expect([8, 9, 10].map((a) => sim.get(1, 'coil', a))).toEqual([1, 0, 1]);
  });

  it('writes one register (FC 6) and several (FC 16), confirmed by reading back', async () => {
    const sim = await simulator([{ unitId: 1 }]);
    const s = await writerFor(sim);
    await expect(s.writeRegisters(20, [4321])).resolves.toEqual({ value: [4321], verified: true });
    await expect(s.writeRegisters(30, [1, 2, 65_535])).resolves.toMatchObject({ verified: true });
    expect(sim.get(1, 'holding', 32)).toBe(65_535);
  });

  it('rejects a write the device does not keep, naming the readback', async () => {
    const sim = await simulator([{ unitId: 1 }]);
    sim.setStuck(1, 'coil', 0);
    const s = await writerFor(sim);
    const error = await s.writeCoil(0, true).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(WriteError);
    expect((error as WriteError).code).toBe('readback mismatch');
  });

  it('fails fast when the device is offline, and on an exception names the code', async () => {
    const sim = await simulator([{ unitId: 1, implemented: { holding: [[0, 9]] } }]);
    const s = await writerFor(sim);
    const refused = await s.writeRegisters(50, [1]).catch((err: unknown) => err);
    expect(refused).toMatchObject({
      code: 'exception',
      message: expect.stringContaining('exception 2'),
    });
    await sim.stop();
    await until(() => !s.online, 'device offline');
    const offline = await s.writeCoil(0, true).catch((err: unknown) => err);
    expect(offline).toMatchObject({ code: 'offline' });
  });

  it('is reachable through Acquisition.writer(deviceId)', async () => {
    const sim = await simulator([{ unitId: 1 }]);
    const acquisition = new Acquisition(
      [device(sim, [tag('H0', { table: 'holding', address: 0 })])],
      () => {},
      { clock: new ManualClock() },
    );
    cleanups.push(() => acquisition.stop());
    await acquisition.start();
    const writer = acquisition.writer('dev-1');
    expect(writer).toBeDefined();
    await until(() => (acquisition.sources[0] as ModbusSource).online, 'online');
    await expect(writer!.writeCoil(1, true)).resolves.toMatchObject({ verified: true });
    expect(acquisition.writer('nope')).toBeUndefined();
  });
});

describe('device status readings', () => {
  it("emits '<deviceId>.online' false once when the device stops answering and true when it is back", async () => {
    const sim = await simulator([{ unitId: 1, registers: { holding: { 0: 5 } } }]);
    const rec = recorder();
    const acquisition = new Acquisition(
      [device(sim, [tag('H0', { table: 'holding', address: 0 })], { timeoutMs: 50 })],
      rec.sink,
      { clock: new ManualClock(), statusReadings: true },
    );
    cleanups.push(() => acquisition.stop());
    await acquisition.start();
    await until(() => rec.of('dev-1.online').length === 1, 'online reading');
    sim.addFault({ kind: 'silence' });
    await until(() => rec.of('dev-1.online').length === 2, 'offline reading');
    sim.clearFaults();
    await until(() => rec.of('dev-1.online').length === 3, 'online again', 8000);
    expect(rec.of('dev-1.online').map((r) => r.value)).toEqual([true, false, true]);
    expect(rec.of('H0').filter((r) => r.reason?.startsWith('comm lost'))).toHaveLength(1);
  });
});
