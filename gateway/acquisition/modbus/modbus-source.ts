/**
 * Modbus acquisition for one device (one unit id) over TCP, RTU or RTU over TCP.
 *
 * - Reads are coalesced per poll group (coalesce.ts); each poll group has its own timer.
 * - Requests go through the device's link (link.ts): serialised per bus, reconnected by
 *   the link, replies checked against their request.
 * - What failed is said from the first failed poll on (failure.ts): the bad readings
 *   carry it as their reason ('timeout: no reply from unit 7 within 1000 ms',
 *   'exception 11 (gateway target device failed to respond)', 'wrong unit id: asked
 *   unit 7, reply from unit 8'), and it is logged once per device and failure kind, not
 *   on every poll; the end of a failure is logged once too.
 * - Per-device circuit breaker: after `failuresToOpen` polls in a row without any
 *   reply, the device is offline (tags emitted once as bad 'comm lost: <what failed>',
 *   logged once, status event once) and is only probed again after a jittered backoff
 *   (1 s doubling to 30 s). A dead device on a shared bus therefore costs one timeout
 *   per backoff period, not one per poll, and never stalls the other devices. Exceptions
 *   10 and 11 come from a gateway whose target device did not answer: no reply, too.
 * - A merged read answered with exception 2 (illegal data address), or met with silence
 *   while the device answers its other reads, is split (splitBlock) and the split kept.
 * - Values are emitted only when freshly read, stamped with the reply time; a group whose
 *   polls stop completing (bus congested) is reported bad 'stale' once, never as a
 *   repeated good value.
 */
import type { Clock } from '../../../common/clock.js';
import { createLogger, type Logger } from '../../../common/logger.js';
import type { Reading } from '../../../protocol/payloads.js';
import { isBitTable, registerCount } from '../../config/register.js';
import { MODBUS_MAX_REGISTERS_PER_READ } from '../../config/schema.js';
import type { ModbusDeviceConfig, ModbusTagConfig } from '../../config/types.js';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from '../backoff.js';
import {
  type AcquisitionSource,
  type DeviceStatusListener,
  ReadingGate,
  type ReadingSink,
} from '../source.js';
import {
  type DeviceWriter,
  MAX_WRITE_COILS,
  MAX_WRITE_REGISTERS,
  WriteError,
  type WriteOptions,
  type WriteResult,
} from '../writer.js';
import { coalesceReads, type ReadBlock, splitBlock } from './coalesce.js';
import { decodeRegisters, roundToDecimals } from './decode.js';
import {
  commLostReason,
  describeError,
  describeFailure,
  exceptionReason,
  type Failure,
  isGatewayNoTarget,
  isModbusException,
  isTimeout,
  ReplyMismatchError,
} from './failure.js';
import {
  LinkDownError,
  linkKeyOf,
  linkSpecOf,
  type ModbusClient,
  type ModbusLink,
  ModbusLinkPool,
} from './link.js';
import { decodeCurrentLoop } from './ne43.js';

export const MODBUS_DEFAULTS = {
  maxGapRegisters: 8, // registers read but unused between two tags of one request
  bitsPerGapRegister: 16, // a gap of n registers allows 16 n unused bits in coil/discrete reads
  maxBitsPerRead: 2000, // Modbus Application Protocol V1.1b3 §6.1/§6.2: FC1/FC2 carry at most 2000 bits
  failuresToOpen: 3, // polls in a row without any reply before the device is offline
  staleAfterIntervals: 3, // a group not completing a poll for 3 intervals...
  staleAfterTimeouts: 5, // ...or 5 timeouts (whichever is longer), plus its own timeouts, is stale
};

export interface ModbusSourceDeps {
  clock: Clock;
  /** Breaker and reconnect backoff; default 1 s doubling to 30 s, ±20 % jitter. */
  backoff?: Partial<BackoffOptions>;
  logger?: Logger;
  /** Shared links (one per serial bus or RTU-over-TCP endpoint); default a private pool. */
  links?: ModbusLinkPool;
  /** Called once per offline/online transition. */
  onDeviceStatus?: DeviceStatusListener;
  /** Polls without any reply before the breaker opens (default 3). */
  failuresToOpen?: number;
}

