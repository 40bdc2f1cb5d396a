/**
 * What the workbench reads, gathered once per request: the enterprises a principal may see,
 * their alarms joined with their dispositions, process points and whether each is online,
 * grades, sites, and the settings (risk half-life, target times) with their defaults.
 *
 * Every call into a store, ledger, registry or platform is awaited: those may become
 * asynchronous (one database layer for SQLite and PostgreSQL), and awaiting a plain value is
 * harmless.
 */
import { createLogger } from '../../common/logger.js';
import { type AlarmKey, describeAlarm } from '../alarms/identity.js';
import type {
  AlarmPage,
  AlarmPageCursor,
  AlarmRecord,
  ListQuery,
  TimeRangeQuery,
} from '../alarms/ledger.js';
import type { GatewayPresence } from '../gateways.js';
import type { LatestReading } from '../store/telemetry-store.js';
import type { Principal } from './access.js';
import type { EnterpriseSite, Jurisdiction, PlatformConfig } from './config.js';
import type { HazardGrade } from './grading.js';
import { PLATFORM_DEFAULTS, type Platform } from './platform.js';
import type { RiskAlarm, RiskScoreSettings } from './risk-score.js';
import { RISK_SCORE_DEFAULTS } from './risk-score.js';
import { isDiagnosticPoint } from './supervision.js';

const log = createLogger('server.workbench');

const DAY_MS = 24 * 60 * 60_000;

export const WORKBENCH_DEFAULTS = {
  acknowledgeTargetMs: 5 * 60_000, // 5 min: the first escalation deadline's default (config.ts)
  disposeTargetMs: 60 * 60_000, // 1 h: the overdue-disposal default (config.ts)
  onlineRateTarget: 0.995, // the national system's figure (MEM press conference, 16 Sep 2022)
  // The score now reads the alarms raised within the decay horizon (forgetAfterHalfLives
  // half-lives) plus this, and every alarm not closed or still in alarm however old: a closed
  // alarm handled more than 7 d after its raise loses what is left of its decay (our choice).
  closeLagMs: 7 * DAY_MS, // 7 d
  // Periods count alarms by arrival (Disposition.openedAt), the ledger's time query goes by
  // the edge's raise time: alarms raised up to 1 d before a period are read too (an outbox
  // backlog delivers them late). Our choice; a longer backlog is missed by the period.
  arrivalLagMs: DAY_MS, // 1 d
  maxAlarms: 100_000, // alarms read per request at most (pages of the ledger's time-range query)
} as const;

/** What the workbench needs of the server's parts (the real ones satisfy it). */
export interface WorkbenchSources {
  platform: Pick<
    Platform,
    'config' | 'registry' | 'disposal' | 'visibleEnterprises' | 'canSee' | 'dispositionOf'
  >;
  ledger: {
    list(query: ListQuery): AlarmRecord[] | Promise<AlarmRecord[]>;
    /** The ledger's time-range query (AlarmLedger.listBetween), paged. */
    listBetween(query: TimeRangeQuery): AlarmPage | Promise<AlarmPage>;
    get(key: AlarmKey): AlarmRecord | undefined | Promise<AlarmRecord | undefined>;
  };
  gateways: { list(): GatewayPresence[] | Promise<GatewayPresence[]> };
  store: { latest(): LatestReading[] | Promise<LatestReading[]> };
}

export interface WorkbenchSettingsResolved extends RiskScoreSettings {
  acknowledgeTargetMs: number;
  disposeTargetMs: number;
  onlineRateTarget: number;
  staleMs: number;
}

export function workbenchSettings(config: PlatformConfig): WorkbenchSettingsResolved {
  const w = config.workbench ?? {};
  return {
    halfLifeMs: w.riskHalfLifeMs ?? RISK_SCORE_DEFAULTS.halfLifeMs,
    overdueMs: config.overdueDisposalMs,
    acknowledgeWithinMs: config.escalation.acknowledgeWithinMs,
    disposeWithinMs: config.escalation.disposeWithinMs,
    acknowledgeTargetMs: w.acknowledgeTargetMs ?? WORKBENCH_DEFAULTS.acknowledgeTargetMs,
    disposeTargetMs: w.disposeTargetMs ?? WORKBENCH_DEFAULTS.disposeTargetMs,
    onlineRateTarget: w.onlineRateTarget ?? WORKBENCH_DEFAULTS.onlineRateTarget,
    staleMs: PLATFORM_DEFAULTS.staleMs,
  };
}

