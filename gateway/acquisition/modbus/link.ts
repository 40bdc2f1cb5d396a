/**
 * One Modbus transport ("link"): a TCP connection, a serial port (RTU), or a TCP
 * socket carrying RTU frames (serial device servers). Several devices (unit ids) may
 * share one link; a link is one bus.
 *
 * Guarantees:
 * - Requests are serialised: one request on the wire at a time per link, in order
 *   (Modbus over Serial Line V1.02 §2.1: a serial master has one outstanding request;
 *   on TCP it keeps a slow device from being flooded).
 * - The link owns the reconnect (modbus-serial's "Port Not Open" can otherwise persist
 *   until the process restarts, BRIEF): on a transport error the client is destroyed
 *   and a new one opened after a jittered backoff, without a process restart.
 * - A reply that does not belong to the request (wrong unit id, function code or length;
 *   modbus-serial reports "Unexpected data error") closes the link: the next request
 *   goes out on a fresh connection, never reading a shifted value.
 * - RTU has no transaction id, so a reply that arrives after its timeout would be taken
 *   as the answer to the next request (BRIEF, library facts). After a timeout on an RTU
 *   link the port is closed at once (the late reply falls on a closed port) and reopened
 *   after a quiet period. Modbus TCP matches replies by transaction id (modbus-serial
 *   drops a reply whose transaction already timed out), so a TCP timeout keeps the link.
 *
 * Lifecycle: the constructor stores options; open() starts connecting in the background
 * (never fails); close() closes the port, clears timers and rejects queued requests; it
 * may be called twice.
 */
import { EventEmitter } from 'node:events';
import ModbusRTU from 'modbus-serial';
import { createLogger, type Logger } from '../../../common/logger.js';
import type { ModbusDeviceConfig } from '../../config/types.js';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from '../backoff.js';
import {
  describeConnectFailure,
  describeFailure,
  isMismatch,
  isModbusException,
  isTimeout,
} from './failure.js';

export {
  describeError,
  isMismatch,
  isModbusException,
  isTimeout,
  ReplyMismatchError,
} from './failure.js';

export type ModbusClient = InstanceType<typeof ModbusRTU.default>;

export const LINK_DEFAULTS = {
  rtuQuietMs: 100, // 0.1 s of silence after an RTU timeout before the port reopens (on top of the timeout)
  connectTimeoutMs: 3000, // 3 s to open a TCP connection or serial port
};

/** Where a link goes; devices with equal keys share a link. */
export type LinkSpec =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'rtu-tcp'; host: string; port: number }
  | {
      kind: 'rtu';
      path: string;
      baudRate: number;
      parity: 'none' | 'even' | 'odd';
      dataBits: 7 | 8;
      stopBits: 1 | 2;
    };

export function linkSpecOf(device: ModbusDeviceConfig): LinkSpec {
  switch (device.protocol) {
    case 'modbus-tcp':
      return { kind: 'tcp', host: device.host, port: device.port };
    case 'modbus-rtu-tcp':
      return { kind: 'rtu-tcp', host: device.host, port: device.port };
    case 'modbus-rtu':
      return {
        kind: 'rtu',
        path: device.serialPort,
        baudRate: device.baudRate,
        parity: device.parity,
        dataBits: device.dataBits,
        stopBits: device.stopBits,
      };
  }
}

/** Devices on one serial port or one RTU-over-TCP endpoint share a link; TCP devices do not. */
export function linkKeyOf(device: ModbusDeviceConfig): string {
  switch (device.protocol) {
    case 'modbus-tcp':
      return `tcp:${device.id}`;
    case 'modbus-rtu-tcp':
      return `rtu-tcp:${device.host}:${device.port}`;
    case 'modbus-rtu':
      return `rtu:${device.serialPort}`;
  }
}

export function describeLink(spec: LinkSpec): string {
  return spec.kind === 'rtu' ? `rtu ${spec.path}` : `${spec.kind} ${spec.host}:${spec.port}`;
}

/** The link is not open: the request was not sent. */
export class LinkDownError extends Error {
  override name = 'LinkDownError';
}

export interface LinkEvents {
  open: [];
  down: [reason: string];
}

export interface ModbusLinkOptions {
  backoff?: Partial<BackoffOptions>;
  logger?: Logger;
  /** Silence after an RTU timeout before the port is reopened. */
  rtuQuietMs?: number;
}

