/**
 * The fleet as the platform shows it: per gateway its enrolment, the version it should run
 * and the one it runs, the last outcome of a push (with every error), its latest health,
 * and four flags: behind, full, skewed, out of date (plus stale: no health for a while).
 */
import type { FleetConfigStatus, FleetHealth } from '../../protocol/index.js';
import type { EnrolledGateway } from './fleet-store.js';

export const FLEET_VIEW_DEFAULTS = {
  // Our choices (no standard clause sets them); each is a flag for attention, not an alarm.
  behindAgeMs: 5 * 60_000, // 5 min: the oldest outbox item is older than this
  fullPct: 80, // % of the outbox bound, the outbox's own high-water default
  diskLowBytes: 100 * 1024 * 1024, // 100 MiB free on the data folder's file system
  // Wrong clocks are a common inspection finding (provincial access rules, BRIEF); no clause
  // names a tolerance we could check, so 30 s: well above NTP's error, well below an alarm's
  // on-delay granularity that operators would notice in a timeline.
  skewLimitMs: 30_000,
  staleAfterIntervals: 3, // no health for 3 intervals: the view says stale
} as const;

export interface GatewayHealthRecord {
  health: FleetHealth;
  receivedAt: number;
  /** Gateway clock minus server clock at receipt (transit time included, ms). */
  clockOffsetMs: number;
}

export interface FleetGatewayView {
  gatewayId: string;
  enterpriseId: string;
  enrolledAt: number;
  revoked: boolean;
  desiredVersion: number | null;
  runningVersion: number | null;
  lastStatus: FleetConfigStatus | null;
  health: (FleetHealth & { receivedAt: number; clockOffsetMs: number }) | null;
  flags: {
    behind: boolean;
    full: boolean;
    skewed: boolean;
    outOfDate: boolean;
    stale: boolean;
    drift: boolean;
  };
  /** Each raised flag in words, for the operator. */
  reasons: string[];
}

export function viewOf(
  gateway: EnrolledGateway,
  desiredVersion: number | null,
  status: FleetConfigStatus | undefined,
  record: GatewayHealthRecord | undefined,
  now: number,
  limits: typeof FLEET_VIEW_DEFAULTS = FLEET_VIEW_DEFAULTS,
): FleetGatewayView {
  const h = record?.health;
  const reasons: string[] = [];
  const behind = h !== undefined && h.outbox.oldestAgeMs > limits.behindAgeMs;
  if (behind)
    reasons.push(`behind: oldest outbox item ${Math.round(h.outbox.oldestAgeMs / 1000)} s old`);
  const diskLow = h?.diskFreeBytes != null && h.diskFreeBytes < limits.diskLowBytes;
  const full = h !== undefined && (h.outbox.fillPct >= limits.fullPct || diskLow);
  if (full)
    reasons.push(
      `full: outbox ${h.outbox.fillPct} % of its bound${diskLow ? `, ${h.diskFreeBytes} bytes free on disk` : ''}`,
    );
  const skewed = record !== undefined && Math.abs(record.clockOffsetMs) > limits.skewLimitMs;
  if (skewed)
    reasons.push(`skewed: clock ${Math.round(record.clockOffsetMs / 1000)} s off the server`);
  // The newer of the two reports says what runs (a health sample may predate an apply).
  const runningVersion =
    h !== undefined && (status === undefined || h.ts >= status.ts)
      ? h.versions.config
      : (status?.runningVersion ?? null);
  const outOfDate = desiredVersion !== null && runningVersion !== desiredVersion;
  if (outOfDate)
    reasons.push(
      `out of date: runs version ${runningVersion ?? 'none'}, version ${desiredVersion} was pushed${status && status.version === desiredVersion && status.state !== 'applied' ? ` (${status.state}: ${status.errors[0] ?? ''})` : ''}`,
    );
  const stale =
    record !== undefined &&
    now - record.receivedAt > limits.staleAfterIntervals * record.health.intervalMs;
  if (stale) reasons.push(`stale: no health since ${new Date(record.receivedAt).toISOString()}`);
  const drift = (h?.drift.length ?? 0) > 0;
  if (drift) reasons.push(`drift: edited on the box: ${h?.drift.join(', ')}`);
  return {
    gatewayId: gateway.gatewayId,
    enterpriseId: gateway.enterpriseId,
    enrolledAt: gateway.enrolledAt,
    revoked: gateway.revokedAt !== null,
    desiredVersion,
    runningVersion,
    lastStatus: status ?? null,
    health: record
      ? { ...record.health, receivedAt: record.receivedAt, clockOffsetMs: record.clockOffsetMs }
      : null,
    flags: { behind, full, skewed, outOfDate, stale, drift },
    reasons,
  };
}
