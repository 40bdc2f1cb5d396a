/** `all`: 1 while every term of a combination holds (sensors beyond values, alarms active). */
import { setFlag } from '../state.js';
import { defineSignal } from './behaviour.js';

export const allSignal = defineSignal({
  kind: 'all',
  code: 7,
  init(limit, signal) {
    const n = signal.terms.length;
    limit.flags = new Uint8Array(n);
    const above = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    const below = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
    for (let i = 0; i < n; i++) {
      const term = signal.terms[i] as { above?: number; below?: number };
      if (term.above !== undefined) above[i] = term.above;
      if (term.below !== undefined) below[i] = term.below;
    }
    limit.termAbove = above;
    limit.termBelow = below;
  },
  onReading(limit, _sensor, input, v) {
    if (Number.isNaN(v)) return !Number.isNaN(limit.x) ? limit.x : 0;
    const holds = v > limit.termAbove![input]! && v < limit.termBelow![input]! ? 1 : 0;
    setFlag(limit, input, holds);
    return limit.flagCount === limit.flags!.length ? 1 : 0;
  },
  raiseMessage: (spec) => {
    const terms = (spec.signal as { terms: readonly unknown[] }).terms;
    return `${spec.ruleId}: all ${terms.length} conditions hold (level ${spec.level})`;
  },
  clearMessage: (spec) => `${spec.ruleId}: ${spec.limitName} (level ${spec.level}) cleared`,
});
