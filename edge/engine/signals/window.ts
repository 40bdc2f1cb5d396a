/** `window`: average, maximum or minimum of the values of a sliding window. */
import { fmt } from '../../conditions/shared.js';
import { SampleRing } from '../state.js';
import { defineSignal } from './behaviour.js';

export const windowSignal = defineSignal({
  kind: 'window',
  code: 2,
  init(limit, signal) {
    limit.ring = new SampleRing(signal.maxSamples);
    limit.windowMs = signal.windowMs;
    limit.param = signal.fn === 'average' ? 0 : signal.fn === 'max' ? 1 : 2;
  },
  onReading(limit, _sensor, _input, v, t) {
    if (Number.isNaN(v)) return Number.NaN;
    const ring = limit.ring!;
    ring.push(t, v, limit.windowMs);
    const fn = limit.param;
    if (fn === 0) return ring.sum / ring.size;
    return fn === 1 ? ring.max() : ring.min();
  },
  describe(spec) {
    const signal = spec.signal as { fn: string; windowMs: number };
    return ` ${signal.fn} over ${fmt(signal.windowMs / 1000)} s`;
  },
});
