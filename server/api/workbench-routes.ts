/**
 * The regulator's workbench API (issue 15), a fastify plugin registered at /api/v1/workbench:
 *
 *   GET  /overview                         ?days&utcOffsetMin&lang: the overview page's data in one read
 *   GET  /ranking                          enterprises in scope by stable risk score, with terms and site
 *   GET  /enterprises/:id/risk-history     ?days (1–30): score and colour every hour
 *   GET  /indicators                       ?from&to&utcOffsetMin&lang: indicators with definitions
 *   GET  /trend                            ?gatewayId&sensorId&from&to: bounded buckets, setpoints, alarms
 *   alarm desk (list, detail, bulk acknowledge, close with override): workbench-alarm-routes.ts
 *   reports (CSV with BOM, XLSX, printable data, scheduled files): workbench-report-routes.ts
 *
 * Every route needs a token and answers only within the caller's scope: another county's
 * enterprise answers the same 403 as an unknown one. Calls into the platform, ledger and stores
 * are awaited (they may become asynchronous).
 */
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { describeAlarm } from '../alarms/identity.js';
import type { AlarmRecord } from '../alarms/ledger.js';
import type { LinkageDelivery } from '../linkage/emergency-notifier.js';
import type { Principal } from '../platform/access.js';
import {
  alarmsPerDay,
  computeIndicators,
  computeIndicatorTotals,
  indicatorDefinitions,
} from '../platform/indicators.js';
import type { Platform } from '../platform/platform.js';
import {
  type EnterpriseInputs,
  type GatherOptions,
  gatherInputs,
  riskLookbackMs,
  WORKBENCH_DEFAULTS,
  type WorkbenchSettingsResolved,
  type WorkbenchSources,
  workbenchSettings,
} from '../platform/risk-inputs.js';
import { riskHistory, type StableRisk, stableRiskAt } from '../platform/risk-score.js';
import type { RiskColour } from '../platform/supervision.js';
import type { TelemetryStore } from '../store/telemetry-store.js';
import { idParam, parseTime } from './dto.js';
import { Errors } from './errors.js';
import { wholeHoursFrom45Min } from './history-routes.js';
import { requirePrincipalOf } from './platform-routes.js';
import type { RoutePlugin } from './typed.js';
import { alarmsBetween, workbenchAlarmRoutes } from './workbench-alarm-routes.js';
import { workbenchReportRoutes } from './workbench-report-routes.js';
import {
  colour,
  indicatorsResponseSchema,
  langQuery,
  overviewResponseSchema,
  rankedEnterpriseSchema,
  timeQuery,
  trendResponseSchema,
  utcOffsetQuery,
  workbenchErrors,
} from './workbench-schemas.js';

export const WORKBENCH_ROUTE_DEFAULTS = {
  trendBuckets: 720, // points per trend line: a chart 700–1,900 px wide needs no more
  trendMaxBuckets: 2_000, // never more, whatever the window (a 30-day chart of a 1 s sensor: 1 h buckets)
  trendWindowMs: 60 * 60_000, // 1 h back from `to` by default
  trendAlarmLookbackMs: 24 * 60 * 60_000, // alarms raised up to 1 d before a trend's window are marked on it
  historyStepMs: 60 * 60_000, // risk history: one sample per hour
  historyDays: 7,
  indicatorWindowMs: 24 * 60 * 60_000, // indicators: the last 24 h by default
  overviewDays: 7, // the overview's alarms-per-day chart: the last 7 days
} as const;

/** What the workbench reads; `app.register(workbenchRoutes, { prefix, ...options })`. */
export interface WorkbenchRouteOptions extends WorkbenchSources {
  platform: Platform;
  store: Pick<TelemetryStore, 'latest' | 'queryAggregate'>;
  notifier: { deliveries(limit?: number): LinkageDelivery[] | Promise<LinkageDelivery[]> };
  clock?: Clock;
}

export function timeWindow(
  query: { from?: string; to?: string },
  now: number,
  backMs: number,
): { from: number; to: number } {
  const to = parseTime('to', query.to, now);
  const from = parseTime('from', query.from, to - backMs);
  if (from > to) throw Errors.badRange(from, to);
  return { from, to };
}

/** The stable risk of one enterprise now (its offline points count as a term). */
function riskNow(
  e: EnterpriseInputs,
  offlinePoints: number,
  now: number,
  settings: ReturnType<typeof workbenchSettings>,
): StableRisk {
  return stableRiskAt(
    { grade: e.grade, alarms: e.alarms.map((a) => a.risk), offlinePoints },
    now,
    settings,
  );
}

const offlineCount = (e: EnterpriseInputs) => e.points.filter((p) => !p.online).length;

