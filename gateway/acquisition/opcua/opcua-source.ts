/**
 * OPC UA acquisition for one server (node-opcua client): one session, one
 * subscription, every tag a monitored item of one ClientMonitoredItemGroup per deadband.
 *
 * Good only when fresh: every reading goes through the source's ReadingGate
 * (source.ts). A value is good only when freshly read with a good status in the
 * current connection; the read after a reconnection passes good values only for items
 * the server accepted in this connection, and a refused item keeps the status the
 * server gave it (e.g. BadNodeIdUnknown), never a good value from that read.
 *
 * Reconnection has ONE layer: node-opcua's own (connectionStrategy below), which
 * restores the secure channel and session and transfers or recreates the subscription.
 * Two reconnecting layers would cause reconnect storms (BRIEF). Its delays are drawn
 * with jitter for every reconnection (node-opcua drops randomisationFactor there; see
 * backoff.ts jittered()). This class only repairs what node-opcua leaves broken: a
 * subscription that terminated (server-side timeout) or a session that closed — by
 * recreating them on the live connection with backoff — and monitored items the server
 * refused (BadNodeIdUnknown while a restarted server still loads its address space, a
 * node that does not exist yet, a server at its item limit): only those items are
 * retried, one at a time with backoff (up to 30 s apart), on the existing subscription;
 * the good items are never disturbed. An item refused for its filter is retried
 * without the filter: the same filter would be refused forever.
 *
 * Deadband: sent only where it can apply, decided per item from the node's DataType
 * (and EURange for percent) by deadband.ts.
 *
 * Security: the server certificate must be in the trust list (pkiDir/trusted/certs);
 * an unknown one is refused, left in pkiDir/rejected for an engineer to trust
 * (`gateway trust-server`, trust-server.ts), logged once, and retried with backoff;
 * only `trustUnknownServer: true` accepts it. The gateway's own certificate is created
 * once in pkiDir/own and kept. Username/password identity when configured.
 *
 * Gaps: when the connection is lost every tag is emitted once as bad 'comm lost'; after
 * the connection is back every tag is read once (a transferred subscription reports
 * only changes), so each value's history shows the gap as the bad interval. Polling
 * mode needs no such read: its next poll is one.
 *
 * node-opcua is imported lazily in start(): it takes seconds to load, and a gateway
 * with only Modbus devices should not pay for it.
 */
import path from 'node:path';
import type {
  ClientMonitoredItemGroup,
  ClientSession,
  ClientSubscription,
  DataValue,
  OPCUAClient,
  StatusCode,
  UserIdentityInfo,
} from 'node-opcua';
import { createLogger, type Logger } from '../../../common/logger.js';
import type { Reading } from '../../../protocol/payloads.js';
import type { OpcuaDeviceConfig, OpcuaTagConfig } from '../../config/types.js';
import { Backoff, DEFAULT_BACKOFF, jittered } from '../backoff.js';
import { type AcquisitionSource, COMM_LOST, ReadingGate, type ReadingSink } from '../source.js';
import { isBadStatus, toReading } from './convert.js';
import { type DeadbandPlan, planDeadbands } from './deadband.js';
import { routeNodeOpcuaLogs } from './node-opcua-log.js';
import {
  OPCUA_DEFAULTS as DEFAULTS,
  firstLine,
  monitoringParameters,
  type OpcuaCounters,
  type OpcuaSourceDeps,
  SUBSCRIPTION_REFUSED,
  waitInitialized,
  withTimeout,
} from './options.js';
import { OpcuaPoller } from './polling.js';
import { RefusedItems } from './refused-items.js';

export { qualityOf } from './convert.js';
export type { OpcuaCounters, OpcuaSourceDeps } from './options.js';

type OpcuaModule = typeof import('node-opcua');