type State = 'idle' | 'connecting' | 'open' | 'down' | 'closed';

export class ModbusLink extends EventEmitter<LinkEvents> {
  readonly description: string;
  /** Counters for diagnostics, tests and benchmarks. */
  readonly counters = { requests: 0, opens: 0, failedOpens: 0, mismatches: 0, rtuResyncs: 0 };
  private state: State = 'idle';
  private client: ModbusClient | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private connecting: Promise<void> | null = null;
  /** True while the port is closed on purpose after an RTU timeout: requests wait for it. */
  private resyncing = false;
  /**
   * Rejects when the current client is dropped. modbus-serial's close() cancels the
   * timeouts of requests in flight without settling them; racing against this keeps
   * them from hanging forever.
   */
  private dropped: { signal: Promise<never>; reject: (err: Error) => void } | null = null;

  constructor(
    readonly spec: LinkSpec,
    private readonly options: ModbusLinkOptions = {},
  ) {
    super();
    this.description = describeLink(spec);
    this.backoff = new Backoff({ ...DEFAULT_BACKOFF, ...options.backoff });
    this.log = (options.logger ?? createLogger('gateway.acquisition.modbus.link')).child({
      link: this.description,
    });
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get isRtu(): boolean {
    return this.spec.kind !== 'tcp';
  }

  /** Starts connecting in the background; never fails (retries with backoff). */
  open(): void {
    if (this.state !== 'idle') return;
    this.state = 'connecting';
    this.connecting = this.connect();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    this.client = null;
    this.dropClient(new LinkDownError(`${this.description}: link closed`));
    if (client) await closeClient(client);
    await this.connecting?.catch(() => {});
    await this.tail.catch(() => {});
  }

  private dropClient(reason: Error): void {
    this.dropped?.reject(reason);
    this.dropped = null;
  }

  /**
   * Runs `op` with the client once every earlier request on this link has finished.
   * Rejects with LinkDownError when the link is not open, with ReplyMismatchError when
   * the reply belonged to another request, or with the client's own error (timeout,
   * Modbus exception) otherwise.
   */
  request<T>(
    unitId: number,
    timeoutMs: number,
    op: (client: ModbusClient) => Promise<T>,
  ): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.resyncing) await this.waitForOpen(timeoutMs + LINK_DEFAULTS.connectTimeoutMs);
      const client = this.client;
      if (this.state !== 'open' || !client) {
        throw new LinkDownError(`${this.description}: link is not open`);
      }
      client.setID(unitId);
      client.setTimeout(timeoutMs);
      this.counters.requests++;
      const dropped = this.dropped;
      try {
        return await (dropped ? Promise.race([op(client), dropped.signal]) : op(client));
      } catch (err) {
        this.onRequestError(client, err, unitId, timeoutMs);
        throw err;
      }
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => {});
    return result;
  }

  /** Closes the connection and reconnects after the backoff (a half-open socket, say). */
  recycle(reason: string): void {
    const client = this.client;
    if (this.state !== 'open' || !client) return;
    this.lost(client, reason, this.backoff.next());
  }

  private onRequestError(
    client: ModbusClient,
    err: unknown,
    unitId: number,
    timeoutMs: number,
  ): void {
    if (this.client !== client) return;
    if (isModbusException(err)) return;
    if (isTimeout(err)) {
      if (!this.isRtu) return;
      // No transaction id on RTU: drop whatever the slow device still sends (see header).
      this.counters.rtuResyncs++;
      this.resyncing = true;
      this.lost(
        client,
        'rtu resync after timeout',
        timeoutMs + (this.options.rtuQuietMs ?? LINK_DEFAULTS.rtuQuietMs),
        true,
      );
      return;
    }
    const failure = describeFailure(err, { unitId, timeoutMs });
    if (isMismatch(err)) {
      this.counters.mismatches++;
      // Debug only: each device on the link logs its own failures once (modbus-source.ts);
      // a wrong unit id would otherwise log here on every poll.
      this.log.debug({ reason: failure.reason }, 'reply did not match its request; reconnecting');
      this.lost(client, failure.reason, 0);
      return;
    }
    this.lost(client, failure.reason, this.backoff.next());
  }

  /** Drops `client` and schedules a reconnect after `delayMs`. */
  private lost(client: ModbusClient, reason: string, delayMs: number, quiet = false): void {
    if (this.client !== client || this.state === 'closed') return;
    this.client = null;
    this.state = 'down';
    this.dropClient(new LinkDownError(`${this.description}: ${reason}`));
    void closeClient(client);
    if (!quiet) {
      this.log.debug({ reason, delayMs }, 'link down');
      this.emit('down', reason);
    }
    this.scheduleReconnect(delayMs);
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.state === 'closed' || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === 'closed') return;
      this.state = 'connecting';
      this.connecting = this.connect();
    }, delayMs);
  }

  private async connect(): Promise<void> {
    const client: ModbusClient = new ModbusRTU.default();
    // modbus-serial re-emits port errors; without a listener they would crash the process.
    client.on('error', () => {});
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        openClient(client, this.spec),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`open timed out after ${LINK_DEFAULTS.connectTimeoutMs} ms`)),
            LINK_DEFAULTS.connectTimeoutMs,
          );
        }),
      ]);
    } catch (err) {
      clearTimeout(timer);
      void closeClient(client);
      this.resyncing = false;
      if (this.state === 'closed') return;
      this.counters.failedOpens++;
      this.state = 'down';
      this.emit('down', describeConnectFailure(err, this.where()));
      this.scheduleReconnect(this.backoff.next());
      return;
    }
    clearTimeout(timer);
    if (this.state === 'closed') {
      void closeClient(client);
      return;
    }
    client.on('close', () => this.lost(client, 'connection closed', this.backoff.next()));
    let reject: (err: Error) => void = () => {};
    const signal = new Promise<never>((_, rej) => {
      reject = rej;
    });
    signal.catch(() => {}); // observed through Promise.race in request()
    this.dropped = { signal, reject };
    this.client = client;
    this.state = 'open';
    this.resyncing = false;
    this.counters.opens++;
    this.emit('open');
  }

  private waitForOpen(timeoutMs: number): Promise<void> {
    if (this.state === 'open' || this.state === 'closed') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('open', done);
        this.off('down', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.once('open', done);
      this.once('down', done);
    });
  }

  /** host:port or the serial port path, as a connect failure names it. */
  private where(): string {
    return this.spec.kind === 'rtu' ? this.spec.path : `${this.spec.host}:${this.spec.port}`;
  }

  /** Call when a device on this link answered: the next failure starts the backoff afresh. */
  answered(): void {
    this.backoff.reset();
  }
}