/** Counters for diagnostics and tests. */
export interface ModbusCounters {
  polls: number;
  /** Polls skipped because the previous one of the same group was still running. */
  skippedPolls: number;
  /** Polls skipped because the breaker was open. */
  breakerSkips: number;
  /** Read requests sent by this device. */
  requests: number;
  /** Blocks split after exception 2 or silence. */
  splits: number;
  /** Link opens after the first (reconnects). */
  reconnects: number;
  /** Link opens that failed. */
  failedConnects: number;
}

interface PollGroup {
  readonly name: string;
  readonly intervalMs: number;
  blocks: ReadBlock[];
  timer: NodeJS.Timeout | null;
  polling: Promise<void> | null;
  lastCompletedAt: number;
  staleReported: boolean;
}

/** See AcquisitionSource for the lifecycle guarantees. */
export class ModbusSource implements AcquisitionSource, DeviceWriter {
  readonly deviceId: string;
  private readonly counts = { polls: 0, skippedPolls: 0, breakerSkips: 0, requests: 0, splits: 0 };
  private readonly groups: PollGroup[];
  private readonly breakerBackoff: Backoff;
  private readonly log: Logger;
  private readonly pool: ModbusLinkPool;
  private readonly ownPool: boolean;
  private readonly linkKey: string;
  private link: ModbusLink | null = null;
  private running = false;
  /** 'unknown' until the first answer or failure; logging and events on transitions only. */
  private linkState: 'unknown' | 'online' | 'offline' = 'unknown';
  private failedPolls = 0;
  /** Failure kinds seen and logged, until a poll passes without them (kind → reason). */
  private readonly failing = new Map<string, string>();
  private breakerOpen = false;
  private probeAllowed = false;
  private breakerTimer: NodeJS.Timeout | null = null;
  private readonly onLinkOpen = () => this.pollAllNow();
  private readonly onLinkDown = (reason: string) => this.goOffline(reason);
  /** Every reading goes through it: good only when fresh in the current connection (source.ts). */
  private readonly gate: ReadingGate;

  constructor(
    private readonly device: ModbusDeviceConfig,
    sink: ReadingSink,
    private readonly deps: ModbusSourceDeps,
  ) {
    this.deviceId = device.id;
    this.log = (deps.logger ?? createLogger('gateway.acquisition.modbus')).child({
      device: device.id,
    });
    this.gate = new ReadingGate(sink, {
      onSinkError: (err) => this.log.error({ err }, 'reading sink threw'),
    });
    this.breakerBackoff = new Backoff({ ...DEFAULT_BACKOFF, ...deps.backoff });
    this.pool = deps.links ?? new ModbusLinkPool({ backoff: deps.backoff, logger: deps.logger });
    this.ownPool = deps.links === undefined;
    this.linkKey = linkKeyOf(device);
    const gap = device.maxGapRegisters ?? MODBUS_DEFAULTS.maxGapRegisters;
    const limits = {
      maxRegisters: Math.min(device.maxRegistersPerRead, MODBUS_MAX_REGISTERS_PER_READ),
      maxBits: MODBUS_DEFAULTS.maxBitsPerRead,
      maxGapRegisters: gap,
      maxGapBits: gap * MODBUS_DEFAULTS.bitsPerGapRegister,
    };
    const intervals = new Map<string | undefined, number>([[undefined, device.pollIntervalMs]]);
    for (const group of device.pollGroups ?? []) intervals.set(group.name, group.intervalMs);
    this.groups = [...intervals].flatMap(([name, intervalMs]) => {
      const tags = device.tags.filter((tag) => tag.pollGroup === name);
      if (tags.length === 0) return [];
      return [
        {
          name: name ?? 'default',
          intervalMs,
          blocks: coalesceReads(tags, limits),
          timer: null,
          polling: null,
          lastCompletedAt: 0,
          staleReported: false,
        },
      ];
    });
  }

  /** The read requests one round of every poll group sends (after coalescing and splits). */
  get readPlan(): readonly ReadBlock[] {
    return this.groups.flatMap((group) => group.blocks);
  }

