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
import { API_DEFAULTS, coreRoutes } from './core-routes.js';
import { collectRoutes, docsRoutes } from './docs.js';
import { ApiError, Errors, errorBody } from './errors.js';
import { fleetPlugin } from './fleet-routes.js';
import { historyRoutes } from './history-routes.js';
import { ledgerRoutes } from './ledger-routes.js';
import { countHttpResponses, metricsRoutes } from './metrics.js';
import { platformRoutes, registerAuthHook, scopeOf } from './platform-routes.js';
import { type StreamOptions, streamRoutes } from './stream.js';
import { supervisionRoutes } from './supervision-routes.js';
import { workbenchRoutes } from './workbench-routes.js';

export { API_DEFAULTS };

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

  // Hooks that must see every route are added to this root instance by plain functions, not
  // inside a plugin (whose hooks fastify confines to that plugin): docs' onRoute (first, before
  // any route exists), the auth hook, metrics' onResponse.
  const routes = collectRoutes(app);
  const platform = deps.platform;
  if (platform) registerAuthHook(app, platform);
  const http = countHttpResponses(app);
  void app.register(docsRoutes, { prefix: '/docs', routes, title: 'HazardWatch', version: '1' });
  void app.register(metricsRoutes, {
    prefix: '/metrics',
    ingest: deps.ingest,
    notifier: deps.notifier,
    ledger: deps.ledger,
    gateways: deps.gateways,
    ...(platform ? { platform } : {}),
    http,
  });

  app.setNotFoundHandler((request, reply) => {
    const e = Errors.routeNotFound(request.method, request.url.split('?')[0] ?? request.url);
    return reply.code(e.statusCode).send(errorBody(e.statusCode, e.code, e.message));
  });

  void app.register(coreRoutes, {
    prefix: '/api/v1',
    store: deps.store,
    ledger: deps.ledger,
    gateways: deps.gateways,
    notifier: deps.notifier,
    ingest: deps.ingest,
    clock,
    startedAt,
    ...(platform ? { platform } : {}),
  });

  void app.register(streamRoutes, {
    prefix: '/api/v1',
    ...deps.stream,
    events: deps.events,
    scope: (request) => scopeOf(platform, request),
  });

  if (platform) {
    void app.register(platformRoutes, {
      prefix: '/api/v1',
      platform,
      ledger: deps.ledger,
      store: deps.store,
      clock,
    });
    void app.register(ledgerRoutes, { prefix: '/api/v1/ledger', platform });
    if (deps.supervision) {
      void app.register(supervisionRoutes, {
        prefix: '/api/v1/supervision',
        platform,
        supervision: deps.supervision,
      });
    }
    void app.register(workbenchRoutes, {
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

  void app.register(historyRoutes, {
    prefix: '/api/v1/history',
    store: deps.store,
    gateways: deps.gateways,
    clock,
    scope: (request) => scopeOf(platform, request),
  });

  if (deps.dashboard !== false) void app.register(dashboardPlugin);

  return app;
}
