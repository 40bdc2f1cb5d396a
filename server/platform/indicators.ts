/**
 * Supervision indicators of the workbench, each with its written definition (the page shows
 * `INDICATOR_DEFINITIONS`; docs/indicators.md says the same at length). No public definition of
 * disposal rate, disposal time or acknowledgement rate was found (docs/BRIEF: provincial practice),
 * so these are ours; the numbers that are a choice (target times, online target) come from
 * `platform.workbench` in the config.
 *
 * Drill alarms are left out of every alarm indicator (they page nobody and are not hazards).
 * Pure functions of the gathered inputs and a time window.
 */

import type { EnterpriseInputs, WorkbenchSettingsResolved } from './risk-inputs.js';
import type { RiskColour } from './supervision.js';

export type IndicatorId =
  | 'onlineRate'
  | 'alarmsPerDay'
  | 'acknowledgedInTime'
  | 'disposalRate'
  | 'meanDisposalTime'
  | 'overdueDisposals'
  | 'colourDistribution';

/** One line per indicator, both languages: the page shows these beside the numbers. */
export const INDICATOR_DEFINITIONS: Record<IndicatorId, { 'zh-CN': string; en: string }> = {
  onlineRate: {
    'zh-CN':
      '当前在线率（此刻）= 此刻在线的工艺监测点数 ÷ 工艺监测点总数。在线：网关在线，且 {staleMin} 分钟内收到质量为正常或可疑的读数。网关自身诊断点不计。目标 ≥ {target}。统计期内在线时间的占比是数据质量页的“点位在线率（时间）”。',
    en: 'Points online now = process points online at this moment ÷ all process points. Online: the gateway is online and a good or uncertain reading arrived within {staleMin} min. Gateway diagnostic points are not counted. Target ≥ {target}. The share of time online over a period is the data-quality page’s “point online rate (time)”.',
  },
  alarmsPerDay: {
    'zh-CN': '每日报警数：按服务器收到报警的本地日期，分一级、二级统计，不含演练。',
    en: 'Alarms per day: by the local day the server received each alarm, level 1 and level 2 apart, drills excluded.',
  },
  acknowledgedInTime: {
    'zh-CN':
      '及时确认率 = 收到后 {ackMin} 分钟内确认的报警数 ÷ 已到期报警数（已确认的，加上超过 {ackMin} 分钟仍未确认的）。',
    en: 'Acknowledged in time = alarms acknowledged within {ackMin} min of arrival ÷ alarms due (acknowledged ones, plus unacknowledged ones older than {ackMin} min).',
  },
  disposalRate: {
    'zh-CN': '处置率 = 期间内收到且已闭环（关闭）的报警数 ÷ 期间内收到的报警数。',
    en: 'Disposal rate = alarms received in the period and closed ÷ alarms received in the period.',
  },
  meanDisposalTime: {
    'zh-CN': '平均处置时长 = 已关闭报警从收到到关闭的平均时间（分钟）；目标 {disposeMin} 分钟内。',
    en: 'Mean disposal time = mean time from arrival to closing of closed alarms (minutes); target within {disposeMin} min.',
  },
  overdueDisposals: {
    'zh-CN': '超时未处置 = 现在仍未关闭、且收到已超过 {overdueMin} 分钟的报警数。',
    en: 'Overdue disposals = alarms not closed now that arrived more than {overdueMin} min ago.',
  },
  colourDistribution: {
    'zh-CN':
      '四色分布：按稳定风险分值分级的企业数（红 ≥ 75 重大，橙 ≥ 50 较大，黄 ≥ 25 一般，蓝 低风险）；有二级报警仍在报警的企业至少为橙色。',
    en: 'Four-colour distribution: enterprises by stable risk score (red ≥ 75 major, orange ≥ 50 large, yellow ≥ 25 general, blue low); an enterprise with a level-2 alarm still in alarm is at least orange.',
  },
};

