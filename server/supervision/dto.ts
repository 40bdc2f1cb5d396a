/**
 * Shapes the supervision API answers with (server/api/supervision-routes.ts): each is written
 * once, as the JSON Schema that serialises it and that /docs publishes; the TypeScript names
 * are `FromSchema` of those schemas (issue 14), and the converters below are checked against them.
 */

import { nullableNumber, nullableString } from '../api/dto.js';
import type { FromSchema } from '../api/typed.js';
import type { Hazard, HazardEvent } from './hazard-chain.js';

function iso(ms: number): string;
function iso(ms: number | null): string | null;
function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

const isoTime = { type: 'string', format: 'date-time' } as const;
const nullableTime = { ...nullableString, format: 'date-time' } as const;
const count = { type: 'integer', minimum: 0 } as const;
const stringList = { type: 'array', items: { type: 'string' } } as const;
export const HAZARD_KINDS = ['accident', 'alarm-management', 'data-quality'] as const;
export const HAZARD_SEVERITIES = ['general', 'major'] as const;

export function toHazardDto(h: Hazard): HazardDto {
  return {
    hazardId: h.hazardId,
    enterpriseId: h.enterpriseId,
    installationId: h.installationId,
    kind: h.kind,
    severity: h.severity,
    title: h.title,
    item: h.item,
    source: h.source,
    foundBy: h.foundBy,
    ruleId: h.ruleId,
    subject: h.subject,
    evidenceCount: h.evidenceCount,
    conditionActive: h.conditionActive,
    conditionClearedAt: iso(h.conditionClearedAt),
    responsible: h.responsible,
    plan: h.plan,
    deadline: iso(h.deadline),
    rectifiedAt: iso(h.rectifiedAt),
    rectifiedBy: h.rectifiedBy,
    rectificationEvidence: h.rectificationEvidence,
    verifiedAt: iso(h.verifiedAt),
    verifiedBy: h.verifiedBy,
    verification: h.verification,
    status: h.status,
    closedAt: iso(h.closedAt),
    listingLevel: h.listingLevel,
    listedAt: iso(h.listedAt),
    openedAt: iso(h.openedAt),
  };
}

export function toHazardEventDto(e: HazardEvent): HazardEventDto {
  return {
    seq: e.seq,
    hazardId: e.hazardId,
    action: e.action,
    actor: e.actor,
    detail: e.detail,
    at: iso(e.at),
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

/** Closed: in a request body, fastify's Ajv drops keys it does not name (removeAdditional). */
export const standardItemSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['standard', 'number', 'text', 'checked'],
  properties: {
    standard: { type: 'string', minLength: 1, maxLength: 300 },
    number: { ...nullableString, maxLength: 40 },
    text: { type: 'string', minLength: 1, maxLength: 1000 },
    checked: { type: 'boolean' },
  },
} as const;

export const hazardSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'hazardId',
    'enterpriseId',
    'installationId',
    'kind',
    'severity',
    'title',
    'item',
    'source',
    'foundBy',
    'ruleId',
    'subject',
    'evidenceCount',
    'conditionActive',
    'conditionClearedAt',
    'responsible',
    'plan',
    'deadline',
    'rectifiedAt',
    'rectifiedBy',
    'rectificationEvidence',
    'verifiedAt',
    'verifiedBy',
    'verification',
    'status',
    'closedAt',
    'listingLevel',
    'listedAt',
    'openedAt',
  ],
  properties: {
    hazardId: { type: 'string' },
    enterpriseId: { type: 'string' },
    installationId: nullableString,
    kind: { type: 'string', enum: HAZARD_KINDS },
    severity: { type: 'string', enum: HAZARD_SEVERITIES },
    title: { type: 'string' },
    item: standardItemSchema,
    source: { type: 'string', enum: ['screening', 'inspection', 'self-report'] },
    foundBy: { type: 'string' },
    ruleId: nullableString,
    subject: nullableString,
    evidenceCount: count,
    conditionActive: { type: 'boolean' },
    conditionClearedAt: nullableTime,
    responsible: nullableString,
    plan: nullableString,
    deadline: isoTime,
    rectifiedAt: nullableTime,
    rectifiedBy: nullableString,
    rectificationEvidence: nullableString,
    verifiedAt: nullableTime,
    verifiedBy: nullableString,
    verification: nullableString,
    status: { type: 'string', enum: ['open', 'rectifying', 'rectified', 'closed'] },
    closedAt: nullableTime,
    listingLevel: { type: 'integer', minimum: 0, maximum: 3 },
    listedAt: nullableTime,
    openedAt: isoTime,
  },
} as const;
export type HazardDto = FromSchema<typeof hazardSchema>;

export const hazardEventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['seq', 'hazardId', 'action', 'actor', 'detail', 'at', 'prevHash', 'hash'],
  properties: {
    seq: { type: 'integer' },
    hazardId: { type: 'string' },
    action: { type: 'string' },
    actor: { type: 'string' },
    detail: { type: 'object', additionalProperties: true },
    at: isoTime,
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
} as const;
export type HazardEventDto = FromSchema<typeof hazardEventSchema>;

