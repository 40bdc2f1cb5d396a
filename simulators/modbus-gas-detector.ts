/**
 * A simulated multi-channel gas-detector controller speaking Modbus TCP (modbus-serial ServerTCP).
 * A peer from outside: the product never imports this file.
 *
 * Register map (also in simulators/README.md; unit id `unitId`, default 1):
 *   Input registers (FC 4)   2*i, 2*i+1  channel i engineering value, float32, word order ABCD
 *                                        (high word first, each word big-endian)
 *   Holding registers (FC 3) 100+i       channel i loop current, uint16 µA (4000..20000 for
 *                                        rangeMin..rangeMax; NAMUR NE 43 faults e.g. 3500)
 *                            200         status word: bit 0 any channel in fault, bit 1 power OK
 *   Coils (FC 1, 5, 15)      0..7        relay outputs, writable and read back
 *   Discrete inputs (FC 2)   0..7        relay feedback contacts, mirror the coils
 * Every other address answers Modbus exception 2 (illegal data address), also inside a read that
 * spans a gap (e.g. holding 100..200 in one request): readers must not coalesce across gaps.
 * Holding registers are read-only (writes answer exception 2). A request for another unit id gets
 * no answer at all (modbus-serial ServerTCP drops it), as with a silent device on a bus.
 */
import { EventEmitter } from 'node:events';
import { ServerTCP } from 'modbus-serial';
import { type Clock, systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import { freePort, isAddressInUse, PortInUseError } from '../common/net.js';
import { clamp, DriftingNoise, seededRandom } from './noise.js';
import { type Scenario, ScenarioTimeline } from './scenario.js';

const log = createLogger('simulators.modbus');

const DEFAULTS = {
  host: '127.0.0.1',
  unitId: 1,
  tickMs: 100, // 100 ms between value updates
  timeScale: 1, // scenario seconds per real second
  seed: 0x5eed,
  portZeroAttempts: 5, // tries when port 0 asks for a free port (see start())
};

/** The register map as numbers, for configs and tests. */
export const GAS_DETECTOR_REGISTERS = {
  /** Input register of channel i's float32 value: valueBase + 2*i (two registers, ABCD). */
  valueBase: 0,
  /** Holding register of channel i's loop current in µA: loopCurrentBase + i. */
  loopCurrentBase: 100,
  /** Holding register of the controller status word. */
  statusWord: 200,
  statusBits: { anyFault: 0, powerOk: 1 },
  /** Coils 0..relayCount-1 (relay outputs) and discrete inputs 0..relayCount-1 (feedback). */
  relayCount: 8,
  /** Highest channel number the map has room for (value registers stay below 100). */
  maxChannel: 49,
} as const;

/** Modbus Application Protocol v1.1b3 §6.3/6.4: at most 125 registers per read. */
const MAX_READ_REGISTERS = 125;

/**
 * 4–20 mA signal limits in µA. NAMUR NE 43: 3.8–20.5 mA is a valid measurement (the signal
 * saturates there when the value leaves the range); below 3.6 mA or above 21 mA is a device fault.
 */
export const NAMUR_NE43_UA = {
  zero: 4000,
  span: 16000,
  saturationLow: 3800,
  saturationHigh: 20500,
  faultBelow: 3600,
  faultAbove: 21000,
  /** A typical "fault low" current a detector drives when it fails. */
  typicalFaultLow: 3500,
} as const;

/** One detector channel (one sensor head wired to the controller). */
export interface ChannelSpec {
  /** 0-based channel number; sets the register addresses. */
  channel: number;
  name: string;
  gas: string;
  unit: string;
  rangeMin: number;
  rangeMax: number;
  /** Level the reading rests at when no scenario step applies. */
  baseline: number;
  /** Standard deviation of the reading's noise, in `unit`. */
  noise: number;
}

/** The demo controller: methane, H2S, O2 and CO heads. */
export const DEMO_GAS_CHANNELS: readonly ChannelSpec[] = Object.freeze([
  {
    channel: 0,
    name: 'Compressor skid methane',
    gas: 'CH4',
    unit: '%LEL',
    rangeMin: 0,
    rangeMax: 100,
    baseline: 1,
    noise: 0.3,
  },
  {
    channel: 1,
    name: 'Sour water stripper H2S',
    gas: 'H2S',
    unit: 'ppm',
    rangeMin: 0,
    rangeMax: 100,
    baseline: 0.5,
    noise: 0.1,
  },
  {
    channel: 2,
    name: 'Analyser house O2',
    gas: 'O2',
    unit: '%VOL',
    rangeMin: 0,
    rangeMax: 25,
    baseline: 20.9,
    noise: 0.03,
  },
  {
    channel: 3,
    name: 'Furnace area CO',
    gas: 'CO',
    unit: 'ppm',
    rangeMin: 0,
    rangeMax: 500,
    baseline: 2,
    noise: 0.5,
  },
]);

export interface ModbusGasDetectorOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one (read `port` after start()). */
  port: number;
  /** Modbus unit id answered; default 1 (0 answers every unit id). */
  unitId?: number;
  channels: readonly ChannelSpec[];
  scenario?: Scenario;
  /** Scenario seconds per real second; default 1 (10 runs the scenario ten times faster). */
  timeScale?: number;
  clock?: Clock;
  /** Milliseconds between value updates; default 100. 0: no timer, call tick() yourself. */
  tickMs?: number;
  /** PRNG seed for the noise; the same seed and tick count give the same readings. */
  seed?: number;
}

