import { alarmSchema, jurisdictionSchema, nullableString } from './dto.js';
import { errorBodySchema } from './errors.js';
import { dispositionSchema } from './platform-routes.js';

export const workbenchErrors = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  429: errorBodySchema,
} as const;

export const nullableNumber = { type: ['number', 'null'] } as const;
export const colour = { type: 'string', enum: ['red', 'orange', 'yellow', 'blue'] } as const;

export const timeQuery = (what: string) =>
  ({ type: 'string', description: `${what}: epoch ms or ISO 8601`, maxLength: 40 }) as const;

export const utcOffsetQuery = {
  type: 'integer',
  minimum: -14 * 60,
  maximum: 14 * 60,
  description: 'the caller’s offset from UTC in minutes (local days); default the server’s',
} as const;

export const termSchema = {
  type: 'object',
  required: ['factor', 'points', 'live', 'decaying'],
  properties: {
    factor: { type: 'string' },
    points: { type: 'number' },
    live: { type: 'integer' },
    decaying: { type: 'integer' },
  },
} as const;

export const stableRiskSchema = {
  type: 'object',
  required: ['score', 'colour', 'grade', 'terms'],
  properties: {
    score: { type: 'number' },
    colour,
    grade: { type: ['integer', 'null'] },
    terms: { type: 'array', items: termSchema },
  },
} as const;

export const rankedEnterpriseSchema = {
  type: 'object',
  required: ['id', 'name', 'nameEn', 'jurisdiction', 'lat', 'lon', 'risk', 'counts'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    nameEn: nullableString,
    jurisdiction: jurisdictionSchema,
    lat: nullableNumber,
    lon: nullableNumber,
    risk: stableRiskSchema,
    counts: {
      type: 'object',
      required: [
        'inAlarmLevel1',
        'inAlarmLevel2',
        'unacknowledged',
        'overdue',
        'points',
        'offlinePoints',
      ],
      properties: {
        inAlarmLevel1: { type: 'integer' },
        inAlarmLevel2: { type: 'integer' },
        unacknowledged: { type: 'integer' },
        overdue: { type: 'integer' },
        points: { type: 'integer' },
        offlinePoints: { type: 'integer' },
      },
    },
  },
} as const;

export const rateSchema = {
  type: 'object',
  required: ['numerator', 'denominator', 'rate'],
  properties: {
    numerator: { type: 'integer' },
    denominator: { type: 'integer' },
    rate: nullableNumber,
  },
} as const;

export const deskItemSchema = {
  type: 'object',
  required: ['alarm', 'disposition'],
  properties: {
    alarm: alarmSchema,
    disposition: { anyOf: [dispositionSchema, { type: 'null' }] },
  },
} as const;

/** GET /indicators */
export const indicatorsResponseSchema = {
  type: 'object',
  required: ['indicators', 'definitions', 'targets'],
  properties: {
    definitions: { type: 'object', additionalProperties: { type: 'string' } },
    targets: {
      type: 'object',
      properties: {
        acknowledgeTargetMs: { type: 'integer' },
        disposeTargetMs: { type: 'integer' },
        overdueMs: { type: 'integer' },
        onlineRateTarget: { type: 'number' },
        halfLifeMs: { type: 'integer' },
      },
    },
    indicators: {
      type: 'object',
      properties: {
        from: { type: 'integer' },
        to: { type: 'integer' },
        online: rateSchema,
        alarmsPerDay: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              day: { type: 'string' },
              level1: { type: 'integer' },
              level2: { type: 'integer' },
            },
          },
        },
        acknowledgedInTime: rateSchema,
        disposal: rateSchema,
        meanDisposalMs: nullableNumber,
        overdue: { type: 'integer' },
        colours: {
          type: 'object',
          properties: {
            red: { type: 'integer' },
            orange: { type: 'integer' },
            yellow: { type: 'integer' },
            blue: { type: 'integer' },
          },
        },
        enterprises: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              enterpriseId: { type: 'string' },
              online: rateSchema,
              alarms: {
                type: 'object',
                properties: {
                  level1: { type: 'integer' },
                  level2: { type: 'integer' },
                },
              },
              acknowledgedInTime: rateSchema,
              disposal: rateSchema,
              meanDisposalMs: nullableNumber,
              overdue: { type: 'integer' },
            },
          },
        },
        points: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              enterpriseId: { type: 'string' },
              gatewayId: { type: 'string' },
              sensorId: { type: 'string' },
              name: { type: 'string' },
              online: { type: 'boolean' },
            },
          },
        },
      },
    },
  },
} as const;

/** GET /trend */
export const trendResponseSchema = {
  type: 'object',
  required: ['from', 'to', 'intervalMs', 'sensor', 'buckets', 'alarms'],
  properties: {
    from: { type: 'integer' },
    to: { type: 'integer' },
    intervalMs: { type: 'integer' },
    sensor: {
      type: 'object',
      properties: {
        enterpriseId: { type: 'string' },
        gatewayId: { type: 'string' },
        sensorId: { type: 'string' },
        name: { type: 'string' },
        unit: { type: 'string' },
        location: nullableString,
        gas: nullableString,
        rangeMin: nullableNumber,
        rangeMax: nullableNumber,
        setpointLevel1: nullableNumber,
        setpointLevel2: nullableNumber,
        deadband: nullableNumber,
      },
    },
    buckets: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          ts: { type: 'integer' },
          mean: { type: 'number' },
          min: { type: 'number' },
          max: { type: 'number' },
          count: { type: 'integer' },
        },
      },
    },
    alarms: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          alarmId: { type: 'string' },
          level: { type: 'integer' },
          setpoint: { type: 'number' },
          raisedAt: nullableNumber,
          clearedAt: nullableNumber,
          drill: { type: 'boolean' },
        },
      },
    },
  },
} as const;

export { alarmParams, jurisdictionSchema, nullableString } from './dto.js';
export { alarmSchema, dispositionSchema };
