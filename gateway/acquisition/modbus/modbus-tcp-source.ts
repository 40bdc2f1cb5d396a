/**
 * Modbus TCP acquisition for one device (modbus-serial client).
 *
 * Polls every pollIntervalMs with coalesced reads; one sink call per poll with one
 * Reading per tag. The source owns the connection: on any socket error the client is
 * destroyed and a new one created after a bounded backoff, because modbus-serial can
 * otherwise stay in "Port Not Open" until the process restarts (BRIEF, library facts).
 */
import ModbusRTU from 'modbus-serial';
import type { Clock } from '../../../common/clock.js';
import { createLogger, type Logger } from '../../../common/logger.js';
import type { Reading } from '../../../protocol/payloads.js';
import { isBitTable, registerCount } from '../../config/register.js';
import { MODBUS_MAX_REGISTERS_PER_READ } from '../../config/schema.js';
import type { ModbusTagConfig, ModbusTcpDeviceConfig } from '../../config/types.js';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from '../backoff.js';
import { type AcquisitionSource, COMM_LOST, type ReadingSink } from '../source.js';
import { coalesceReads, type ReadBlock } from './coalesce.js';
import { decodeRegisters } from './decode.js';

const DEFAULTS = {
  maxGapRegisters: 8, // registers read but unused between two tags of one request
  maxGapBits: 64, // bits read but unused between two tags of one request
  maxBitsPerRead: 2000, // Modbus Application Protocol V1.1b3 §6.1/§6.2: FC1/FC2 carry at most 2000 bits
  timeoutPollsBeforeReconnect: 3, // consecutive polls with no reply at all before the socket is recycled
};

type ModbusClient = InstanceType<typeof ModbusRTU.default>;

export interface ModbusTcpSourceDeps {
  clock: Clock;
  /** Reconnect backoff; default 1 s doubling to 30 s, ±20 % jitter. */
  backoff?: Partial<BackoffOptions>;
  logger?: Logger;
}

/** Counters for diagnostics and tests. */
export interface ModbusTcpCounters {
  polls: number;
  /** Polls skipped because the previous one was still running. */
  skippedPolls: number;
  /** Connection attempts that succeeded after the first. */
  reconnects: number;
  /** Connection attempts that failed. */
  failedConnects: number;
}

class ConnectionLostError extends Error {
  override name = 'ConnectionLostError';
}

/** A connected client and what tells us it is gone. */
interface Connection {
  client: ModbusClient;
  /** Rejects when the socket closes or the client is destroyed; never resolves. */
  lost: Promise<never>;
  abort(reason: Error): void;
}

/** See AcquisitionSource for the lifecycle guarantees. */
export class ModbusTcpSource implements AcquisitionSource {
  readonly deviceId: string;
  readonly counters: ModbusTcpCounters = {
    polls: 0,
    skippedPolls: 0,
    reconnects: 0,
    failedConnects: 0,
  };
  private readonly blocks: ReadBlock[];
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private running = false;
  private connection: Connection | null = null;
  private connecting: Promise<void> | null = null;
  private polling: Promise<void> | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** 'unknown' until the first attempt; logging and 'comm lost' happen on transitions only. */
  private linkState: 'unknown' | 'online' | 'offline' = 'unknown';
  private everConnected = false;
  private timeoutPolls = 0;

  constructor(
    private readonly device: ModbusTcpDeviceConfig,
    private readonly sink: ReadingSink,
    private readonly deps: ModbusTcpSourceDeps,
  ) {
    this.deviceId = device.id;
    this.blocks = coalesceReads(device.tags, {
      maxRegisters: Math.min(device.maxRegistersPerRead, MODBUS_MAX_REGISTERS_PER_READ),
      maxBits: DEFAULTS.maxBitsPerRead,
      maxGapRegisters: DEFAULTS.maxGapRegisters,
      maxGapBits: DEFAULTS.maxGapBits,
    });
    this.backoff = new Backoff({ ...DEFAULT_BACKOFF, ...deps.backoff });
    this.log = (deps.logger ?? createLogger('gateway.acquisition.modbus')).child({
      device: device.id,
    });
  }

