/** `stuck`: milliseconds since the value last moved by more than the tolerance. */
import { fmt } from '../../conditions/shared.js';
import { defineSignal } from './behaviour.js';

export const stuckSignal = defineSignal({
  kind: 'stuck',
  code: 5,
  timed: true,
  init(limit, signal) {
    limit.windowMs = signal.tolerance;
  },
  onReading(limit, _sensor, _input, v, t) {
    if (Number.isNaN(v)) return Number.NaN;
    if (Number.isNaN(limit.ref) || Math.abs(v - limit.ref) > limit.windowMs) {
      limit.ref = v;
      limit.changedAt = t;
    }
    return t - limit.changedAt;
  },
  // no usable value yet: nothing to decide
  onTick: (limit, now) =>
    Number.isNaN(limit.ref) ? Number.NaN : Math.max(now - limit.changedAt, 0),
  raiseMessage: (spec, x) =>
    `${spec.sensorId}: value stuck for ${fmt(x / 1000)} s (level ${spec.level})`,
  clearMessage: (spec) =>
    `${spec.sensorId}: value moving again: ${spec.limitName} (level ${spec.level}) cleared`,
});