  get counters(): ModbusCounters {
    const link = this.link?.counters;
    return {
      ...this.counts,
      reconnects: Math.max(0, (link?.opens ?? 0) - 1),
      failedConnects: link?.failedOpens ?? 0,
    };
  }

  /** True while the device answers (breaker closed, link open). */
  get online(): boolean {
    return this.linkState === 'online';
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const link = this.pool.acquire(this.linkKey, linkSpecOf(this.device));
    this.link = link;
    link.on('open', this.onLinkOpen);
    link.on('down', this.onLinkDown);
    for (const group of this.groups) {
      group.lastCompletedAt = Date.now();
      group.timer = setInterval(() => this.pollTick(group), group.intervalMs);
    }
    if (link.isOpen) this.pollAllNow();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const group of this.groups) {
      if (group.timer) clearInterval(group.timer);
      group.timer = null;
    }
    if (this.breakerTimer) clearTimeout(this.breakerTimer);
    this.breakerTimer = null;
    const link = this.link;
    this.link = null;
    if (link) {
      link.off('open', this.onLinkOpen);
      link.off('down', this.onLinkDown);
    }
    if (this.ownPool || link) await this.pool.release(this.linkKey);
    await Promise.allSettled(this.groups.map((group) => group.polling));
  }

  private pollAllNow(): void {
    for (const group of this.groups) this.pollTick(group);
  }

  private pollTick(group: PollGroup): void {
    if (!this.running || !this.link?.isOpen) return;
    if (group.polling) {
      this.counts.skippedPolls++;
      this.checkStale(group);
      return;
    }
    if (this.breakerOpen && !this.probeAllowed) {
      this.counts.breakerSkips++;
      return;
    }
    group.polling = this.poll(group).finally(() => {
      group.polling = null;
    });
  }

  /** A group whose polls stop completing has only old values: say so once, never repeat them. */
  private checkStale(group: PollGroup): void {
    // Slow replies and a neighbour's timeout on a shared bus are not stale: allow for both.
    const staleMs =
      Math.max(
        group.intervalMs * MODBUS_DEFAULTS.staleAfterIntervals,
        this.device.timeoutMs * MODBUS_DEFAULTS.staleAfterTimeouts,
      ) +
      this.device.timeoutMs * group.blocks.length;
    if (group.staleReported || Date.now() - group.lastCompletedAt < staleMs) return;
    if (this.linkState === 'offline') return; // already reported 'comm lost'
    group.staleReported = true;
    const ts = this.deps.clock.now();
    this.emit(group.blocks.flatMap((block) => block.tags.map((tag) => bad(tag, 'stale', ts))));
  }

  private async poll(group: PollGroup): Promise<void> {
    const link = this.link;
    if (!link) return;
    this.counts.polls++;
    const generation = this.gate.generation;
    const probing = this.breakerOpen;
    this.probeAllowed = false;
    const readings: Reading[] = [];
    let answered = 0;
    let failed = 0;
    let linkDown = false;
    let lastFailure: Failure | undefined;
    const seen = new Set<string>();
    const silentMerged: ReadBlock[] = [];
    const blocks = group.blocks;
    for (let i = 0; i < blocks.length; i++) {
      const block = blocks[i]!;
      if (!this.running || this.link !== link) return;
      try {
        this.counts.requests++;
        const data = await link.request(this.device.unitId, this.device.timeoutMs, (client) =>
          readBlock(client, block),
        );
        answered++;
        link.answered();
        readings.push(...decodeBlock(block, data, this.deps.clock.now()));
      } catch (err) {
        if (!this.running || this.link !== link) return;
        const ts = this.deps.clock.now();
        if (err instanceof LinkDownError) {
          linkDown = true;
          break;
        }
        const targetSilent = isModbusException(err) && isGatewayNoTarget(err.modbusCode);
        if (isModbusException(err) && !targetSilent) {
          answered++;
          if (err.modbusCode === 2 && block.tags.length > 1) {
            // Some devices refuse a range holding an unimplemented address; read the parts now.
            const parts = splitBlock(block);
            if (parts.length > 1) {
              this.counts.splits++;
              this.log.info(
                {
                  table: block.table,
                  address: block.address,
                  count: block.count,
                  parts: parts.length,
                },
                'read refused with exception 2; split and remembered',
              );
              blocks.splice(i, 1, ...parts);
              i--;
              continue;
            }
          }
        } else {
          failed++;
          if (isTimeout(err) && block.tags.length > 1) silentMerged.push(block);
        }
        const failure = describeFailure(err, {
          unitId: this.device.unitId,
          timeoutMs: this.device.timeoutMs,
        });
        seen.add(failure.kind);
        lastFailure = failure;
        this.noteFailure(failure, block);
        readings.push(...badBlock(block, failure.reason, ts));
        if (probing && answered === 0) break; // one failed probe is enough
      }
    }
    if (!this.running || this.link !== link) return;
    if (linkDown && answered === 0) {
      // The link's 'down' event reports it. When this poll's own request brought it down
      // (a reply from another unit id), the poll failed: counted, so the breaker opens
      // instead of the link being rebuilt on every poll.
      if (failed > 0) this.countFailedPoll(probing, lastFailure);
      return;
    }
    // The device was reported lost during this poll: its replies belong to the old
    // connection, bring nothing back online, and only their failures are reported.
    if (generation !== this.gate.generation) {
      // A reply that closed the link (wrong unit id) is still a poll without an answer:
      // counted, so the breaker opens instead of rebuilding the link on every poll.
      if (answered === 0 && failed > 0) this.countFailedPoll(probing, lastFailure);
      return this.emit(readings, generation);
    }

    if (answered > 0) {
      // Silence on a merged read while the device answers others: an address it ignores.
      for (const block of silentMerged) this.split(group, block, 'silence');
      group.lastCompletedAt = Date.now();
      group.staleReported = false;
      this.failedPolls = 0;
      const wasOnline = this.linkState === 'online';
      this.closeBreaker();
      // Coming back online is logged by goOnline(); one line says it all.
      this.noteRecovered(seen, wasOnline);
      this.emit(readings, generation);
      return;
    }
    if (this.countFailedPoll(probing, lastFailure)) return;
    if (this.linkState !== 'offline') this.emit(readings, generation);
  }

  /** Counts a poll nothing answered; opens the breaker (and returns true) at the limit. */
  private countFailedPoll(probing: boolean, lastFailure: Failure | undefined): boolean {
    this.failedPolls++;
    const limit = this.deps.failuresToOpen ?? MODBUS_DEFAULTS.failuresToOpen;
    if (!probing && this.failedPolls < limit) return false;
    this.openBreaker(lastFailure?.reason ?? 'no reply');
    return true;
  }

  /**
   * Logs a failure the first time its kind is seen (then not again until a poll passes
   * without it). While the device is offline the 'device offline' line has said why.
   */
  private noteFailure(failure: Failure, block: ReadBlock): void {
    if (this.failing.has(failure.kind)) return;
    this.failing.set(failure.kind, failure.reason);
    if (this.linkState === 'offline') return;
    this.log.warn(
      {
        link: this.link?.description,
        unitId: this.device.unitId,
        table: block.table,
        address: block.address,
        count: block.count,
        kind: failure.kind,
        reason: failure.reason,
      },
      `read failed: ${failure.reason}`,
    );
  }

  /** Failure kinds a completed poll no longer met: logged once (when `log`), then forgotten. */
  private noteRecovered(seen: ReadonlySet<string>, log: boolean): void {
    const recovered = [...this.failing.keys()].filter((kind) => !seen.has(kind));
    if (recovered.length === 0) return;
    for (const kind of recovered) this.failing.delete(kind);
    if (!log) return;
    this.log.info(
      { link: this.link?.description, unitId: this.device.unitId, recovered },
      `reads succeed again (after ${recovered.join(', ')})`,
    );
  }

  private split(group: PollGroup, block: ReadBlock, why: string): void {
    const index = group.blocks.indexOf(block);
    const parts = splitBlock(block);
    if (index < 0 || parts.length <= 1) return;
    group.blocks.splice(index, 1, ...parts);
    this.counts.splits++;
    this.log.info(
      { table: block.table, address: block.address, count: block.count, parts: parts.length, why },
      'merged read split and remembered',
    );
  }

  private openBreaker(reason: string): void {
    this.breakerOpen = true;
    this.probeAllowed = false;
    this.goOffline(reason);
    // A dedicated TCP connection that only times out may be half-open: recycle it.
    if (this.device.protocol === 'modbus-tcp') this.link?.recycle(`device ${reason}`);
    if (this.breakerTimer) clearTimeout(this.breakerTimer);
    const delay = this.breakerBackoff.next();
    this.log.debug({ delayMs: delay }, 'breaker open; next probe scheduled');
    this.breakerTimer = setTimeout(() => {
      this.breakerTimer = null;
      this.probeAllowed = true;
      this.pollAllNow();
    }, delay);
  }

  private closeBreaker(): void {
    if (this.breakerOpen) {
      this.breakerOpen = false;
      this.probeAllowed = false;
      if (this.breakerTimer) clearTimeout(this.breakerTimer);
      this.breakerTimer = null;
    }
    this.breakerBackoff.reset();
    this.goOnline();
  }

  private goOnline(): void {
    if (this.linkState === 'online') return;
    this.linkState = 'online';
    this.log.info({ link: this.link?.description, unitId: this.device.unitId }, 'device online');
    this.notify(true);
  }

  /** Logs, emits 'comm lost' and notifies once per loss, not on every failed retry. */
  private goOffline(reason: string): void {
    if (!this.running || this.linkState === 'offline') return;
    this.linkState = 'offline';
    this.failedPolls = 0;
    this.log.warn(
      { link: this.link?.description, unitId: this.device.unitId, reason },
      `device offline: ${reason}`,
    );
    const ts = this.deps.clock.now();
    const lost = commLostReason(reason);
    this.gate.lost(
      this.device.tags.map((tag) => tag.sensorId),
      lost,
      ts,
    );
    this.notify(false, reason);
  }

  private notify(online: boolean, reason?: string): void {
    const listener = this.deps.onDeviceStatus;
    if (!listener) return;
    try {
      listener({
        deviceId: this.deviceId,
        online,
        ts: this.deps.clock.now(),
        ...(reason ? { reason } : {}),
      });
    } catch (err) {
      this.log.error({ err }, 'device status listener threw');
    }
  }

  /** Fresh readings of the connection `generation` (a reply from before a loss is dropped). */
  private emit(readings: Reading[], generation = this.gate.generation): void {
    if (!this.running || readings.length === 0) return;
    this.gate.fresh(generation, readings);
  }

  // ---- DeviceWriter (writer.ts) ----

  async writeCoil(
    address: number,
    value: boolean,
    options?: WriteOptions,
  ): Promise<WriteResult<boolean>> {
    checkRange('coil', address, 1, 1);
    const readback = await this.write(
      'FC 5',
      options,
      (client) => client.writeCoil(address, value),
      async (client) => (await client.readCoils(address, 1)).data[0],
    );
    return this.verify(`coil ${address}`, value, readback, options);
  }

  async writeCoils(
    address: number,
    values: readonly boolean[],
    options?: WriteOptions,
  ): Promise<WriteResult<boolean[]>> {
    checkRange('coils', address, values.length, MAX_WRITE_COILS);
    const readback = await this.write(
      'FC 15',
      options,
      (client) => client.writeCoils(address, [...values]),
      async (client) =>
        (await client.readCoils(address, values.length)).data.slice(0, values.length),
    );
    return this.verify(`coils ${address}..`, [...values], readback, options);
  }

  async writeRegisters(
    address: number,
    values: readonly number[],
    options?: WriteOptions,
  ): Promise<WriteResult<number[]>> {
    checkRange('registers', address, values.length, MAX_WRITE_REGISTERS);
    for (const value of values) {
      if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
        throw new WriteError('invalid', `register value ${value} is not a 16-bit word (0..65535)`);
      }
    }
    const single = values.length === 1;
    const readback = await this.write(
      single ? 'FC 6' : 'FC 16',
      options,
      (client) =>
        single
          ? client.writeRegister(address, values[0]!)
          : client.writeRegisters(address, [...values]),
      async (client) => (await client.readHoldingRegisters(address, values.length)).data,
    );
    return this.verify(`registers ${address}..`, [...values], readback, options);
  }

  /** One serialised request on the link: the write, then (unless turned off) the readback. */
  private async write<T>(
    what: string,
    options: WriteOptions | undefined,
    writeOp: (client: ModbusClient) => Promise<unknown>,
    readOp: (client: ModbusClient) => Promise<T>,
  ): Promise<T | undefined> {
    const link = this.link;
    if (!this.running || !link?.isOpen) {
      throw new WriteError(
        'offline',
        `device '${this.deviceId}': ${what} not sent, device offline`,
      );
    }
    const readback = options?.readback ?? true;
    try {
      return await link.request(this.device.unitId, this.device.timeoutMs, async (client) => {
        await writeOp(client);
        return readback ? await readOp(client) : undefined;
      });
    } catch (err) {
      const code =
        err instanceof LinkDownError
          ? 'offline'
          : isTimeout(err)
            ? 'timeout'
            : isModbusException(err)
              ? 'exception'
              : 'failed';
      const detail = isModbusException(err) ? exceptionReason(err.modbusCode) : describeError(err);
      throw new WriteError(code, `device '${this.deviceId}': ${what} failed: ${detail}`, {
        cause: err,
      });
    }
  }

  private verify<T>(
    what: string,
    wanted: T,
    readback: T | undefined,
    options: WriteOptions | undefined,
  ): WriteResult<T> {
    if (options?.readback === false) return { value: wanted, verified: false };
    if (JSON.stringify(readback) !== JSON.stringify(wanted)) {
      throw new WriteError(
        'readback mismatch',
        `device '${this.deviceId}': ${what} wrote ${JSON.stringify(wanted)} but reads back ${JSON.stringify(readback)}`,
      );
    }
    return { value: wanted, verified: true };
  }
}