/** The stable score of each enterprise now, with its counts, highest first. */
export function rankEnterprises(
  inputs: readonly EnterpriseInputs[],
  now: number,
  settings: ReturnType<typeof workbenchSettings>,
) {
  return inputs
    .map((e) => {
      const offline = offlineCount(e);
      const risk = riskNow(e, offline, now, settings);
      const real = e.alarms.filter((a) => !a.alarm.drill);
      return {
        id: e.id,
        name: e.name,
        nameEn: e.nameEn,
        jurisdiction: e.jurisdiction,
        lat: e.lat,
        lon: e.lon,
        risk,
        counts: {
          inAlarmLevel1: real.filter((a) => a.alarm.state === 'active' && a.alarm.level === 1)
            .length,
          inAlarmLevel2: real.filter((a) => a.alarm.state === 'active' && a.alarm.level === 2)
            .length,
          unacknowledged: real.filter((a) => a.status === 'open').length,
          overdue: real.filter(
            (a) => a.status !== 'closed' && now - a.risk.openedAt >= settings.overdueMs,
          ).length,
          points: e.points.length,
          offlinePoints: offline,
        },
      };
    })
    .sort((a, b) => b.risk.score - a.risk.score || a.id.localeCompare(b.id));
}

/**
 * Each enterprise's colour now, the same as its colour in rankEnterprises: the indicators'
 * four-colour distribution needs neither the ranking's counts nor its order. (The colour still
 * needs the whole stable score, which is most of the ranking's work.)
 */
export function riskColours(
  inputs: readonly EnterpriseInputs[],
  now: number,
  settings: ReturnType<typeof workbenchSettings>,
): Map<string, RiskColour> {
  return new Map(inputs.map((e) => [e.id, riskNow(e, offlineCount(e), now, settings).colour]));
}

/** The principal and the inputs it may see, for one request. */
export async function requestInputs(
  deps: WorkbenchRouteOptions,
  request: FastifyRequest,
  now: number,
  options: GatherOptions = {},
) {
  const principal: Principal = requirePrincipalOf(request);
  return { principal, inputs: await gatherInputs(deps, principal, now, options) };
}

const serverOffsetMin = (now: number) => -new Date(now).getTimezoneOffset();

/** What the indicators are measured against, beside the figures (the page shows the definitions). */
function indicatorContext(settings: WorkbenchSettingsResolved, lang: 'zh-CN' | 'en') {
  return {
    definitions: indicatorDefinitions(settings, lang),
    targets: {
      acknowledgeTargetMs: settings.acknowledgeTargetMs,
      disposeTargetMs: settings.disposeTargetMs,
      overdueMs: settings.overdueMs,
      onlineRateTarget: settings.onlineRateTarget,
      halfLifeMs: settings.halfLifeMs,
    },
  };
}

/**
 * The overview routes; the alarm desk and the reports are plugins of their own, registered
 * here so the whole workbench is one registration under one prefix.
 */
