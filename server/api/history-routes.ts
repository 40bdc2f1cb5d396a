/**
 * History queries over the telemetry store (SQLite or InfluxDB alike), the plugin
 * `historyRoutes`, registered by app.ts with the prefix /api/v1/history:
 *
 *   GET /api/v1/history/raw        ?gatewayId&sensorId&from&to&limit   readings, oldest first
 *   GET /api/v1/history/aggregate  ?gatewayId&sensorId&from&to&intervalMs
 *                                  mean/min/max/count per interval (good and uncertain numeric readings)
 *   GET /api/v1/history/latest     ?gatewayId&sensorId&at               newest reading (at or before `at`)
 *
 * Times are epoch ms or ISO 8601; `to` defaults to now, `from` to `to` minus 1 h
 * (raw) or 24 h (aggregate). With a regulator platform, a caller sees only the
 * gateways of the enterprises in its scope (the same rule as /api/v1/telemetry).
 */
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../../common/clock.js';
import { QUALITIES } from '../../protocol/index.js';
import type { GatewayRegistry } from '../gateways.js';
import type { StoredReading, TelemetryStore } from '../store/telemetry-store.js';
import { idParam, parseTime } from './dto.js';
import { Errors, errorBodySchema } from './errors.js';
import type { RoutePlugin } from './typed.js';

export const HISTORY_DEFAULTS = {
  rawWindowMs: 60 * 60_000, // 1 h back from `to` for raw readings
  aggregateWindowMs: 24 * 60 * 60_000, // 24 h back from `to` for aggregates
  rawLimit: 1_000, // readings per answer
  rawMaxLimit: 10_000,
  targetBuckets: 500, // default interval: the window in about this many buckets, whole seconds
  // (from 45 min up, whole hours: see defaultInterval)
  maxBuckets: 10_000, // refuse intervals that would make more buckets than this
} as const;

export interface HistoryRouteOptions {
  store: Pick<TelemetryStore, 'queryRange' | 'queryAggregate' | 'queryLatest'>;
  gateways: Pick<GatewayRegistry, 'list'>;
  clock: Clock;
  /** Enterprises the caller may see; null: all (no platform, or an admin). */
  scope?: (request: FastifyRequest) => Set<string> | null;
}

const errorResponses = {
  400: errorBodySchema,
  403: errorBodySchema,
  500: errorBodySchema,
} as const;
const time = (what: string) => ({ type: 'string', description: what, maxLength: 40 }) as const;
const readingValue = { type: ['number', 'boolean', 'string', 'null'] } as const;

const storedReadingSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'gatewayId',
    'enterpriseId',
    'sensorId',
    'ts',
    'value',
    'quality',
    'receivedAt',
    'seq',
  ],
  properties: {
    gatewayId: { type: 'string' },
    enterpriseId: { type: 'string' },
    sensorId: { type: 'string' },
    ts: { type: 'integer' },
    value: readingValue,
    quality: { type: 'string', enum: QUALITIES },
    reason: { type: 'string' },
    receivedAt: { type: 'integer' },
    seq: { type: 'integer' },
  },
} as const;

const bucketSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ts', 'mean', 'min', 'max', 'count'],
  properties: {
    ts: { type: 'integer', description: 'bucket start, epoch ms' },
    mean: { type: 'number' },
    min: { type: 'number' },
    max: { type: 'number' },
    count: { type: 'integer', minimum: 1 },
  },
} as const;

const HOUR_MS = 3_600_000;

/**
 * An interval of 45 min or more rounded to whole hours (never below `floorMs`), so buckets are
 * made of whole hours and the SQLite store answers from its hourly rollups
 * (server/store/sqlite-rollups.ts) instead of scanning every reading: a 30-day window in 500
 * buckets would be 86.4 min and scan 2.6 million readings of a 1 s sensor; at 1 h it reads
 * 720 rollup rows. Below 45 min the interval is kept (rounding it would coarsen short charts).
 */
export function wholeHoursFrom45Min(intervalMs: number, floorMs = 0): number {
  if (intervalMs < 0.75 * HOUR_MS) return intervalMs;
  return Math.max(1, Math.round(intervalMs / HOUR_MS), Math.ceil(floorMs / HOUR_MS)) * HOUR_MS;
}

/** The default aggregate interval: the window in about targetBuckets buckets (see above). */
export function defaultInterval(from: number, to: number): number {
  const seconds = Math.ceil((to - from) / HISTORY_DEFAULTS.targetBuckets / 1_000) * 1_000;
  return wholeHoursFrom45Min(Math.max(1_000, seconds));
}

function toDto(reading: StoredReading) {
  return {
    gatewayId: reading.gatewayId,
    enterpriseId: reading.enterpriseId,
    sensorId: reading.sensorId,
    ts: reading.ts,
    value: reading.value,
    quality: reading.quality,
    ...(reading.reason !== undefined ? { reason: reading.reason } : {}),
    receivedAt: reading.receivedAt,
    seq: reading.seq,
  };
}

