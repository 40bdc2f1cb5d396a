/**
 * The birth message's sensor catalogue, with the value limits the gateway's rules apply to
 * each sensor: the server then knows every setpoint and deadband before the first alarm (the
 * supervision's GB/T 50493 setpoint screening and the workbench's trend lines need them).
 * Only limits on the sensor's own value count (not rate, stale, vote or internal limits).
 */
import type { CompiledRuleSet } from '../edge/index.js';
import {
  MAX_ALARM_LIMITS_PER_SENSOR,
  type SensorAlarmLimit,
  type SensorInfo,
} from '../protocol/index.js';

export function withAlarmLimits(
  sensors: readonly SensorInfo[],
  compiled: CompiledRuleSet,
): SensorInfo[] {
  return sensors.map((sensor) => {
    const limits: SensorAlarmLimit[] = (compiled.limitsBySensor.get(sensor.sensorId) ?? [])
      .filter((l) => !l.hidden && l.signal.kind === 'value' && l.inputs[0] === sensor.sensorId)
      .slice(0, MAX_ALARM_LIMITS_PER_SENSOR)
      .map((l) => ({
        ruleId: l.ruleId,
        name: l.limitName,
        level: l.level,
        direction: l.direction,
        setpoint: l.setpoint,
        deadband: l.deadband,
      }));
    return limits.length > 0 ? { ...sensor, alarmLimits: limits } : sensor;
  });
}
