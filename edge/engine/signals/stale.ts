/** `stale`: milliseconds since the sensor's last reading (no data). */
import { fmt } from '../../conditions/shared.js';
import { defineSignal } from './behaviour.js';

export const staleSignal = defineSignal({
  kind: 'stale',
  code: 3,
  timed: true,
  init() {},
  onReading: (_limit, _sensor, _input, _v, t, now) => Math.max(now - t, 0),
  onTick: (limit, now) => Math.max(now - limit.sensor.lastTs, 0),
  raiseMessage: (spec, x) =>
    `${spec.sensorId}: no data for ${fmt(x / 1000)} s (timeout ${fmt(spec.setpoint / 1000)} s) (level ${spec.level})`,
  clearMessage: (spec) =>
    `${spec.sensorId}: data again: ${spec.limitName} (level ${spec.level}) cleared`,
});