/** One alarm and where its disposal stands (null: recorded before the platform ran). */
export interface DeskAlarm {
  alarm: AlarmRecord;
  risk: RiskAlarm;
  status: 'open' | 'acknowledged' | 'closed';
  escalationLevel: number;
  acknowledgedBy: string | null;
  assignee: string | null;
  measures: number;
  closedBy: string | null;
}

export interface ProcessPoint {
  gatewayId: string;
  sensorId: string;
  name: string;
  unit: string;
  online: boolean;
}

export interface EnterpriseInputs {
  id: string;
  name: string;
  nameEn: string | null;
  jurisdiction: Jurisdiction;
  lat: number | null;
  lon: number | null;
  grade: HazardGrade | null;
  alarms: DeskAlarm[];
  points: ProcessPoint[];
}

export interface TimeWindow {
  from: number;
  to: number;
}

/** Windows sorted and merged where they overlap or touch, so no alarm is read twice. */
export function mergeWindows(windows: readonly TimeWindow[]): TimeWindow[] {
  const merged: TimeWindow[] = [];
  for (const w of [...windows].filter((x) => x.from <= x.to).sort((a, b) => a.from - b.from)) {
    const last = merged[merged.length - 1];
    if (last && w.from <= last.to + 1) last.to = Math.max(last.to, w.to);
    else merged.push({ ...w });
  }
  return merged;
}

/**
 * The alarms of enterprises `ids` whose time (raise, or clear while the raise has not arrived)
 * lies in one of `windows`, read page by page through the ledger's time-range query, at most
 * `maxAlarms` in all (the cut is logged); with `unclosed`, also every alarm whose disposal is
 * not closed, and with `active` every alarm still in alarm, however old. Each alarm once.
 */
export async function readAlarms(
  sources: Pick<WorkbenchSources, 'ledger' | 'platform'>,
  ids: readonly string[],
  windows: readonly TimeWindow[],
  options: { unclosed?: boolean; active?: boolean; maxAlarms?: number } = {},
): Promise<AlarmRecord[]> {
  if (ids.length === 0) return [];
  const { ledger } = sources;
  const max = options.maxAlarms ?? WORKBENCH_DEFAULTS.maxAlarms;
  const alarms = new Map<string, AlarmRecord>();
  const keep = (a: AlarmRecord) => {
    const key = describeAlarm(a);
    if (!alarms.has(key)) alarms.set(key, a);
  };
  let cut = false;
  for (const { from, to } of mergeWindows(windows)) {
    let after: AlarmPageCursor | null = null;
    do {
      const page: AlarmPage = await ledger.listBetween({ from, to, enterpriseIds: ids, after });
      for (const a of page.alarms) keep(a);
      after = page.next;
      cut = after !== null && alarms.size >= max;
    } while (after && !cut);
    if (cut) break;
  }
  if (cut) {
    log.warn(
      { enterprises: ids.length, windows, maxAlarms: max },
      'workbench read its maximum of alarms: later alarms of the window are left out',
    );
  }
  if (options.unclosed) {
    const scope = new Set(ids);
    for (const d of await sources.platform.disposal.unclosed()) {
      if (!scope.has(d.enterpriseId) || alarms.has(describeAlarm(d))) continue;
      const alarm = await ledger.get(d);
      if (alarm) keep(alarm);
    }
  }
  if (options.active) {
    // In alarm but closed (with an override) or never tracked by the disposal ledger.
    for (const a of await ledger.list({ state: 'active', limit: max, enterpriseIds: ids })) keep(a);
  }
  return [...alarms.values()];
}

/** How far back the score now needs raised alarms (see closeLagMs). */
export function riskLookbackMs(settings: RiskScoreSettings): number {
  return (
    RISK_SCORE_DEFAULTS.forgetAfterHalfLives * settings.halfLifeMs + WORKBENCH_DEFAULTS.closeLagMs
  );
}

export interface GatherOptions {
  /**
   * Periods whose alarms are counted by arrival (indicators, reports); each is read from
   * `arrivalLagMs` before its start. The score now and its history need no period.
   */
  periods?: readonly TimeWindow[];
  /** The risk history of this many days back from now (its alarms and their decay). */
  historyMs?: number;
  /** Only this enterprise (if the principal may see it). */
  enterpriseId?: string;
}

