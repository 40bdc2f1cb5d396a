/**
 * Schemas shared by the workbench's route modules (workbench-routes.ts, -alarm-routes.ts,
 * -report-routes.ts). Response objects are closed (`additionalProperties: false`) and list
 * what they always carry as `required`, so the types derived from them (typed.ts) check the
 * handlers' answers against the domain types.
 */
import { alarmSchema, jurisdictionSchema, nullableNumber, nullableString } from './dto.js';
import { errorBodySchema } from './errors.js';
import { dispositionSchema } from './platform-routes.js';

/** The error answers of every workbench route (the close route adds 409). */
export const workbenchErrors = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  429: errorBodySchema,
} as const;

export const colour = { type: 'string', enum: ['red', 'orange', 'yellow', 'blue'] } as const;

export const timeQuery = (what: string) =>
  ({ type: 'string', description: `${what}: epoch ms or ISO 8601`, maxLength: 40 }) as const;

/** The language of definitions and reports (ReportLang). */
export const langQuery = { type: 'string', enum: ['zh-CN', 'en'], default: 'zh-CN' } as const;

export const utcOffsetQuery = {
  type: 'integer',
  minimum: -14 * 60,
  maximum: 14 * 60,
  description: 'the caller’s offset from UTC in minutes (local days); default the server’s',
} as const;

export const termSchema = {
  type: 'object',
  additionalProperties: false,
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
  additionalProperties: false,
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
  additionalProperties: false,
  required: ['id', 'name', 'nameEn', 'jurisdiction', 'lat', 'lon', 'risk', 'counts'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    nameEn: nullableString,
    // Closed here (dto.ts's is open): Jurisdiction, an interface, has no index signature.
    jurisdiction: jurisdictionSchema,
    lat: nullableNumber,
    lon: nullableNumber,
    risk: stableRiskSchema,
    counts: {
      type: 'object',
      additionalProperties: false,
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
  additionalProperties: false,
  required: ['numerator', 'denominator', 'rate'],
  properties: {
    numerator: { type: 'integer' },
    denominator: { type: 'integer' },
    rate: nullableNumber,
  },
} as const;

export const deskItemSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['alarm', 'disposition'],
  properties: {
    alarm: alarmSchema,
    disposition: { anyOf: [dispositionSchema, { type: 'null' }] },
  },
} as const;

const levelCounts = {
  type: 'object',
  additionalProperties: false,
  required: ['level1', 'level2'],
  properties: { level1: { type: 'integer' }, level2: { type: 'integer' } },
} as const;

/** A period's figures for the whole scope (Indicators without its per-enterprise and per-point lists). */
const indicatorTotalsProperties = {
  from: { type: 'integer' },
  to: { type: 'integer' },
  online: rateSchema,
  alarmsPerDay: {
    type: 'array',
    items: {
      ...levelCounts,
      required: ['day', ...levelCounts.required],
      properties: { day: { type: 'string' }, ...levelCounts.properties },
    },
  },
  acknowledgedInTime: rateSchema,
  disposal: rateSchema,
  meanDisposalMs: nullableNumber,
  overdue: { type: 'integer' },
  colours: {
    type: 'object',
    additionalProperties: false,
    required: ['red', 'orange', 'yellow', 'blue'],
    properties: {
      red: { type: 'integer' },
      orange: { type: 'integer' },
      yellow: { type: 'integer' },
      blue: { type: 'integer' },
    },
  },
} as const;

const indicatorTotalsRequired = [
  'from',
  'to',
  'online',
  'alarmsPerDay',
  'acknowledgedInTime',
  'disposal',
  'meanDisposalMs',
  'overdue',
  'colours',
] as const;

/** The totals of a period (the overview's cards); the lists are in indicatorsSchema. */
const indicatorTotalsSchema = {
  type: 'object',
  additionalProperties: false,
  required: indicatorTotalsRequired,
  properties: indicatorTotalsProperties,
} as const;

/** The indicators of a period (platform/indicators.ts Indicators). */
export const indicatorsSchema = {
  type: 'object',
  additionalProperties: false,
  required: [...indicatorTotalsRequired, 'enterprises', 'points'],
  properties: {
    ...indicatorTotalsProperties,
    enterprises: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: [
          'enterpriseId',
          'online',
          'alarms',
          'acknowledgedInTime',
          'disposal',
          'meanDisposalMs',
          'overdue',
        ],
        properties: {
          enterpriseId: { type: 'string' },
          online: rateSchema,
          alarms: levelCounts,
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
        additionalProperties: false,
        required: ['enterpriseId', 'gatewayId', 'sensorId', 'name', 'online'],
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
} as const;

/** The settings behind the indicators and the score (workbenchSettings). */
const targetsSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'acknowledgeTargetMs',
    'disposeTargetMs',
    'overdueMs',
    'onlineRateTarget',
    'halfLifeMs',
  ],
  properties: {
    acknowledgeTargetMs: { type: 'integer' },
    disposeTargetMs: { type: 'integer' },
    overdueMs: { type: 'integer' },
    onlineRateTarget: { type: 'number' },
    halfLifeMs: { type: 'integer' },
  },
} as const;

const definitionsSchema = { type: 'object', additionalProperties: { type: 'string' } } as const;

/** GET /indicators */
export const indicatorsResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['indicators', 'definitions', 'targets'],
  properties: {
    definitions: definitionsSchema,
    targets: targetsSchema,
    indicators: indicatorsSchema,
  },
} as const;

