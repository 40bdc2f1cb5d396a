/**
 * The regulator and emergency-centre platform, wired once by the central server: registry,
 * access control, disposal ledger (keyed hash chain with anchors and self-checks: docs/ledger.md),
 * escalation, MQTT emergency linkage, supervision views and counters for /metrics. It follows the server's event hub (alarms and gateways after
 * they were committed) and adds `disposal` and `escalation` events to it.
 *
 * Lifecycle: `start()` opens its tables, subscribes to the hub and starts the escalation timer;
 * `stop()` undoes all of it and is safe to call twice.
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import { PROTOCOL_VERSION } from '../../protocol/index.js';
import { type DisposalEvent, DisposalLedger, type Disposition } from '../alarms/disposal.js';
import { type AlarmKey, describeAlarm } from '../alarms/identity.js';
import type { AlarmLedger, AlarmRecord } from '../alarms/ledger.js';
import { AnchorFile, anchorFilePath } from '../alarms/ledger-anchors.js';
import type { LedgerConfig } from '../alarms/ledger-config.js';
import {
  HAZARD_ANCHOR_TOPIC,
  type IntegrityResult,
  LedgerIntegrity,
} from '../alarms/ledger-integrity.js';
import { loadLedgerKey } from '../alarms/ledger-key.js';
import type { LeaderJob } from '../cluster/leader-jobs.js';
import type { EnterpriseInfo } from '../config/index.js';
import type { Database } from '../db/database.js';
import { announceCommitted, type CommittedAlarm, type EventHub } from '../events.js';
import type { GatewayPresence, GatewayRegistry } from '../gateways.js';
import { MqttLinkage } from '../linkage/mqtt-linkage.js';
import type { LatestReading, TelemetryStore } from '../store/telemetry-store.js';
import { AccessControl, canSeeEnterprise, type Principal, RateLimiter } from './access.js';
import type { PlatformConfig } from './config.js';
import { Escalator } from './escalation.js';
import type { HazardGrade } from './grading.js';
import { type EnterpriseRecord, Registry } from './registry.js';
import {
  assessRisk,
  COLOUR_ORDER,
  isDiagnosticPoint,
  type RiskAssessment,
  type RiskColour,
} from './supervision.js';

const log = createLogger('server.platform');

export const PLATFORM_DEFAULTS = {
  staleMs: 5 * 60_000, // 5 min without a reading: the point counts as offline
  escalationTopicSuffix: '/escalations',
} as const;

/**
 * Identity of the platform's own alarms (ledger integrity): not a real enterprise or gateway, so
 * only administrators see them, and they never page an emergency centre.
 */
export const PLATFORM_ALARM_SOURCE = { enterpriseId: '_platform', gatewayId: '_server' } as const;
export const LEDGER_INTEGRITY_RULE = 'ledger.integrity';

export interface PlatformOptions {
  config: PlatformConfig;
  enterprises: readonly EnterpriseInfo[];
  /** SQLite file (the server's store) or ':memory:'. */
  path: string;
  /** The platform database (server/db), started by the server first: registry, sessions, disposal, MQTT linkage. */
  database: Database;
  /** This node (owner of its MQTT publication claims); 'embedded' when absent. */
  nodeId?: string;
  /**
   * false: escalation and the ledger anchor are not started by start() but run as leader jobs
   * (`jobs()`, server/cluster/leader-jobs.ts), so a cluster escalates once, on the leader.
   * Default true (tests and a platform used on its own).
   */
  ownJobs?: boolean;
  events: EventHub;
  ledger: Pick<AlarmLedger, 'get' | 'list' | 'activeSummary' | 'record'>;
  gateways: Pick<GatewayRegistry, 'list'>;
  store: Pick<TelemetryStore, 'latest'>;
  /** Publishes on the server's broker (emergency topic); absent: no MQTT linkage. */
  publish?: (topic: string, payload: string) => Promise<void>;
  /** Lowest alarm level published on the emergency topic (default 2). */
  mqttMinLevel?: 1 | 2;
  /** Publishes retained (the ledger anchors); absent: anchors go to the file and the log only. */
  publishRetained?: (topic: string, payload: string) => Promise<void>;
  /** Key, anchors and self-check intervals (defaults: the schema's, files beside `path`). */
  ledgerIntegrity?: Partial<LedgerConfig>;
  /** The chain key (default: loadLedgerKey from `ledgerIntegrity.keyFile` or beside `path`). */
  ledgerKey?: Buffer;
  clock?: Clock;
}

