/**
 * Supervision by data (issue 16), one service with a lifecycle: the evidence tracker follows the
 * event hub (readings, gateways, alarms), a screening pass runs every `screeningIntervalMs`
 * (packs → hazard ledger), the live inventory regrades installations in the same pass, and
 * listed supervision runs every `listingTickMs`. The hazard chain is anchored and self-checked
 * by the disposal ledger's machinery (LedgerIntegrity), with its own anchor file.
 *
 * Lifecycle: `start()` opens the store, subscribes to the hub and arms the unref'd timers;
 * `stop()` undoes it, writes a last anchor, and is safe twice. `screenNow()` and `listNow()`
 * may be called directly (tests with a ManualClock, the bench).
 *
 * Events on the hub (declared here by module augmentation): 'hazard' for every record change,
 * 'gradeChanged' when an installation's live grade or major-hazard decision moves,
 * 'ledgerAnchor' when the hazard chain is anchored (the platform publishes it on MQTT).
 */

import { dirname, join, resolve } from 'node:path';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { DisposalLedger } from '../alarms/disposal.js';
import { AnchorFile } from '../alarms/ledger-anchors.js';
import { HAZARD_ANCHOR_TOPIC, LedgerIntegrity } from '../alarms/ledger-integrity.js';
import type { LeaderJob } from '../cluster/leader-jobs.js';
import type { Database } from '../db/database.js';
import type { EventHub } from '../events.js';
import type { GatewayPresence, GatewayRegistry } from '../gateways.js';
import type { Registry } from '../platform/registry.js';
import { isMemoryPath } from '../store/sqlite.js';
import { DAY_MS } from './conditions/alarm-chattering.js';
import type { ScreeningContext } from './conditions/index.js';
import type { SupervisionConfig } from './config.js';
import { EvidenceTracker } from './evidence.js';
import type { Hazard } from './hazard-chain.js';
import { HazardLedger } from './hazards.js';
import { gradeChange, type LiveGrading, liveGradingOf } from './inventory.js';
import { loadPacks, type Pack } from './packs.js';
import { type PassResult, ScreeningEngine } from './screening.js';
import { type GradeChangeRecord, SupervisionStore } from './store.js';

const log = createLogger('server.supervision');

export const HAZARD_ANCHOR_FILE = 'hazard-anchors.jsonl';
export const SUPERVISION_SERVICE_DEFAULTS = {
  chatterDaysKept: 8, // days of raise counts kept per rule (the longest chatter window + 1)
  anchorTopic: HAZARD_ANCHOR_TOPIC, // retained, published by the platform (docs/supervision.md)
} as const;

export interface HazardNotice {
  hazard: Hazard;
  action: string;
}

declare module '../events.js' {
  interface ServerEvents {
    /** A hazard record changed (opened, a step, evidence, listed). */
    hazard: HazardNotice;
    /** An installation's live GB 18218-2018 grade or major-hazard decision changed. */
    gradeChanged: GradeChangeRecord;
    /** A hazard-chain anchor for the external witness: the platform publishes it retained. */
    ledgerAnchor: { topic: string; payload: string };
  }
}

export interface SupervisionServiceOptions {
  config: SupervisionConfig;
  /** SQLite file (the server's store) or ':memory:': where the anchor file goes by default. */
  path: string;
  /** The platform database (server/db): the supervision store's tables. */
  database: Database;
  /** The disposal ledger's chain key (one key, one machinery: docs/ledger.md). */
  key: Buffer;
  events: EventHub;
  registry: Pick<Registry, 'sensors' | 'installations' | 'enterprises'>;
  gateways: Pick<GatewayRegistry, 'list'>;
  disposal: Pick<DisposalLedger, 'unclosed'>;
  /** Anchor file of the hazard chain (default beside `path`; none for ':memory:'). */
  anchorFile?: string;
  clock?: Clock;
  /**
   * false: the screening and listing timers and the hazard ledger's anchor are not started by
   * start() but run as leader jobs (`jobs()`), so a cluster screens once, on the leader.
   */
  ownJobs?: boolean;
}

