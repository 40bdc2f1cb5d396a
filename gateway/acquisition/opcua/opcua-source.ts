/**
 * OPC UA acquisition for one server (node-opcua client): one session, one
 * subscription, every tag a monitored item of one ClientMonitoredItemGroup.
 *
 * Reconnection has ONE layer: node-opcua's own (connectionStrategy below), which
 * restores the secure channel and session and transfers or recreates the subscription.
 * Two reconnecting layers would cause reconnect storms (BRIEF). This class only
 * repairs what node-opcua leaves broken: a subscription that terminated (server-side
 * timeout), a session that closed, or monitored items left bad after a server restart
 * (BadNodeIdUnknown while the server's address space was still loading) — by
 * recreating the subscription on the live session with backoff.
 *
 * node-opcua is imported lazily in start(): it takes seconds to load, and a gateway
 * with only Modbus devices should not pay for it.
 */
import type {
  ClientMonitoredItemGroup,
  ClientSession,
  ClientSubscription,
  DataValue,
  OPCUAClient,
  StatusCode,
} from 'node-opcua';
import type { Clock } from '../../../common/clock.js';
import { createLogger, type Logger } from '../../../common/logger.js';
import type { Quality, Reading } from '../../../protocol/payloads.js';
import type { OpcuaDeviceConfig, OpcuaTagConfig } from '../../config/types.js';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from '../backoff.js';
import { type AcquisitionSource, COMM_LOST, type ReadingSink } from '../source.js';

type OpcuaModule = typeof import('node-opcua');

const DEFAULTS = {
  connectInitialDelayMs: 1000, // 1 s, first retry of the transport
  connectMaxDelayMs: 30_000, // 30 s, retry delay ceiling
  randomisationFactor: 0.2, // ±20 % jitter
  requestedSessionTimeoutMs: 60_000, // 60 s
  keepAliveCount: 10, // publishing intervals without data before a keep-alive
  lifetimeCount: 60, // OPC UA Part 4 §5.13.2: lifetime count >= 3 x keep-alive count
  maxNotificationsPerPublish: 1000,
  queueSize: 10, // values kept per item between publishes
  initializeTimeoutMs: 10_000, // 10 s to create the monitored items
  terminateTimeoutMs: 2000, // 2 s to delete a broken subscription before giving up on it
};

/** Timestamps outside 2000..2100 are broken device clocks (same bounds as protocol epochMs). */
const MIN_TS = 946_684_800_000;
const MAX_TS = 4_102_444_800_000;

export interface OpcuaSourceDeps {
  clock: Clock;
  /** PKI folder for the client certificate; default node-opcua's per-user folder. */
  pkiDir?: string;
  /** Transport reconnect delays; default 1 s doubling to 30 s, retried until stop(). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Delays between attempts to recreate a broken subscription. */
  repairBackoff?: Partial<BackoffOptions>;
  logger?: Logger;
}

export interface OpcuaCounters {
  notifications: number;
  subscriptionsCreated: number;
  connectionLosses: number;
}

/** See AcquisitionSource for the lifecycle guarantees. */
export class OpcuaSource implements AcquisitionSource {
  readonly deviceId: string;
  readonly counters: OpcuaCounters = {
    notifications: 0,
    subscriptionsCreated: 0,
    connectionLosses: 0,
  };
  private readonly log: Logger;
  private readonly repairBackoff: Backoff;
  private running = false;
  private opcua: OpcuaModule | null = null;
  private client: OPCUAClient | null = null;
  private session: ClientSession | null = null;
  private subscription: ClientSubscription | null = null;
  private group: ClientMonitoredItemGroup | null = null;
  private task: Promise<void> | null = null;
  private repairTimer: NodeJS.Timeout | null = null;
  private repairing: Promise<void> | null = null;
  private repairWanted = false;
  private pending: Reading[] = [];
  private flushQueued = false;
  private linkState: 'unknown' | 'online' | 'offline' = 'unknown';
  /** Tags whose monitored item is currently bad, so its status is logged once. */
  private readonly badItems = new Set<string>();