function checkRange(what: string, address: number, count: number, max: number): void {
  if (
    !Number.isInteger(address) ||
    address < 0 ||
    count < 1 ||
    count > max ||
    address + count > 65_536
  ) {
    throw new WriteError(
      'invalid',
      `${what}: ${count} at address ${address} is outside 1..${max} values within 0..65535`,
    );
  }
}

async function readBlock(client: ModbusClient, block: ReadBlock): Promise<number[] | boolean[]> {
  let data: number[] | boolean[];
  switch (block.table) {
    case 'coil':
      data = (await client.readCoils(block.address, block.count)).data;
      break;
    case 'discrete':
      data = (await client.readDiscreteInputs(block.address, block.count)).data;
      break;
    case 'holding':
      data = (await client.readHoldingRegisters(block.address, block.count)).data;
      break;
    case 'input':
      data = (await client.readInputRegisters(block.address, block.count)).data;
      break;
  }
  // Bit replies are padded to whole bytes; register replies must carry exactly what was asked.
  const short = isBitTable(block.table) ? data.length < block.count : data.length !== block.count;
  if (short) {
    throw new ReplyMismatchError(
      `asked ${block.count} ${block.table} values at ${block.address}, reply carries ${data.length}`,
    );
  }
  return data;
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
  const loop = tag.register.currentLoop;
  if (loop && tag.rangeMin !== undefined && tag.rangeMax !== undefined) {
    const raw = decodeRegisters(words, { ...tag.register, scale: 1, offset: 0 }) as number;
    const result = decodeCurrentLoop(raw, loop, tag.rangeMin, tag.rangeMax);
    const value =
      result.value !== null && tag.decimals !== undefined
        ? roundToDecimals(result.value, tag.decimals)
        : result.value;
    const reading: Reading = {
      sensorId: tag.sensorId,
      value,
      quality: result.quality,
      ts,
    };
    if (result.reason) reading.reason = result.reason;
    return reading;
  }
  const value = decodeRegisters(words, tag.register, tag.decimals);
  if (typeof value === 'number' && !Number.isFinite(value)) return bad(tag, 'not a number', ts);
  return { sensorId: tag.sensorId, value, quality: 'good', ts };
}

function badBlock(block: ReadBlock, reason: string, ts: number): Reading[] {
  return block.tags.map((tag) => bad(tag, reason, ts));
}

function bad(tag: ModbusTagConfig, reason: string, ts: number): Reading {
  return { sensorId: tag.sensorId, value: null, quality: 'bad', reason, ts };
}
