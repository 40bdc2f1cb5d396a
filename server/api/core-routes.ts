/**
 * The open read API under /api/v1 (registered with that prefix by app.ts):
 *
 *   GET /health               server, ingest and linkage summary
 *   GET /sensors              sensor catalogue joined with latest values
 *   GET /alarms               ?state=active|all (default active) &limit (default 100)
 *   GET /gateways             presence of every gateway heard of
 *   GET /telemetry            ?gatewayId&sensorId&from&to&limit: one sensor's history
 *   GET /linkage/deliveries   emergency linkage deliveries, newest first
 *
 * With a platform, a token scopes every answer to the caller's enterprises (scopeOf).
 */
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../../common/clock.js';
import type { AlarmLedger } from '../alarms/ledger.js';
import type { GatewayRegistry } from '../gateways.js';
import type { IngestMetrics } from '../ingest.js';
import type { LinkageCounts, LinkageDelivery } from '../linkage/emergency-notifier.js';
import type { Platform } from '../platform/platform.js';
import type { TelemetryStore } from '../store/telemetry-store.js';
import {
  alarmSchema,
  deliverySchema,
  gatewaySchema,
  type HealthDto,
  healthSchema,
  idParam,
  parseTime,
  readingSchema,
  type SensorDto,
  sensorSchema,
  toAlarmDto,
  toDeliveryDto,
  toGatewayDto,
} from './dto.js';
import { Errors, errorBodySchema } from './errors.js';
import { scopeOf } from './platform-routes.js';
import type { RoutePlugin } from './typed.js';

export const API_DEFAULTS = {
  alarmsLimit: 100, // alarms per page
  alarmsMaxLimit: 1_000,
  telemetryWindowMs: 60 * 60_000, // 1 h back from `to` when `from` is not given
  telemetryLimit: 1_000, // readings per query
  telemetryMaxLimit: 10_000,
  deliveriesLimit: 200,
  bodyLimitBytes: 64 * 1024, // 64 KiB: the API takes no large bodies
} as const;

export interface CoreRouteOptions {
  store: Pick<TelemetryStore, 'latest' | 'queryRange'>;
  ledger: Pick<AlarmLedger, 'list'>;
  gateways: Pick<GatewayRegistry, 'list' | 'online'>;
  notifier: {
    deliveries(limit?: number): Promise<LinkageDelivery[]>;
    counts(): Promise<LinkageCounts>;
  };
  ingest: { metrics(): IngestMetrics };
  clock: Clock;
  /** When the server started, epoch ms (clock). */
  startedAt: number;
  platform?: Platform;
}

const errorResponses = { 400: errorBodySchema, 500: errorBodySchema } as const;