export interface ModbusGasDetectorEvents {
  /** A client wrote a coil (FC 5 or 15). */
  coilWrite: [coil: number, value: boolean];
}

interface ChannelState {
  spec: ChannelSpec;
  noise: DriftingNoise;
  value: number;
  override: number | undefined;
  /** Loop current forced through setLoopCurrent() (wins over the scenario's). */
  manualCurrentUa: number | undefined;
  /** Loop current forced by a scenario loopCurrent step. */
  scenarioCurrentUa: number | undefined;
}

class ModbusException extends Error {
  constructor(
    readonly modbusErrorCode: number,
    message: string,
  ) {
    super(message);
  }
}

const illegalAddress = (what: string, address: number): ModbusException =>
  new ModbusException(2, `illegal data address: ${what} ${address}`);

/** Loop current in µA for a value on a channel's range, saturating at the NE 43 limits. */
export function loopCurrentFor(spec: ChannelSpec, value: number): number {
  const span = spec.rangeMax - spec.rangeMin;
  const ua = NAMUR_NE43_UA.zero + (NAMUR_NE43_UA.span * (value - spec.rangeMin)) / span;
  return Math.round(clamp(ua, NAMUR_NE43_UA.saturationLow, NAMUR_NE43_UA.saturationHigh));
}

/**
 * Simulated gas-detector controller.
 *
 * Lifecycle: the constructor checks the options (throws on a bad channel list or a scenario step
 * naming a missing channel) and does no I/O; start() binds the port and starts the scenario clock
 * (scenario time 0 = start()); stop() closes the server, drops clients and clears the timer, and
 * is safe to call twice. start() after stop() binds the same port again (a "device restart") and
 * restarts the scenario. Values change only on tick() (every tickMs) except through setValue(),
 * setLoopCurrent() and their release, which take effect immediately.
 */
export class ModbusGasDetectorSimulator extends EventEmitter<ModbusGasDetectorEvents> {
  private readonly host: string;
  private readonly unitId: number;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly timeScale: number;
  private readonly timeline: ScenarioTimeline | undefined;
  private readonly channels = new Map<number, ChannelState>();
  private readonly coils: boolean[];
  private server: ServerTCP | undefined;
  private timer: NodeJS.Timeout | undefined;
  private boundPort: number;
  private startedAt = 0;

