/**
 * OPC UA acquisition for one server (node-opcua client): one session, one
 * subscription, every tag a monitored item of one ClientMonitoredItemGroup.
 *
 * Reconnection has ONE layer: node-opcua's own (connectionStrategy below), which
 * restores the secure channel and session and transfers or recreates the subscription.
 * Two reconnecting layers would cause reconnect storms (BRIEF). This class only
 * repairs what node-opcua leaves broken: a subscription that terminated (server-side
 * timeout) or a session that closed — by recreating them on the live connection with
 * backoff — and monitored items the server refused (BadNodeIdUnknown while a restarted
 * server still loads its address space, or a node that does not exist yet): only those
 * items are retried, one at a time with backoff (up to 30 s apart), on the existing
 * subscription; the good items are never disturbed.
 *
 * Security: the server certificate must be in the trust list (pkiDir/trusted/certs);
 * an unknown one is refused, left in pkiDir/rejected for an engineer to move, logged
 * once, and retried with backoff; only `trustUnknownServer: true` accepts it. The
 * gateway's own certificate is created once in pkiDir/own and kept. Username/password
 * identity when configured.
 *
 * Gaps: when the connection is lost every tag is emitted once as bad 'comm lost'; after
 * the connection is back every tag is read once (a transferred subscription reports
 * only changes), so each value's history shows the gap as the bad interval.
 *
 * node-opcua is imported lazily in start(): it takes seconds to load, and a gateway
 * with only Modbus devices should not pay for it.
 */
import os from 'node:os';
import path from 'node:path';
import type {
  ClientMonitoredItem,
  ClientMonitoredItemGroup,
  ClientSession,
  ClientSubscription,
  DataValue,
  OPCUAClient,
  StatusCode,
  UserIdentityInfo,
} from 'node-opcua';
import type { Clock } from '../../../common/clock.js';
import { createLogger, type Logger } from '../../../common/logger.js';
import type { Quality, Reading } from '../../../protocol/payloads.js';
import type { OpcuaDeadbandConfig, OpcuaDeviceConfig, OpcuaTagConfig } from '../../config/types.js';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from '../backoff.js';
import {
  type AcquisitionSource,
  COMM_LOST,
  type DeviceStatusListener,
  type ReadingSink,
} from '../source.js';

type OpcuaModule = typeof import('node-opcua');

const DEFAULTS = {
  connectInitialDelayMs: 1000, // 1 s, first retry of the transport
  connectMaxDelayMs: 30_000, // 30 s, retry delay ceiling
  randomisationFactor: 0.2, // ±20 % jitter
  requestedSessionTimeoutMs: 60_000, // 60 s
  // A change waits for the next sample (up to one sampling interval), then for the next
  // publish: publishing 5 times per sampling interval keeps change-to-reading within
  // about 1.2 sampling intervals (bench/opcua-latency.bench.ts). Empty publishing cycles
  // cost nothing on the wire (the server answers only with data or a keep-alive).
  publishesPerSample: 10,
  minPublishingIntervalMs: 10, // 10 ms
  keepAliveCount: 50, // publishing intervals without data before a keep-alive (10 sampling intervals)
  lifetimeCount: 300, // OPC UA Part 4 §5.13.2: lifetime count >= 3 x keep-alive count
  maxNotificationsPerPublish: 1000,
  queueSize: 10, // values kept per item between publishes
  initializeTimeoutMs: 10_000, // 10 s to create the monitored items
  terminateTimeoutMs: 2000, // 2 s to delete a broken subscription before giving up on it
  /** Client certificate and trust lists when neither the device nor the deps name a folder. */
  pkiDir: path.join(os.homedir(), '.hazardwatch', 'opcua-pki'),
};

/** Timestamps outside 2000..2100 are broken device clocks (same bounds as protocol epochMs). */
const MIN_TS = 946_684_800_000;
const MAX_TS = 4_102_444_800_000;

export interface OpcuaSourceDeps {
  clock: Clock;
  /** PKI folder (own certificate, trust lists) when the device names none; default ~/.hazardwatch/opcua-pki. */
  pkiDir?: string;
  /** Transport reconnect delays; default 1 s doubling to 30 s, retried until stop(). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Delays between attempts to recreate a broken subscription. */
  repairBackoff?: Partial<BackoffOptions>;
  logger?: Logger;
  /** Called once per offline/online transition. */
  onDeviceStatus?: DeviceStatusListener;
  /**
   * Session timeout asked of the server; default 60 s. A network cut longer than this
   * expires the session on the server, so recovery needs a new session and new
   * subscriptions (tests shorten it to exercise that path in seconds).
   */
  sessionTimeoutMs?: number;
}

export interface OpcuaCounters {
  notifications: number;
  subscriptionsCreated: number;
  connectionLosses: number;
  /** Retries of single refused monitored items (the subscription left alone). */
  itemRetries: number;
  /** Connection attempts refused because the server certificate is not trusted. */
  untrustedServer: number;
}