/** The definitions with this config's numbers filled in. */
export function indicatorDefinitions(
  s: WorkbenchSettingsResolved,
  lang: 'zh-CN' | 'en',
): Record<IndicatorId, string> {
  const values: Record<string, string> = {
    staleMin: String(s.staleMs / 60_000),
    target: `${(s.onlineRateTarget * 100).toFixed(1)} %`,
    ackMin: String(s.acknowledgeTargetMs / 60_000),
    disposeMin: String(s.disposeTargetMs / 60_000),
    overdueMin: String(s.overdueMs / 60_000),
  };
  const out = {} as Record<IndicatorId, string>;
  for (const [id, text] of Object.entries(INDICATOR_DEFINITIONS)) {
    out[id as IndicatorId] = text[lang].replace(/\{(\w+)\}/g, (_, k: string) => values[k] ?? '');
  }
  return out;
}

export interface Rate {
  numerator: number;
  denominator: number;
  /** numerator ÷ denominator, null when nothing was due. */
  rate: number | null;
}

const rate = (numerator: number, denominator: number): Rate => ({
  numerator,
  denominator,
  rate: denominator === 0 ? null : numerator / denominator,
});

export interface EnterpriseIndicators {
  enterpriseId: string;
  online: Rate;
  alarms: { level1: number; level2: number };
  acknowledgedInTime: Rate;
  disposal: Rate;
  meanDisposalMs: number | null;
  overdue: number;
}

export interface Indicators {
  from: number;
  to: number;
  online: Rate;
  /** Local days (YYYY-MM-DD at `utcOffsetMin`) from `from` to `to`. */
  alarmsPerDay: AlarmsPerDay;
  acknowledgedInTime: Rate;
  disposal: Rate;
  meanDisposalMs: number | null;
  overdue: number;
  colours: Record<RiskColour, number>;
  enterprises: EnterpriseIndicators[];
  /** Every process point with its state now (online rate per point). */
  points: {
    enterpriseId: string;
    gatewayId: string;
    sensorId: string;
    name: string;
    online: boolean;
  }[];
}

/** Local calendar day of `ms` at a fixed UTC offset (the caller's time zone). */
export function localDay(ms: number, utcOffsetMin: number): string {
  return new Date(ms + utcOffsetMin * 60_000).toISOString().slice(0, 10);
}

/** Alarms counted by the local day they arrived, level 1 and 2 apart, drills left out. */
export type AlarmsPerDay = { day: string; level1: number; level2: number }[];

/**
 * Alarms per local day (YYYY-MM-DD at `utcOffsetMin`) from `from` to `to`, every day listed:
 * by arrival (openedAt), drills excluded. computeIndicators' alarmsPerDay; the overview asks
 * for it over a longer window than its other indicators.
 */
export function alarmsPerDay(
  inputs: readonly EnterpriseInputs[],
  window: { from: number; to: number; utcOffsetMin: number },
): AlarmsPerDay {
  const { from, to, utcOffsetMin } = window;
  const days = new Map<string, { day: string; level1: number; level2: number }>();
  const dayStep = 24 * 60 * 60_000;
  for (let t = from; t <= to; t += dayStep) {
    const day = localDay(t, utcOffsetMin);
    days.set(day, { day, level1: 0, level2: 0 });
  }
  const lastDay = localDay(to, utcOffsetMin);
  if (!days.has(lastDay)) days.set(lastDay, { day: lastDay, level1: 0, level2: 0 });
  for (const e of inputs) {
    for (const { risk } of e.alarms) {
      if (risk.drill || risk.openedAt < from || risk.openedAt > to) continue;
      const day = days.get(localDay(risk.openedAt, utcOffsetMin));
      if (day) day[risk.level === 2 ? 'level2' : 'level1']++;
    }
  }
  return [...days.values()].sort((a, b) => a.day.localeCompare(b.day));
}

/** The indicators of the whole scope, without the per-enterprise and per-point lists. */
export type IndicatorTotals = Omit<Indicators, 'enterprises' | 'points'>;