export const workbenchRoutes: RoutePlugin<WorkbenchRouteOptions> = (app, deps, done) => {
  const clock = deps.clock ?? systemClock;
  const config = { platform: true } as const;

  app.get(
    '/ranking',
    {
      config,
      schema: {
        description:
          'Enterprises in scope ranked by the stable risk score (decaying terms: docs/indicators.md).',
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['at', 'halfLifeMs', 'enterprises'],
            properties: {
              at: { type: 'integer' },
              halfLifeMs: { type: 'integer' },
              enterprises: { type: 'array', items: rankedEnterpriseSchema },
            },
          },
          ...workbenchErrors,
        },
      },
    },
    async (request) => {
      const now = clock.now();
      const { inputs } = await requestInputs(deps, request, now);
      const settings = workbenchSettings(deps.platform.config);
      return {
        at: now,
        halfLifeMs: settings.halfLifeMs,
        enterprises: rankEnterprises(inputs, now, settings),
      };
    },
  );

  app.get(
    '/enterprises/:id/risk-history',
    {
      config,
      schema: {
        description:
          'Stable risk score and colour of one enterprise every hour over the last days.',
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['id'],
          properties: { id: idParam },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            days: {
              type: 'integer',
              minimum: 1,
              maximum: 30,
              default: WORKBENCH_ROUTE_DEFAULTS.historyDays,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['enterpriseId', 'stepMs', 'samples'],
            properties: {
              enterpriseId: { type: 'string' },
              stepMs: { type: 'integer' },
              samples: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['ts', 'score', 'colour'],
                  properties: { ts: { type: 'integer' }, score: { type: 'number' }, colour },
                },
              },
            },
          },
          ...workbenchErrors,
        },
      },
    },
    async (request) => {
      const now = clock.now();
      const step = WORKBENCH_ROUTE_DEFAULTS.historyStepMs;
      const to = Math.floor(now / step) * step;
      const from = to - request.query.days * 24 * 60 * 60_000;
      const { inputs } = await requestInputs(deps, request, now, {
        enterpriseId: request.params.id,
        historyMs: now - from,
      });
      const e = inputs.find((x) => x.id === request.params.id);
      if (!e) throw Errors.forbidden('enterprise', request.params.id);
      const settings = workbenchSettings(deps.platform.config);
      const samples = riskHistory(
        { grade: e.grade, alarms: e.alarms.map((a) => a.risk) },
        from,
        to,
        step,
        settings,
      );
      samples.push({
        ts: now,
        ...pick(
          stableRiskAt(
            { grade: e.grade, alarms: e.alarms.map((a) => a.risk), offlinePoints: 0 },
            now,
            settings,
          ),
        ),
      });
      return { enterpriseId: e.id, stepMs: step, samples };
    },
  );

  app.get(
    '/indicators',
    {
      config,
      schema: {
        description:
          'Online rate (per point, enterprise, jurisdiction), alarms per day by level, acknowledgement in time, disposal rate and time, overdue disposals, four-colour distribution; each with its definition.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: timeQuery('period start; default `to` minus 24 h'),
            to: timeQuery('period end; default now'),
            utcOffsetMin: utcOffsetQuery,
            lang: langQuery,
          },
        },
        response: {
          200: indicatorsResponseSchema,
          ...workbenchErrors,
        },
      },
    },
    async (request) => {
      const now = clock.now();
      const window = timeWindow(request.query, now, WORKBENCH_ROUTE_DEFAULTS.indicatorWindowMs);
      const { inputs } = await requestInputs(deps, request, now, { periods: [window] });
      const settings = workbenchSettings(deps.platform.config);
      const colours = riskColours(inputs, now, settings);
      const utcOffsetMin = request.query.utcOffsetMin ?? serverOffsetMin(now);
      return {
        indicators: computeIndicators(inputs, colours, { ...window, now, utcOffsetMin }, settings),
        ...indicatorContext(settings, request.query.lang),
      };
    },
  );

  app.get(
    '/overview',
    {
      config,
      schema: {
        description:
          'The overview page in one answer: the ranking (as GET /ranking), the totals of the last 24 h indicators (as GET /indicators, without its per-enterprise and per-point lists) and alarms per day over the last `days` days.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            days: {
              type: 'integer',
              minimum: 1,
              maximum: 31,
              default: WORKBENCH_ROUTE_DEFAULTS.overviewDays,
            },
            utcOffsetMin: utcOffsetQuery,
            lang: langQuery,
          },
        },
        response: {
          200: overviewResponseSchema,
          ...workbenchErrors,
        },
      },
    },
    async (request) => {
      const now = clock.now();
      const settings = workbenchSettings(deps.platform.config);
      const period = { from: now - WORKBENCH_ROUTE_DEFAULTS.indicatorWindowMs, to: now };
      const days = { from: now - request.query.days * 24 * 60 * 60_000 + 1, to: now };
      // The ranking reads no period and the indicators this 24 h one; it lies inside the score's
      // lookback (at least 7 d), so the alarms read are the same as those routes read.
      const { inputs } = await requestInputs(deps, request, now, { periods: [period] });
      // The days' alarms (counted by arrival, so read from arrivalLagMs before) are among them
      // while the lookback covers them (default 8.5 d: 7 days and the lag); else, with a short
      // half-life or more days, they get a read of their own, as GET /indicators would.
      const covered = days.from - WORKBENCH_DEFAULTS.arrivalLagMs >= now - riskLookbackMs(settings);
      const daysInputs = covered
        ? inputs
        : (await requestInputs(deps, request, now, { periods: [days] })).inputs;
      const ranking = rankEnterprises(inputs, now, settings);
      const colours = new Map(ranking.map((e) => [e.id, e.risk.colour]));
      const utcOffsetMin = request.query.utcOffsetMin ?? serverOffsetMin(now);
      const totals = computeIndicatorTotals(
        inputs,
        colours,
        { ...period, now, utcOffsetMin },
        settings,
      );
      return {
        at: now,
        halfLifeMs: settings.halfLifeMs,
        enterprises: ranking,
        indicators: totals,
        days: { ...days, alarmsPerDay: alarmsPerDay(daysInputs, { ...days, utcOffsetMin }) },
        ...indicatorContext(settings, request.query.lang),
      };
    },
  );

  app.get(
    '/trend',
    {
      config,
      schema: {
        description:
          'One sensor over a window for a chart: at most 2,000 buckets (mean, min, max), its unit, setpoints, range and the alarms that overlap the window.',
        querystring: {
          type: 'object',
          required: ['gatewayId', 'sensorId'],
          additionalProperties: false,
          properties: {
            gatewayId: idParam,
            sensorId: idParam,
            from: timeQuery('window start; default `to` minus 1 h'),
            to: timeQuery('window end; default now'),
          },
        },
        response: {
          200: trendResponseSchema,
          ...workbenchErrors,
        },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      const { gatewayId, sensorId } = request.query;
      const gateway = (await deps.gateways.list()).find((g) => g.gatewayId === gatewayId);
      const enterpriseId = gateway?.enterpriseId;
      if (enterpriseId === undefined || !(await deps.platform.canSee(principal, enterpriseId)))
        throw Errors.forbidden('gateway', gatewayId);
      const { from, to } = timeWindow(
        request.query,
        clock.now(),
        WORKBENCH_ROUTE_DEFAULTS.trendWindowMs,
      );
      const intervalMs = trendInterval(from, to);
      const record = (await deps.platform.registry.sensors(enterpriseId)).find(
        (s) => s.gatewayId === gatewayId && s.sensorId === sensorId,
      );
      const info = gateway?.sensors.find((s) => s.sensorId === sensorId);
      const buckets = await deps.store.queryAggregate({
        gatewayId,
        sensorId,
        from,
        to,
        intervalMs,
      });
      // Alarms raised in the window or up to a day before it, and any still active: those are
      // the ones whose span can overlap the window (an alarm raised earlier and cleared inside
      // the window is not marked).
      const overlapping = new Map<string, AlarmRecord>();
      for (const a of [
        ...(await alarmsBetween(
          deps,
          [enterpriseId],
          from - WORKBENCH_ROUTE_DEFAULTS.trendAlarmLookbackMs,
          to,
        )),
        ...(await deps.ledger.list({
          state: 'active',
          limit: 5_000,
          enterpriseIds: [enterpriseId],
        })),
      ])
        overlapping.set(describeAlarm(a), a);
      const alarms = [...overlapping.values()]
        .filter(
          (a) =>
            a.gatewayId === gatewayId &&
            a.sensorId === sensorId &&
            (a.raisedAt ?? a.clearedAt ?? 0) <= to &&
            (a.clearedAt === null || a.clearedAt >= from),
        )
        .map((a) => ({
          alarmId: a.alarmId,
          level: a.level,
          setpoint: a.setpoint,
          raisedAt: a.raisedAt,
          clearedAt: a.clearedAt,
          drill: a.drill,
        }));
      return {
        from,
        to,
        intervalMs,
        sensor: {
          enterpriseId,
          gatewayId,
          sensorId,
          name: record?.name ?? info?.name ?? sensorId,
          unit: record?.unit ?? info?.unit ?? '',
          location: record?.location ?? info?.location ?? null,
          gas: record?.gas ?? info?.gas ?? null,
          rangeMin: record?.rangeMin ?? info?.rangeMin ?? null,
          rangeMax: record?.rangeMax ?? info?.rangeMax ?? null,
          setpointLevel1: record?.setpointLevel1 ?? null,
          setpointLevel2: record?.setpointLevel2 ?? null,
          // The gateway does not tell the server its rules' deadbands (protocol has no field).
          deadband: null,
        },
        buckets,
        alarms,
      };
    },
  );

  // A child registered without a prefix keeps this one; `deps` is the options object this
  // plugin was registered with, prefix included, which must not be applied a second time.
  void app.register(workbenchAlarmRoutes, { ...deps, prefix: '' });
  void app.register(workbenchReportRoutes, { ...deps, prefix: '' });
  done();
};

const pick = (r: StableRisk) => ({ score: r.score, colour: r.colour });

/**
 * Whole seconds, at most trendMaxBuckets buckets over the window (about
 * trendBuckets). From 45 min up the interval is rounded to whole hours, so
 * windows of about three weeks and more are answered from the store's hourly
 * rollups (server/store/sqlite-rollups.ts) instead of a scan of every reading.
 */
export function trendInterval(from: number, to: number): number {
  const span = Math.max(1, to - from);
  const target = Math.ceil(span / WORKBENCH_ROUTE_DEFAULTS.trendBuckets / 1_000) * 1_000;
  const floor = Math.ceil(span / WORKBENCH_ROUTE_DEFAULTS.trendMaxBuckets / 1_000) * 1_000;
  return wholeHoursFrom45Min(Math.max(1_000, target, floor), floor);
}
