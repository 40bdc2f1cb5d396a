/**
 * A generic simulated Modbus slave (several unit ids) with fault injection, speaking
 * Modbus TCP, RTU over TCP, or RTU over a serial line (a pty from `socat`). It frames
 * and answers requests itself (no modbus-serial server), so it can misbehave on
 * purpose: exception codes, slow replies, silence, replies with a wrong transaction
 * id, unit id or function code, dropped connections, stuck values, NE 43 fault currents.
 * A peer from outside: the product never imports this file.
 *
 * Memory per unit: 65536 coils, discrete inputs, holding and input registers, all zero
 * unless set. `implemented` limits the legal addresses per table; an illegal address
 * answers exception 2, or nothing with `illegalAddress: 'silence'` (some devices do).
 *
 * Frames (Modbus Application Protocol V1.1b3 §6; Modbus Messaging on TCP/IP §3.1.3 MBAP;
 * Modbus over Serial Line V1.02 §2.5.1 RTU frame with CRC-16 low byte first).
 */
import { EventEmitter } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tty from 'node:tty';
import { parse as parseYaml } from 'yaml';
import { type Clock, systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import { isAddressInUse, PortInUseError } from '../common/net.js';
import { parseDuration } from './scenario.js';

const log = createLogger('simulators.modbus-device');

export type Table = 'coil' | 'discrete' | 'holding' | 'input';
export const TABLES: readonly Table[] = ['coil', 'discrete', 'holding', 'input'];

/** Modbus Application Protocol V1.1b3 limits per request. */
const LIMITS = {
  readBits: 2000, // §6.1/§6.2
  readRegisters: 125, // §6.3/§6.4
  writeCoils: 1968, // §6.11
  writeRegisters: 123, // §6.12
};

export type FaultKind =
  | 'exception' // answer exception `code`
  | 'silence' // no answer at all
  | 'delay' // answer after `ms`
  | 'drop-connection' // close the TCP connection instead of answering
  | 'wrong-transaction' // answer with another MBAP transaction id (TCP)
  | 'wrong-unit' // answer with another unit id
  | 'wrong-function'; // answer with another function code

/** A fault applied to matching requests while active. */
export interface Fault {
  kind: FaultKind;
  /** Only requests to this unit id (default: all). */
  unitId?: number;
  /** Only this function code (default: all). */
  functionCode?: number;
  /** Only requests touching this table... */
  table?: Table;
  /** ...and overlapping addresses from..to (inclusive). */
  from?: number;
  to?: number;
  /** Exception code for kind 'exception' (default 4, server device failure). */
  code?: number;
  /** Delay for kind 'delay'. */
  ms?: number;
  /** Applies to this many matching requests, then retires (default: unlimited). */
  times?: number;
  /** Active from this many ms after start() (default 0)... */
  atMs?: number;
  /** ...for this long (default: forever). */
  forMs?: number;
}

export interface UnitSpec {
  unitId: number;
  /** Legal address ranges per table, inclusive; a table not named is fully legal. */
  implemented?: Partial<Record<Table, readonly (readonly [number, number])[]>>;
  /** How an illegal address is answered (default 'exception', i.e. exception 2). */
  illegalAddress?: 'exception' | 'silence';
  /** Initial values: registers as words, bits as booleans. */
  registers?: Partial<Record<Table, Record<number, number | boolean | readonly number[]>>>;
}

export interface ModbusDeviceOptions {
  units: readonly UnitSpec[];
  /** 'tcp' (MBAP) or 'rtu-tcp' (RTU frames over TCP); listen() only. */
  transport?: 'tcp' | 'rtu-tcp';
  host?: string;
  /** 0 (default) picks a free port; read `.port` after start(). */
  port?: number;
  faults?: readonly Fault[];
  clock?: Clock;
}

export interface ModbusDeviceEvents {
  request: [unitId: number, functionCode: number];
}

/** One unit's memory. */
class UnitMemory {
  readonly bits: Record<'coil' | 'discrete', Uint8Array> = {
    coil: new Uint8Array(65_536),
    discrete: new Uint8Array(65_536),
  };
  readonly words: Record<'holding' | 'input', Uint16Array> = {
    holding: new Uint16Array(65_536),
    input: new Uint16Array(65_536),
  };
  /** Addresses whose value is stuck: writes and set() leave them alone. */
  readonly stuck = new Set<string>();

  constructor(readonly spec: UnitSpec) {
    for (const table of TABLES) {
      for (const [address, value] of Object.entries(spec.registers?.[table] ?? {})) {
        this.set(table, Number(address), value);
      }
    }
  }

  legal(table: Table, address: number, count: number): boolean {
    const ranges = this.spec.implemented?.[table];
    if (!ranges) return true;
    for (let a = address; a < address + count; a++) {
      if (!ranges.some(([from, to]) => a >= from && a <= to)) return false;
    }
    return true;
  }

  set(table: Table, address: number, value: number | boolean | readonly number[]): void {
    const values = Array.isArray(value) ? value : [value];
    values.forEach((v, i) => {
      const at = address + i;
      if (this.stuck.has(`${table}:${at}`)) return;
      if (table === 'coil' || table === 'discrete') this.bits[table][at] = v ? 1 : 0;
      else this.words[table][at] = Number(v) & 0xffff;
    });
  }
}

/** CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), Modbus over Serial Line §6.2.2. */
export function crc16(buffer: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of buffer) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

interface Request {
  unitId: number;
  pdu: Buffer;
}

/** Answer to one request: a PDU, silence, or a dropped connection. */
type Answer =
  | { kind: 'pdu'; unitId: number; pdu: Buffer; delayMs: number; transactionOffset: number }
  | { kind: 'silence' }
  | { kind: 'drop' };

export class ModbusDeviceSimulator extends EventEmitter<ModbusDeviceEvents> {
  /** Requests received (all units), and per unit id. */
  readonly counters = { requests: 0, perUnit: new Map<number, number>() };
  private readonly units = new Map<number, UnitMemory>();
  private faults: (Fault & { used: number })[] = [];
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private serial: { input: tty.ReadStream; output: tty.WriteStream; fd: number } | null = null;
  private startedAt = 0;
  private readonly clock: Clock;
  private boundPort = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: ModbusDeviceOptions) {
    super();
    for (const unit of options.units) this.units.set(unit.unitId, new UnitMemory(unit));
    this.clock = options.clock ?? systemClock;
    for (const fault of options.faults ?? []) this.addFault(fault);
  }

  /** The TCP port listened on (after start()). */
  get port(): number {
    return this.boundPort;
  }

  /** Listens on TCP (transport 'tcp' or 'rtu-tcp'); port 0 picks a free port. */
  async start(): Promise<void> {
    if (this.server) return;
    this.startedAt = this.clock.now();
    const server = net.createServer((socket) => this.onSocket(socket));
    const port = this.boundPort || (this.options.port ?? 0);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          isAddressInUse(err)
            ? new PortInUseError('Modbus device simulator', port, 'the port option', { cause: err })
            : err,
        ),
      );
      server.listen(port, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : port;
    this.server = server;
  }

  /** Serves RTU on a serial device (e.g. one end of a socat pty pair). */
  async attachSerial(path: string): Promise<void> {
    if (this.serial) return;
    if (!this.startedAt) this.startedAt = this.clock.now();
    const fd = openSync(path, 'r+');
    const input = new tty.ReadStream(fd);
    input.setRawMode(true);
    const output = new tty.WriteStream(fd);
    this.serial = { input, output, fd };
    let buffer: Buffer = Buffer.alloc(0);
    input.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      buffer = this.consumeRtu(buffer, (frame) => {
        if (this.serial?.output === output) output.write(frame);
      });
    });
    input.on('error', () => {});
    output.on('error', () => {});
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    const serial = this.serial;
    this.serial = null;
    if (serial) {
      serial.input.destroy();
      serial.output.destroy();
      try {
        closeSync(serial.fd);
      } catch {
        // already closed by the streams
      }
    }
  }

  /** Closes every open TCP connection (a PLC restart as the client sees it). */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  addFault(fault: Fault): void {
    this.faults.push({ ...fault, used: 0 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Sets a value (words for registers, booleans for bits); stuck addresses are left alone. */
  set(
    unitId: number,
    table: Table,
    address: number,
    value: number | boolean | readonly number[],
  ): void {
    this.unit(unitId).set(table, address, value);
  }

  get(unitId: number, table: Table, address: number): number {
    const unit = this.unit(unitId);
    return table === 'coil' || table === 'discrete'
      ? unit.bits[table][address]!
      : unit.words[table][address]!;
  }

  /** Freezes (or unfreezes) addresses: a stuck transmitter keeps reporting its last value. */
  setStuck(unitId: number, table: Table, address: number, count = 1, stuck = true): void {
    const unit = this.unit(unitId);
    for (let a = address; a < address + count; a++) {
      if (stuck) unit.stuck.add(`${table}:${a}`);
      else unit.stuck.delete(`${table}:${a}`);
    }
  }

  private unit(unitId: number): UnitMemory {
    const unit = this.units.get(unitId);
    if (!unit) throw new Error(`Modbus device simulator: no unit ${unitId}`);
    return unit;
  }

  private onSocket(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let buffer: Buffer = Buffer.alloc(0);
    const rtu = this.options.transport === 'rtu-tcp';
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (rtu) {
        buffer = this.consumeRtu(buffer, (frame) => socket.write(frame), socket);
        return;
      }
      // MBAP: transaction id (2), protocol id (2), length (2), unit id (1), PDU.
      while (buffer.length >= 7) {
        const length = buffer.readUInt16BE(4);
        if (buffer.length < 6 + length) break;
        const transactionId = buffer.readUInt16BE(0);
        const unitId = buffer[6]!;
        const pdu = Buffer.from(buffer.subarray(7, 6 + length));
        buffer = buffer.subarray(6 + length);
        this.handle({ unitId, pdu }, (answer) => {
          if (answer.kind === 'drop') {
            socket.destroy();
            return;
          }
          if (answer.kind !== 'pdu') return;
          const header = Buffer.alloc(7);
          header.writeUInt16BE((transactionId + answer.transactionOffset) & 0xffff, 0);
          header.writeUInt16BE(0, 2);
          header.writeUInt16BE(answer.pdu.length + 1, 4);
          header[6] = answer.unitId;
          this.send(() => socket.write(Buffer.concat([header, answer.pdu])), answer.delayMs);
        });
      }
    });
  }

  /** Parses RTU request frames from `buffer`; returns what is left (an incomplete frame). */
  private consumeRtu(buffer: Buffer, write: (frame: Buffer) => void, socket?: net.Socket): Buffer {
    let rest: Buffer = buffer;
    while (rest.length >= 8) {
      const fc = rest[1]!;
      const length = fc === 15 || fc === 16 ? (rest.length >= 7 ? 9 + rest[6]! : 0) : 8;
      if (length === 0 || rest.length < length) break;
      const frame = rest.subarray(0, length);
      if (crc16(frame.subarray(0, length - 2)) !== frame.readUInt16LE(length - 2)) {
        // A corrupt frame: a real slave discards it; resynchronise on silence.
        return Buffer.alloc(0);
      }
      rest = rest.subarray(length);
      this.handle(
        { unitId: frame[0]!, pdu: Buffer.from(frame.subarray(1, length - 2)) },
        (answer) => {
          if (answer.kind === 'drop') {
            socket?.destroy();
            return;
          }
          if (answer.kind !== 'pdu') return;
          const body = Buffer.concat([Buffer.from([answer.unitId]), answer.pdu, Buffer.alloc(2)]);
          body.writeUInt16LE(crc16(body.subarray(0, body.length - 2)), body.length - 2);
          this.send(() => write(body), answer.delayMs);
        },
      );
    }
    return rest;
  }

  private send(write: () => void, delayMs: number): void {
    if (delayMs <= 0) {
      write();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      write();
    }, delayMs);
    this.timers.add(timer);
  }

  private handle(request: Request, reply: (answer: Answer) => void): void {
    this.counters.requests++;
    this.counters.perUnit.set(request.unitId, (this.counters.perUnit.get(request.unitId) ?? 0) + 1);
    const fc = request.pdu[0] ?? 0;
    this.emit('request', request.unitId, fc);
    const unit = this.units.get(request.unitId);
    if (!unit) {
      reply({ kind: 'silence' });
      return;
    } // no such slave on the bus
    const range = requestRange(request.pdu);
    const fault = this.activeFault(request.unitId, fc, range);
    let delayMs = 0;
    let unitId = request.unitId;
    let transactionOffset = 0;
    let functionOffset = 0;
    if (fault) {
      switch (fault.kind) {
        case 'silence': {
          reply({ kind: 'silence' });
          return;
        }
        case 'drop-connection': {
          reply({ kind: 'drop' });
          return;
        }
        case 'exception': {
          reply({
            kind: 'pdu',
            unitId,
            pdu: exception(fc, fault.code ?? 4),
            delayMs: 0,
            transactionOffset: 0,
          });
          return;
        }
        case 'delay':
          delayMs = fault.ms ?? 1000;
          break;
        case 'wrong-transaction':
          transactionOffset = 0x4000;
          break;
        case 'wrong-unit':
          unitId = (unitId + 1) & 0xff;
          break;
        case 'wrong-function':
          functionOffset = 1;
          break;
      }
    }
    const pdu = this.execute(unit, request.pdu);
    if (pdu === 'silence') {
      reply({ kind: 'silence' });
      return;
    }
    if (functionOffset) pdu[0] = (pdu[0]! + functionOffset) & 0x7f;
    reply({ kind: 'pdu', unitId, pdu, delayMs, transactionOffset });
  }

  private activeFault(
    unitId: number,
    fc: number,
    range: { table: Table; from: number; to: number } | undefined,
  ): (Fault & { used: number }) | undefined {
    const elapsed = this.clock.now() - this.startedAt;
    for (const fault of this.faults) {
      if (fault.times !== undefined && fault.used >= fault.times) continue;
      if (fault.atMs !== undefined && elapsed < fault.atMs) continue;
      if (fault.forMs !== undefined && elapsed >= (fault.atMs ?? 0) + fault.forMs) continue;
      if (fault.unitId !== undefined && fault.unitId !== unitId) continue;
      if (fault.functionCode !== undefined && fault.functionCode !== fc) continue;
      if (fault.table !== undefined || fault.from !== undefined || fault.to !== undefined) {
        if (!range) continue;
        if (fault.table !== undefined && fault.table !== range.table) continue;
        if (fault.from !== undefined && range.to < fault.from) continue;
        if (fault.to !== undefined && range.from > fault.to) continue;
      }
      fault.used++;
      return fault;
    }
    return undefined;
  }

  /** Executes one request PDU; returns the reply PDU, or 'silence'. */
  private execute(unit: UnitMemory, pdu: Buffer): Buffer | 'silence' {
    const fc = pdu[0]!;
    if (pdu.length < 5) return exception(fc, 3);
    const address = pdu.readUInt16BE(1);
    const quantity = pdu.readUInt16BE(3);
    const illegal = (): Buffer | 'silence' =>
      unit.spec.illegalAddress === 'silence' ? 'silence' : exception(fc, 2);
    switch (fc) {
      case 1:
      case 2: {
        const table = fc === 1 ? 'coil' : 'discrete';
        if (quantity < 1 || quantity > LIMITS.readBits) return exception(fc, 3);
        if (address + quantity > 65_536 || !unit.legal(table, address, quantity)) return illegal();
        const bytes = Buffer.alloc(Math.ceil(quantity / 8));
        for (let i = 0; i < quantity; i++) {
          if (unit.bits[table][address + i]) bytes[i >> 3]! |= 1 << (i & 7);
        }
        return Buffer.concat([Buffer.from([fc, bytes.length]), bytes]);
      }
      case 3:
      case 4: {
        const table = fc === 3 ? 'holding' : 'input';
        if (quantity < 1 || quantity > LIMITS.readRegisters) return exception(fc, 3);
        if (address + quantity > 65_536 || !unit.legal(table, address, quantity)) return illegal();
        const out = Buffer.alloc(2 + quantity * 2);
        out[0] = fc;
        out[1] = quantity * 2;
        for (let i = 0; i < quantity; i++)
          out.writeUInt16BE(unit.words[table][address + i]!, 2 + i * 2);
        return out;
      }
      case 5: {
        if (quantity !== 0xff00 && quantity !== 0) return exception(fc, 3);
        if (!unit.legal('coil', address, 1)) return illegal();
        unit.set('coil', address, quantity === 0xff00);
        return Buffer.from(pdu.subarray(0, 5));
      }
      case 6: {
        if (!unit.legal('holding', address, 1)) return illegal();
        unit.set('holding', address, quantity);
        return Buffer.from(pdu.subarray(0, 5));
      }
      case 15: {
        const byteCount = pdu[5] ?? 0;
        if (quantity < 1 || quantity > LIMITS.writeCoils || byteCount !== Math.ceil(quantity / 8)) {
          return exception(fc, 3);
        }
        if (address + quantity > 65_536 || !unit.legal('coil', address, quantity)) return illegal();
        for (let i = 0; i < quantity; i++) {
          unit.set('coil', address + i, (((pdu[6 + (i >> 3)] ?? 0) >> (i & 7)) & 1) === 1);
        }
        return Buffer.from(pdu.subarray(0, 5));
      }
      case 16: {
        const byteCount = pdu[5] ?? 0;
        if (quantity < 1 || quantity > LIMITS.writeRegisters || byteCount !== quantity * 2) {
          return exception(fc, 3);
        }
        if (address + quantity > 65_536 || !unit.legal('holding', address, quantity))
          return illegal();
        for (let i = 0; i < quantity; i++)
          unit.set('holding', address + i, pdu.readUInt16BE(6 + i * 2));
        return Buffer.from(pdu.subarray(0, 5));
      }
      default:
        return exception(fc, 1); // illegal function
    }
  }
}