type IndicatorWindow = { from: number; to: number; now: number; utcOffsetMin: number };

export function computeIndicators(
  inputs: readonly EnterpriseInputs[],
  colours: ReadonlyMap<string, RiskColour>,
  window: IndicatorWindow,
  s: WorkbenchSettingsResolved,
): Indicators {
  const enterprises: EnterpriseIndicators[] = [];
  const points: Indicators['points'] = [];
  return { ...compute(inputs, colours, window, s, { enterprises, points }), enterprises, points };
}

/**
 * computeIndicators' totals alone (the overview's cards): a jurisdiction's tens of thousands of
 * points are counted, not listed.
 */
export function computeIndicatorTotals(
  inputs: readonly EnterpriseInputs[],
  colours: ReadonlyMap<string, RiskColour>,
  window: IndicatorWindow,
  s: WorkbenchSettingsResolved,
): IndicatorTotals {
  return compute(inputs, colours, window, s, null);
}

/** The totals; the lists too when `lists` is given (filled in place). */
function compute(
  inputs: readonly EnterpriseInputs[],
  colours: ReadonlyMap<string, RiskColour>,
  window: IndicatorWindow,
  s: WorkbenchSettingsResolved,
  lists: { enterprises: EnterpriseIndicators[]; points: Indicators['points'] } | null,
): IndicatorTotals {
  const { from, to, now } = window;
  const total = { online: 0, points: 0, ackDue: 0, ackInTime: 0, received: 0, closed: 0 };
  let durationSum = 0;
  let overdueAll = 0;
  const colourCounts: Record<RiskColour, number> = { red: 0, orange: 0, yellow: 0, blue: 0 };
  for (const e of inputs) {
    const colour = colours.get(e.id);
    if (colour) colourCounts[colour]++;
    let online = 0;
    for (const p of e.points) {
      if (p.online) online++;
      lists?.points.push({ enterpriseId: e.id, ...p });
    }
    const ent = { level1: 0, level2: 0, ackDue: 0, ackInTime: 0, received: 0, closed: 0 };
    let entDuration = 0;
    let overdue = 0;
    for (const { risk } of e.alarms) {
      if (risk.drill) continue;
      if (risk.closedAt === null && now - risk.openedAt >= s.overdueMs) overdue++;
      if (risk.openedAt < from || risk.openedAt > to) continue;
      if (risk.level === 2) ent.level2++;
      else ent.level1++;
      ent.received++;
      if (risk.acknowledgedAt !== null) {
        ent.ackDue++;
        if (risk.acknowledgedAt - risk.openedAt <= s.acknowledgeTargetMs) ent.ackInTime++;
      } else if (now - risk.openedAt > s.acknowledgeTargetMs) ent.ackDue++;
      if (risk.closedAt !== null) {
        ent.closed++;
        entDuration += risk.closedAt - risk.openedAt;
      }
    }
    total.online += online;
    total.points += e.points.length;
    total.ackDue += ent.ackDue;
    total.ackInTime += ent.ackInTime;
    total.received += ent.received;
    total.closed += ent.closed;
    durationSum += entDuration;
    overdueAll += overdue;
    lists?.enterprises.push({
      enterpriseId: e.id,
      online: rate(online, e.points.length),
      alarms: { level1: ent.level1, level2: ent.level2 },
      acknowledgedInTime: rate(ent.ackInTime, ent.ackDue),
      disposal: rate(ent.closed, ent.received),
      meanDisposalMs: ent.closed === 0 ? null : Math.round(entDuration / ent.closed),
      overdue,
    });
  }
  return {
    from,
    to,
    online: rate(total.online, total.points),
    alarmsPerDay: alarmsPerDay(inputs, window),
    acknowledgedInTime: rate(total.ackInTime, total.ackDue),
    disposal: rate(total.closed, total.received),
    meanDisposalMs: total.closed === 0 ? null : Math.round(durationSum / total.closed),
    overdue: overdueAll,
    colours: colourCounts,
  };
}