/** Tags sharing one deadband are one monitored item group. */
interface ItemGroup {
  group: ClientMonitoredItemGroup;
  tags: readonly OpcuaTagConfig[];
}

/** A refused item retried alone until the server accepts it. */
interface ItemRetry {
  tag: OpcuaTagConfig;
  backoff: Backoff;
  timer: NodeJS.Timeout | null;
  item: ClientMonitoredItem | null;
}

/** See AcquisitionSource for the lifecycle guarantees. */
export class OpcuaSource implements AcquisitionSource {
  readonly deviceId: string;
  readonly counters: OpcuaCounters = {
    notifications: 0,
    subscriptionsCreated: 0,
    connectionLosses: 0,
    itemRetries: 0,
    untrustedServer: 0,
  };
  private readonly log: Logger;
  private readonly repairBackoff: Backoff;
  private running = false;
  private opcua: OpcuaModule | null = null;
  private client: OPCUAClient | null = null;
  private session: ClientSession | null = null;
  private subscription: ClientSubscription | null = null;
  private groups: ItemGroup[] = [];
  private readonly retries = new Map<string, ItemRetry>();
  private connectTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  /** True once the source reads by polling (readMode 'poll' or subscriptions refused). */
  private polling = false;
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
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.clearRetries();
    const client = this.client;
    this.client = null;
    this.session = null;
    this.subscription = null;
    this.groups = [];
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
    await this.connectOnce();
  }

  /** The PKI folder in use: own certificate (created once, kept) and trust lists. */
  get pkiDir(): string {
    return this.device.pkiDir ?? this.deps.pkiDir ?? DEFAULTS.pkiDir;
  }

  /**
   * One connection attempt. node-opcua's connectionStrategy retries an unreachable server;
   * a refused server certificate fails connect() instead, and is retried here with
   * backoff (an engineer may move the certificate to the trust list meanwhile).
   */
  private async connectOnce(): Promise<void> {
    const opcua = this.opcua!;
    const clientOptions: Parameters<typeof opcua.OPCUAClient.create>[0] = {
      applicationName: 'HazardWatch gateway',
      endpointMustExist: false,
      securityMode: opcua.MessageSecurityMode[this.device.securityMode],
      securityPolicy: opcua.SecurityPolicy[this.device.securityPolicy],
      requestedSessionTimeout: this.deps.sessionTimeoutMs ?? DEFAULTS.requestedSessionTimeoutMs,
      connectionStrategy: {
        // Retried until stop(): the count is unbounded, the delay is bounded.
        maxRetry: -1,
        initialDelay: this.deps.reconnect?.initialDelayMs ?? DEFAULTS.connectInitialDelayMs,
        maxDelay: this.deps.reconnect?.maxDelayMs ?? DEFAULTS.connectMaxDelayMs,
        randomisationFactor: DEFAULTS.randomisationFactor,
      },
      // Always our own manager: node-opcua's default one accepts unknown server certificates.
      clientCertificateManager: new opcua.OPCUACertificateManager({
        rootFolder: this.pkiDir,
        automaticallyAcceptUnknownCertificate: this.device.trustUnknownServer ?? false,
      }),
    };
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

    try {
      await client.connect(this.device.endpointUrl);
    } catch (err) {
      if (!this.running || this.client !== client) return;
      this.client = null;
      await client.disconnect().catch(() => {});
      const message = (err as Error).message ?? String(err);
      const untrusted = /certificate/i.test(message);
      if (untrusted) {
        this.counters.untrustedServer++;
        if (this.counters.untrustedServer === 1) {
          this.log.error(
            { endpointUrl: this.device.endpointUrl, pkiDir: this.pkiDir, err: message },
            `server certificate not trusted: move it from ${path.join(this.pkiDir, 'rejected')} to ${path.join(this.pkiDir, 'trusted', 'certs')} to accept it`,
          );
        }
      } else {
        this.log.warn({ err: message }, 'OPC UA connect failed');
      }
      this.goOffline(untrusted ? 'server certificate not trusted' : 'connect failed');
      if (!this.running) return;
      this.connectTimer = setTimeout(() => {
        this.connectTimer = null;
        if (this.running) void this.connectOnce();
      }, this.repairBackoff.next());
      return;
    }
    if (!this.running || this.client !== client) return;
    this.repairBackoff.reset();
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

  /** Data-change filter (OPC UA Part 4 §7.22.2) for a deadband; undefined for none. */
  private filterFor(deadband: OpcuaDeadbandConfig | undefined) {
    const opcua = this.opcua!;
    if (!deadband || deadband.type === 'none') return undefined;
    return new opcua.DataChangeFilter({
      trigger: opcua.DataChangeTrigger.StatusValue,
      deadbandType:
        deadband.type === 'absolute' ? opcua.DeadbandType.Absolute : opcua.DeadbandType.Percent,
      deadbandValue: deadband.value,
    });
  }

  private monitoringParameters(tag: OpcuaTagConfig | undefined) {
    const filter = this.filterFor(tag?.deadband ?? this.device.deadband);
    return {
      samplingInterval: this.device.samplingIntervalMs,
      queueSize: this.device.queueSize ?? DEFAULTS.queueSize,
      discardOldest: true,
      ...(filter ? { filter } : {}),
    };
  }

  /** Creates the subscription and its monitored item group on `session`. */
  private async createSubscription(session: ClientSession): Promise<void> {
    const opcua = this.opcua!;
    const publishingInterval = Math.max(
      this.device.samplingIntervalMs / DEFAULTS.publishesPerSample,
      DEFAULTS.minPublishingIntervalMs,
    );
    // createSubscription2 resolves once the server has created the subscription and
    // rejects with its status (e.g. BadTooManySubscriptions), so the caller can fall back
    // to polling; ClientSubscription.create reported that failure only as an unhandled error.
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: publishingInterval,
      requestedMaxKeepAliveCount: DEFAULTS.keepAliveCount,
      requestedLifetimeCount: DEFAULTS.lifetimeCount,
      maxNotificationsPerPublish: DEFAULTS.maxNotificationsPerPublish,
      publishingEnabled: true,
      priority: 10,
    });
    if (!this.running) return; // stopped meanwhile: disconnect() closes it with the session
    this.subscription = subscription;
    this.counters.subscriptionsCreated++;
    subscription.on('terminated', () => this.onSubscriptionBroken(subscription, 'terminated'));
    subscription.on('internal_error', (err: Error) =>
      this.onSubscriptionBroken(subscription, `internal error: ${err.message}`),
    );

    const byDeadband = new Map<string, OpcuaTagConfig[]>();
    for (const tag of this.device.tags) {
      const key = JSON.stringify(tag.deadband ?? this.device.deadband ?? null);
      byDeadband.set(key, [...(byDeadband.get(key) ?? []), tag]);
    }
    const groups: ItemGroup[] = [...byDeadband.values()].map((tags) => {
      const group = opcua.ClientMonitoredItemGroup.create(
        subscription,
        tags.map((tag) => ({ nodeId: tag.nodeId, attributeId: opcua.AttributeIds.Value })),
        this.monitoringParameters(tags[0]),
        opcua.TimestampsToReturn.Both,
      );
      group.on('changed', (_item: unknown, dataValue: DataValue, index: number) => {
        const tag = tags[index];
        if (!tag || this.subscription !== subscription || this.retries.has(tag.sensorId)) return;
        this.enqueue(this.toReading(tag, dataValue));
      });
      return { group, tags };
    });
    this.groups = groups;
    await Promise.all(groups.map(({ group }) => waitInitialized(group)));
    if (this.subscription !== subscription) return;
    this.checkItems();
  }

  /** Emits bad readings for items the server refused, and retries those items alone. */
  private checkItems(): void {
    const ts = this.deps.clock.now();
    for (const { group, tags } of this.groups) {
      group.monitoredItems.forEach((item, index) => {
        const tag = tags[index];
        if (!tag) return;
        const status = (item as unknown as { statusCode?: StatusCode }).statusCode;
        if (status && status.value >= 0x80000000) this.itemRefused(tag, status, ts);
      });
    }
  }

  private itemRefused(tag: OpcuaTagConfig, status: StatusCode, ts: number): void {
    if (!this.badItems.has(tag.sensorId)) {
      this.badItems.add(tag.sensorId);
      this.log.warn(
        { sensorId: tag.sensorId, nodeId: tag.nodeId, status: status.name },
        'monitored item refused; retrying it alone',
      );
      this.enqueue({
        sensorId: tag.sensorId,
        value: null,
        quality: 'bad',
        reason: status.name,
        ts,
      });
    }
    let retry = this.retries.get(tag.sensorId);
    if (!retry) {
      retry = {
        tag,
        backoff: new Backoff({ ...DEFAULT_BACKOFF, ...this.deps.repairBackoff }),
        timer: null,
        item: null,
      };
      this.retries.set(tag.sensorId, retry);
    }
    this.scheduleItemRetry(retry);
  }

  private scheduleItemRetry(retry: ItemRetry): void {
    if (!this.running || retry.timer) return;
    retry.timer = setTimeout(() => {
      retry.timer = null;
      void this.retryItem(retry);
    }, retry.backoff.next());
  }

  /** Creates one monitored item for a refused tag on the live subscription. */
  private async retryItem(retry: ItemRetry): Promise<void> {
    const subscription = this.subscription;
    const opcua = this.opcua;
    if (
      !this.running ||
      !subscription ||
      !opcua ||
      this.retries.get(retry.tag.sensorId) !== retry
    ) {
      return;
    }
    this.counters.itemRetries++;
    const old = retry.item;
    retry.item = null;
    if (old) await old.terminate().catch(() => {});
    const item = opcua.ClientMonitoredItem.create(
      subscription,
      { nodeId: retry.tag.nodeId, attributeId: opcua.AttributeIds.Value },
      this.monitoringParameters(retry.tag),
      opcua.TimestampsToReturn.Both,
    );
    retry.item = item;
    item.on('changed', (dataValue: DataValue) => {
      if (retry.item !== item || this.subscription !== subscription) return;
      this.enqueue(this.toReading(retry.tag, dataValue));
    });
    const status = await new Promise<StatusCode | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), DEFAULTS.initializeTimeoutMs);
      item.once('initialized', () => {
        clearTimeout(timer);
        resolve((item as unknown as { statusCode?: StatusCode }).statusCode);
      });
      item.once('err', () => {
        clearTimeout(timer);
        resolve((item as unknown as { statusCode?: StatusCode }).statusCode);
      });
    });
    if (!this.running || retry.item !== item) return;
    if (status && status.value < 0x80000000) {
      // Accepted: it stays as a single item on this subscription.
      this.badItems.delete(retry.tag.sensorId);
      this.log.info(
        { sensorId: retry.tag.sensorId, nodeId: retry.tag.nodeId },
        'monitored item accepted',
      );
      retry.backoff.reset();
      return;
    }
    this.scheduleItemRetry(retry);
  }

  private clearRetries(): void {
    for (const retry of this.retries.values()) {
      if (retry.timer) clearTimeout(retry.timer);
      retry.timer = null;
      retry.item = null;
    }
    this.retries.clear();
    this.badItems.clear();
  }

  private onSubscriptionBroken(subscription: ClientSubscription, why: string): void {
    if (!this.running || this.subscription !== subscription) return;
    this.log.warn({ why }, 'OPC UA subscription lost; recreating it');
    this.subscription = null;
    this.groups = [];
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
    this.groups = [];
    this.clearRetries();
    if (old) await withTimeout(old.terminate(), DEFAULTS.terminateTimeoutMs).catch(() => {});
    let session = this.session;
    if (!session) {
      const created = await client.createSession(this.identity());
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
    if (this.device.readMode === 'poll' || this.polling) {
      this.startPolling();
      return;
    }
    try {
      await this.createSubscription(session);
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      if (!SUBSCRIPTION_REFUSED.test(message)) throw err;
      // Polling read as the fallback for servers that refuse subscriptions.
      this.log.warn({ err: message }, 'server refuses subscriptions; polling with Read instead');
      this.subscription = null;
      this.groups = [];
      this.startPolling();
    }
  }

  /** Reads every tag each samplingIntervalMs (readMode 'poll', or subscriptions refused). */
  private startPolling(): void {
    if (this.pollTimer) return;
    this.polling = true;
    let busy = false;
    const poll = async () => {
      const session = this.session;
      const opcua = this.opcua;
      if (!this.running || !session || !opcua || busy) return;
      busy = true;
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
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'polling read failed');
      } finally {
        busy = false;
      }
    };
    this.pollTimer = setInterval(() => void poll(), Math.max(this.device.samplingIntervalMs, 10));
    void poll();
  }

  /** Username/password when configured, else anonymous. */
  private identity() {
    const opcua = this.opcua!;
    const { username, password } = this.device;
    if (username === undefined || password === undefined) return undefined;
    return { type: opcua.UserTokenType.UserName, userName: username, password } as UserIdentityInfo;
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
      if (this.session === session) this.checkItems();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'refresh read failed');
    }
  }

  private goOnline(): void {
    if (this.linkState === 'online') return;
    this.linkState = 'online';
    this.log.info({ endpointUrl: this.device.endpointUrl }, 'device online');
    this.notify(true);
  }

  private notify(online: boolean, reason?: string): void {
    try {
      this.deps.onDeviceStatus?.({
        deviceId: this.deviceId,
        online,
        ts: this.deps.clock.now(),
        ...(reason ? { reason } : {}),
      });
    } catch (err) {
      this.log.error({ err }, 'device status listener threw');
    }
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
    this.notify(false, why);
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

/** Errors of CreateSubscription/CreateMonitoredItems that mean "use Read instead". */
const SUBSCRIPTION_REFUSED =
  /BadTooManySubscriptions|BadServiceUnsupported|BadNotSupported|BadNotImplemented/;

/** Resolves once the group's items are created; rejects when that fails or takes too long. */
function waitInitialized(group: ClientMonitoredItemGroup): Promise<void> {
  return new Promise<void>((resolve, reject) => {
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