function exception(fc: number, code: number): Buffer {
  return Buffer.from([0x80 | fc, code]);
}

function requestRange(pdu: Buffer): { table: Table; from: number; to: number } | undefined {
  if (pdu.length < 5) return undefined;
  const fc = pdu[0]!;
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  const table: Table | undefined =
    fc === 1 || fc === 5 || fc === 15
      ? 'coil'
      : fc === 2
        ? 'discrete'
        : fc === 3 || fc === 6 || fc === 16
          ? 'holding'
          : fc === 4
            ? 'input'
            : undefined;
  if (!table) return undefined;
  const count = fc === 5 || fc === 6 ? 1 : quantity;
  return { table, from: address, to: address + count - 1 };
}

// ---- Scenario files ----

/**
 * A device scenario file (YAML or JSON):
 *
 *   name: flaky-bus
 *   transport: tcp            # tcp | rtu-tcp
 *   units:
 *     - unitId: 1
 *       illegalAddress: silence
 *       implemented: { holding: [[0, 19], [100, 109]] }
 *       registers: { holding: { 0: 1234, 100: [3500, 12000] }, coil: { 0: true } }
 *   faults:
 *     - { kind: delay, ms: 300, unitId: 1, at: 5s, for: 10s }
 *     - { kind: exception, code: 4, table: holding, from: 100, to: 101 }
 *     - { kind: drop-connection, at: 20s, times: 1 }
 *   stuck:
 *     - { unitId: 1, table: holding, address: 0, count: 1 }
 */