  constructor(options: ModbusGasDetectorOptions) {
    super();
    this.host = options.host ?? DEFAULTS.host;
    this.unitId = options.unitId ?? DEFAULTS.unitId;
    this.clock = options.clock ?? systemClock;
    this.tickMs = options.tickMs ?? DEFAULTS.tickMs;
    this.timeScale = options.timeScale ?? DEFAULTS.timeScale;
    this.boundPort = options.port;
    this.coils = new Array<boolean>(GAS_DETECTOR_REGISTERS.relayCount).fill(false);
    if (!(this.timeScale > 0)) {
      throw new Error(`timeScale must be a positive number (got ${options.timeScale})`);
    }
    if (options.channels.length === 0) throw new Error('channels: at least one channel needed');
    const random = seededRandom(options.seed ?? DEFAULTS.seed);
    for (const spec of options.channels) {
      const where = `channel ${spec.channel} ('${spec.name}')`;
      if (
        !Number.isInteger(spec.channel) ||
        spec.channel < 0 ||
        spec.channel > GAS_DETECTOR_REGISTERS.maxChannel
      ) {
        throw new Error(
          `${where}: channel must be an integer 0..${GAS_DETECTOR_REGISTERS.maxChannel}`,
        );
      }
      if (this.channels.has(spec.channel)) throw new Error(`${where}: defined twice`);
      if (!(spec.rangeMax > spec.rangeMin))
        throw new Error(`${where}: rangeMax must exceed rangeMin`);
      if (!(spec.noise >= 0)) throw new Error(`${where}: noise must be >= 0`);
      this.channels.set(spec.channel, {
        spec,
        noise: new DriftingNoise(random, spec.noise),
        value: clamp(spec.baseline, spec.rangeMin, spec.rangeMax),
        override: undefined,
        manualCurrentUa: undefined,
        scenarioCurrentUa: undefined,
      });
    }
    if (options.scenario) {
      this.timeline = new ScenarioTimeline(options.scenario);
      for (const channel of this.timeline.channels()) {
        if (!this.channels.has(channel)) {
          throw new Error(
            `scenario '${options.scenario.name}' drives channel ${channel}, which this detector does not have (channels: ${[...this.channels.keys()].join(', ')})`,
          );
        }
      }
    }
  }

  /** The bound TCP port (the real one after start() with port 0). */
  get port(): number {
    return this.boundPort;
  }

  /** Scenario time in ms (after timeScale and repeatAfter); 0 before start(). */
  get scenarioTimeMs(): number {
    if (!this.server) return 0;
    const elapsed = (this.clock.now() - this.startedAt) * this.timeScale;
    return this.timeline ? this.timeline.scenarioTime(elapsed) : elapsed;
  }

  /** Binds the port. Rejects with PortInUseError when the port is taken. */
  async start(): Promise<void> {
    if (this.server) return;
    // ServerTCP does `options.port || 502`, so it cannot bind port 0 itself: ask the OS for a
    // free port and retry if another process takes it between the lookup and the bind.
    if (this.boundPort === 0) {
      for (let attempt = 1; ; attempt++) {
        const candidate = await freePort(this.host);
        try {
          this.server = await this.listen(candidate);
          this.boundPort = candidate;
          break;
        } catch (err) {
          if (!isAddressInUse(err) || attempt >= DEFAULTS.portZeroAttempts) throw err;
        }
      }
    } else {
      try {
        this.server = await this.listen(this.boundPort);
      } catch (cause) {
        if (isAddressInUse(cause)) {
          throw new PortInUseError(
            'Modbus gas detector simulator',
            this.boundPort,
            'the port option',
            {
              cause,
            },
          );
        }
        throw new Error(
          `Modbus gas detector simulator: cannot listen on ${this.host}:${this.boundPort}`,
          {
            cause,
          },
        );
      }
    }
    this.startedAt = this.clock.now();
    this.tick();
    if (this.tickMs > 0) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
    log.info(
      { host: this.host, port: this.boundPort, unitId: this.unitId },
      'gas detector listening',
    );
  }