/**
 * Everything the principal may see, by enterprise, in id order. The alarms are those the score
 * now needs (raised within riskLookbackMs, and every one not closed or still in alarm), those of
 * the risk history asked for, and those of `periods`; never a count of the newest alarms, so a
 * busy enterprise cannot push another's old, unhandled alarm out.
 */
export async function gatherInputs(
  sources: WorkbenchSources,
  principal: Principal | null,
  now: number,
  options: GatherOptions = {},
): Promise<EnterpriseInputs[]> {
  const { platform } = sources;
  const enterprises = (await platform.visibleEnterprises(principal)).filter(
    (e) => options.enterpriseId === undefined || e.id === options.enterpriseId,
  );
  const ids = enterprises.map((e) => e.id);
  const sites = new Map<string, EnterpriseSite>(
    (platform.config.enterpriseSites ?? []).map((s) => [s.enterpriseId, s]),
  );
  const grades = new Map<string, HazardGrade>();
  for (const inst of await platform.registry.installations()) {
    const grade = inst.grading?.grade;
    if (grade === null || grade === undefined || !ids.includes(inst.enterpriseId)) continue;
    const known = grades.get(inst.enterpriseId);
    if (known === undefined || grade < known) grades.set(inst.enterpriseId, grade);
  }
  const settings = workbenchSettings(platform.config);
  const lookback = riskLookbackMs(settings);
  const windows: TimeWindow[] = [
    { from: now - lookback - (options.historyMs ?? 0), to: now },
    ...(options.periods ?? []).map((p) => ({
      from: p.from - WORKBENCH_DEFAULTS.arrivalLagMs,
      to: p.to,
    })),
  ];
  const alarms = await readAlarms(sources, ids, windows, { unclosed: true, active: true });
  const byEnterprise = new Map<string, DeskAlarm[]>(ids.map((id) => [id, []]));
  for (const alarm of alarms) {
    const d = await platform.disposal.disposition(alarm);
    const openedAt = d?.openedAt ?? alarm.receivedAt;
    byEnterprise.get(alarm.enterpriseId)?.push({
      alarm,
      status: d?.status ?? 'open',
      escalationLevel: d?.escalationLevel ?? 0,
      acknowledgedBy: d?.acknowledgedBy ?? null,
      assignee: d?.assignee ?? null,
      measures: d?.measures ?? 0,
      closedBy: d?.closedBy ?? null,
      risk: {
        level: alarm.level,
        drill: alarm.drill,
        openedAt,
        // The edge's clear time can be before the server heard of the alarm (outbox backlog).
        clearedAt:
          alarm.state === 'cleared' ? Math.max(alarm.clearedAt ?? openedAt, openedAt) : null,
        acknowledgedAt: d?.acknowledgedAt ?? null,
        closedAt: d?.closedAt ?? null,
        escalationLevel: d?.escalationLevel ?? 0,
      },
    });
  }
  // By gateway, then sensor: a jurisdiction's tens of thousands of points are looked up
  // without building a joined key string for each reading and each point.
  const latest = new Map<string, Map<string, LatestReading>>();
  for (const r of await sources.store.latest()) {
    let sensors = latest.get(r.gatewayId);
    if (!sensors) {
      sensors = new Map();
      latest.set(r.gatewayId, sensors);
    }
    sensors.set(r.sensorId, r);
  }
  const points = new Map<string, ProcessPoint[]>(ids.map((id) => [id, []]));
  for (const gateway of await sources.gateways.list()) {
    const list = points.get(gateway.enterpriseId);
    if (!list) continue;
    const readings = latest.get(gateway.gatewayId);
    for (const sensor of gateway.sensors) {
      if (isDiagnosticPoint(sensor)) continue;
      const r = readings?.get(sensor.sensorId);
      const online =
        gateway.state !== 'offline' &&
        r !== undefined &&
        r.quality !== 'bad' &&
        now - r.receivedAt <= settings.staleMs;
      list.push({
        gatewayId: gateway.gatewayId,
        sensorId: sensor.sensorId,
        name: sensor.name,
        unit: sensor.unit,
        online,
      });
    }
  }
  return enterprises.map((e) => {
    const site = sites.get(e.id);
    return {
      id: e.id,
      name: e.name,
      nameEn: site?.nameEn ?? null,
      jurisdiction: e.jurisdiction,
      lat: site?.lat ?? null,
      lon: site?.lon ?? null,
      grade: grades.get(e.id) ?? null,
      alarms: byEnterprise.get(e.id) ?? [],
      points: points.get(e.id) ?? [],
    };
  });
}
