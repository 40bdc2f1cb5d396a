/**
 * Emergency linkage webhook contract (server → emergency centre), documented in
 * docs/protocol.md. An emergency centre verifies:
 *   signature = hex(HMAC-SHA256(sharedSecret, `${timestampHeader}.${rawBody}`))
 *   header X-HazardWatch-Signature: `sha256=${signature}`
 * and rejects a timestamp older than its replay window (we suggest 5 min).
 * Deliveries are retried until a 2xx; X-HazardWatch-Delivery is stable across
 * retries so the centre can drop duplicates.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const LINKAGE_VERSION = 1 as const;
export const SIGNATURE_HEADER = 'x-hazardwatch-signature';
export const TIMESTAMP_HEADER = 'x-hazardwatch-timestamp';
export const DELIVERY_HEADER = 'x-hazardwatch-delivery';

/** What a dispatcher needs to act, in one message. */
export interface EmergencyNotification {
  v: typeof LINKAGE_VERSION;
  /** Stable across retries and redeliveries: one notification per alarm and centre. */
  notificationId: string;
  alarmId: string;
  enterpriseId: string;
  enterpriseName?: string;
  gatewayId: string;
  installationId?: string;
  sensorId: string;
  sensorName?: string;
  location?: string;
  gas?: string;
  level: 1 | 2;
  value: number | null;
  unit: string;
  setpoint: number;
  /** ISO 8601 time the alarm was raised at the edge. */
  raisedAt: string;
  drill: boolean;
  message: string;
}

export function signLinkage(secret: string, timestamp: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

export function verifyLinkage(
  secret: string,
  timestamp: string,
  rawBody: string,
  signature: string,
): boolean {
  const expected = Buffer.from(signLinkage(secret, timestamp, rawBody));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
