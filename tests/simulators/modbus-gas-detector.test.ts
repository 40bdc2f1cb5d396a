import net from 'node:net';
import ModbusSerial from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { PortInUseError } from '../../common/net.js';
import {
  type ChannelSpec,
  DEMO_GAS_CHANNELS,
  GAS_DETECTOR_REGISTERS,
  type ModbusGasDetectorOptions,
  ModbusGasDetectorSimulator,
  NAMUR_NE43_UA,
} from '../../simulators/modbus-gas-detector.js';
import { bundledScenarioPath, loadScenario } from '../../simulators/scenario.js';

// modbus-serial's types say `export default ModbusRTU`, but the CommonJS module.exports *is* the
// class, which is what an ESM default import yields at runtime.
const ModbusRTU = ModbusSerial as unknown as typeof ModbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

const QUIET_CHANNELS: ChannelSpec[] = DEMO_GAS_CHANNELS.map((c) => ({ ...c, noise: 0 }));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startDetector(
  options: Partial<ModbusGasDetectorOptions> = {},
): Promise<ModbusGasDetectorSimulator> {
  const detector = new ModbusGasDetectorSimulator({
    port: 0,
    channels: DEMO_GAS_CHANNELS,
    tickMs: 0,
    clock: new ManualClock(),
    ...options,
  });
  cleanups.push(() => detector.stop());
  await detector.start();
  return detector;
}

async function connect(port: number, unitId = 1, timeoutMs = 1000): Promise<ModbusRTU> {
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(unitId);
  client.setTimeout(timeoutMs);
  cleanups.push(() => new Promise<void>((resolve) => client.close(() => resolve())));
  return client;
}

function floatAt(buffer: Buffer, channel: number): number {
  return buffer.readFloatBE(channel * 4); // ABCD: the high word comes first
}

async function modbusErrorCode(request: Promise<unknown>): Promise<number | undefined> {
  try {
    await request;
  } catch (err) {
    return (err as { modbusCode?: number }).modbusCode;
  }
  throw new Error('expected a Modbus exception, got an answer');
}