export interface RankedEnterprise {
  id: string;
  name: string;
  jurisdiction: EnterpriseRecord['jurisdiction'];
  risk: RiskAssessment;
}

export interface PlatformCounters {
  escalations: number;
  disposalSteps: number;
  mqttNotifications: number;
  mqttReceipts: number;
  logins: number;
  loginFailures: number;
  rateLimited: number;
}

export type { EscalationNotice } from '../model.js';

export class Platform {
  readonly registry: Registry;
  readonly access: AccessControl;
  readonly disposal: DisposalLedger;
  /** Anchors and self-checks of the disposal chain. */
  readonly integrity: LedgerIntegrity;
  readonly escalator: Escalator;
  readonly mqtt: MqttLinkage | null;
  readonly requestLimiter: RateLimiter;
  readonly counters: PlatformCounters = {
    escalations: 0,
    disposalSteps: 0,
    mqttNotifications: 0,
    mqttReceipts: 0,
    logins: 0,
    loginFailures: 0,
    rateLimited: 0,
  };
  private readonly clock: Clock;
  private unsubscribe: (() => void)[] = [];
  private started = false;

  constructor(private readonly options: PlatformOptions) {
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    const { config, path } = options;
    this.registry = new Registry({
      database: options.database,
      enterprises: options.enterprises,
      installations: config.installations,
    });
    this.access = new AccessControl({
      database: options.database,
      users: config.users,
      tokenTtlMs: config.tokenTtlMs,
      clock,
    });
    const integrity = options.ledgerIntegrity ?? {};
    const key =
      options.ledgerKey ?? loadLedgerKey({ keyFile: integrity.keyFile, storePath: path }).key;
    this.disposal = new DisposalLedger({ database: options.database, clock, key });
    const integrityOptions: ConstructorParameters<typeof LedgerIntegrity>[0] = {
      disposal: this.disposal,
      key,
      anchorFile: new AnchorFile(anchorFilePath(integrity.anchorFile, path)),
      clock,
      onFailure: (result) => void this.ledgerFailed(result),
    };
    if (options.publishRetained) integrityOptions.publish = options.publishRetained;
    if (integrity.anchorTopic) integrityOptions.anchorTopic = integrity.anchorTopic;
    if (integrity.anchorIntervalMs) integrityOptions.anchorIntervalMs = integrity.anchorIntervalMs;
    if (integrity.verifyIntervalMs) integrityOptions.verifyIntervalMs = integrity.verifyIntervalMs;
    this.integrity = new LedgerIntegrity(integrityOptions);
    this.escalator = new Escalator({
      disposal: this.disposal,
      acknowledgeWithinMs: config.escalation.acknowledgeWithinMs,
      disposeWithinMs: config.escalation.disposeWithinMs,
      tickMs: config.escalation.tickMs,
      clock,
      onEscalated: (event) => this.escalated(event),
    });
    const names = new Map(options.enterprises.map((e) => [e.id, e.name]));
    if (options.publish && !options.database) {
      throw new Error('platform: the MQTT linkage (publish given) needs the platform database');
    }
    const mqttOptions: ConstructorParameters<typeof MqttLinkage>[0] | null =
      options.publish && options.database
        ? {
            database: options.database,
            nodeId: options.nodeId ?? 'embedded',
            clock,
            topic: config.emergencyTopic,
            publish: options.publish,
            enterpriseName: (id) => names.get(id),
          }
        : null;
    if (mqttOptions && options.mqttMinLevel !== undefined)
      mqttOptions.minLevel = options.mqttMinLevel;
    this.mqtt = mqttOptions ? new MqttLinkage(mqttOptions) : null;
    this.requestLimiter = new RateLimiter(config.rateLimitPerMinute, clock);
  }

