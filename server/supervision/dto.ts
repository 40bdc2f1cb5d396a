/** Shapes the supervision API answers with, and their JSON Schemas (server/api/supervision-routes.ts). */

import { nullableString } from '../api/dto.js';
import type { Hazard, HazardEvent } from './hazard-chain.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function toHazardDto(h: Hazard) {
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

export function toHazardEventDto(e: HazardEvent) {
  return {
    seq: e.seq,
    hazardId: e.hazardId,
    action: e.action,
    actor: e.actor,
    detail: e.detail,
    at: new Date(e.at).toISOString(),
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

export const standardItemSchema = {
  type: 'object',
  required: ['standard', 'number', 'text', 'checked'],
  properties: {
    standard: { type: 'string', minLength: 1, maxLength: 300 },
    number: { type: ['string', 'null'], maxLength: 40 },
    text: { type: 'string', minLength: 1, maxLength: 1000 },
    checked: { type: 'boolean' },
  },
} as const;

export const hazardSchema = {
  type: 'object',
  required: ['hazardId', 'enterpriseId', 'kind', 'severity', 'status', 'deadline', 'openedAt'],
  properties: {
    hazardId: { type: 'string' },
    enterpriseId: { type: 'string' },
    installationId: nullableString,
    kind: { type: 'string', enum: ['accident', 'alarm-management', 'data-quality'] },
    severity: { type: 'string', enum: ['general', 'major'] },
    title: { type: 'string' },
    item: standardItemSchema,
    source: { type: 'string', enum: ['screening', 'inspection', 'self-report'] },
    foundBy: { type: 'string' },
    ruleId: nullableString,
    subject: nullableString,
    evidenceCount: { type: 'integer' },
    conditionActive: { type: 'boolean' },
    conditionClearedAt: nullableString,
    responsible: nullableString,
    plan: nullableString,
    deadline: { type: 'string' },
    rectifiedAt: nullableString,
    rectifiedBy: nullableString,
    rectificationEvidence: nullableString,
    verifiedAt: nullableString,
    verifiedBy: nullableString,
    verification: nullableString,
    status: { type: 'string', enum: ['open', 'rectifying', 'rectified', 'closed'] },
    closedAt: nullableString,
    listingLevel: { type: 'integer', minimum: 0, maximum: 3 },
    listedAt: nullableString,
    openedAt: { type: 'string' },
  },
} as const;

export const hazardEventSchema = {
  type: 'object',
  required: ['seq', 'hazardId', 'action', 'actor', 'detail', 'at', 'prevHash', 'hash'],
  properties: {
    seq: { type: 'integer' },
    hazardId: { type: 'string' },
    action: { type: 'string' },
    actor: { type: 'string' },
    detail: { type: 'object', additionalProperties: true },
    at: { type: 'string' },
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
} as const;

const figures = {
  type: 'object',
  properties: {
    found: { type: 'integer' },
    rectified: { type: 'integer' },
    rectifiedOnTime: { type: 'integer' },
    open: { type: 'integer' },
    overdue: { type: 'integer' },
    listed: { type: 'integer' },
    major: { type: 'integer' },
    byListingLevel: { type: 'object', additionalProperties: { type: 'integer' } },
  },
} as const;

const qualitySummary = {
  type: 'object',
  additionalProperties: { type: ['number', 'null'] },
} as const;

export const reportSchema = {
  type: 'object',
  required: ['from', 'to', 'total', 'byKind', 'byRegion', 'dataQuality'],
  properties: {
    from: { type: 'string' },
    to: { type: 'string' },
    total: figures,
    byKind: { type: 'object', additionalProperties: figures },
    byRegion: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, figures, dataQuality: qualitySummary },
      },
    },
    dataQuality: qualitySummary,
  },
} as const;

export const dataQualitySchema = {
  type: 'object',
  required: ['at', 'total', 'enterprises', 'outages'],
  properties: {
    at: { type: 'string' },
    total: qualitySummary,
    enterprises: {
      type: 'array',
      items: {
        type: 'object',
        properties: { enterpriseId: { type: 'string' }, summary: qualitySummary },
      },
    },
    outages: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          enterpriseId: { type: 'string' },
          gatewayId: { type: 'string' },
          startedAt: { type: 'string' },
          endedAt: nullableString,
          points: { type: 'integer' },
        },
      },
    },
    points: { type: 'array', items: { type: 'object', additionalProperties: true } },
  },
} as const;
