/**
 * The HTTP API (and the dashboard plugin), built without listening so tests
 * drive it with `app.inject()`. Every route declares its query/params and
 * response schemas; error codes come from errors.ts.
 *
 *   GET /api/v1/health               server, ingest and linkage summary
 *   GET /api/v1/sensors              sensor catalogue joined with latest values
 *   GET /api/v1/alarms               ?state=active|all (default active) &limit (default 100)
 *   GET /api/v1/gateways             presence of every gateway heard of
 *   GET /api/v1/telemetry            ?gatewayId&sensorId&from&to&limit: one sensor's history
 *   GET /api/v1/stream               Server-Sent Events (stream.ts)
 *   GET /api/v1/linkage/deliveries   emergency linkage deliveries, newest first
 *   GET / and /assets/*              the dashboard (server/dashboard)
 *   platform routes (login, ranking, enterprise detail, disposal, ledger): platform-routes.ts
 *   /api/v1/workbench/* (regulator's workbench: ranking, indicators, trends, alarm desk, reports): workbench-routes.ts
 *   /api/v1/fleet/* (enrolment, pushed versions, fleet health, remote commands): fleet-routes.ts
 *   GET /metrics                     Prometheus metrics (metrics.ts)
 *   GET /docs, /docs/openapi.json    OpenAPI document from the route schemas (docs.ts)
 *
 * With a platform, a token (login) scopes every answer to the caller's enterprises; without
 * one, the read routes above answer in full unless `platform.requireAuth` is set.
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger, type Logger } from '../../common/logger.js';
import type { AlarmLedger } from '../alarms/ledger.js';
import { dashboardPlugin } from '../dashboard/plugin.js';
import type { EventHub } from '../events.js';
import type { FleetService } from '../fleet/fleet-service.js';
import type { GatewayRegistry } from '../gateways.js';
import type { IngestMetrics } from '../ingest.js';
import type { LinkageCounts, LinkageDelivery } from '../linkage/emergency-notifier.js';
import type { Platform } from '../platform/platform.js';
import type { TelemetryStore } from '../store/telemetry-store.js';
import type { SupervisionService } from '../supervision/service.js';
import { type BrokerAuthOptions, brokerAuthPlugin } from './broker-auth-routes.js';
import { registerDocs } from './docs.js';
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
import { ApiError, Errors, errorBody, errorBodySchema } from './errors.js';
import { fleetPlugin } from './fleet-routes.js';
import { registerHistoryRoutes } from './history-routes.js';
import { registerLedgerRoutes } from './ledger-routes.js';
import { registerMetrics } from './metrics.js';
import { registerAuthHook, registerPlatformRoutes, scopeOf } from './platform-routes.js';
import { registerStream, type StreamOptions } from './stream.js';
import { supervisionRoutes } from './supervision-routes.js';
import { workbenchPlugin } from './workbench-routes.js';

export const API_DEFAULTS = {
  alarmsLimit: 100, // alarms per page
  alarmsMaxLimit: 1_000,
  telemetryWindowMs: 60 * 60_000, // 1 h back from `to` when `from` is not given
  telemetryLimit: 1_000, // readings per query
  telemetryMaxLimit: 10_000,
  deliveriesLimit: 200,
  bodyLimitBytes: 64 * 1024, // 64 KiB: the API takes no large bodies
} as const;

/** What the API reads; each component is used only through these methods. */
export interface AppDeps {
  store: Pick<TelemetryStore, 'latest' | 'queryRange' | 'queryAggregate' | 'queryLatest'>;
  ledger: Pick<AlarmLedger, 'list' | 'listBetween' | 'get' | 'activeCount'>;
  gateways: Pick<GatewayRegistry, 'list' | 'online'>;
  notifier: {
    deliveries(limit?: number): Promise<LinkageDelivery[]>;
    counts(): Promise<LinkageCounts>;
  };
  ingest: { metrics(): IngestMetrics };
  events: EventHub;
  clock?: Clock;
  /** When the server started, epoch ms (clock); defaults to when buildApp ran. */
  startedAt?: number;
  /** Serve the dashboard at / (default true). */
  dashboard?: boolean;
  logger?: Logger;
  stream?: Omit<StreamOptions, 'events'>;
  /** Regulator platform: login, scoping, supervision, disposal (absent: the open read API only). */
  platform?: Platform;
  /** Fleet management: enrolment, pushed versions, health, remote commands (fleet-routes.ts). */
  fleet?: FleetService;
  /** Supervision by data (hazard ledger, data quality, live grading); needs `platform`. */
  supervision?: SupervisionService;
  /** EMQX's HTTP auth hook (cluster mode with mqtt.authHookSecret; broker-auth-routes.ts). */
  brokerAuth?: BrokerAuthOptions;
}