  /** Closes the server and drops connected clients. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    log.info({ port: this.boundPort }, 'gas detector stopped');
  }

  /**
   * Recomputes every channel for the current clock time: scenario level plus drifting noise,
   * clamped to the range. Runs every tickMs after start(); call it yourself with tickMs 0.
   */
  tick(): void {
    const t = this.scenarioTimeMs;
    for (const state of this.channels.values()) {
      const { spec } = state;
      const noise = state.noise.next();
      state.scenarioCurrentUa = this.timeline?.loopCurrentAt(spec.channel, t);
      if (state.override !== undefined) continue;
      const level = this.timeline
        ? this.timeline.levelAt(spec.channel, spec.baseline, t)
        : spec.baseline;
      state.value = clamp(level + noise, spec.rangeMin, spec.rangeMax);
    }
  }

  /**
   * Holds `channel` at exactly `value` (no noise, no scenario, no clamping to range) until
   * release(). Visible to the very next Modbus read.
   */
  setValue(channel: number, value: number): void {
    if (!Number.isFinite(value))
      throw new Error(`setValue(${channel}): value must be finite (got ${value})`);
    const state = this.channelState(channel);
    state.override = value;
    state.value = value;
  }

  /** Hands `channel` back to the scenario and noise (takes effect at once). */
  release(channel: number): void {
    const state = this.channelState(channel);
    state.override = undefined;
    const { spec } = state;
    const level = this.timeline
      ? this.timeline.levelAt(spec.channel, spec.baseline, this.scenarioTimeMs)
      : spec.baseline;
    state.value = clamp(level, spec.rangeMin, spec.rangeMax);
  }

  /** Current engineering value of `channel`, as served in its input registers. */
  getValue(channel: number): number {
    return this.channelState(channel).value;
  }

  /**
   * Forces the loop current of `channel` (µA), e.g. NAMUR_NE43_UA.typicalFaultLow for a failed
   * head. The status word's fault bit follows. Undo with clearLoopCurrent().
   */
  setLoopCurrent(channel: number, microamps: number): void {
    if (!Number.isInteger(microamps) || microamps < 0 || microamps > 0xffff) {
      throw new Error(
        `setLoopCurrent(${channel}): µA must be an integer 0..65535 (got ${microamps})`,
      );
    }
    this.channelState(channel).manualCurrentUa = microamps;
  }

  /** Undoes setLoopCurrent() (a scenario loopCurrent step, if any, applies again). */
  clearLoopCurrent(channel: number): void {
    this.channelState(channel).manualCurrentUa = undefined;
  }

  /** Loop current of `channel` in µA, as served in its holding register. */
  loopCurrent(channel: number): number {
    const state = this.channelState(channel);
    return (
      state.manualCurrentUa ?? state.scenarioCurrentUa ?? loopCurrentFor(state.spec, state.value)
    );
  }

  /** State of relay coil `index`. */
  coil(index: number): boolean {
    if (!Number.isInteger(index) || index < 0 || index >= this.coils.length) {
      throw new Error(`coil ${index} does not exist (coils 0..${this.coils.length - 1})`);
    }
    return this.coils[index] as boolean;
  }

  /** The status word served at holding register 200. */
  statusWord(): number {
    const { anyFault, powerOk } = GAS_DETECTOR_REGISTERS.statusBits;
    let word = 1 << powerOk;
    for (const channel of this.channels.keys()) {
      const ua = this.loopCurrent(channel);
      // NAMUR NE 43: below 3.6 mA or above 21 mA is a device fault.
      if (ua < NAMUR_NE43_UA.faultBelow || ua > NAMUR_NE43_UA.faultAbove) word |= 1 << anyFault;
    }
    return word;
  }

