/**
 * Alarm-system performance (ISA-18.2 §16 / EEMUA 191): flood detection with its
 * first-out alarm, chattering, and the KPIs of kpis(). Times are engine times (ms).
 */
import { createLogger } from '../../common/logger.js';
import { type LimitState, SHELVE_NONE } from './state.js';
import { ALARM_MANAGEMENT, type AlarmKpis } from './types.js';

/** The KPIs this tracker computes (the engine adds its reading counters). */
export type AlarmSystemKpis = Omit<
  AlarmKpis,
  'outOfOrderReadings' | 'clockFaultReadings' | 'nonFiniteReadings' | 'clockSteps'
>;

/** Index into a ring of `n` for any integer, negative ones included (engine times can be). */
const ringIndex = (i: number, n: number) => ((i % n) + n) % n;

const log = createLogger('edge.engine');

/** Flood and rate bookkeeping of one engine; fed one call per raise. */
export class KpiTracker {
  totalRaised = 0;
  flood = false;
  firstOut = '';
  private readonly recentTs = new Float64Array(ALARM_MANAGEMENT.floodOnsetCount);
  private readonly recentIds: string[] = new Array(ALARM_MANAGEMENT.floodOnsetCount).fill('');
  private recentHead = 0;
  private recentSize = 0;
  private floodStartedAt = 0;
  private floodTotalMs = 0;
  private floods = 0;
  private readonly buckets = new Int32Array(
    ALARM_MANAGEMENT.floodWindowMs / ALARM_MANAGEMENT.kpiBucketMs,
  );
  private bucketEpoch: number;

  /** `startedAt`: engine (monotonic) time the engine started; every time here is engine time. */
  constructor(private readonly startedAt: number) {
    this.bucketEpoch = Math.floor(startedAt / ALARM_MANAGEMENT.kpiBucketMs);
  }

  /** Counts a raise at `t`; starts a flood when more than 10 fall within 10 min. */
  noteRaise(alarmId: string, t: number): void {
    const m = ALARM_MANAGEMENT;
    this.totalRaised++;
    this.rollBuckets(t);
    const bucket = ringIndex(Math.floor(t / m.kpiBucketMs), this.buckets.length);
    this.buckets[bucket]!++;
    const n = m.floodOnsetCount;
    const at = (this.recentHead + this.recentSize) % n;
    if (this.recentSize === n) this.recentHead = (this.recentHead + 1) % n;
    else this.recentSize++;
    this.recentTs[at] = t;
    this.recentIds[at] = alarmId;
    this.checkFloodEnd(t);
    if (
      !this.flood &&
      this.recentSize === n &&
      t - this.recentTs[this.recentHead]! <= m.floodWindowMs
    ) {
      this.flood = true;
      this.floods++;
      this.floodStartedAt = this.recentTs[this.recentHead]!;
      this.firstOut = this.recentIds[this.recentHead]!;
      log.warn({ firstOut: this.firstOut }, 'alarm flood: more than 10 alarms in 10 minutes');
    }
  }

  checkFloodEnd(now: number): void {
    if (!this.flood) return;
    const m = ALARM_MANAGEMENT;
    // Fewer than floodEndCount raises in the window: the floodEndCount-th newest is older.
    const n = m.floodOnsetCount;
    const idx = (this.recentHead + this.recentSize - m.floodEndCount + n) % n;
    if (this.recentSize >= m.floodEndCount && now - this.recentTs[idx]! <= m.floodWindowMs) return;
    this.flood = false;
    const endedAt = this.recentTs[idx]! + m.floodWindowMs;
    this.floodTotalMs += Math.max(0, Math.min(now, endedAt) - this.floodStartedAt);
    log.info({ firstOut: this.firstOut }, 'alarm flood ended');
  }

  private rollBuckets(t: number): void {
    const size = ALARM_MANAGEMENT.kpiBucketMs;
    const epoch = Math.floor(t / size);
    if (epoch <= this.bucketEpoch) return;
    const n = this.buckets.length;
    const steps = Math.min(n, epoch - this.bucketEpoch);
    for (let i = 1; i <= steps; i++) this.buckets[ringIndex(this.bucketEpoch + i, n)] = 0;
    this.bucketEpoch = epoch;
  }

  /** KPIs at `now` over `limits`. */
  kpis(limits: readonly LimitState[], now: number): AlarmSystemKpis {
    this.checkFloodEnd(now);
    this.rollBuckets(now);
    let last10 = 0;
    for (let i = 0; i < this.buckets.length; i++) last10 += this.buckets[i]!;
    let chattering = 0;
    let stale = 0;
    let active = 0;
    let unack = 0;
    let shelved = 0;
    let suppressed = 0;
    let oos = 0;
    for (const limit of limits) {
      if (limit.spec.hidden) continue;
      if (
        limit.r3 - limit.r1 <= ALARM_MANAGEMENT.chatterWindowMs &&
        now - limit.r3 <= ALARM_MANAGEMENT.floodWindowMs
      ) {
        chattering++;
      }
      if (limit.active) {
        active++;
        if (now - limit.raisedT > ALARM_MANAGEMENT.staleAlarmMs) stale++;
      }
      if (limit.open && !limit.acked) unack++;
      if (limit.shelve !== SHELVE_NONE) shelved++;
      if (limit.suppressed) suppressed++;
      if (limit.outOfService) oos++;
    }
    const elapsed = Math.max(1, now - this.startedAt);
    const inFlood = this.floodTotalMs + (this.flood ? now - this.floodStartedAt : 0);
    return {
      alarmsLast10Min: last10,
      alarmsPer10MinAverage:
        Math.round(
          (this.totalRaised / Math.max(1, elapsed / ALARM_MANAGEMENT.floodWindowMs)) * 100,
        ) / 100,
      totalRaised: this.totalRaised,
      floodActive: this.flood,
      floods: this.floods,
      timeInFloodMs: inFlood,
      timeInFloodRatio: Math.min(1, inFlood / elapsed),
      firstOut: this.firstOut === '' ? undefined : this.firstOut,
      chatteringAlarms: chattering,
      staleAlarms: stale,
      activeAlarms: active,
      unacknowledged: unack,
      shelved,
      suppressed,
      outOfService: oos,
    };
  }
}