const errorResponses = { 400: errorBodySchema, 500: errorBodySchema } as const;

export function buildApp(deps: AppDeps): FastifyInstance {
  const clock = deps.clock ?? systemClock;
  const startedAt = deps.startedAt ?? clock.now();
  const app = Fastify({
    // pino's Logger is what fastify expects; only the generic parameters differ.
    loggerInstance: (deps.logger ?? createLogger('server.http')) as FastifyBaseLogger,
    // One line per request would drown the log (the dashboard polls); errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: API_DEFAULTS.bodyLimitBytes,
  });

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) {
      return reply
        .code(error.statusCode)
        .send(errorBody(error.statusCode, error.code, error.message));
    }
    if ((error as FastifyError).validation) {
      const e = Errors.validation(error.message);
      return reply.code(e.statusCode).send(errorBody(e.statusCode, e.code, e.message));
    }
    const status = (error as FastifyError).statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send(errorBody(status, error.code ?? 'HW_REQUEST', error.message));
    }
    request.log.error({ err: error, url: request.url }, 'request failed');
    const e = Errors.internal();
    return reply.code(e.statusCode).send(errorBody(e.statusCode, e.code, e.message));
  });

  registerDocs(app, { title: 'HazardWatch', version: '1' });
  const platform = deps.platform;
  if (platform) registerAuthHook(app, platform);
  registerMetrics(app, {
    ingest: deps.ingest,
    notifier: deps.notifier,
    ledger: deps.ledger,
    gateways: deps.gateways,
    ...(platform ? { platform } : {}),
    http: new Map(),
  });
  /** Whether the request may see this enterprise's data. */
  const visible = (request: FastifyRequest) => {
    const scope = scopeOf(platform, request);
    return (enterpriseId: string) => scope === null || scope.has(enterpriseId);
  };

  app.setNotFoundHandler((request, reply) => {
    const e = Errors.routeNotFound(request.method, request.url.split('?')[0] ?? request.url);
    return reply.code(e.statusCode).send(errorBody(e.statusCode, e.code, e.message));
  });

  app.get(
    '/api/v1/health',
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
    '/api/v1/sensors',
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

  app.get<{ Querystring: { state: 'active' | 'all'; limit: number } }>(
    '/api/v1/alarms',
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
    '/api/v1/gateways',
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

  app.get<{
    Querystring: { gatewayId: string; sensorId: string; from?: string; to?: string; limit: number };
  }>(
    '/api/v1/telemetry',
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
    '/api/v1/linkage/deliveries',
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

  registerStream(app, {
    ...deps.stream,
    events: deps.events,
    scope: (request) => scopeOf(platform, request),
  });

  if (platform) {
    registerPlatformRoutes(app, { platform, ledger: deps.ledger, store: deps.store, clock });
    registerLedgerRoutes(app, platform);
    if (deps.supervision) {
      void app.register(supervisionRoutes, {
        prefix: '/api/v1/supervision',
        platform,
        supervision: deps.supervision,
      });
    }
    void app.register(workbenchPlugin, {
      prefix: '/api/v1/workbench',
      platform,
      ledger: deps.ledger,
      store: deps.store,
      gateways: deps.gateways,
      notifier: deps.notifier,
      clock,
    });
  }

  if (deps.fleet)
    void app.register(fleetPlugin, {
      prefix: '/api/v1/fleet',
      fleet: deps.fleet,
      ...(platform ? { platform } : {}),
    });

  if (deps.brokerAuth)
    void app.register(brokerAuthPlugin, { prefix: '/api/v1/broker', ...deps.brokerAuth });

  registerHistoryRoutes(app, { ...deps, clock, scope: (request) => scopeOf(platform, request) });

  if (deps.dashboard !== false) void app.register(dashboardPlugin);

  return app;
}
