/**
 * One row per table as the stores write them today (values taken from what ledger.ts,
 * disposal-store.ts, emergency-notifier.ts, mqtt-linkage.ts, registry.ts, access.ts and the
 * audit log produce): nulls where the stores allow them, epoch milliseconds, measured doubles,
 * Chinese names, JSON text.
 */
import type { Insertable } from 'kysely';
import type { PlatformSchema } from '../../../server/db/schema.js';

const T0 = Date.UTC(2026, 11, 7, 8, 30, 0, 123); // epoch ms, past 2^31 as every timestamp is

type Rows = { [K in keyof PlatformSchema]: Insertable<PlatformSchema[K]>[] };

export const STORE_ROWS: Rows = {
  alarms: [
    {
      alarm_id: 'GT-101:L2',
      gateway_id: 'gw-01',
      enterprise_id: 'ent-001',
      rule_id: 'gas-GT-101',
      sensor_id: 'GT-101',
      sensor_name: '可燃气体探测器 GT-101',
      installation_id: 'tank-farm-1',
      location: '罐区 A',
      gas: 'methane',
      level: 2,
      state: 'active',
      value: 52.75,
      unit: '%LEL',
      setpoint: 50, // GB/T 50493-2019 §5.5.3: level-2 combustible setpoint <= 50 %LEL
      raised_at: T0,
      cleared_at: null,
      drill: 0,
      message: null,
      received_at: T0 + 41,
    },
    {
      alarm_id: 'O2-7:LO',
      gateway_id: 'gw-01',
      enterprise_id: 'ent-001',
      rule_id: 'o2',
      sensor_id: 'O2-7',
      sensor_name: null,
      installation_id: null,
      location: null,
      gas: null,
      level: 1,
      state: 'cleared',
      value: null,
      unit: '%VOL',
      setpoint: 19.5, // GB/T 50493-2019: oxygen deficiency 19.5 %VOL
      raised_at: null,
      cleared_at: T0 + 60_000,
      drill: 1,
      message: 'drill',
      received_at: T0 + 60_050,
    },
  ],
  alarm_events: [
    {
      alarm_id: 'GT-101:L2',
      transition: 'raised',
      gateway_id: 'gw-01',
      enterprise_id: 'ent-001',
      seq: 9_007_199_254, // gateway sequence numbers grow for years
      ts: T0,
      sent_at: T0 + 3,
      received_at: T0 + 41,
      level: 2,
      value: 52.75,
      drill: 0,
      payload: '{"alarmId":"GT-101:L2","value":52.75}',
    },
  ],
  disposal_events: [
    {
      enterprise_id: 'ent-001',
      gateway_id: 'gw-01',
      alarm_id: 'GT-101:L2',
      action: 'acknowledged',
      actor: 'zhang.san',
      detail: '{"note":"现场确认"}',
      at: T0 + 90_000,
      prev_hash: '0'.repeat(64),
      hash: 'a'.repeat(64),
    },
  ],
  alarm_dispositions: [
    {
      enterprise_id: 'ent-001',
      gateway_id: 'gw-01',
      alarm_id: 'GT-101:L2',
      level: 2,
      drill: 0,
      status: 'acknowledged',
      opened_at: T0 + 41,
      acknowledged_at: T0 + 90_000,
      acknowledged_by: 'zhang.san',
      assignee: null,
      measures: 0,
      closed_at: null,
      closed_by: null,
      escalation_level: 1,
    },
  ],
  linkage_deliveries: [
    {
      notification_id: 'ntf-0123456789abcdef0123456789abcdef',
      enterprise_id: 'ent-001',
      gateway_id: 'gw-01',
      alarm_id: 'GT-101:L2',
      centre_id: 'county-119',
      body: '{"notificationId":"ntf-0123456789abcdef0123456789abcdef","level":2}',
      state: 'pending',
      attempts: 3,
      last_status: 503,
      last_error: 'HTTP 503',
      created_at: T0 + 42,
      next_attempt_at: T0 + 8_042,
      delivered_at: null,
    },
  ],
  linkage_mqtt: [
    {
      notification_id: 'ntf-fedcba9876543210fedcba9876543210',
      enterprise_id: 'ent-001',
      gateway_id: 'gw-01',
      alarm_id: 'GT-101:L2',
      body: '{"level":2}',
      state: 'published',
      created_at: T0 + 42,
      published_at: T0 + 44,
    },
  ],
  linkage_mqtt_receipts: [
    {
      notification_id: 'ntf-fedcba9876543210fedcba9876543210',
      centre_id: 'city-119',
      received_at: T0 + 60,
    },
  ],
  registry_enterprises: [
    {
      id: 'ent-001',
      name: '示例化工有限公司',
      province: '江苏省',
      city: '南京市',
      county: null,
      park: '江北新材料科技园',
    },
  ],
  registry_installations: [
    {
      id: 'tank-farm-1',
      enterprise_id: 'ent-001',
      name: 'LPG tank farm',
      people_within_500m: 120,
      inventory: '[{"substance":"LPG","quantityT":80}]',
    },
  ],
  registry_gateways: [
    { id: 'gw-01', enterprise_id: 'ent-001', software: '0.1.0', last_seen: T0 },
    { id: 'gw-02', enterprise_id: 'ent-001', software: null, last_seen: null },
  ],
  registry_sensors: [
    {
      gateway_id: 'gw-01',
      sensor_id: 'GT-101',
      enterprise_id: 'ent-001',
      name: '可燃气体探测器 GT-101',
      kind: 'gas',
      unit: '%LEL',
      gas: 'methane',
      installation_id: 'tank-farm-1',
      location: '罐区 A',
      range_min: 0,
      range_max: 100,
      setpoint_l1: 25, // GB/T 50493-2019: level-1 combustible <= 25 %LEL
      setpoint_l2: 50,
    },
  ],
  platform_sessions: [
    { token_hash: 'b'.repeat(64), username: 'regulator', expires_at: T0 + 3_600_000 },
  ],
  audit_records: [
    {
      at: T0,
      time: new Date(T0).toISOString(),
      node_id: 'node-1',
      category: 'broker',
      event: 'connect-refused',
      reason: 'bad password',
      client_id: 'gw-99',
      username: 'gw-99',
      gateway_id: null,
      remote_address: '10.0.0.9',
      topic: null,
      detail: null,
      payload_bytes: null,
      suppressed_count: null,
    },
  ],
  delivery_claims: [
    {
      notification_id: 'ntf-0123456789abcdef0123456789abcdef',
      owner: 'node-1',
      claimed_at: T0,
      lease_until: T0 + 60_000,
      completed_at: null,
    },
  ],
  leader_leases: [{ name: 'scheduler', holder: 'node-1', term: 3, expires_at: T0 + 10_000 }],
  fleet_tokens: [
    {
      token_hash: 'c'.repeat(64),
      enterprise_id: 'ent-001',
      gateway_id: 'gw-03',
      created_by: 'admin',
      created_at: T0,
      expires_at: T0 + 24 * 3_600_000,
      used_at: T0 + 60_000,
      used_by: 'gw-03',
    },
    {
      token_hash: 'd'.repeat(64),
      enterprise_id: 'ent-001',
      gateway_id: null,
      created_by: 'cli:root',
      created_at: T0,
      expires_at: T0 + 3_600_000,
      used_at: null,
      used_by: null,
    },
  ],
  fleet_gateways: [
    {
      gateway_id: 'gw-03',
      enterprise_id: 'ent-001',
      password_hash: 'scrypt$c2FsdA==$a2V5',
      public_key: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----',
      key_fingerprint: 'e'.repeat(64),
      enrolled_at: T0 + 60_000,
      revoked_at: null,
      revoked_by: null,
      revoke_reason: null,
    },
  ],
  fleet_versions: [
    {
      gateway_id: 'gw-03',
      version: 1,
      document: '{"v":1,"version":1,"by":"admin","reason":"首次下发"}',
    },
  ],
  fleet_status: [
    {
      gateway_id: 'gw-03',
      running_version: null,
      last_status: '{"v":1,"version":1,"state":"refused","runningVersion":null}',
    },
  ],
};

/** The key column(s) to order a table's rows by when reading them back. */
export const ORDER_BY: { [K in keyof PlatformSchema]: string } = {
  alarms: 'alarm_id',
  alarm_events: 'event_id',
  disposal_events: 'seq',
  alarm_dispositions: 'alarm_id',
  linkage_deliveries: 'notification_id',
  linkage_mqtt: 'notification_id',
  linkage_mqtt_receipts: 'centre_id',
  registry_enterprises: 'id',
  registry_installations: 'id',
  registry_gateways: 'id',
  registry_sensors: 'sensor_id',
  platform_sessions: 'token_hash',
  audit_records: 'id',
  delivery_claims: 'notification_id',
  leader_leases: 'name',
  fleet_tokens: 'token_hash',
  fleet_gateways: 'gateway_id',
  fleet_versions: 'version',
  fleet_status: 'gateway_id',
};