  private channelState(channel: number): ChannelState {
    const state = this.channels.get(channel);
    if (!state) {
      throw new Error(
        `channel ${channel} does not exist on this detector (channels: ${[...this.channels.keys()].join(', ')})`,
      );
    }
    return state;
  }

  private inputRegister(address: number): number {
    const channel = this.channels.get(Math.floor((address - GAS_DETECTOR_REGISTERS.valueBase) / 2));
    if (address < GAS_DETECTOR_REGISTERS.valueBase || !channel) {
      throw illegalAddress('input register', address);
    }
    const bytes = Buffer.alloc(4);
    bytes.writeFloatBE(channel.value); // ABCD: high word first
    return (address - GAS_DETECTOR_REGISTERS.valueBase) % 2 === 0
      ? bytes.readUInt16BE(0)
      : bytes.readUInt16BE(2);
  }

  private holdingRegister(address: number): number {
    if (address === GAS_DETECTOR_REGISTERS.statusWord) return this.statusWord();
    const channel = address - GAS_DETECTOR_REGISTERS.loopCurrentBase;
    if (channel >= 0 && this.channels.has(channel)) return this.loopCurrent(channel);
    throw illegalAddress('holding register', address);
  }

  private registerBlock(kind: 'input' | 'holding', address: number, length: number): number[] {
    if (length > MAX_READ_REGISTERS) {
      throw new ModbusException(
        3,
        `illegal data value: ${length} registers (max ${MAX_READ_REGISTERS})`,
      );
    }
    const read = kind === 'input' ? this.inputRegister : this.holdingRegister;
    return Array.from({ length }, (_, i) => read.call(this, address + i));
  }

  private relay(address: number, what: string): boolean {
    const value = this.coils[address];
    if (value === undefined) throw illegalAddress(what, address);
    return value;
  }

  private listen(port: number): Promise<ServerTCP> {
    // modbus-serial picks callback or return-value style from each function's arity, so every
    // handler below takes exactly (address[, length | value], unitId) and returns or throws.
    // A thrown { modbusErrorCode } becomes that Modbus exception response.
    const vector = {
      getInputRegister: (address: number, _unit: number) => this.inputRegister(address),
      getMultipleInputRegisters: (address: number, length: number, _unit: number) =>
        this.registerBlock('input', address, length),
      getHoldingRegister: (address: number, _unit: number) => this.holdingRegister(address),
      getMultipleHoldingRegisters: (address: number, length: number, _unit: number) =>
        this.registerBlock('holding', address, length),
      getCoil: (address: number, _unit: number) => this.relay(address, 'coil'),
      getDiscreteInput: (address: number, _unit: number) => this.relay(address, 'discrete input'),
      setCoil: (address: number, value: boolean, _unit: number) => {
        this.relay(address, 'coil');
        const changed = this.coils[address] !== value;
        this.coils[address] = value;
        if (changed) log.info({ coil: address, value }, 'relay coil written');
        this.emit('coilWrite', address, value);
      },
      setRegister: (address: number, _value: number, _unit: number) => {
        throw illegalAddress('writable register', address);
      },
    };
    return new Promise((resolve, reject) => {
      const server = new ServerTCP(vector, { host: this.host, port, unitID: this.unitId });
      const onStartupError = (err: Error) => {
        server.close(() => {});
        reject(err);
      };
      server.once('serverError', onStartupError);
      server.once('initialized', () => {
        server.off('serverError', onStartupError);
        server.on('serverError', (err) => log.error({ err, port }, 'gas detector server error'));
        resolve(server);
      });
      // Clients vanishing mid-request (ECONNRESET) are routine for a device; keep them quiet.
      server.on('socketError', (err) => log.debug({ err }, 'client socket error'));
      server.on('error', (err) => log.warn({ err }, 'gas detector response error'));
    });
  }
}