  /** The read requests one poll sends (after coalescing). */
  get readPlan(): readonly ReadBlock[] {
    return this.blocks;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.connecting = this.connect();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clearTimers();
    const connection = this.connection;
    this.connection = null;
    if (connection) destroyConnection(connection, new ConnectionLostError('source stopped'));
    await Promise.allSettled([this.connecting, this.polling]);
    this.connecting = null;
    this.polling = null;
  }

  private clearTimers(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.pollTimer = null;
    this.reconnectTimer = null;
  }

  private async connect(): Promise<void> {
    const { host, port, unitId, timeoutMs } = this.device;
    const client: ModbusClient = new ModbusRTU.default();
    // modbus-serial re-emits port errors; without a listener they would crash the process.
    client.on('error', () => {});
    client.setID(unitId);
    client.setTimeout(timeoutMs);
    let connectTimer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.connectTCP(host, { port }),
        new Promise<never>((_, reject) => {
          connectTimer = setTimeout(
            () => reject(new Error(`connect timed out after ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      clearTimeout(connectTimer);
      client.destroy(() => {});
      if (!this.running) return;
      this.counters.failedConnects++;
      this.goOffline(err);
      this.scheduleReconnect();
      return;
    } finally {
      clearTimeout(connectTimer);
    }
    if (!this.running) {
      client.destroy(() => {});
      return;
    }

    let abort: (reason: Error) => void = () => {};
    const lost = new Promise<never>((_, reject) => {
      abort = reject;
    });
    lost.catch(() => {}); // observed by polls through Promise.race
    const connection: Connection = { client, lost, abort };
    client.on('close', () =>
      this.onConnectionLost(connection, new ConnectionLostError('socket closed')),
    );
    this.connection = connection;
    if (this.everConnected) this.counters.reconnects++;
    this.everConnected = true;
    this.backoff.reset();
    this.timeoutPolls = 0;
    this.goOnline();
    this.pollTimer = setInterval(() => this.pollTick(), this.device.pollIntervalMs);
    this.pollTick();
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer) return;
    const delay = this.backoff.next();
    this.log.debug({ delayMs: delay }, 'reconnect scheduled');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.running) return;
      this.connecting = this.connect();
    }, delay);
  }

  private onConnectionLost(connection: Connection, reason: unknown): void {
    if (this.connection !== connection) return; // already handled, or stopped
    this.connection = null;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    destroyConnection(
      connection,
      reason instanceof Error ? reason : new ConnectionLostError(String(reason)),
    );
    if (!this.running) return;
    this.goOffline(reason);
    this.scheduleReconnect();
  }

  private goOnline(): void {
    if (this.linkState === 'online') return;
    this.log.info({ host: this.device.host, port: this.device.port }, 'device online');
    this.linkState = 'online';
  }

  /** Logs and emits 'comm lost' once per loss, not on every failed retry. */
  private goOffline(reason: unknown): void {
    if (this.linkState === 'offline') return;
    this.linkState = 'offline';
    this.log.warn(
      { host: this.device.host, port: this.device.port, err: describeError(reason) },
      'device offline',
    );
    const ts = this.deps.clock.now();
    this.emit(
      this.device.tags.map((tag) => ({
        sensorId: tag.sensorId,
        value: null,
        quality: 'bad',
        reason: COMM_LOST,
        ts,
      })),
    );
  }

  private pollTick(): void {
    const connection = this.connection;
    if (!this.running || !connection) return;
    if (this.polling) {
      this.counters.skippedPolls++;
      return;
    }
    this.polling = this.poll(connection).finally(() => {
      this.polling = null;
    });
  }

  private async poll(connection: Connection): Promise<void> {
    this.counters.polls++;
    const readings: Reading[] = [];
    let timedOutBlocks = 0;
    for (const block of this.blocks) {
      try {
        const words = await Promise.race([readBlock(connection.client, block), connection.lost]);
        readings.push(...decodeBlock(block, words, this.deps.clock.now()));
      } catch (err) {
        if (this.connection !== connection) return; // lost or stopped meanwhile
        const code = (err as { modbusCode?: unknown }).modbusCode;
        if (isTimeout(err)) {
          // A late reply to this request is dropped by modbus-serial's transaction-id match.
          timedOutBlocks++;
          readings.push(...badBlock(block, 'timeout', this.deps.clock.now()));
        } else if (typeof code === 'number') {
          readings.push(...badBlock(block, `exception ${code}`, this.deps.clock.now()));
        } else {
          this.onConnectionLost(connection, err);
          return;
        }
      }
    }
    if (this.connection !== connection) return;
    this.emit(readings);
    this.timeoutPolls =
      timedOutBlocks > 0 && timedOutBlocks === this.blocks.length ? this.timeoutPolls + 1 : 0;
    if (this.timeoutPolls >= DEFAULTS.timeoutPollsBeforeReconnect) {
      // A half-open TCP connection (device power-cycled without FIN) only shows as
      // timeouts; a fresh socket is the only cure.
      this.onConnectionLost(
        connection,
        new ConnectionLostError(`no reply to ${this.timeoutPolls} consecutive polls`),
      );
    }
  }

  private emit(readings: Reading[]): void {
    if (!this.running || readings.length === 0) return;
    try {
      this.sink(readings);
    } catch (err) {
      this.log.error({ err }, 'reading sink threw');
    }
  }
}

function destroyConnection(connection: Connection, reason: Error): void {
  connection.abort(reason);
  connection.client.destroy(() => {});
}

async function readBlock(client: ModbusClient, block: ReadBlock): Promise<number[] | boolean[]> {
  switch (block.table) {
    case 'coil':
      return (await client.readCoils(block.address, block.count)).data;
    case 'discrete':
      return (await client.readDiscreteInputs(block.address, block.count)).data;
    case 'holding':
      return (await client.readHoldingRegisters(block.address, block.count)).data;
    case 'input':
      return (await client.readInputRegisters(block.address, block.count)).data;
  }
}

function decodeBlock(block: ReadBlock, data: number[] | boolean[], ts: number): Reading[] {
  return block.tags.map((tag) => decodeTag(tag, block, data, ts));
}

function decodeTag(
  tag: ModbusTagConfig,
  block: ReadBlock,
  data: number[] | boolean[],
  ts: number,
): Reading {
  const start = tag.register.address - block.address;
  if (isBitTable(block.table)) {
    const bit = data[start];
    if (typeof bit !== 'boolean') return bad(tag, 'short reply', ts);
    return { sensorId: tag.sensorId, value: bit, quality: 'good', ts };
  }
  const words = (data as number[]).slice(start, start + registerCount(tag.register));
  if (words.length !== registerCount(tag.register)) return bad(tag, 'short reply', ts);
  const value = decodeRegisters(words, tag.register);
  if (typeof value === 'number' && !Number.isFinite(value)) return bad(tag, 'not a number', ts);
  return { sensorId: tag.sensorId, value, quality: 'good', ts };
}

function badBlock(block: ReadBlock, reason: string, ts: number): Reading[] {
  return block.tags.map((tag) => bad(tag, reason, ts));
}

function bad(tag: ModbusTagConfig, reason: string, ts: number): Reading {
  return { sensorId: tag.sensorId, value: null, quality: 'bad', reason, ts };
}

function isTimeout(err: unknown): boolean {
  const e = err as { errno?: unknown; message?: unknown };
  return e.errno === 'ETIMEDOUT' || e.message === 'Timed out';
}

function describeError(err: unknown): string {
  return err instanceof Error || (err && typeof err === 'object' && 'message' in err)
    ? String((err as { message: unknown }).message)
    : String(err);
}