/** indicators.ts HazardFigures. */
const figures = {
  type: 'object',
  additionalProperties: false,
  required: [
    'found',
    'rectified',
    'rectifiedOnTime',
    'open',
    'overdue',
    'listed',
    'major',
    'byListingLevel',
  ],
  properties: {
    found: count,
    rectified: count,
    rectifiedOnTime: count,
    open: count,
    overdue: count,
    listed: count,
    major: count,
    byListingLevel: {
      type: 'object',
      additionalProperties: false,
      required: ['county', 'city', 'province'],
      properties: { county: count, city: count, province: count },
    },
  },
} as const;

/** data-quality.ts QualitySummary. */
const qualitySummary = {
  type: 'object',
  additionalProperties: false,
  required: [
    'points',
    'online',
    'onlineRate',
    'completeness',
    'flatLined',
    'clockSkewed',
    'setpointsNotSeen',
    'setpointsLooser',
    'nonStandardNames',
    'deviceFaults',
    'pointsSuppressed',
    'gatewayOutages',
  ],
  properties: {
    points: count,
    online: count,
    onlineRate: nullableNumber,
    completeness: nullableNumber,
    flatLined: count,
    clockSkewed: count,
    setpointsNotSeen: count,
    setpointsLooser: count,
    nonStandardNames: count,
    deviceFaults: count,
    pointsSuppressed: count,
    gatewayOutages: count,
  },
} as const;

/** data-quality.ts PointQuality. */
const pointQualitySchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'gatewayId',
    'enterpriseId',
    'sensorId',
    'name',
    'kind',
    'status',
    'onlineRate',
    'completeness',
    'flatForMs',
    'clockSkewMs',
    'clockSkewed',
    'setpoint',
    'setpointProblems',
    'standardName',
  ],
  properties: {
    gatewayId: { type: 'string' },
    enterpriseId: { type: 'string' },
    sensorId: { type: 'string' },
    name: { type: 'string' },
    kind: { type: 'string' },
    status: {
      type: 'string',
      enum: ['online', 'offline', 'fault', 'gateway-offline', 'never-read'],
    },
    onlineRate: { type: 'number' },
    completeness: { type: 'number' },
    flatForMs: nullableNumber,
    clockSkewMs: nullableNumber,
    clockSkewed: { type: 'boolean' },
    setpoint: { type: 'string', enum: ['compliant', 'not-seen', 'looser', 'not-applicable'] },
    setpointProblems: stringList,
    standardName: { type: 'boolean' },
  },
} as const;

export const reportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to', 'total', 'byKind', 'byRegion', 'dataQuality'],
  properties: {
    from: isoTime,
    to: isoTime,
    total: figures,
    byKind: {
      type: 'object',
      additionalProperties: false,
      required: HAZARD_KINDS,
      properties: {
        accident: figures,
        'alarm-management': figures,
        'data-quality': figures,
      },
    },
    byRegion: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'figures', 'dataQuality'],
        properties: { name: { type: 'string' }, figures, dataQuality: qualitySummary },
      },
    },
    dataQuality: qualitySummary,
  },
} as const;
export type ReportDto = FromSchema<typeof reportSchema>;

export const dataQualitySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['at', 'total', 'enterprises', 'outages'],
  properties: {
    at: isoTime,
    total: qualitySummary,
    enterprises: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['enterpriseId', 'summary'],
        properties: { enterpriseId: { type: 'string' }, summary: qualitySummary },
      },
    },
    outages: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['enterpriseId', 'gatewayId', 'startedAt', 'endedAt', 'points'],
        properties: {
          enterpriseId: { type: 'string' },
          gatewayId: { type: 'string' },
          startedAt: isoTime,
          endedAt: nullableTime,
          points: count,
        },
      },
    },
    /** Only with ?enterpriseId: that enterprise's points. */
    points: { type: 'array', items: pointQualitySchema },
  },
} as const;
export type DataQualityDto = FromSchema<typeof dataQualitySchema>;

/** POST /screening/run: one pass's counts (service.ts screenNow). */
export const screeningRunSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['at', 'ms', 'holding', 'opened', 'cleared', 'returned', 'failedRules'],
  properties: {
    at: isoTime,
    ms: { type: 'number', minimum: 0 },
    holding: count,
    opened: count,
    cleared: count,
    returned: count,
    failedRules: stringList,
  },
} as const;

/** GET /ledger/verify: ledger-integrity.ts IntegrityResult of the hazard chain. */
export const integrityResultSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'ok',
    'rows',
    'brokenAt',
    'reason',
    'projection',
    'head',
    'problems',
    'anchors',
    'checkedAt',
  ],
  properties: {
    ok: { type: 'boolean' },
    rows: count,
    brokenAt: { type: ['integer', 'null'] },
    reason: nullableString,
    projection: {
      type: 'object',
      additionalProperties: false,
      required: ['differences', 'problems'],
      properties: { differences: count, problems: stringList },
    },
    head: {
      anyOf: [
        {
          type: 'object',
          additionalProperties: false,
          required: ['seq', 'hash'],
          properties: { seq: { type: 'integer' }, hash: { type: 'string' } },
        },
        { type: 'null' },
      ],
    },
    problems: stringList,
    anchors: {
      type: 'object',
      additionalProperties: false,
      required: ['checked', 'lastAnchoredSeq', 'problems'],
      properties: {
        checked: count,
        lastAnchoredSeq: { type: ['integer', 'null'] },
        problems: stringList,
      },
    },
    checkedAt: isoTime,
  },
} as const;
