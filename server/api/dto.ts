/**
 * The JSON shapes of the HTTP API (the dashboard builds against exactly these)
 * with their response schemas, and the converters from the domain objects.
 * Times are ISO 8601 strings except reading timestamps (`ts`: epoch ms).
 */
import { ID_PATTERN, QUALITIES } from '../../protocol/index.js';
import type { AlarmRecord } from '../alarms/ledger.js';
import type { GatewayPresence } from '../gateways.js';
import type { LinkageDelivery } from '../linkage/emergency-notifier.js';
import { Errors } from './errors.js';
import type { FromSchema } from './typed.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** `T | null`; generic so the derived type keeps the literal (`string | null`, not any of the three). */
export const nullable = <T extends 'string' | 'number' | 'integer'>(type: T) =>
  ({ type: [type, 'null'] }) as const;
export const nullableString = nullable('string');
export const nullableNumber = nullable('number');
const readingValue = { type: ['number', 'boolean', 'string', 'null'] } as const;
const quality = { type: 'string', enum: QUALITIES } as const;

export function toAlarmDto(alarm: AlarmRecord): AlarmDto {
  return {
    id: alarm.alarmId,
    gatewayId: alarm.gatewayId,
    enterpriseId: alarm.enterpriseId,
    ruleId: alarm.ruleId,
    sensorId: alarm.sensorId,
    sensorName: alarm.sensorName,
    installationId: alarm.installationId,
    location: alarm.location,
    gas: alarm.gas,
    level: alarm.level,
    state: alarm.state,
    value: alarm.value,
    unit: alarm.unit,
    setpoint: alarm.setpoint,
    raisedAt: iso(alarm.raisedAt),
    clearedAt: iso(alarm.clearedAt),
    drill: alarm.drill,
  };
}

export const alarmSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id',
    'gatewayId',
    'enterpriseId',
    'ruleId',
    'sensorId',
    'sensorName',
    'installationId',
    'location',
    'gas',
    'level',
    'state',
    'value',
    'unit',
    'setpoint',
    'raisedAt',
    'clearedAt',
    'drill',
  ],
  properties: {
    id: { type: 'string' },
    gatewayId: { type: 'string' },
    enterpriseId: { type: 'string' },
    ruleId: { type: 'string' },
    sensorId: { type: 'string' },
    sensorName: nullable('string'),
    installationId: nullable('string'),
    location: nullable('string'),
    gas: nullable('string'),
    level: { type: 'integer', enum: [1, 2] },
    state: { type: 'string', enum: ['active', 'cleared'] },
    value: nullable('number'),
    unit: { type: 'string' },
    setpoint: { type: 'number' },
    raisedAt: { ...nullable('string'), format: 'date-time' },
    clearedAt: { ...nullable('string'), format: 'date-time' },
    drill: { type: 'boolean' },
  },
} as const;
export type AlarmDto = FromSchema<typeof alarmSchema>;

export function toGatewayDto(gateway: GatewayPresence): GatewayDto {
  return {
    gatewayId: gateway.gatewayId,
    enterpriseId: gateway.enterpriseId,
    state: gateway.state,
    lastSeen: iso(gateway.lastSeen),
    sensors: gateway.sensors.length,
  };
}

export const gatewaySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['gatewayId', 'enterpriseId', 'state', 'lastSeen', 'sensors'],
  properties: {
    gatewayId: { type: 'string' },
    enterpriseId: { type: 'string' },
    state: { type: 'string', enum: ['online', 'offline'] },
    lastSeen: { ...nullable('string'), format: 'date-time' },
    sensors: { type: 'integer', minimum: 0 },
  },
} as const;
export type GatewayDto = FromSchema<typeof gatewaySchema>;

export const sensorSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'gatewayId',
    'enterpriseId',
    'sensorId',
    'name',
    'kind',
    'unit',
    'value',
    'quality',
    'ts',
  ],
  properties: {
    gatewayId: { type: 'string' },
    enterpriseId: { type: 'string' },
    sensorId: { type: 'string' },
    name: { type: 'string' },
    kind: { type: 'string' },
    unit: { type: 'string' },
    gas: { type: 'string' },
    installationId: { type: 'string' },
    location: { type: 'string' },
    value: readingValue,
    quality,
    reason: { type: 'string' },
    ts: nullable('integer'),
  },
} as const;
export type SensorDto = FromSchema<typeof sensorSchema>;

