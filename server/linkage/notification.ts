/**
 * The one EmergencyNotification builder, shared by every linkage channel
 * (signed webhooks, the MQTT emergency topic), so a dispatcher reads the same
 * fields and the same message whichever way the alarm reached the centre.
 */
import { type EmergencyNotification, LINKAGE_VERSION } from '../../protocol/index.js';
import type { AlarmRecord } from '../alarms/ledger.js';

/** "methane level-2 alarm at Reactor hall, east wall (GT-101): 52.4 %LEL, setpoint 40 %LEL" */
export function defaultNotificationMessage(alarm: AlarmRecord): string {
  const what = alarm.gas ? `${alarm.gas} level-${alarm.level} alarm` : `level-${alarm.level} alarm`;
  const where = alarm.location ?? alarm.installationId ?? alarm.gatewayId;
  const sensor = alarm.sensorName ?? alarm.sensorId;
  return `${what} at ${where} (${sensor}): ${alarm.value ?? 'no value'} ${alarm.unit}, setpoint ${alarm.setpoint} ${alarm.unit}`;
}

export function buildNotification(
  alarm: AlarmRecord,
  notificationId: string,
  enterpriseName: string | undefined,
): EmergencyNotification {
  const notification: EmergencyNotification = {
    v: LINKAGE_VERSION,
    notificationId,
    alarmId: alarm.alarmId,
    enterpriseId: alarm.enterpriseId,
    gatewayId: alarm.gatewayId,
    sensorId: alarm.sensorId,
    level: alarm.level,
    value: alarm.value,
    unit: alarm.unit,
    setpoint: alarm.setpoint,
    raisedAt: new Date(alarm.raisedAt ?? alarm.receivedAt).toISOString(),
    drill: alarm.drill,
    message: alarm.message ?? defaultNotificationMessage(alarm),
  };
  if (enterpriseName !== undefined) notification.enterpriseName = enterpriseName;
  if (alarm.installationId !== null) notification.installationId = alarm.installationId;
  if (alarm.sensorName !== null) notification.sensorName = alarm.sensorName;
  if (alarm.location !== null) notification.location = alarm.location;
  if (alarm.gas !== null) notification.gas = alarm.gas;
  return notification;
}