export interface DeviceScenario {
  name: string;
  transport?: 'tcp' | 'rtu-tcp';
  units: UnitSpec[];
  faults: Fault[];
  stuck: { unitId: number; table: Table; address: number; count: number }[];
}

const FAULT_KINDS: readonly FaultKind[] = [
  'exception',
  'silence',
  'delay',
  'drop-connection',
  'wrong-transaction',
  'wrong-unit',
  'wrong-function',
];

/** Validates parsed scenario data; throws one Error listing every problem. */
export function validateDeviceScenario(raw: unknown, source = 'inline'): DeviceScenario {
  const issues: string[] = [];
  const data = (raw ?? {}) as Record<string, unknown>;
  const units = Array.isArray(data.units) ? (data.units as Record<string, unknown>[]) : [];
  if (units.length === 0) issues.push('units: must list at least one unit');
  units.forEach((unit, i) => {
    if (
      !Number.isInteger(unit.unitId) ||
      (unit.unitId as number) < 0 ||
      (unit.unitId as number) > 255
    ) {
      issues.push(
        `units[${i}].unitId: must be an integer 0..255 (got ${JSON.stringify(unit.unitId)})`,
      );
    }
    if (
      unit.illegalAddress !== undefined &&
      unit.illegalAddress !== 'exception' &&
      unit.illegalAddress !== 'silence'
    ) {
      issues.push(`units[${i}].illegalAddress: must be exception or silence`);
    }
  });
  const faults: Fault[] = [];
  const rawFaults = Array.isArray(data.faults) ? (data.faults as Record<string, unknown>[]) : [];
  rawFaults.forEach((f, i) => {
    if (!FAULT_KINDS.includes(f.kind as FaultKind)) {
      issues.push(
        `faults[${i}].kind: must be one of ${FAULT_KINDS.join(', ')} (got ${JSON.stringify(f.kind)})`,
      );
      return;
    }
    const fault: Fault = { kind: f.kind as FaultKind };
    for (const key of ['unitId', 'functionCode', 'from', 'to', 'code', 'ms', 'times'] as const) {
      if (f[key] === undefined) continue;
      if (!Number.isInteger(f[key])) issues.push(`faults[${i}].${key}: must be an integer`);
      else fault[key] = f[key] as number;
    }
    if (f.table !== undefined) {
      if (!TABLES.includes(f.table as Table))
        issues.push(`faults[${i}].table: must be one of ${TABLES.join(', ')}`);
      else fault.table = f.table as Table;
    }
    for (const [key, target] of [
      ['at', 'atMs'],
      ['for', 'forMs'],
    ] as const) {
      if (f[key] === undefined) continue;
      const ms = parseDuration(f[key]);
      if (ms === undefined)
        issues.push(
          `faults[${i}].${key}: must be a duration like '5s' (got ${JSON.stringify(f[key])})`,
        );
      else fault[target] = ms;
    }
    faults.push(fault);
  });
  const stuck = (Array.isArray(data.stuck) ? data.stuck : []) as DeviceScenario['stuck'];
  if (data.transport !== undefined && data.transport !== 'tcp' && data.transport !== 'rtu-tcp') {
    issues.push(`transport: must be tcp or rtu-tcp (got ${JSON.stringify(data.transport)})`);
  }
  if (issues.length > 0) {
    throw new Error(`device scenario ${source} is invalid:\n  ${issues.join('\n  ')}`);
  }
  const scenario: DeviceScenario = {
    name: typeof data.name === 'string' ? data.name : source,
    units: units as unknown as UnitSpec[],
    faults,
    stuck: stuck.map((s) => ({ ...s, count: s.count ?? 1 })),
  };
  if (data.transport) scenario.transport = data.transport as 'tcp' | 'rtu-tcp';
  return scenario;
}

export async function loadDeviceScenario(file: string): Promise<DeviceScenario> {
  const text = await readFile(file, 'utf8');
  return validateDeviceScenario(parseYaml(text), file);
}

/** A simulator set up from a scenario (not started). */
export function deviceFromScenario(
  scenario: DeviceScenario,
  options: Omit<ModbusDeviceOptions, 'units' | 'faults'> = {},
): ModbusDeviceSimulator {
  const device = new ModbusDeviceSimulator({
    ...options,
    transport: options.transport ?? scenario.transport ?? 'tcp',
    units: scenario.units,
    faults: scenario.faults,
  });
  for (const s of scenario.stuck) device.setStuck(s.unitId, s.table, s.address, s.count);
  log.debug({ scenario: scenario.name }, 'device scenario loaded');
  return device;
}
