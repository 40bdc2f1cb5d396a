/**
 * Checks on decoded gateway items that the protocol schema cannot make
 * because they depend on the server's clock: every timestamp must lie within
 * [now - maxAgeDays, now + maxClockAheadMs]. The schema already refuses
 * anything outside 2000..2100, NaN and infinities (not JSON numbers), wrong
 * types and oversized batches; this catches a clock ten years off inside that
 * range ("wrong clocks" is a common finding of provincial access inspections).
 *
 * The screen flags, it never refuses (issue 13 review): a rejection is
 * acknowledged as rejected and the gateway deletes the item from its outbox, so
 * a gateway whose RTC holds local time as UTC (+8 h in China) would never
 * deliver a gas alarm. Ingest stores the item with the timestamps it was sent
 * with (the alarm ledger keeps the server's receivedAt beside them), pages as
 * usual, and counts and audits the verdict as a suspect timestamp. This holds
 * for telemetry too: a refused batch is deleted at the gateway just the same,
 * and losing every reading of a gateway with a wrong clock is worse than
 * storing them at the time its clock gave. Truly malformed items (schema,
 * 2000..2100, types) are still rejected by the protocol schema, before this.
 */
import type { Clock } from '../../common/clock.js';
import type { AlarmEvent, GatewayStatus, TelemetryBatch } from '../../protocol/index.js';

export const PLAUSIBILITY_DEFAULTS = {
  maxClockAheadMs: 60 * 60_000, // 1 h: a source clock further ahead is wrong (flagged, not refused)
  maxAgeDays: 1_826, // 5 years: far older than any outage an outbox rides out, yet a clock years off is caught
} as const;

export interface PlausibilityConfig {
  readonly maxClockAheadMs: number;
  readonly maxAgeDays: number;
}

export const plausibilityConfigSchema = {
  title: 'Plausible timestamps',
  description:
    'Items with a timestamp outside [now - maxAgeDays, now + maxClockAheadMs] are stored, and flagged as suspect (counted and audited).',
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    maxClockAheadMs: {
      title: 'How far a timestamp may be ahead of the server clock (ms)',
      type: 'integer',
      minimum: 0,
      default: PLAUSIBILITY_DEFAULTS.maxClockAheadMs,
    },
    maxAgeDays: {
      title: 'How old a timestamp may be (days)',
      type: 'integer',
      minimum: 1,
      default: PLAUSIBILITY_DEFAULTS.maxAgeDays,
    },
  },
} as const;

type Item = TelemetryBatch | AlarmEvent | GatewayStatus;

const DAY_MS = 86_400_000;

function describeOffset(ms: number): string {
  const abs = Math.abs(ms);
  const text =
    abs >= 2 * 365 * DAY_MS
      ? `${Math.round(abs / (365.25 * DAY_MS))} years`
      : abs >= 2 * DAY_MS
        ? `${Math.round(abs / DAY_MS)} days`
        : `${Math.round(abs / 60_000)} min`;
  return ms > 0 ? `${text} ahead of` : `${text} behind`;
}

/** A screen for ingest: returns why an item's timestamps are suspect, or null (never a refusal). */
export function timestampScreen(
  clock: Clock,
  config: Partial<PlausibilityConfig> = {},
): (item: Item) => string | null {
  const ahead = config.maxClockAheadMs ?? PLAUSIBILITY_DEFAULTS.maxClockAheadMs;
  const ageMs = (config.maxAgeDays ?? PLAUSIBILITY_DEFAULTS.maxAgeDays) * DAY_MS;
  return (item) => {
    const now = clock.now();
    const check = (path: string, ts: number): string | null => {
      const offset = ts - now;
      if (offset > ahead || offset < -ageMs) {
        return `${path} ${new Date(ts).toISOString()} is ${describeOffset(offset)} the server clock (allowed: ${Math.round(ageMs / DAY_MS)} days behind to ${Math.round(ahead / 60_000)} min ahead)`;
      }
      return null;
    };
    if ('readings' in item) {
      const sent = check('/sentAt', item.sentAt);
      if (sent) return sent;
      for (let i = 0; i < item.readings.length; i++) {
        const refused = check(`/readings/${i}/ts`, item.readings[i]!.ts);
        if (refused) return refused;
      }
      return null;
    }
    if ('alarmId' in item) return check('/sentAt', item.sentAt) ?? check('/ts', item.ts);
    return check('/ts', item.ts);
  };
}
