/** Builders shared by the platform tests. */
import type { AlarmRecord } from '../../server/alarms/ledger.js';
import { T0 } from '../server/fixtures.js';

export function alarmRecord(overrides: Partial<AlarmRecord> = {}): AlarmRecord {
  return {
    alarmId: 'a-1',
    gatewayId: 'gw-01',
    enterpriseId: 'ent-01',
    ruleId: 'r',
    sensorId: 'GT-101',
    sensorName: null,
    installationId: null,
    location: null,
    gas: 'methane',
    level: 2,
    state: 'active',
    value: 52,
    unit: '%LEL',
    setpoint: 50,
    raisedAt: T0,
    clearedAt: null,
    drill: false,
    message: null,
    receivedAt: T0,
    ...overrides,
  };
}
