/**
 * The gateway's own health, as published on `health` (protocol FleetHealth): CPU and memory
 * of the process, free space where the data folder is, the outbox, the reading rate, devices
 * online and the versions it runs. The clock offset is measured by the server on receipt
 * (the message's `ts` is this gateway's clock).
 */
import { statfsSync } from 'node:fs';
import os from 'node:os';
import type { Clock } from '../../common/clock.js';
import { monotonicOf } from '../../common/clock.js';
import { type FleetHealth, PROTOCOL_VERSION, type Reading } from '../../protocol/index.js';
import type { UplinkHealth } from '../uplink/uplink.js';

/** Counts readings and follows each device's `<id>.online` point between two samples. */
export class HealthSampler {
  private readings = 0;
  private problem: string | null = null;
  private readonly online = new Map<string, boolean>();
  private lastCpu = process.cpuUsage();
  private readonly monotonic: () => number;
  private lastAt: number;

  constructor(
    private readonly clock: Clock,
    private readonly dataDir: string,
  ) {
    this.monotonic = monotonicOf(clock);
    this.lastAt = this.monotonic();
  }

  /** Called with every batch the gateway's acquisition produces. */
  onReadings(readings: readonly Reading[]): void {
    this.readings += readings.length;
    for (const r of readings) {
      if (r.quality !== 'good' && r.reason) this.problem = `${r.sensorId}: ${r.reason}`;
      if (r.sensorId.endsWith('.online'))
        this.online.set(r.sensorId.slice(0, -'.online'.length), r.value === true || r.value === 1);
    }
  }

  /** Whether any of `deviceIds` has reported online since the sampler was reset. */
  anyOnline(deviceIds: readonly string[]): boolean {
    return deviceIds.some((id) => this.online.get(id) === true);
  }

  /** Forgets device states (a new version has new devices). */
  resetDevices(): void {
    this.online.clear();
    this.problem = null;
  }

  /** The newest reason a reading was not good, e.g. `GT-101: comm lost`. */
  lastProblem(): string | null {
    return this.problem;
  }

  sample(input: {
    intervalMs: number;
    uplink: UplinkHealth | undefined;
    deviceIds: readonly string[];
    software: string;
    configVersion: number | null;
    drift: string[];
    logLevel: string;
  }): FleetHealth {
    const now = this.monotonic();
    const elapsedMs = Math.max(1, now - this.lastAt);
    const cpu = process.cpuUsage(this.lastCpu);
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    const readingsPerS = (this.readings * 1000) / elapsedMs;
    this.readings = 0;
    const memory = process.memoryUsage();
    const uplink = input.uplink;
    return {
      v: PROTOCOL_VERSION,
      ts: this.clock.now(),
      intervalMs: input.intervalMs,
      // % of one core over the interval (user + system µs / elapsed ms / 10).
      cpuPct: round((cpu.user + cpu.system) / elapsedMs / 10),
      memory: {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        systemFreeBytes: os.freemem(),
      },
      diskFreeBytes: this.diskFree(),
      outbox: {
        items: uplink ? uplink.backlog.alarms.items + uplink.backlog.telemetry.items : 0,
        oldestAgeMs: uplink?.oldestAgeMs ?? 0,
        fillPct: uplink?.fillPct ?? 0,
        connected: uplink?.connected ?? false,
      },
      readingsPerS: round(readingsPerS),
      devices: {
        online: input.deviceIds.filter((id) => this.online.get(id) === true).length,
        total: input.deviceIds.length,
      },
      versions: {
        software: input.software,
        node: process.version,
        protocol: PROTOCOL_VERSION,
        config: input.configVersion,
      },
      drift: input.drift,
      logLevel: input.logLevel,
    };
  }

  private diskFree(): number | null {
    try {
      const stats = statfsSync(this.dataDir);
      return stats.bavail * stats.bsize;
    } catch {
      return null;
    }
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
