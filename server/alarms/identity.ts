/**
 * Alarm identity on the server: (enterprise, gateway, alarm id). An alarm id is unique only
 * within the gateway that made it (ids such as `rule.L2.<ts>` are predictable), so every table,
 * map and route that addresses an alarm uses all three parts. Issue 13: a gateway of one
 * enterprise that published another plant's next alarm id first made the server reject that
 * plant's real alarm; with the full identity the two can never meet.
 */

/** Who an alarm belongs to and which of its occurrences it is. */
export interface AlarmKey {
  enterpriseId: string;
  gatewayId: string;
  alarmId: string;
}

/** The identity part of anything that carries one (records, events, dispositions). */
export function alarmKeyOf(value: AlarmKey): AlarmKey {
  return { enterpriseId: value.enterpriseId, gatewayId: value.gatewayId, alarmId: value.alarmId };
}

/**
 * One string per identity, for in-memory maps and hashing. NUL never occurs in ids (the protocol
 * schemas refuse control characters in enterprise and gateway ids), so the parts cannot run into
 * each other.
 */
export function alarmKeyString(key: AlarmKey): string {
  return `${key.enterpriseId}\u0000${key.gatewayId}\u0000${key.alarmId}`;
}

export function sameAlarm(a: AlarmKey, b: AlarmKey): boolean {
  return (
    a.enterpriseId === b.enterpriseId && a.gatewayId === b.gatewayId && a.alarmId === b.alarmId
  );
}

/** `ent-a/gw-1/rule.L2.1700000000000` for logs and error messages. */
export function describeAlarm(key: AlarmKey): string {
  return `${key.enterpriseId}/${key.gatewayId}/${key.alarmId}`;
}
