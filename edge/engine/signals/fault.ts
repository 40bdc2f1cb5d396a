/** `fault`: 1 while the sensor's quality is bad (NAMUR NE 43 faults, or every other reason). */
import { NE43_REASON_PREFIX } from '../../conditions/fault.js';
import { defineSignal } from './behaviour.js';

export const faultSignal = defineSignal({
  kind: 'fault',
  code: 4,
  init(limit, signal) {
    limit.flag = signal.ne43;
  },
  onReading(limit, sensor) {
    if (sensor.quality !== 'bad') return 0;
    const ne43 = sensor.reason.startsWith(NE43_REASON_PREFIX);
    return ne43 === limit.flag ? 1 : 0;
  },
  raiseMessage: (spec) =>
    (spec.signal as { ne43: boolean }).ne43
      ? `${spec.sensorId}: sensor fault (NAMUR NE 43 loop current out of range) (level ${spec.level})`
      : `${spec.sensorId}: bad quality (level ${spec.level})`,
  clearMessage: (spec) =>
    `${spec.sensorId}: quality good again: ${spec.limitName} (level ${spec.level}) cleared`,
});
