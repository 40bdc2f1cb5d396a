/**
 * What the workbench reads, gathered once per request: the enterprises a principal may see,
 * their alarms joined with their dispositions, process points and whether each is online,
 * grades, sites, and the settings (risk half-life, target times) with their defaults.
 *
 * Every call into a store, ledger, registry or platform is awaited: those may become
 * asynchronous (one database layer for SQLite and PostgreSQL), and awaiting a plain value is
 * harmless.
 */
import type { AlarmKey } from '../alarms/identity.js';
import type { AlarmRecord, ListQuery } from '../alarms/ledger.js';
import type { GatewayPresence } from '../gateways.js';
import type { LatestReading } from '../store/telemetry-store.js';
import type { Principal } from './access.js';
import type { EnterpriseSite, Jurisdiction, PlatformConfig } from './config.js';
import type { HazardGrade } from './grading.js';
import { PLATFORM_DEFAULTS, type Platform } from './platform.js';
import type { RiskAlarm, RiskScoreSettings } from './risk-score.js';
import { RISK_SCORE_DEFAULTS } from './risk-score.js';
import { isDiagnosticPoint } from './supervision.js';

export const WORKBENCH_DEFAULTS = {
  acknowledgeTargetMs: 5 * 60_000, // 5 min: the first escalation deadline's default (config.ts)
  disposeTargetMs: 60 * 60_000, // 1 h: the overdue-disposal default (config.ts)
  onlineRateTarget: 0.995, // the national system's figure (MEM press conference, 16 Sep 2022)
  alarmWindow: 20_000, // newest alarms read per request (the ledger has no time-range query yet)
} as const;

/** What the workbench needs of the server's parts (the real ones satisfy it). */
export interface WorkbenchSources {
  platform: Pick<
    Platform,
    'config' | 'registry' | 'disposal' | 'visibleEnterprises' | 'canSee' | 'dispositionOf'
  >;
  ledger: {
    list(query: ListQuery): AlarmRecord[] | Promise<AlarmRecord[]>;
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

/** Everything the principal may see, by enterprise, in id order. */
export async function gatherInputs(
  sources: WorkbenchSources,
  principal: Principal | null,
  now: number,
): Promise<EnterpriseInputs[]> {
  const { platform } = sources;
  const enterprises = await platform.visibleEnterprises(principal);
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
  const alarms = ids.length
    ? await sources.ledger.list({
        state: 'all',
        limit: WORKBENCH_DEFAULTS.alarmWindow,
        enterpriseIds: ids,
      })
    : [];
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
  const latest = new Map(
    (await sources.store.latest()).map((r) => [`${r.gatewayId}\u0000${r.sensorId}`, r]),
  );
  const settings = workbenchSettings(platform.config);
  const points = new Map<string, ProcessPoint[]>(ids.map((id) => [id, []]));
  for (const gateway of await sources.gateways.list()) {
    const list = points.get(gateway.enterpriseId);
    if (!list) continue;
    for (const sensor of gateway.sensors) {
      if (isDiagnosticPoint(sensor)) continue;
      const r = latest.get(`${gateway.gatewayId}\u0000${sensor.sensorId}`);
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