describe('ModbusGasDetectorSimulator', () => {
  it('listens on a free port when given port 0 and reports it', async () => {
    const detector = await startDetector();
    expect(detector.port).toBeGreaterThan(0);
    const client = await connect(detector.port);
    expect(client.isOpen).toBe(true);
  });

  it('serves each channel as a float32 in two input registers, high word first', async () => {
    const detector = await startDetector({ channels: QUIET_CHANNELS });
    const client = await connect(detector.port);
    const { buffer, data } = await client.readInputRegisters(0, 8);
    expect(data).toHaveLength(8);
    for (const spec of QUIET_CHANNELS) {
      expect(floatAt(buffer, spec.channel)).toBe(Math.fround(spec.baseline));
    }
    // Independently of Buffer.readFloatBE: O2 20.9 is 0x41A73333 in IEEE 754.
    expect(data[4]).toBe(0x41a7);
    expect(data[5]).toBe(0x3333);
  });

  it('serves the 4–20 mA loop current in µA and a status word with power OK', async () => {
    const detector = await startDetector({ channels: QUIET_CHANNELS });
    const client = await connect(detector.port);
    const loop = await client.readHoldingRegisters(GAS_DETECTOR_REGISTERS.loopCurrentBase, 4);
    // methane 1 %LEL of 0–100 → 4000 + 16000 × 0.01 = 4160 µA; O2 20.9 of 0–25 → 17376 µA
    expect(loop.data).toEqual([4160, 4080, 17376, 4064]);
    const status = await client.readHoldingRegisters(GAS_DETECTOR_REGISTERS.statusWord, 1);
    expect(status.data[0]).toBe(0b10);
  });

  it('raises the fault bit while a channel drives a NAMUR NE 43 fault current', async () => {
    const detector = await startDetector();
    const client = await connect(detector.port);
    detector.setLoopCurrent(3, NAMUR_NE43_UA.typicalFaultLow);
    expect((await client.readHoldingRegisters(103, 1)).data[0]).toBe(3500);
    expect((await client.readHoldingRegisters(200, 1)).data[0]).toBe(0b11);
    detector.clearLoopCurrent(3);
    expect((await client.readHoldingRegisters(200, 1)).data[0]).toBe(0b10);
  });

  it('answers exception 2 (illegal data address) for addresses outside the map', async () => {
    const detector = await startDetector();
    const client = await connect(detector.port);
    expect(await modbusErrorCode(client.readInputRegisters(8, 2))).toBe(2);
    expect(await modbusErrorCode(client.readInputRegisters(6, 4))).toBe(2);
    expect(await modbusErrorCode(client.readHoldingRegisters(150, 1))).toBe(2);
    // A read spanning the gap between the loop currents and the status word fails as a whole.
    expect(await modbusErrorCode(client.readHoldingRegisters(100, 101))).toBe(2);
    expect(await modbusErrorCode(client.readCoils(8, 1))).toBe(2);
    expect(await modbusErrorCode(client.writeRegister(100, 1))).toBe(2);
    // The connection survives the exceptions.
    expect((await client.readInputRegisters(0, 2)).data).toHaveLength(2);
  });

  it('makes setValue visible to the very next read, exactly and without noise', async () => {
    const detector = await startDetector();
    const client = await connect(detector.port);
    detector.setValue(0, 42.5);
    const { buffer } = await client.readInputRegisters(0, 2);
    expect(buffer.readFloatBE(0)).toBe(42.5);
    detector.tick();
    expect(floatAt((await client.readInputRegisters(0, 2)).buffer, 0)).toBe(42.5);
    detector.release(0);
    detector.tick();
    expect(floatAt((await client.readInputRegisters(0, 2)).buffer, 0)).toBeLessThan(5);
  });

  it('follows the fast-leak scenario ramps on the injected clock', async () => {
    const clock = new ManualClock();
    const scenario = await loadScenario(bundledScenarioPath('fast-leak'));
    const detector = await startDetector({ channels: QUIET_CHANNELS, scenario, clock });
    const client = await connect(detector.port);
    const methaneAt = async (ms: number) => {
      clock.set(Date.UTC(2026, 0, 1) + ms);
      detector.tick();
      return floatAt((await client.readInputRegisters(0, 2)).buffer, 0);
    };
    expect(await methaneAt(400)).toBe(1);
    expect(await methaneAt(900)).toBeCloseTo(1 + (31 * 400) / 800, 4);
    expect(await methaneAt(1300)).toBe(32); // level 1 reached (>= 25 %LEL)
    expect(await methaneAt(2800)).toBe(60); // level 2 reached (>= 50 %LEL)
    expect(await methaneAt(5000)).toBe(60);
    expect(await methaneAt(7000)).toBe(1); // recovered
    // The other channels never moved.
    const { buffer } = await client.readInputRegisters(0, 8);
    expect(floatAt(buffer, 2)).toBe(Math.fround(20.9));
  });

  it('compresses a scenario by timeScale', async () => {
    const clock = new ManualClock();
    const scenario = await loadScenario(bundledScenarioPath('demo-leak'));
    const detector = await startDetector({
      channels: QUIET_CHANNELS,
      scenario,
      clock,
      timeScale: 10,
    });
    clock.advance(3_500); // 35 s of scenario time
    detector.tick();
    expect(detector.getValue(0)).toBe(60);
    expect(detector.scenarioTimeMs).toBe(35_000);
  });

  it('keeps noisy readings inside the range and around the baseline', async () => {
    const detector = await startDetector({ seed: 7 });
    const samples: number[] = [];
    for (let i = 0; i < 500; i++) {
      detector.tick();
      samples.push(detector.getValue(2));
    }
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(mean).toBeGreaterThan(20.8);
    expect(mean).toBeLessThan(21.0);
    expect(new Set(samples).size).toBeGreaterThan(400);
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
  });

  it('produces the same readings for the same seed', async () => {
    const a = await startDetector({ seed: 42 });
    const b = await startDetector({ seed: 42 });
    for (let i = 0; i < 20; i++) {
      a.tick();
      b.tick();
    }
    expect(a.getValue(0)).toBe(b.getValue(0));
    expect(a.getValue(3)).toBe(b.getValue(3));
  });

  it('latches written coils, mirrors them on discrete inputs and reports the write', async () => {
    const detector = await startDetector();
    const client = await connect(detector.port);
    const writes: Array<[number, boolean]> = [];
    detector.on('coilWrite', (coil, value) => writes.push([coil, value]));
    await client.writeCoil(1, true);
    expect(detector.coil(1)).toBe(true);
    expect(writes).toEqual([[1, true]]);
    expect((await client.readCoils(0, 8)).data.slice(0, 3)).toEqual([false, true, false]);
    expect((await client.readDiscreteInputs(0, 8)).data.slice(0, 3)).toEqual([false, true, false]);
  });

  it('does not answer requests for another unit id', async () => {
    const detector = await startDetector();
    const client = await connect(detector.port, 9, 200);
    await expect(client.readInputRegisters(0, 2)).rejects.toThrow(/timed out/i);
  });

  it('comes back on the same port after stop() and start(), like a restarted device', async () => {
    const detector = await startDetector();
    const port = detector.port;
    await detector.stop();
    await detector.stop(); // safe twice
    await detector.start();
    expect(detector.port).toBe(port);
    const client = await connect(port);
    expect((await client.readInputRegisters(0, 2)).data).toHaveLength(2);
  });

  it('rejects with PortInUseError naming the port when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const port = (blocker.address() as net.AddressInfo).port;
    const detector = new ModbusGasDetectorSimulator({ port, channels: DEMO_GAS_CHANNELS });
    cleanups.push(() => detector.stop());
    const error = await detector.start().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PortInUseError);
    expect((error as Error).message).toContain(`port ${port} is already in use`);
  });

  it('refuses a scenario that drives a channel the detector lacks', async () => {
    const scenario = await loadScenario(bundledScenarioPath('fast-leak'));
    const channels = QUIET_CHANNELS.filter((c) => c.channel !== 0);
    expect(() => new ModbusGasDetectorSimulator({ port: 0, channels, scenario })).toThrow(
      /drives channel 0, which this detector does not have/,
    );
  });
});