export const readingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ts', 'value', 'quality'],
  properties: { ts: { type: 'integer' }, value: readingValue, quality },
} as const;

/** Readings as they travel on the live stream (protocol Reading). */
export const streamReadingSchema = {
  type: 'object',
  required: ['sensorId', 'value', 'quality', 'ts'],
  properties: {
    sensorId: { type: 'string' },
    value: readingValue,
    quality,
    reason: { type: 'string' },
    ts: { type: 'integer' },
  },
} as const;

export function toDeliveryDto(delivery: LinkageDelivery): DeliveryDto {
  return {
    notificationId: delivery.notificationId,
    enterpriseId: delivery.enterpriseId,
    gatewayId: delivery.gatewayId,
    alarmId: delivery.alarmId,
    centreId: delivery.centreId,
    centreName: delivery.centreName,
    state: delivery.state,
    attempts: delivery.attempts,
    lastStatus: delivery.lastStatus,
    lastError: delivery.lastError,
    createdAt: new Date(delivery.createdAt).toISOString(),
    nextAttemptAt: iso(delivery.nextAttemptAt),
    deliveredAt: iso(delivery.deliveredAt),
  };
}

export const deliverySchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'notificationId',
    'enterpriseId',
    'gatewayId',
    'alarmId',
    'centreId',
    'centreName',
    'state',
    'attempts',
    'lastStatus',
    'lastError',
    'createdAt',
    'nextAttemptAt',
    'deliveredAt',
  ],
  properties: {
    notificationId: { type: 'string' },
    enterpriseId: { type: 'string' },
    gatewayId: { type: 'string' },
    alarmId: { type: 'string' },
    centreId: { type: 'string' },
    centreName: nullable('string'),
    state: { type: 'string', enum: ['pending', 'delivered'] },
    attempts: { type: 'integer', minimum: 0 },
    lastStatus: nullable('integer'),
    lastError: nullable('string'),
    createdAt: { type: 'string', format: 'date-time' },
    nextAttemptAt: { ...nullable('string'), format: 'date-time' },
    deliveredAt: { ...nullable('string'), format: 'date-time' },
  },
} as const;
export type DeliveryDto = FromSchema<typeof deliverySchema>;

const count = { type: 'integer', minimum: 0 } as const;

export const healthSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'status',
    'gatewaysOnline',
    'gatewaysKnown',
    'newestTelemetryAgeMs',
    'ingest',
    'linkage',
    'uptimeS',
  ],
  properties: {
    status: { type: 'string', enum: ['ok'] },
    gatewaysOnline: count,
    gatewaysKnown: count,
    newestTelemetryAgeMs: nullable('integer'),
    ingest: {
      type: 'object',
      additionalProperties: false,
      required: ['batches', 'readings', 'alarmEvents', 'rejected'],
      properties: { batches: count, readings: count, alarmEvents: count, rejected: count },
    },
    linkage: {
      type: 'object',
      additionalProperties: false,
      required: ['pending', 'delivered'],
      properties: { pending: count, delivered: count },
    },
    uptimeS: { type: 'number', minimum: 0 },
  },
} as const;
export type HealthDto = FromSchema<typeof healthSchema>;

export const idParam = { type: 'string', pattern: ID_PATTERN } as const;

/** An alarm's identity in the path: /alarms/:enterpriseId/:gatewayId/:alarmId/... */
export const alarmParams = {
  type: 'object',
  required: ['enterpriseId', 'gatewayId', 'alarmId'],
  properties: {
    enterpriseId: idParam,
    gatewayId: idParam,
    alarmId: { type: 'string', minLength: 1, maxLength: 200 },
  },
} as const;

/** A principal's or an enterprise's jurisdiction (every level optional). */
export const jurisdictionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    province: { type: 'string' },
    city: { type: 'string' },
    county: { type: 'string' },
    park: { type: 'string' },
  },
} as const;

/**
 * A time in a query string: epoch ms or an ISO 8601 date; empty or absent gives `fallback`.
 * Anything else is a 400 naming the key (Errors.badTime).
 */
export function parseTime(key: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const ms = /^-?\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw Errors.badTime(key, value);
  return ms;
}