export const coreRoutes: RoutePlugin<CoreRouteOptions> = (app, deps, done) => {
  const { clock, startedAt, platform } = deps;
  /** Whether the request may see this enterprise's data. */
  const visible = (request: FastifyRequest) => {
    const scope = scopeOf(platform, request);
    return (enterpriseId: string) => scope === null || scope.has(enterpriseId);
  };

  app.get(
    '/health',
    { config: { public: true }, schema: { response: { 200: healthSchema, ...errorResponses } } },
    async (): Promise<HealthDto> => {
      const now = clock.now();
      let newest: number | null = null;
      for (const reading of deps.store.latest()) {
        if (newest === null || reading.receivedAt > newest) newest = reading.receivedAt;
      }
      const metrics = deps.ingest.metrics();
      return {
        status: 'ok',
        gatewaysOnline: deps.gateways.online().length,
        gatewaysKnown: deps.gateways.list().length,
        newestTelemetryAgeMs: newest === null ? null : Math.max(0, now - newest),
        ingest: {
          batches: metrics.batches,
          readings: metrics.readings,
          alarmEvents: metrics.alarmEvents,
          rejected: metrics.rejected,
        },
        linkage: await deps.notifier.counts(),
        uptimeS: Math.max(0, Math.round((now - startedAt) / 1000)),
      };
    },
  );

  app.get(
    '/sensors',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['sensors'],
            properties: { sensors: { type: 'array', items: sensorSchema } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const canSee = visible(request);
      const latest = new Map(
        deps.store
          .latest()
          .filter((r) => canSee(r.enterpriseId))
          .map((r) => [`${r.gatewayId}\u0000${r.sensorId}`, r]),
      );
      const sensors: SensorDto[] = [];
      for (const gateway of deps.gateways.list()) {
        if (!canSee(gateway.enterpriseId)) continue;
        for (const info of gateway.sensors) {
          const key = `${gateway.gatewayId}\u0000${info.sensorId}`;
          const reading = latest.get(key);
          latest.delete(key);
          const sensor: SensorDto = {
            gatewayId: gateway.gatewayId,
            enterpriseId: reading?.enterpriseId ?? gateway.enterpriseId,
            sensorId: info.sensorId,
            name: info.name,
            kind: info.kind,
            unit: info.unit,
            value: reading?.value ?? null,
            // No reading yet: OPC UA would say BadWaitingForInitialData.
            quality: reading?.quality ?? 'bad',
            ts: reading?.ts ?? null,
          };
          if (info.gas !== undefined) sensor.gas = info.gas;
          if (info.installationId !== undefined) sensor.installationId = info.installationId;
          if (info.location !== undefined) sensor.location = info.location;
          if (reading) {
            if (reading.reason !== undefined) sensor.reason = reading.reason;
          } else {
            sensor.reason = 'no data yet';
          }
          sensors.push(sensor);
        }
      }
      // Values from sensors no birth message described (e.g. before the birth arrived).
      for (const reading of latest.values()) {
        const sensor: SensorDto = {
          gatewayId: reading.gatewayId,
          enterpriseId: reading.enterpriseId,
          sensorId: reading.sensorId,
          name: reading.sensorId,
          kind: 'other',
          unit: '',
          value: reading.value,
          quality: reading.quality,
          ts: reading.ts,
        };
        if (reading.reason !== undefined) sensor.reason = reading.reason;
        sensors.push(sensor);
      }
      sensors.sort(
        (a, b) => a.gatewayId.localeCompare(b.gatewayId) || a.sensorId.localeCompare(b.sensorId),
      );
      return { sensors };
    },
  );

  app.get(
    '/alarms',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            state: { type: 'string', enum: ['active', 'all'], default: 'active' },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: API_DEFAULTS.alarmsMaxLimit,
              default: API_DEFAULTS.alarmsLimit,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['alarms'],
            properties: { alarms: { type: 'array', items: alarmSchema } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const scope = scopeOf(platform, request);
      const query: Parameters<typeof deps.ledger.list>[0] = {
        state: request.query.state,
        limit: request.query.limit,
      };
      if (scope !== null) query.enterpriseIds = [...scope];
      return { alarms: (await deps.ledger.list(query)).map(toAlarmDto) };
    },
  );

  app.get(
    '/gateways',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['gateways'],
            properties: { gateways: { type: 'array', items: gatewaySchema } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => ({
      gateways: deps.gateways
        .list()
        .filter((g) => visible(request)(g.enterpriseId))
        .sort((a, b) => a.gatewayId.localeCompare(b.gatewayId))
        .map(toGatewayDto),
    }),
  );

  app.get(
    '/telemetry',
    {
      schema: {
        querystring: {
          type: 'object',
          required: ['gatewayId', 'sensorId'],
          properties: {
            gatewayId: idParam,
            sensorId: idParam,
            from: {
              type: 'string',
              description: 'epoch ms or ISO 8601; default `to` minus 1 h',
              maxLength: 40,
            },
            to: { type: 'string', description: 'epoch ms or ISO 8601; default now', maxLength: 40 },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: API_DEFAULTS.telemetryMaxLimit,
              default: API_DEFAULTS.telemetryLimit,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['readings'],
            properties: { readings: { type: 'array', items: readingSchema } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { gatewayId, sensorId, limit } = request.query;
      if (scopeOf(platform, request) !== null) {
        const gateway = deps.gateways.list().find((g) => g.gatewayId === gatewayId);
        if (!gateway || !visible(request)(gateway.enterpriseId)) {
          throw Errors.forbidden('gateway', gatewayId);
        }
      }
      const to = parseTime('to', request.query.to, clock.now());
      const from = parseTime('from', request.query.from, to - API_DEFAULTS.telemetryWindowMs);
      if (from > to) throw Errors.badRange(from, to);
      const readings = await deps.store.queryRange({ gatewayId, sensorId, from, to, limit });
      return { readings: readings.map((r) => ({ ts: r.ts, value: r.value, quality: r.quality })) };
    },
  );

  app.get(
    '/linkage/deliveries',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['deliveries'],
            properties: { deliveries: { type: 'array', items: deliverySchema } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const canSee = visible(request);
      const scoped = scopeOf(platform, request) !== null;
      return {
        deliveries: (await deps.notifier.deliveries(API_DEFAULTS.deliveriesLimit))
          .filter((d) => {
            if (!scoped) return true;
            return canSee(d.enterpriseId);
          })
          .map(toDeliveryDto),
      };
    },
  );

  done();
};