  constructor(
    private readonly device: OpcuaDeviceConfig,
    private readonly sink: ReadingSink,
    private readonly deps: OpcuaSourceDeps,
  ) {
    this.deviceId = device.id;
    this.log = (deps.logger ?? createLogger('gateway.acquisition.opcua')).child({
      device: device.id,
    });
    this.repairBackoff = new Backoff({ ...DEFAULT_BACKOFF, ...deps.repairBackoff });
  }

  /** Resolves at once; connecting and subscribing continue in the background. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.task = this.run().catch((err) => {
      if (this.running) this.log.error({ err }, 'OPC UA setup failed');
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.repairTimer) clearTimeout(this.repairTimer);
    this.repairTimer = null;
    const client = this.client;
    this.client = null;
    this.session = null;
    this.subscription = null;
    this.group = null;
    this.pending = [];
    // disconnect() also aborts a connect() still retrying, and closes session and subscription.
    if (client) await client.disconnect().catch(() => {});
    await Promise.allSettled([this.task, this.repairing]);
    this.task = null;
    this.repairing = null;
  }

  private async run(): Promise<void> {
    const opcua = await import('node-opcua');
    if (!this.running) return;
    this.opcua = opcua;
    const clientOptions: Parameters<typeof opcua.OPCUAClient.create>[0] = {
      applicationName: 'HazardWatch gateway',
      endpointMustExist: false,
      securityMode: opcua.MessageSecurityMode[this.device.securityMode],
      securityPolicy: opcua.SecurityPolicy[this.device.securityPolicy],
      requestedSessionTimeout: DEFAULTS.requestedSessionTimeoutMs,
      connectionStrategy: {
        // Retried until stop(): the count is unbounded, the delay is bounded.
        maxRetry: -1,
        initialDelay: this.deps.reconnect?.initialDelayMs ?? DEFAULTS.connectInitialDelayMs,
        maxDelay: this.deps.reconnect?.maxDelayMs ?? DEFAULTS.connectMaxDelayMs,
        randomisationFactor: DEFAULTS.randomisationFactor,
      },
    };
    if (this.deps.pkiDir) {
      clientOptions.clientCertificateManager = new opcua.OPCUACertificateManager({
        rootFolder: this.deps.pkiDir,
      });
    }
    const client = opcua.OPCUAClient.create(clientOptions);
    this.client = client;
    client.on('backoff', (retry: number, delay: number) => {
      if (retry === 0) this.goOffline('server unreachable');
      this.log.debug({ retry, delayMs: delay }, 'OPC UA connect retry');
    });
    client.on('connection_lost', () => {
      this.counters.connectionLosses++;
      this.goOffline('connection lost');
    });
    client.on('connection_reestablished', () => {
      if (!this.running || this.client !== client) return;
      this.goOnline();
      void this.refresh();
    });

    await client.connect(this.device.endpointUrl);
    if (!this.running || this.client !== client) return;
    this.goOnline();
    try {
      await this.setUpSubscription();
    } catch (err) {
      // The transport is up but the session or subscription was refused: retry those.
      this.log.warn({ err: (err as Error).message }, 'OPC UA session or subscription failed');
      this.goOffline('session or subscription failed');
      this.scheduleRepair();
    }
  }

  /** Creates the subscription and its monitored item group on `session`. */
  private async createSubscription(session: ClientSession): Promise<void> {
    const opcua = this.opcua!;
    const publishingInterval = Math.max(this.device.samplingIntervalMs, 10);
    const subscription = opcua.ClientSubscription.create(session, {
      requestedPublishingInterval: publishingInterval,
      requestedMaxKeepAliveCount: DEFAULTS.keepAliveCount,
      requestedLifetimeCount: DEFAULTS.lifetimeCount,
      maxNotificationsPerPublish: DEFAULTS.maxNotificationsPerPublish,
      publishingEnabled: true,
      priority: 10,
    });
    this.subscription = subscription;
    this.counters.subscriptionsCreated++;
    subscription.on('terminated', () => this.onSubscriptionBroken(subscription, 'terminated'));
    subscription.on('internal_error', (err: Error) =>
      this.onSubscriptionBroken(subscription, `internal error: ${err.message}`),
    );

    const group = opcua.ClientMonitoredItemGroup.create(
      subscription,
      this.device.tags.map((tag) => ({
        nodeId: tag.nodeId,
        attributeId: opcua.AttributeIds.Value,
      })),
      {
        samplingInterval: this.device.samplingIntervalMs,
        queueSize: DEFAULTS.queueSize,
        discardOldest: true,
      },
      opcua.TimestampsToReturn.Both,
    );
    this.group = group;
    group.on('changed', (_item: unknown, dataValue: DataValue, index: number) => {
      const tag = this.device.tags[index];
      if (!tag || this.group !== group) return;
      this.enqueue(this.toReading(tag, dataValue));
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('monitored items not created in time')),
        DEFAULTS.initializeTimeoutMs,
      );
      group.once('initialized', () => {
        clearTimeout(timer);
        resolve();
      });
      group.once('terminated', (err?: Error) => {
        clearTimeout(timer);
        reject(err ?? new Error('monitored item group terminated'));
      });
    });
    if (this.group !== group) return;
    this.checkItems();
  }

  /** Emits bad readings for items the server refused, and schedules a repair for them. */
  private checkItems(): boolean {
    const group = this.group;
    if (!group) return false;
    const ts = this.deps.clock.now();
    let allGood = true;
    group.monitoredItems.forEach((item, index) => {
      const tag = this.device.tags[index];
      if (!tag) return;
      const status = (item as unknown as { statusCode?: StatusCode }).statusCode;
      if (status && status.value >= 0x80000000) {
        allGood = false;
        if (!this.badItems.has(tag.sensorId)) {
          this.badItems.add(tag.sensorId);
          this.log.warn(
            { sensorId: tag.sensorId, nodeId: tag.nodeId, status: status.name },
            'monitored item refused',
          );
        }
        this.enqueue({
          sensorId: tag.sensorId,
          value: null,
          quality: 'bad',
          reason: status.name,
          ts,
        });
      } else {
        this.badItems.delete(tag.sensorId);
      }
    });
    if (allGood) this.repairBackoff.reset();
    else this.scheduleRepair();
    return allGood;
  }

  private onSubscriptionBroken(subscription: ClientSubscription, why: string): void {
    if (!this.running || this.subscription !== subscription) return;
    this.log.warn({ why }, 'OPC UA subscription lost; recreating it');
    this.subscription = null;
    this.group = null;
    this.scheduleRepair();
  }

  /** Recreates session (if closed) and subscription after a backoff delay; one at a time. */
  private scheduleRepair(): void {
    if (!this.running) return;
    if (this.repairing) {
      this.repairWanted = true; // asked for during a repair: run another one after it
      return;
    }
    if (this.repairTimer) return;
    const delay = this.repairBackoff.next();
    this.repairTimer = setTimeout(() => {
      this.repairTimer = null;
      this.repairWanted = false;
      this.repairing = this.setUpSubscription()
        .catch((err) => {
          this.log.warn({ err: (err as Error).message }, 'OPC UA subscription repair failed');
          this.repairWanted = true;
        })
        .finally(() => {
          this.repairing = null;
          if (this.repairWanted) {
            this.repairWanted = false;
            this.scheduleRepair();
          }
        });
    }, delay);
  }

  /**
   * Creates the session if there is none, drops the current subscription if any, and
   * creates a fresh subscription. Used at start and for every repair.
   */
  private async setUpSubscription(): Promise<void> {
    const client = this.client;
    if (!this.running || !client) return;
    const old = this.subscription;
    this.subscription = null;
    this.group = null;
    if (old) await withTimeout(old.terminate(), DEFAULTS.terminateTimeoutMs).catch(() => {});
    let session = this.session;
    if (!session) {
      const created = await client.createSession();
      if (!this.running || this.client !== client) {
        await created.close().catch(() => {});
        return;
      }
      this.session = created;
      created.on('session_closed', () => {
        if (!this.running || this.session !== created) return;
        this.log.warn('OPC UA session closed by the server; creating a new one');
        this.session = null;
        this.scheduleRepair();
      });
      session = created;
    }
    await this.createSubscription(session);
  }

  /**
   * Reads every tag once after a reconnection: a transferred subscription only reports
   * changes, so a value that did not change during the outage would stay 'comm lost'.
   */
  private async refresh(): Promise<void> {
    const session = this.session;
    const opcua = this.opcua;
    if (!session || !opcua) return;
    try {
      const values = await session.read(
        this.device.tags.map((tag) => ({
          nodeId: tag.nodeId,
          attributeId: opcua.AttributeIds.Value,
        })),
        0,
      );
      if (!this.running || this.session !== session) return;
      values.forEach((dataValue, index) => {
        const tag = this.device.tags[index];
        if (tag) this.enqueue(this.toReading(tag, dataValue));
      });
      // Items recreated on a restarted server may have been refused meanwhile.
      this.checkItems();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'refresh read failed');
    }
  }

  private goOnline(): void {
    if (this.linkState === 'online') return;
    this.linkState = 'online';
    this.log.info({ endpointUrl: this.device.endpointUrl }, 'device online');
  }

  /** Logs and emits 'comm lost' once per loss, not on every retry. */
  private goOffline(why: string): void {
    if (!this.running || this.linkState === 'offline') return;
    this.linkState = 'offline';
    this.log.warn({ endpointUrl: this.device.endpointUrl, why }, 'device offline');
    const ts = this.deps.clock.now();
    for (const tag of this.device.tags) {
      this.enqueue({ sensorId: tag.sensorId, value: null, quality: 'bad', reason: COMM_LOST, ts });
    }
  }

  /** Converts one DataValue to a Reading (quality from the StatusCode severity bits). */
  private toReading(tag: OpcuaTagConfig, dataValue: DataValue): Reading {
    const ts =
      validTs(dataValue.sourceTimestamp) ??
      validTs(dataValue.serverTimestamp) ??
      this.deps.clock.now();
    const status = dataValue.statusCode;
    const quality = qualityOf(status);
    if (quality === 'bad') {
      return { sensorId: tag.sensorId, value: null, quality, reason: status.name, ts };
    }
    const value = this.toScalar(dataValue);
    if (value === undefined) {
      return {
        sensorId: tag.sensorId,
        value: null,
        quality: 'bad',
        reason: 'unsupported value',
        ts,
      };
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
      return { sensorId: tag.sensorId, value: null, quality: 'bad', reason: 'not a number', ts };
    }
    const reading: Reading = { sensorId: tag.sensorId, value, quality, ts };
    if (quality === 'uncertain') reading.reason = status.name;
    return reading;
  }

  /** A scalar number, boolean or string; undefined for arrays, structures and the like. */
  private toScalar(dataValue: DataValue): number | boolean | string | undefined {
    const opcua = this.opcua!;
    const variant = dataValue.value;
    if (!variant || variant.arrayType !== opcua.VariantArrayType.Scalar) return undefined;
    const value: unknown = variant.value;
    if (typeof value === 'number' || typeof value === 'boolean') return value;
    if (typeof value === 'string') return value.slice(0, 256);
    // node-opcua carries Int64/UInt64 as [high, low] 32-bit words.
    if (
      (variant.dataType === opcua.DataType.Int64 || variant.dataType === opcua.DataType.UInt64) &&
      Array.isArray(value) &&
      typeof value[0] === 'number' &&
      typeof value[1] === 'number'
    ) {
      return value[0] * 2 ** 32 + value[1];
    }
    return undefined;
  }

  /** Collects readings and hands them to the sink once per notification batch. */
  private enqueue(reading: Reading): void {
    if (!this.running) return;
    this.pending.push(reading);
    if (this.flushQueued) return;
    this.flushQueued = true;
    // node-opcua dispatches all items of one notification message synchronously, so a
    // microtask flush yields one sink call per notification batch.
    queueMicrotask(() => {
      this.flushQueued = false;
      const batch = this.pending;
      this.pending = [];
      if (!this.running || batch.length === 0) return;
      this.counters.notifications++;
      try {
        this.sink(batch);
      } catch (err) {
        this.log.error({ err }, 'reading sink threw');
      }
    });
  }
}

/** OPC UA Part 4 §7.39: the two top bits of a StatusCode are its severity. */
export function qualityOf(status: Pick<StatusCode, 'value'>): Quality {
  const severity = status.value >>> 30;
  if (severity === 0) return 'good';
  if (severity === 1) return 'uncertain';
  return 'bad';
}

function validTs(date: Date | null | undefined): number | undefined {
  const ms = date?.getTime();
  return ms !== undefined && Number.isFinite(ms) && ms >= MIN_TS && ms <= MAX_TS ? ms : undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