/** GET /overview: what the overview page draws, from one read of the scope. */
export const overviewResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['at', 'halfLifeMs', 'enterprises', 'indicators', 'days', 'definitions', 'targets'],
  properties: {
    at: { type: 'integer' },
    halfLifeMs: { type: 'integer' },
    enterprises: { type: 'array', items: rankedEnterpriseSchema },
    indicators: indicatorTotalsSchema,
    days: {
      type: 'object',
      additionalProperties: false,
      required: ['from', 'to', 'alarmsPerDay'],
      properties: {
        from: { type: 'integer' },
        to: { type: 'integer' },
        alarmsPerDay: indicatorTotalsProperties.alarmsPerDay,
      },
    },
    definitions: definitionsSchema,
    targets: targetsSchema,
  },
} as const;

/** GET /trend */
export const trendResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to', 'intervalMs', 'sensor', 'buckets', 'alarms'],
  properties: {
    from: { type: 'integer' },
    to: { type: 'integer' },
    intervalMs: { type: 'integer' },
    sensor: {
      type: 'object',
      additionalProperties: false,
      required: [
        'enterpriseId',
        'gatewayId',
        'sensorId',
        'name',
        'unit',
        'location',
        'gas',
        'rangeMin',
        'rangeMax',
        'setpointLevel1',
        'setpointLevel2',
        'deadband',
      ],
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
        additionalProperties: false,
        required: ['ts', 'mean', 'min', 'max', 'count'],
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
        additionalProperties: false,
        required: ['alarmId', 'level', 'setpoint', 'raisedAt', 'clearedAt', 'drill'],
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

const reportTable = {
  type: 'object',
  additionalProperties: false,
  required: ['header', 'rows'],
  properties: {
    header: { type: 'array', items: { type: 'string' } },
    rows: { type: 'array', items: { type: 'array', items: { type: ['string', 'number'] } } },
  },
} as const;

/** The printable report (platform/reports.ts ReportModel): tables of cells as shown. */
export const reportModelSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['lang', 'title', 'meta', 'summary', 'top', 'perDay', 'alarms'],
  properties: {
    lang: { type: 'string', enum: langQuery.enum },
    title: { type: 'string' },
    meta: {
      description: '[label, value] pairs',
      type: 'array',
      items: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 },
    },
    summary: reportTable,
    top: reportTable,
    perDay: reportTable,
    alarms: reportTable,
  },
} as const;
