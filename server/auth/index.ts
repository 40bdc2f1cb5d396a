/**
 * Broker security and the audit log, wired into the central server from here
 * so that central-server.ts needs one line per concern.
 */
import { dirname, join } from 'node:path';
import type { Clock } from '../../common/clock.js';
import type { MqttBrokerOptions, SecurityEvent } from '../broker.js';
import type { Database } from '../db/database.js';
import type { IngestOptions } from '../ingest.js';
import { AuditLog } from './audit-log.js';
import type { AuditConfig, MqttSecurityConfig } from './config.js';
import { type PlausibilityConfig, timestampScreen } from './input-screen.js';
import type { MqttUserDirectory } from './mqtt-access.js';

export * from './audit-log.js';
export * from './config.js';
export * from './input-screen.js';
export * from './mqtt-access.js';
export * from './password.js';

/** Where the audit log goes: the configured path, else beside the SQLite file, else memory. */
export function auditLogPath(audit: AuditConfig | undefined, storePath: string): string | null {
  if (audit?.path) return audit.path;
  if (storePath === ':memory:') return null;
  return join(dirname(storePath), 'audit.jsonl');
}

/**
 * The audit log: the node's JSONL file (auditLogPath) and, with `database`, the cluster-wide
 * `audit_records` table, each row naming `nodeId` (default: the host name).
 */
export function createAuditLog(
  audit: AuditConfig | undefined,
  storePath: string,
  clock: Clock,
  database?: Database,
  nodeId?: string,
): AuditLog {
  const options: ConstructorParameters<typeof AuditLog>[0] = {
    path: auditLogPath(audit, storePath),
    clock,
    ...(database ? { database } : {}),
    ...(nodeId ? { nodeId } : {}),
  };
  if (audit) {
    options.maxBytes = audit.maxBytes;
    options.maxRecordsPerSecond = audit.maxRecordsPerSecond;
  }
  return new AuditLog(options);
}

/** The broker options that come from `mqtt` security settings, with refusals going to the audit log. */
export function brokerSecurityOptions(
  mqtt: MqttSecurityConfig,
  audit: AuditLog,
  directory?: MqttUserDirectory,
): Omit<MqttBrokerOptions, 'host' | 'port' | 'onPublish'> {
  const options: Omit<MqttBrokerOptions, 'host' | 'port' | 'onPublish'> = {
    auth: {
      mode: mqtt.auth.mode,
      users: mqtt.auth.users,
      ...(mqtt.auth.usersFile ? { usersFile: mqtt.auth.usersFile } : {}),
      ...(directory ? { directory } : {}),
    },
    maxPacketBytes: mqtt.maxPacketBytes,
    drainTimeoutMs: mqtt.drainTimeoutMs,
    connectTimeoutMs: mqtt.connectTimeoutMs,
    maxConnections: mqtt.maxConnections,
    onSecurityEvent: (event: SecurityEvent) => {
      const { kind, ...rest } = event;
      audit.record({ category: 'broker', event: kind, ...rest });
    },
  };
  if (mqtt.tls) options.tls = mqtt.tls;
  return options;
}

/** Ingest's screen (suspect timestamps, flagged not refused) and its rejection and flag hooks (the audit log). */
export function ingestSecurityOptions(
  plausibility: PlausibilityConfig | undefined,
  audit: AuditLog,
  clock: Clock,
): Pick<IngestOptions, 'screen' | 'onReject' | 'onSuspect'> {
  return {
    screen: timestampScreen(clock, plausibility),
    onReject: ({ source, reason, detail, topic }) =>
      audit.record({
        category: 'ingest',
        event: 'rejected',
        reason,
        detail,
        topic,
        gatewayId: source,
      }),
    // The audit record has no fields of its own for the item: its identity goes
    // into the detail, after the path and the offset.
    onSuspect: ({ source, channel, seq, alarmId, detail, topic }) =>
      audit.record({
        category: 'ingest',
        event: 'suspect-timestamp',
        reason: 'clock',
        detail: `${detail}; stored ${channel}${seq !== null ? ` seq ${seq}` : ''}${alarmId !== undefined ? ` alarm ${alarmId}` : ''}`,
        topic,
        gatewayId: source,
      }),
  };
}