export class SupervisionService {
  readonly store: SupervisionStore;
  readonly hazards: HazardLedger;
  readonly tracker: EvidenceTracker;
  readonly integrity: LedgerIntegrity;
  readonly packs: Pack[];
  private readonly engine: ScreeningEngine;
  private readonly clock: Clock;
  private readonly raises = new Map<string, Map<number, number>>();
  private lifecycleCursor = 0;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void)[] = [];
  private gradings: LiveGrading[] = [];
  lastPass: (PassResult & { at: number; ms: number }) | null = null;

  constructor(private readonly options: SupervisionServiceOptions) {
    this.clock = options.clock ?? systemClock;
    const { config } = options;
    this.packs = loadPacks(config.packs, config.ruleOverrides);
    this.store = new SupervisionStore({
      database: options.database,
      key: options.key,
      clock: this.clock,
    });
    this.hazards = new HazardLedger(this.store, config, this.clock);
    this.tracker = new EvidenceTracker({ windowMs: config.windowMs, staleMs: config.staleMs });
    this.engine = new ScreeningEngine(this.packs, this.store, this.hazards);
    const anchorPath =
      options.anchorFile ??
      (isMemoryPath(options.path)
        ? null
        : join(dirname(resolve(options.path)), HAZARD_ANCHOR_FILE));
    this.integrity = new LedgerIntegrity({
      name: 'hazard ledger',
      disposal: this.store,
      key: options.key,
      anchorFile: new AnchorFile(anchorPath),
      anchorTopic: SUPERVISION_SERVICE_DEFAULTS.anchorTopic,
      // The platform holds the server's MQTT publisher: it publishes the anchor retained on
      // this topic, beside the disposal ledger's, so an external witness sees both chains.
      publish: async (topic, payload) => {
        this.options.events.emit('ledgerAnchor', { topic, payload });
      },
      clock: this.clock,
    });
  }

  get config(): SupervisionConfig {
    return this.options.config;
  }

  /** The service's clock (the API answers "now" with it). */
  now(): number {
    return this.clock.now();
  }

  async start(): Promise<void> {
    if (this.store.isOpen) return;
    await this.store.start();
    this.engine.reset(); // conditions that held keep their start time across a restart
    const { events } = this.options;
    this.unsubscribe = [
      events.on('readings', (e) =>
        this.tracker.noteReadings(e.gatewayId, e.enterpriseId, e.readings, this.clock.now()),
      ),
      events.on('gateway', (g) => {
        this.noteGateway(g).catch((err: unknown) =>
          log.error({ err, gatewayId: g.gatewayId }, 'cannot record the gateway outage'),
        );
      }),
      events.on('alarm', (a) => {
        if (a.state === 'active' && !a.drill)
          this.noteRaise(a.enterpriseId, a.gatewayId, a.ruleId, a.receivedAt);
      }),
    ];
    if (this.options.ownJobs !== false) for (const job of this.jobs()) await job.start();
    log.info({ rules: this.packs.reduce((n, p) => n + p.rules.length, 0) }, 'supervision started');
  }

  /**
   * What must run once per cluster: the screening and listing passes and the hazard ledger's
   * anchor. Started by start() (ownJobs) or by the leader's LeaderJobs; each stop is safe
   * without its start.
   */
  jobs(): LeaderJob[] {
    // The work is asynchronous (the registry and the store are on the database): one run at a
    // time per kind (a screening pass keeps its conditions in memory), and a rejection is
    // logged, never left unhandled.
    const running = new Set<string>();
    const guard = (what: string, fn: () => Promise<unknown>) => () => {
      if (running.has(what)) return;
      running.add(what);
      fn()
        .catch((err: unknown) => log.error({ err }, `supervision ${what} failed`))
        .finally(() => running.delete(what));
    };
    return [
      {
        name: 'supervision passes',
        start: () => {
          if (this.timers.length > 0) return;
          this.timers = [
            setInterval(
              guard('screening', () => this.screenNow()),
              this.config.screeningIntervalMs,
            ),
            setInterval(
              guard('listing', () => this.listNow()),
              this.config.listingTickMs,
            ),
          ];
          for (const t of this.timers) t.unref();
        },
        stop: () => {
          for (const t of this.timers) clearInterval(t);
          this.timers = [];
        },
      },
      {
        name: 'hazard ledger anchor',
        start: () => this.integrity.start(),
        stop: async () => {
          if (this.store.isOpen) await this.integrity.stop();
        },
      },
    ];
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    if (this.store.isOpen) await this.integrity.stop();
    await this.store.stop();
  }

  /** One screening pass (and the live regrading it needs); returns what changed. */
  async screenNow(): Promise<PassResult & { at: number; ms: number }> {
    const started = performance.now();
    const now = this.clock.now();
    await this.readLifecycle();
    for (const g of this.options.gateways.list()) await this.noteGateway(g);
    const ctx = await this.context(now);
    await this.regrade(ctx.gradings, now);
    const result = await this.engine.pass(ctx);
    for (const h of result.opened) this.emit(h, 'opened');
    for (const h of result.cleared) this.emit(h, 'condition-cleared');
    for (const h of result.returned) this.emit(h, 'condition-returned');
    this.lastPass = { ...result, at: now, ms: performance.now() - started };
    return this.lastPass;
  }

  /** Lists overdue major hazards up to their due level (each level once). */
  async listNow(): Promise<{ hazard: Hazard; level: number; to: string }[]> {
    const listed = await this.hazards.listOverdue();
    for (const l of listed) {
      log.warn({ hazard: l.hazard.hazardId, to: l.to }, 'hazard under listed supervision');
      this.emit(l.hazard, 'listed');
    }
    return listed;
  }

  /** Publishes a record change on the hub (the API's steps call it too). */
  emit(hazard: Hazard, action: string): void {
    this.options.events.emit('hazard', { hazard, action });
  }

  /** Live gradings as of the last pass (recomputed when none yet). */
  async liveGradings(): Promise<LiveGrading[]> {
    if (this.gradings.length === 0) this.gradings = await this.computeGradings(this.clock.now());
    return this.gradings;
  }

  /** Gateways offline now, with the start of their open outage. */
  async offlineGateways(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const o of await this.store.outages(this.clock.now())) {
      if (o.endedAt === null) out.set(o.gatewayId, o.startedAt);
    }
    return out;
  }

  /** Gateways whose last outage ended within the window, with when it ended. */
  async gatewaysBackAt(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const o of await this.store.outages(this.clock.now() - this.config.windowMs)) {
      if (o.endedAt !== null) out.set(o.gatewayId, Math.max(out.get(o.gatewayId) ?? 0, o.endedAt));
    }
    return out;
  }

  /** The screening context at `now` (exposed for data quality and tests). */
  async context(now: number): Promise<ScreeningContext> {
    const gradings = await this.computeGradings(now);
    this.gradings = gradings;
    return {
      now,
      config: this.config,
      tracker: this.tracker,
      sensors: await this.options.registry.sensors(),
      installations: await this.options.registry.installations(),
      gateways: this.options.gateways.list(),
      offlineGateways: await this.offlineGateways(),
      gatewaysBackAt: await this.gatewaysBackAt(),
      gradings,
      unclosedAlarms: (await this.options.disposal.unclosed()).filter((d) => !d.drill),
      raisesByDay: this.raisesByDay(),
    };
  }

  /** Options of a loaded rule by condition (data quality reuses the packs' limits). */
  ruleOptions(condition: string): Record<string, unknown> {
    for (const pack of this.packs) {
      for (const rule of pack.rules) if (rule.condition === condition) return rule.options;
    }
    return {};
  }

  private async computeGradings(now: number): Promise<LiveGrading[]> {
    const options = { vessels: this.config.vessels, staleMs: this.config.staleMs };
    return (await this.options.registry.installations()).map((inst) =>
      liveGradingOf(inst, this.tracker, options, now),
    );
  }

  private async regrade(gradings: readonly LiveGrading[], now: number): Promise<void> {
    const last = await this.store.lastGrades();
    for (const g of gradings) {
      const previous = last.get(g.installationId);
      const change = gradeChange(g, previous, now);
      if (!change) continue;
      await this.store.recordGrade(change);
      const moved =
        previous !== undefined ||
        change.grade !== (g.registered?.grade ?? null) ||
        change.isMajorHazard !== (g.registered?.isMajorHazard ?? false);
      if (!moved) continue;
      log.warn(
        { installation: g.installationId, from: change.previousGrade, to: change.grade },
        'installation grade changed with its inventory',
      );
      this.options.events.emit('gradeChanged', change);
    }
  }

  private async noteGateway(g: GatewayPresence): Promise<void> {
    const now = this.clock.now();
    if (g.state === 'offline' || g.stale) {
      const points = g.sensors.length;
      if (await this.store.startOutage(g.enterpriseId, g.gatewayId, g.lastSeen ?? now, points)) {
        log.info({ gatewayId: g.gatewayId, points }, 'gateway outage: its points are suppressed');
      }
    } else if (await this.store.endOutage(g.gatewayId, now)) {
      log.info({ gatewayId: g.gatewayId }, 'gateway outage ended');
    }
  }

  private noteRaise(enterpriseId: string, gatewayId: string, ruleId: string, at: number): void {
    const k = `${enterpriseId}\u0000${gatewayId}\u0000${ruleId}`;
    let days = this.raises.get(k);
    if (!days) {
      days = new Map();
      this.raises.set(k, days);
    }
    const day = Math.floor(at / DAY_MS);
    days.set(day, (days.get(day) ?? 0) + 1);
    for (const d of days.keys()) {
      if (d <= day - SUPERVISION_SERVICE_DEFAULTS.chatterDaysKept) days.delete(d);
    }
  }

  private raisesByDay(): Map<string, Map<number, number>> {
    return this.raises;
  }

  private async readLifecycle(): Promise<void> {
    for (;;) {
      const batch = await this.store.lifecycleSince(this.lifecycleCursor);
      for (const t of batch) {
        this.lifecycleCursor = t.cursor;
        if (t.sensorId) this.tracker.noteLifecycle(t.gatewayId, t.sensorId, t.transition, t.at);
      }
      if (batch.length === 0 || batch.length < 5_000) return;
    }
  }
}