/** Tags sharing one deadband are one monitored item group. */
interface ItemGroup {
  group: ClientMonitoredItemGroup;
  tags: readonly OpcuaTagConfig[];
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
    deadbandsDropped: 0,
    revisedPublishingIntervalMs: null,
  };
  /** The transport reconnect delays node-opcua used most recently (ms), oldest first. */
  readonly reconnectDelays: number[] = [];
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly repairBackoff: Backoff;
  private readonly gate: ReadingGate;
  private running = false;
  private opcua: OpcuaModule | null = null;
  private client: OPCUAClient | null = null;
  private session: ClientSession | null = null;
  private subscription: ClientSubscription | null = null;
  private groups: ItemGroup[] = [];
  private plans = new Map<string, DeadbandPlan>();
  private readonly refusedItems: RefusedItems;
  private connectTimer: NodeJS.Timeout | null = null;
  private readonly poller: OpcuaPoller;
  /** True once the source reads by polling (readMode 'poll' or subscriptions refused). */
  private polling = false;
  private task: Promise<void> | null = null;
  private repairTimer: NodeJS.Timeout | null = null;
  private repairing: Promise<void> | null = null;
  private repairWanted = false;
  private pending: Reading[] = [];
  private pendingGeneration = 0;
  private flushQueued = false;
  private linkState: 'unknown' | 'online' | 'offline' = 'unknown';
  /** What was last logged per tag (refusal, dropped deadband, bad node), so each is logged once. */
  private readonly logged = new Map<string, string>();

  constructor(
    private readonly device: OpcuaDeviceConfig,
    sink: ReadingSink,
    private readonly deps: OpcuaSourceDeps,
  ) {
    this.deviceId = device.id;
    this.log = (deps.logger ?? createLogger('gateway.acquisition.opcua')).child({
      device: device.id,
    });
    this.random = deps.random ?? Math.random;
    this.repairBackoff = new Backoff({ ...DEFAULT_BACKOFF, ...deps.repairBackoff }, this.random);
    this.gate = new ReadingGate(sink, {
      // ts is the server's source timestamp: the same ts is the same sample.
      repeats: 'drop',
      onSinkError: (err) => this.log.error({ err }, 'reading sink threw'),
    });
    this.poller = new OpcuaPoller({
      device,
      running: () => this.running,
      opcua: () => this.opcua,
      session: () => this.session,
      gate: this.gate,
      clock: deps.clock,
      log: this.log,
      logOnce: (tag, key, level, message) => this.logOnce(tag, key, level, message),
      logged: this.logged,
    });
    this.refusedItems = new RefusedItems({
      running: () => this.running,
      opcua: () => this.opcua,
      session: () => this.session,
      subscription: () => this.subscription,
      gate: this.gate,
      counters: this.counters,
      clock: deps.clock,
      log: this.log,
      newBackoff: () => new Backoff({ ...DEFAULT_BACKOFF, ...deps.repairBackoff }, this.random),
      monitoringParameters: (deadband) => monitoringParameters(this.opcua!, device, deadband),
      planItems: (session, tags) => this.planItems(session, tags),
      logOnce: (tag, key, level, message) => this.logOnce(tag, key, level, message),
      forgetLogged: (sensorId) => this.logged.delete(sensorId),
      enqueue: (reading) => this.enqueue(reading),
      flush: () => this.flush(),
    });
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
    this.poller.stop();
    this.refusedItems.clear();
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
    routeNodeOpcuaLogs(opcua);
    if (!this.running) return;
    this.opcua = opcua;
    await this.connectOnce();
  }

  /** The PKI folder in use: own certificate (created once, kept) and trust lists. */
  get pkiDir(): string {
    return this.device.pkiDir ?? this.deps.pkiDir ?? DEFAULTS.pkiDir;
  }

  /** Transport retry delays, drawn anew with jitter for each (re)connection. */
  private drawReconnectDelays(): { initialDelay: number; maxDelay: number } {
    const initial = this.deps.reconnect?.initialDelayMs ?? DEFAULTS.connectInitialDelayMs;
    const max = this.deps.reconnect?.maxDelayMs ?? DEFAULTS.connectMaxDelayMs;
    const initialDelay = jittered(initial, DEFAULTS.jitter, this.random);
    // node-opcua's backoff module requires maxDelay > initialDelay.
    const maxDelay = Math.max(initialDelay + 1, jittered(max, DEFAULTS.jitter, this.random));
    return { initialDelay, maxDelay };
  }

  /**
   * One connection attempt. node-opcua's connectionStrategy retries an unreachable server;
   * a refused server certificate fails connect() instead, and is retried here with
   * backoff (an engineer may trust the certificate meanwhile).
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
        ...this.drawReconnectDelays(),
        // Applied by node-opcua to the first connection only (never to reconnections).
        randomisationFactor: 0,
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
      this.reconnectDelays.push(delay);
      if (this.reconnectDelays.length > DEFAULTS.reconnectDelaysKept) this.reconnectDelays.shift();
      if (retry === 0) this.goOffline('server unreachable');
      this.log.debug({ retry, delayMs: delay }, 'OPC UA connect retry');
    });
    // Emitted synchronously before node-opcua reads initialDelay/maxDelay for its
    // reconnection loop (client_base_impl.js _recreate_secure_channel): a fresh draw per
    // reconnection, so a hundred gateways do not hit a restarted server in step.
    client.on('start_reconnection', () => {
      Object.assign(client.connectionStrategy, this.drawReconnectDelays());
    });
    client.on('connection_lost', () => {
      this.counters.connectionLosses++;
      this.goOffline('connection lost');
    });
    client.on('connection_reestablished', () => {
      if (!this.running || this.client !== client) return;
      this.goOnline();
      void this.afterReconnect();
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
            { endpointUrl: this.device.endpointUrl, pkiDir: this.pkiDir, err: firstLine(message) },
            `server certificate not trusted: run 'gateway trust-server --data-dir <dir>' (or move it from ${path.join(this.pkiDir, 'rejected')} to ${path.join(this.pkiDir, 'trusted', 'certs')}); takes effect at the next retry`,
          );
        }
      } else {
        this.log.warn({ err: firstLine(message) }, 'OPC UA connect failed');
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

  /** Reads DataType (and EURange) of the tags asking for a deadband; logs each drop once. */
  private async planItems(
    session: ClientSession,
    tags: readonly OpcuaTagConfig[],
  ): Promise<Map<string, DeadbandPlan>> {
    let plans: Map<string, DeadbandPlan>;
    try {
      plans = await planDeadbands(this.opcua!, session, tags, this.device.deadband);
    } catch (err) {
      // Without the node's DataType a filter may be refused; values matter more than filters.
      this.log.warn(
        { err: (err as Error).message },
        'cannot read DataType; monitoring without deadband',
      );
      plans = new Map(tags.map((tag) => [tag.sensorId, {}]));
    }
    for (const tag of tags) {
      const dropped = plans.get(tag.sensorId)?.dropped;
      if (dropped)
        this.logOnce(tag, `deadband:${dropped}`, 'warn', `deadband not sent: ${dropped}`);
    }
    return plans;
  }

  /** Creates the subscription and its monitored item groups on `session`. */
  private async createSubscription(session: ClientSession): Promise<void> {
    const opcua = this.opcua!;
    this.plans = await this.planItems(session, this.device.tags);
    this.counters.deadbandsDropped = [...this.plans.values()].filter((p) => p.dropped).length;
    if (!this.running) return;
    const requested = Math.max(
      this.device.samplingIntervalMs / DEFAULTS.publishesPerSample,
      DEFAULTS.minPublishingIntervalMs,
    );
    // createSubscription2 resolves once the server has created the subscription and
    // rejects with its status (e.g. BadTooManySubscriptions), so the caller can fall back
    // to polling; ClientSubscription.create reported that failure only as an unhandled error.
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: requested,
      requestedMaxKeepAliveCount: DEFAULTS.keepAliveCount,
      requestedLifetimeCount: DEFAULTS.lifetimeCount,
      maxNotificationsPerPublish: DEFAULTS.maxNotificationsPerPublish,
      publishingEnabled: true,
      priority: 10,
    });
    if (!this.running) return; // stopped meanwhile: disconnect() closes it with the session
    this.subscription = subscription;
    this.counters.subscriptionsCreated++;
    const granted = subscription.publishingInterval;
    if (
      granted !== this.counters.revisedPublishingIntervalMs &&
      Math.abs(granted - requested) > 1
    ) {
      this.log.info(
        { requestedMs: requested, grantedMs: granted },
        'server revised the publishing interval: changes arrive up to that long after sampling',
      );
    }
    this.counters.revisedPublishingIntervalMs = granted;
    subscription.on('terminated', () => this.onSubscriptionBroken(subscription, 'terminated'));
    subscription.on('internal_error', (err: Error) =>
      this.onSubscriptionBroken(subscription, `internal error: ${err.message}`),
    );

    const byDeadband = new Map<string, OpcuaTagConfig[]>();
    for (const tag of this.device.tags) {
      const key = JSON.stringify(this.plans.get(tag.sensorId)?.deadband ?? null);
      byDeadband.set(key, [...(byDeadband.get(key) ?? []), tag]);
    }
    const groups: ItemGroup[] = [...byDeadband.values()].map((tags) => {
      const group = opcua.ClientMonitoredItemGroup.create(
        subscription,
        tags.map((tag) => ({ nodeId: tag.nodeId, attributeId: opcua.AttributeIds.Value })),
        monitoringParameters(opcua, this.device, this.plans.get(tags[0]!.sensorId)?.deadband),
        opcua.TimestampsToReturn.Both,
      );
      group.on('changed', (_item: unknown, dataValue: DataValue, index: number) => {
        const tag = tags[index];
        if (!tag || this.subscription !== subscription || this.refusedItems.has(tag.sensorId))
          return;
        this.enqueue(toReading(opcua, tag, dataValue, this.deps.clock.now()));
      });
      return { group, tags };
    });
    this.groups = groups;
    await Promise.all(groups.map(({ group }) => waitInitialized(group)));
    if (this.subscription !== subscription) return;
    this.checkItems();
  }

  /**
   * Confirms the items the server accepted (in the current connection) and reports the
   * refused ones as bad with the server's status, retrying those alone.
   */
  private checkItems(): void {
    const ts = this.deps.clock.now();
    for (const { group, tags } of this.groups) {
      group.monitoredItems.forEach((item, index) => {
        const tag = tags[index];
        if (!tag || this.refusedItems.has(tag.sensorId)) return;
        const status = (item as unknown as { statusCode?: StatusCode }).statusCode;
        if (isBadStatus(status))
          this.refusedItems.refused(tag, status!, ts, this.plans.get(tag.sensorId));
        else this.gate.accept(tag.sensorId);
      });
    }
    this.refusedItems.reconfirm(ts);
  }

  /** Logs `message` for `tag` once per distinct `key` (a refusal, a dropped deadband, a bad node). */
  private logOnce(tag: OpcuaTagConfig, key: string, level: 'warn' | 'info', message: string): void {
    if (this.logged.get(tag.sensorId) === key) return;
    this.logged.set(tag.sensorId, key);
    this.log[level]({ sensorId: tag.sensorId, nodeId: tag.nodeId }, message);
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
    this.refusedItems.clear();
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

  /** Reads by polling from now on (readMode 'poll', or subscriptions refused). */
  private startPolling(): void {
    this.polling = true;
    this.poller.start();
  }

  /** Username/password when configured, else anonymous. */
  private identity() {
    const opcua = this.opcua!;
    const { username, password } = this.device;
    if (username === undefined || password === undefined) return undefined;
    return { type: opcua.UserTokenType.UserName, userName: username, password } as UserIdentityInfo;
  }

  /**
   * After a reconnection (subscription mode): confirms the items the server holds in
   * this connection, then reads every tag once as a catch-up (a transferred subscription
   * only reports changes, so a value that did not change during the outage would stay
   * 'comm lost'). The gate lets a good value of that read through only for confirmed
   * items; a refused item keeps its refusal. Polling needs none of this.
   */
  private async afterReconnect(): Promise<void> {
    const session = this.session;
    const opcua = this.opcua;
    if (!session || !opcua || this.polling) return;
    const generation = this.gate.generation;
    this.checkItems();
    try {
      const values = await session.read(
        this.device.tags.map((tag) => ({
          nodeId: tag.nodeId,
          attributeId: opcua.AttributeIds.Value,
        })),
        0,
      );
      if (!this.running || this.session !== session) return;
      // Items recreated on a restarted server may have been refused meanwhile.
      this.checkItems();
      const now = this.deps.clock.now();
      this.flush();
      this.gate.catchUp(
        generation,
        this.device.tags.map((tag, i) => toReading(opcua, tag, values[i]!, now)),
      );
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'catch-up read failed');
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

  /** Logs and emits 'comm lost' once per loss, not on every retry; a new connection generation starts. */
  private goOffline(why: string): void {
    if (!this.running || this.linkState === 'offline') return;
    this.linkState = 'offline';
    this.log.warn({ endpointUrl: this.device.endpointUrl, why }, 'device offline');
    this.flush();
    this.gate.lost(
      this.device.tags.map((tag) => tag.sensorId),
      COMM_LOST,
      this.deps.clock.now(),
    );
    this.notify(false, why);
  }

  /** Collects fresh readings and hands them to the gate once per notification batch. */
  private enqueue(reading: Reading): void {
    if (!this.running) return;
    if (this.pending.length === 0) this.pendingGeneration = this.gate.generation;
    this.pending.push(reading);
    if (this.flushQueued) return;
    this.flushQueued = true;
    // node-opcua dispatches all items of one notification message synchronously, so a
    // microtask flush yields one sink call per notification batch.
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** Passes collected readings on now (before any reading that must come after them). */
  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    if (!this.running || batch.length === 0) return;
    this.counters.notifications++;
    this.gate.fresh(this.pendingGeneration, batch);
  }
}
