/**
 * `stale`: milliseconds (engine time) since the sensor's last reading that counts as
 * data: any quality, but not a reading with a non-finite value or an implausible time.
 */
import { fmt } from '../../conditions/shared.js';
import { defineSignal } from './behaviour.js';

export const staleSignal = defineSignal({
  kind: 'stale',
  code: 3,
  timed: true,
  init() {},
  onReading: (_limit, sensor, _input, _v, _t, now) => Math.max(now - sensor.lastT, 0),
  onTick: (limit, now) => Math.max(now - limit.sensor.lastT, 0),
  raiseMessage: (spec, x) =>
    `${spec.sensorId}: no data for ${fmt(x / 1000)} s (timeout ${fmt(spec.setpoint / 1000)} s) (level ${spec.level})`,
  clearMessage: (spec) =>
    `${spec.sensorId}: data again: ${spec.limitName} (level ${spec.level}) cleared`,
});
