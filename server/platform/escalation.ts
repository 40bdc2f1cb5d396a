/**
 * Escalation: an alarm not acknowledged in time, or acknowledged but not disposed (closed) in
 * time, escalates from the enterprise to the county, city and province regulators (provincial
 * access rules split duties across these levels). Deadlines count from when the server first heard of the alarm (Disposition.openedAt); each level is
 * notified once: the disposal ledger records one 'escalated' row per level (never twice, also
 * across restarts) and `onEscalated` runs once per row.
 *
 * Drill alarms never escalate (they never page anyone).
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { DisposalEvent, DisposalLedger, Disposition } from '../alarms/disposal.js';
import { describeAlarm } from '../alarms/identity.js';

const log = createLogger('server.escalation');

export const ESCALATION_DEFAULTS = {
  tickMs: 1_000, // 1 s between checks
} as const;

export interface EscalationOptions {
  disposal: Pick<DisposalLedger, 'unclosed' | 'escalate'>;
  /** ms after the alarm reached the server: [county, city, province] while unacknowledged. */
  acknowledgeWithinMs: readonly number[];
  /** ms after the alarm reached the server: [county, city, province] while acknowledged but not closed. */
  disposeWithinMs: readonly number[];
  tickMs?: number;
  clock?: Clock;
  onEscalated?: (event: DisposalEvent) => void;
}

/** The level (0 enterprise … 3 province) a disposition should have reached at `now`. */
export function dueLevel(
  d: Pick<Disposition, 'status' | 'openedAt'>,
  now: number,
  acknowledgeWithinMs: readonly number[],
  disposeWithinMs: readonly number[],
): number {
  if (d.status === 'closed') return 0;
  const deadlines = d.status === 'open' ? acknowledgeWithinMs : disposeWithinMs;
  const age = now - d.openedAt;
  let level = 0;
  for (const deadline of deadlines) if (age >= deadline) level++;
  return level;
}

/**
 * Lifecycle: `start()` runs `tick()` every `tickMs` (timer unref'd); `stop()` clears it (safe
 * twice). `tick()` may also be called directly (tests with a ManualClock do).
 */
export class Escalator {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly clock: Clock;

  constructor(private readonly options: EscalationOptions) {
    this.clock = options.clock ?? systemClock;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // A check still running (a slow database) is not overlapped by the next.
      if (this.running) return;
      this.running = true;
      this.tick()
        .catch((err: unknown) => log.error({ err }, 'escalation check failed'))
        .finally(() => {
          this.running = false;
        });
    }, this.options.tickMs ?? ESCALATION_DEFAULTS.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Escalates every overdue alarm; returns the rows appended. Several nodes may run it at once:
   * the ledger appends each level once (read under the chain lock), and only the node whose
   * row it was calls `onEscalated`.
   */
  async tick(): Promise<DisposalEvent[]> {
    const now = this.clock.now();
    const appended: DisposalEvent[] = [];
    for (const d of await this.options.disposal.unclosed()) {
      if (d.drill) continue;
      const due = dueLevel(d, now, this.options.acknowledgeWithinMs, this.options.disposeWithinMs);
      if (due <= d.escalationLevel) continue;
      const reason = d.status === 'open' ? 'not acknowledged' : 'not disposed';
      const rows = await this.options.disposal.escalate(d, due, reason);
      for (const row of rows) {
        log.warn({ alarm: describeAlarm(d), to: row.detail.to, reason }, 'alarm escalated');
        appended.push(row);
        this.options.onEscalated?.(row);
      }
    }
    return appended;
  }
}
