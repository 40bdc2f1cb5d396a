/** `rate`: change of the value per unit of time over a sliding window (rate of rise / fall). */
import { SampleRing } from '../state.js';
import { defineSignal } from './behaviour.js';

/** Samples kept per limit: enough for one reading a second over a 10 min window. */
const RATE_SAMPLES = 600;

export const rateSignal = defineSignal({
  kind: 'rate',
  code: 1,
  init(limit, signal) {
    limit.ring = new SampleRing(RATE_SAMPLES);
    limit.windowMs = signal.windowMs;
    limit.param = signal.perMs;
  },
  onReading(limit, _sensor, _input, v, t) {
    if (Number.isNaN(v)) return Number.NaN;
    const ring = limit.ring!;
    const windowMs = limit.windowMs;
    ring.push(t, v, windowMs);
    const span = t - ring.oldestTs();
    if (span < windowMs / 2) return Number.NaN; // not enough history yet
    return ((v - ring.oldestValue()) / span) * limit.param;
  },
  describe: () => ' rate of change',
});