async function openClient(client: ModbusClient, spec: LinkSpec): Promise<void> {
  switch (spec.kind) {
    case 'tcp':
      await client.connectTCP(spec.host, { port: spec.port });
      return;
    case 'rtu-tcp':
      // TelnetPort: raw RTU frames (with CRC) over a TCP socket.
      await client.connectTelnet(spec.host, { port: spec.port });
      return;
    case 'rtu':
      await client.connectRTUBuffered(spec.path, {
        baudRate: spec.baudRate,
        parity: spec.parity,
        dataBits: spec.dataBits,
        stopBits: spec.stopBits,
      });
      return;
  }
}

function closeClient(client: ModbusClient): Promise<void> {
  return new Promise<void>((resolve) => {
    try {
      client.close(() => resolve());
    } catch {
      resolve();
    }
    // close() may never call back on a port that never opened.
    setTimeout(resolve, 500).unref();
  }).then(() => {
    try {
      client.destroy(() => {});
    } catch {
      // already destroyed
    }
  });
}

/**
 * Shares links between devices: one link per key (serial port, RTU-over-TCP endpoint),
 * opened on first acquire and closed when the last device releases it.
 */
export class ModbusLinkPool {
  private readonly links = new Map<string, { link: ModbusLink; users: number }>();

  constructor(private readonly options: ModbusLinkOptions = {}) {}

  acquire(key: string, spec: LinkSpec): ModbusLink {
    const entry = this.links.get(key);
    if (entry) {
      entry.users++;
      return entry.link;
    }
    const link = new ModbusLink(spec, this.options);
    link.setMaxListeners(0);
    this.links.set(key, { link, users: 1 });
    link.open();
    return link;
  }

  async release(key: string): Promise<void> {
    const entry = this.links.get(key);
    if (!entry) return;
    entry.users--;
    if (entry.users > 0) return;
    this.links.delete(key);
    await entry.link.close();
  }
}
