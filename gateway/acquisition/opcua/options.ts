/** Defaults, dependencies, counters and small helpers of the OPC UA source (opcua-source.ts). */
import os from 'node:os';
import path from 'node:path';
import type { ClientMonitoredItemGroup } from 'node-opcua';
import type { Clock } from '../../../common/clock.js';
import type { Logger } from '../../../common/logger.js';
import type { OpcuaDeadbandConfig, OpcuaDeviceConfig } from '../../config/types.js';
import type { BackoffOptions } from '../backoff.js';
import type { DeviceStatusListener } from '../source.js';

type OpcuaModule = typeof import('node-opcua');

export const OPCUA_DEFAULTS = {
  connectInitialDelayMs: 1000, // 1 s, first retry of the transport
  connectMaxDelayMs: 30_000, // 30 s, retry delay ceiling
  jitter: 0.2, // ±20 % on the reconnect delays, drawn per reconnection
  requestedSessionTimeoutMs: 60_000, // 60 s
  // A change waits for the next sample (up to one sampling interval), then for the next
  // publish. We ASK for 10 publishes per sampling interval so change-to-reading stays
  // near 1.2 sampling intervals (bench/opcua-latency.bench.ts), but the server may
  // revise the interval up (many stacks have a floor of 50-1000 ms): the revised value
  // is logged once and in counters.revisedPublishingIntervalMs. Empty publishing cycles
  // cost nothing on the wire (the server answers only with data or a keep-alive).
  publishesPerSample: 10,
  minPublishingIntervalMs: 10, // 10 ms
  keepAliveCount: 50, // publishing intervals without data before a keep-alive (10 sampling intervals)
  lifetimeCount: 300, // OPC UA Part 4 §5.13.2: lifetime count >= 3 x keep-alive count
  maxNotificationsPerPublish: 1000,
  queueSize: 10, // values kept per item between publishes
  initializeTimeoutMs: 10_000, // 10 s to create the monitored items
  terminateTimeoutMs: 2000, // 2 s to delete a broken subscription before giving up on it
  reconnectDelaysKept: 32, // recent reconnect delays kept for diagnostics
  /** Client certificate and trust lists when neither the device nor the deps name a folder. */
  pkiDir: path.join(os.homedir(), '.hazardwatch', 'opcua-pki'),
};

export interface OpcuaSourceDeps {
  clock: Clock;
  /** PKI folder (own certificate, trust lists) when the device names none; default ~/.hazardwatch/opcua-pki. */
  pkiDir?: string;
  /** Transport reconnect delays; default 1 s doubling to 30 s (±20 % jitter), retried until stop(). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Delays between attempts to recreate a broken subscription or a refused item. */
  repairBackoff?: Partial<BackoffOptions>;
  /** Random source of every jitter (tests inject one); default Math.random. */
  random?: () => number;
  logger?: Logger;
  /** Called once per offline/online transition. */
  onDeviceStatus?: DeviceStatusListener;
  /**
   * Session timeout asked of the server; default 60 s. A network cut longer than this
   * expires the session on the server, so recovery needs a new session and new
   * subscriptions (tests shorten it to exercise that path in seconds).
   */
  sessionTimeoutMs?: number;
}

export interface OpcuaCounters {
  notifications: number;
  subscriptionsCreated: number;
  connectionLosses: number;
  /** Retries of single refused monitored items (the subscription left alone). */
  itemRetries: number;
  /** Connection attempts refused because the server certificate is not trusted. */
  untrustedServer: number;
  /** Items whose configured deadband was not sent (non-numeric, no EURange, refused). */
  deadbandsDropped: number;
  /** Publishing interval the server granted for the current subscription (ms). */
  revisedPublishingIntervalMs: number | null;
}

/** Monitoring parameters of an item: the device's sampling and queue, the deadband's filter. */
export function monitoringParameters(
  opcua: OpcuaModule,
  device: OpcuaDeviceConfig,
  deadband: OpcuaDeadbandConfig | undefined,
) {
  // Data-change filter (OPC UA Part 4 §7.22.2); none for no deadband.
  const filter =
    !deadband || deadband.type === 'none' || deadband.value === undefined
      ? undefined
      : new opcua.DataChangeFilter({
          trigger: opcua.DataChangeTrigger.StatusValue,
          deadbandType:
            deadband.type === 'absolute' ? opcua.DeadbandType.Absolute : opcua.DeadbandType.Percent,
          deadbandValue: deadband.value,
        });
  return {
    samplingInterval: device.samplingIntervalMs,
    queueSize: device.queueSize ?? OPCUA_DEFAULTS.queueSize,
    discardOldest: true,
    ...(filter ? { filter } : {}),
  };
}

export function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** Errors of CreateSubscription/CreateMonitoredItems that mean "use Read instead". */
export const SUBSCRIPTION_REFUSED =
  /BadTooManySubscriptions|BadServiceUnsupported|BadNotSupported|BadNotImplemented/;

/** Resolves once the group's items are created; rejects when that fails or takes too long. */
export function waitInitialized(group: ClientMonitoredItemGroup): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('monitored items not created in time')),
      OPCUA_DEFAULTS.initializeTimeoutMs,
    );
    group.once('initialized', () => {
      clearTimeout(timer);
      resolve();
    });
    group.once('terminated', (err?: Error) => {
      clearTimeout(timer);
      reject(err ?? new Error('monitored item group terminated'));
    });
  });
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