  get config(): PlatformConfig {
    return this.options.config;
  }

  async start(): Promise<void> {
    if (this.started) return;
    try {
      await this.registry.start();
      await this.access.start();
      await this.disposal.start();
      await this.mqtt?.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
    const { events } = this.options;
    this.unsubscribe = [
      events.onAlarmCommitted((committed) => this.onAlarmCommitted(committed)),
      events.on('gateway', (gateway) => this.noteGateway(gateway)),
      events.on('edgeAcknowledged', ({ by, ...key }) => this.onEdgeAcknowledged(key, by)),
      events.on('ledgerAnchor', ({ topic, payload }) => this.publishAnchor(topic, payload)),
    ];
    // Gateways already known (e.g. the platform started after ingest had begun).
    for (const gateway of this.options.gateways.list()) {
      await this.registry.noteGateway(gateway).catch((err: unknown) => {
        log.error({ err, gatewayId: gateway.gatewayId }, 'cannot note the gateway in the registry');
      });
    }
    if (this.options.ownJobs !== false) for (const job of this.jobs()) await job.start();
    this.started = true;
    log.info(
      { users: this.access.userCount, installations: this.options.config.installations.length },
      'platform started',
    );
  }

  async stop(): Promise<void> {
    this.started = false;
    this.escalator.stop();
    if (this.disposal.isOpen) await this.integrity.stop(); // last anchor while the chain is open
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    await this.mqtt?.stop();
    await this.disposal.stop();
    await this.access.stop();
    await this.registry.stop();
  }

  /**
   * What must run once per cluster: the escalation timer and the disposal ledger's anchor and
   * self-check timers. Started by start() (ownJobs) or by the leader's LeaderJobs; each stop is
   * safe without its start.
   */
  jobs(): LeaderJob[] {
    return [
      {
        name: 'escalation',
        start: () => this.escalator.start(),
        stop: () => this.escalator.stop(),
      },
      {
        name: 'disposal ledger anchor',
        start: () => this.integrity.start(),
        // The last anchor while the chain is open (stop() calls it too, harmless twice).
        stop: async () => {
          if (this.disposal.isOpen) await this.integrity.stop();
        },
      },
    ];
  }

  /** Runs the escalation check now (tests; the timer does it every tickMs). */
  tick(): Promise<DisposalEvent[]> {
    this.mqtt
      ?.retryPending()
      .catch((err: unknown) => log.warn({ err }, 'MQTT emergency notifications: retry failed'));
    return this.escalator.tick();
  }

  /** Learns a gateway's catalogue; from event handlers, so a failure is logged, never thrown. */
  private noteGateway(gateway: GatewayPresence): void {
    this.registry.noteGateway(gateway).catch((err: unknown) => {
      log.error({ err, gatewayId: gateway.gatewayId }, 'cannot note the gateway in the registry');
    });
  }

  /** Enterprises the principal may see; null principal (anonymous, auth not required) sees all. */
  async visibleEnterprises(principal: Principal | null): Promise<EnterpriseRecord[]> {
    const all = await this.registry.enterprises();
    return principal === null ? all : all.filter((e) => canSeeEnterprise(principal, e));
  }

  /** Whether the principal may see this enterprise (unknown enterprises: admins only). */
  async canSee(principal: Principal | null, enterpriseId: string): Promise<boolean> {
    if (principal === null || principal.role === 'admin') return true;
    const enterprise = await this.registry.enterprise(enterpriseId);
    return enterprise !== undefined && canSeeEnterprise(principal, enterprise);
  }

  /** Enterprises ranked by risk, highest first. */
  async ranking(principal: Principal | null): Promise<RankedEnterprise[]> {
    const enterprises = await this.visibleEnterprises(principal);
    const summary = await this.options.ledger.activeSummary();
    const active = new Map(summary.map((s) => [s.enterpriseId, s]));
    const overdue = await this.overdueByEnterprise();
    const offline = this.offlineByEnterprise();
    const grades = await this.gradesByEnterprise();
    const ranked = enterprises.map((e) => ({
      id: e.id,
      name: e.name,
      jurisdiction: e.jurisdiction,
      risk: assessRisk({
        grade: grades.get(e.id) ?? null,
        activeLevel1: active.get(e.id)?.level1 ?? 0,
        activeLevel2: active.get(e.id)?.level2 ?? 0,
        offlinePoints: offline.get(e.id) ?? 0,
        overdueDisposals: overdue.get(e.id) ?? 0,
      }),
    }));
    return ranked.sort(
      (a, b) =>
        b.risk.score - a.risk.score ||
        COLOUR_ORDER[a.risk.colour] - COLOUR_ORDER[b.risk.colour] ||
        a.id.localeCompare(b.id),
    );
  }

  /** Counts by colour and by the next level down of the principal's jurisdiction. */
  async overview(principal: Principal | null): Promise<{
    enterprises: number;
    byColour: Record<RiskColour, number>;
    activeLevel1: number;
    activeLevel2: number;
    overdueDisposals: number;
    offlinePoints: number;
    regions: { name: string; enterprises: number; byColour: Record<RiskColour, number> }[];
  }> {
    const ranking = await this.ranking(principal);
    const zero = (): Record<RiskColour, number> => ({ red: 0, orange: 0, yellow: 0, blue: 0 });
    const byColour = zero();
    const regions = new Map<
      string,
      { name: string; enterprises: number; byColour: Record<RiskColour, number> }
    >();
    const j = principal?.jurisdiction ?? {};
    const level = j.county ? 'park' : j.city ? 'county' : j.province ? 'city' : 'province';
    let activeLevel1 = 0;
    let activeLevel2 = 0;
    let overdueDisposals = 0;
    let offlinePoints = 0;
    for (const e of ranking) {
      byColour[e.risk.colour]++;
      activeLevel1 += e.risk.activeLevel1;
      activeLevel2 += e.risk.activeLevel2;
      overdueDisposals += e.risk.overdueDisposals;
      offlinePoints += e.risk.offlinePoints;
      const name = e.jurisdiction[level] ?? '—';
      let region = regions.get(name);
      if (!region) {
        region = { name, enterprises: 0, byColour: zero() };
        regions.set(name, region);
      }
      region.enterprises++;
      region.byColour[e.risk.colour]++;
    }
    return {
      enterprises: ranking.length,
      byColour,
      activeLevel1,
      activeLevel2,
      overdueDisposals,
      offlinePoints,
      regions: [...regions.values()].sort((a, b) => a.name.localeCompare(b.name)),
    };
  }

  /** The disposition of an alarm, creating it for an alarm recorded before the platform ran. */
  async dispositionOf(alarm: AlarmRecord): Promise<Disposition> {
    const known = await this.disposal.disposition(alarm);
    if (known) return known;
    await this.disposal.track(alarm);
    return (await this.disposal.disposition(alarm))!;
  }

  /** Publishes a disposal change on the hub (the dashboards update live). */
  disposalChanged(disposition: Disposition): void {
    this.counters.disposalSteps++;
    this.options.events.emit('disposal', disposition);
  }

  /**
   * Publishes another chain's anchor retained for the external witness (the hazard ledger's,
   * issue 16); only on the hazard anchor topic, so the event cannot make the platform publish
   * anywhere else. Without a publisher (no MQTT) the anchor stays in its file and the log.
   */
  private publishAnchor(topic: string, payload: string): void {
    if (topic !== HAZARD_ANCHOR_TOPIC) {
      log.warn({ topic }, 'ledger anchor on an unknown topic not published');
      return;
    }
    this.options.publishRetained?.(topic, payload).catch((err: unknown) => {
      log.warn({ err, topic }, 'hazard ledger anchor not published on MQTT (kept in its file)');
    });
  }

  /** Handles a server-bound MQTT message; true when it was the platform's (a receipt). */
  handleMqtt(topic: string, payload: Buffer): boolean {
    if (!this.mqtt) return false;
    // The emergency topics (notifications, escalations, receipts) are the platform's: the
    // server's own publications there must not reach ingest as unknown gateway topics.
    // The ledger anchors (disposal and hazard chains) are the server's own publications too
    // (never a gateway's: the ACL grants gateways only their own hazardwatch/v1/<enterprise>/
    // <gateway>/ topics).
    if (topic === this.integrity.anchorTopic || topic === HAZARD_ANCHOR_TOPIC) return true;
    const root = this.options.config.emergencyTopic;
    if (topic !== root && !topic.startsWith(`${root}/`)) return false;
    const mqtt = this.mqtt;
    void mqtt.handleReceipt(topic, payload).then((receipt) => {
      if (receipt) this.counters.mqttReceipts = mqtt.receiptsRecorded;
    });
    return true;
  }

  /**
   * What the platform does with an alarm the ledger committed, or that a gateway resent (its
   * first receiver may have died before this ran): disposal tracking and the MQTT linkage, both
   * insert-if-absent, awaited by ingest before the gateway's StoreAck; the registry's setpoints
   * (a display aid, logged on failure). Resolves true when it published an MQTT page.
   */
  private async onAlarmCommitted({ alarm, source }: CommittedAlarm): Promise<boolean> {
    this.registry.noteAlarm(alarm).catch((err: unknown) => {
      log.error(
        { err, alarm: describeAlarm(alarm) },
        'cannot note the alarm setpoint in the registry',
      );
    });
    // No 'disposal' event here: the 'alarm' event already tells dashboards about it.
    const tracked = this.disposal.track(alarm).catch((err: unknown) => {
      log.error({ err, alarm: describeAlarm(alarm) }, 'cannot record alarm in the disposal ledger');
      throw err;
    });
    let published = false;
    // The server's own alarms (gateway offline, ledger integrity) are records for regulators,
    // not pages (docs/durability.md, Presence).
    if (this.mqtt && alarm.state === 'active' && source === 'gateway') {
      try {
        published = await this.mqtt.notify(alarm);
      } catch (err) {
        log.error(
          { err, alarm: describeAlarm(alarm) },
          'cannot record the MQTT emergency notification',
        );
        throw err;
      }
      if (published) this.counters.mqttNotifications++;
    }
    await tracked;
    return published;
  }

  /**
   * An acknowledgement made at the edge closes the 'acknowledge' step of the
   * disposal loop (and stops its escalation), unless someone at the server was
   * first; the acknowledgement the server itself relayed comes back here too and
   * then changes nothing.
   */
  private onEdgeAcknowledged(key: AlarmKey, by: string): void {
    const actor = by.startsWith('edge') ? by : `edge:${by}`;
    (async () => {
      const disposition = await this.disposal.disposition(key);
      if (disposition?.status !== 'open') return;
      this.disposalChanged(await this.disposal.acknowledge(key, actor));
    })().catch((err: unknown) => {
      log.warn({ err, alarm: describeAlarm(key) }, 'cannot record the edge acknowledgement');
    });
  }

  /**
   * A self-check found the ledger damaged: a platform alarm (level 1: it is not a plant hazard
   * and pages no emergency centre) that administrators see and dispose like any other.
   */
  /** Never rejects: a failure to raise is logged. */
  private async ledgerFailed(result: IntegrityResult): Promise<void> {
    const now = this.clock.now();
    const message =
      `disposal ledger verification failed at row ${result.brokenAt ?? '?'}: ${result.reason ?? ''}`.slice(
        0,
        500,
      );
    try {
      const recorded = await this.options.ledger.record({
        v: PROTOCOL_VERSION,
        ...PLATFORM_ALARM_SOURCE,
        seq: 0,
        sentAt: now,
        alarmId: `${LEDGER_INTEGRITY_RULE}.${now}`,
        ruleId: LEDGER_INTEGRITY_RULE,
        sensorId: '_ledger',
        sensorName: 'Disposal ledger integrity',
        level: 1,
        transition: 'raised',
        value: result.brokenAt,
        unit: 'seq',
        setpoint: 0,
        ts: now,
        drill: false,
        message,
      });
      if (recorded.changed) {
        await announceCommitted(this.options.events, recorded.alarm, 'raised', log);
        this.options.events.emit('alarm', recorded.alarm);
      }
    } catch (err) {
      log.error({ err }, 'cannot raise the ledger integrity alarm');
    }
  }

  private escalated(event: DisposalEvent): void {
    this.counters.escalations++;
    const level = Number(event.detail.level);
    const to = String(event.detail.to);
    this.options.events.emit('escalation', { event, level, to });
    this.disposal
      .disposition(event)
      .then((d) => {
        if (d) this.options.events.emit('disposal', d);
      })
      .catch((err: unknown) => {
        log.warn({ err, alarm: describeAlarm(event) }, 'cannot read the escalated disposition');
      });
    if (this.options.publish) {
      const topic = `${this.options.config.emergencyTopic}${PLATFORM_DEFAULTS.escalationTopicSuffix}`;
      const body = JSON.stringify({
        alarmId: event.alarmId,
        enterpriseId: event.enterpriseId,
        gatewayId: event.gatewayId,
        level,
        to,
        reason: event.detail.reason,
        at: new Date(event.at).toISOString(),
        hash: event.hash,
      });
      this.options.publish(topic, body).catch((err: unknown) => {
        log.warn(
          { err, alarm: describeAlarm(event) },
          'escalation not published on MQTT (recorded in the ledger)',
        );
      });
    }
  }

  private async gradesByEnterprise(): Promise<Map<string, HazardGrade>> {
    const grades = new Map<string, HazardGrade>();
    for (const inst of await this.registry.installations()) {
      const grade = inst.grading?.grade;
      if (grade === null || grade === undefined) continue;
      const known = grades.get(inst.enterpriseId);
      if (known === undefined || grade < known) grades.set(inst.enterpriseId, grade);
    }
    return grades;
  }

  private async overdueByEnterprise(): Promise<Map<string, number>> {
    const now = this.clock.now();
    const counts = new Map<string, number>();
    for (const d of await this.disposal.unclosed()) {
      if (d.drill || now - d.openedAt < this.options.config.overdueDisposalMs) continue;
      counts.set(d.enterpriseId, (counts.get(d.enterpriseId) ?? 0) + 1);
    }
    return counts;
  }

  /** Process points of the catalogue without a good, fresh value (or on an offline gateway); the
   * gateway's diagnostic points are not counted (isDiagnosticPoint). */
  private offlineByEnterprise(): Map<string, number> {
    const now = this.clock.now();
    const latest = new Map<string, LatestReading>(
      this.options.store.latest().map((r) => [`${r.gatewayId}\u0000${r.sensorId}`, r]),
    );
    const counts = new Map<string, number>();
    for (const gateway of this.options.gateways.list()) {
      for (const sensor of gateway.sensors) {
        if (isDiagnosticPoint(sensor)) continue;
        const reading = latest.get(`${gateway.gatewayId}\u0000${sensor.sensorId}`);
        const offline =
          gateway.state === 'offline' ||
          !reading ||
          reading.quality === 'bad' ||
          now - reading.receivedAt > PLATFORM_DEFAULTS.staleMs;
        if (offline) counts.set(gateway.enterpriseId, (counts.get(gateway.enterpriseId) ?? 0) + 1);
      }
    }
    return counts;
  }
}