const sensorProperties = {
  gatewayId: idParam,
  sensorId: idParam,
  from: time('epoch ms or ISO 8601'),
  to: time('epoch ms or ISO 8601; default now'),
} as const;

export const historyRoutes: RoutePlugin<HistoryRouteOptions> = (app, deps, done) => {
  const { store, clock } = deps;

  /** Throws 403 unless the caller may see this gateway's enterprise. */
  const authorize = (request: FastifyRequest, gatewayId: string) => {
    const scope = deps.scope?.(request) ?? null;
    if (scope === null) return;
    const gateway = deps.gateways.list().find((g) => g.gatewayId === gatewayId);
    if (!gateway || !scope.has(gateway.enterpriseId)) throw Errors.forbidden('gateway', gatewayId);
  };

  /** The query's `from`/`to` as epoch ms; `from` defaults to `backMs` before `to`. */
  const window = (query: { from?: string; to?: string }, backMs: number) => {
    const to = parseTime('to', query.to, clock.now());
    const from = parseTime('from', query.from, to - backMs);
    if (from > to) throw Errors.badRange(from, to);
    return { from, to };
  };

  app.get(
    '/raw',
    {
      schema: {
        description: 'Raw readings of one sensor, oldest first (the newest `limit` in the range).',
        querystring: {
          type: 'object',
          required: ['gatewayId', 'sensorId'],
          additionalProperties: false,
          properties: {
            ...sensorProperties,
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: HISTORY_DEFAULTS.rawMaxLimit,
              default: HISTORY_DEFAULTS.rawLimit,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['from', 'to', 'readings'],
            properties: {
              from: { type: 'integer' },
              to: { type: 'integer' },
              readings: { type: 'array', items: storedReadingSchema },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { gatewayId, sensorId, limit } = request.query;
      authorize(request, gatewayId);
      const { from, to } = window(request.query, HISTORY_DEFAULTS.rawWindowMs);
      const readings = await store.queryRange({ gatewayId, sensorId, from, to, limit });
      return { from, to, readings: readings.map(toDto) };
    },
  );

  app.get(
    '/aggregate',
    {
      schema: {
        description:
          'Mean, min, max and count per interval of numeric readings of quality good or uncertain; buckets aligned to the epoch, empty buckets left out.',
        querystring: {
          type: 'object',
          required: ['gatewayId', 'sensorId'],
          additionalProperties: false,
          properties: {
            ...sensorProperties,
            intervalMs: {
              type: 'integer',
              minimum: 1_000,
              maximum: 31 * 24 * 60 * 60_000,
              description:
                'bucket width in ms (>= 1 s); default: the window in about 500 buckets, whole hours from 45 min up',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['from', 'to', 'intervalMs', 'buckets'],
            properties: {
              from: { type: 'integer' },
              to: { type: 'integer' },
              intervalMs: { type: 'integer' },
              buckets: { type: 'array', items: bucketSchema },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { gatewayId, sensorId } = request.query;
      authorize(request, gatewayId);
      const { from, to } = window(request.query, HISTORY_DEFAULTS.aggregateWindowMs);
      const intervalMs = request.query.intervalMs ?? defaultInterval(from, to);
      const buckets = Math.floor((to - from) / intervalMs) + 1;
      if (buckets > HISTORY_DEFAULTS.maxBuckets) {
        throw Errors.validation(
          `querystring/intervalMs ${intervalMs} makes ${buckets} buckets; at most ${HISTORY_DEFAULTS.maxBuckets} (widen the interval or narrow the range)`,
        );
      }
      return {
        from,
        to,
        intervalMs,
        buckets: await store.queryAggregate({ gatewayId, sensorId, from, to, intervalMs }),
      };
    },
  );

  app.get(
    '/latest',
    {
      schema: {
        description: 'The newest stored reading of one sensor, at or before `at` when given.',
        querystring: {
          type: 'object',
          required: ['gatewayId', 'sensorId'],
          additionalProperties: false,
          properties: {
            gatewayId: idParam,
            sensorId: idParam,
            at: time('epoch ms or ISO 8601; default: no bound'),
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['reading'],
            properties: { reading: { anyOf: [storedReadingSchema, { type: 'null' }] } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { gatewayId, sensorId } = request.query;
      authorize(request, gatewayId);
      const q: Parameters<typeof store.queryLatest>[0] = { gatewayId, sensorId };
      if (request.query.at !== undefined && request.query.at !== '') {
        q.at = parseTime('at', request.query.at, 0);
      }
      const reading = await store.queryLatest(q);
      return { reading: reading ? toDto(reading) : null };
    },
  );

  done();
};
