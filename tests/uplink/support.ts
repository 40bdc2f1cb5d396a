/** Shared pieces of the store-and-forward tests: a real central server, a producer, checks. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { systemClock } from '../../common/clock.js';
import { MqttUplink, type MqttUplinkOptions } from '../../gateway/uplink/mqtt-uplink.js';
import type { AlarmTransitionPayload } from '../../gateway/uplink/uplink.js';
import type { Reading, SensorInfo } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';

export const GATEWAY = 'gw-sf';
export const ENTERPRISE = 'ent-sf';
/**
 * Source timestamps start here; reading k of a sensor has ts T0 + k. Recent
 * (an hour ago), so the store's retention (30 days) keeps them.
 */
export const T0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
export const here = path.dirname(fileURLToPath(import.meta.url));

export function tempDir(cleanups: Cleanup[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hw-uplink-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function sensorIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `S${String(i).padStart(3, '0')}`);
}

export function catalogue(ids: readonly string[]): SensorInfo[] {
  return ids.map((sensorId) => ({ sensorId, name: sensorId, kind: 'gas', unit: '%LEL' }));
}

export async function startServer(storePath: string, mqttPort = 0): Promise<CentralServer> {
  const server = new CentralServer(
    parseServerConfig({ http: { port: 0 }, mqtt: { port: mqttPort }, store: { path: storePath } }),
    { dashboard: false },
  );
  await server.start();
  return server;
}

export function createUplink(
  url: string,
  outboxPath: string,
  ids: readonly string[],
  overrides: Partial<MqttUplinkOptions> = {},
): MqttUplink {
  return new MqttUplink({
    url,
    gatewayId: GATEWAY,
    enterpriseId: ENTERPRISE,
    sensors: catalogue(ids),
    clock: systemClock,
    publishIntervalMs: 50,
    reconnectPeriodMs: 200,
    ackTimeoutMs: 2_000,
    outbox: { path: outboxPath },
    ...overrides,
  });
}

/**
 * Produces `perTick` readings per sensor every `tickMs` (sensor values count
 * up, ts = T0 + k), and every `alarmEvery` ticks one alarm raise and clear.
 */
export class Producer {
  private timer: NodeJS.Timeout | null = null;
  private k = 0;
  readonly alarmIds: string[] = [];

  constructor(
    private readonly uplink: {
      publishReadings(r: Reading[]): void;
      publishAlarm(a: AlarmTransitionPayload): void;
    },
    private readonly ids: readonly string[],
    private readonly options: {
      tickMs: number;
      perTick: number;
      alarmEvery?: number;
      t0?: number;
      onTick?: () => void;
    },
  ) {}

  /** Readings produced per sensor so far. */
  get produced(): number {
    return this.k;
  }

  start(): void {
    let ticks = 0;
    this.timer = setInterval(() => {
      this.tick();
      ticks++;
      if (this.options.alarmEvery && ticks % this.options.alarmEvery === 0) this.alarm();
      this.options.onTick?.();
    }, this.options.tickMs);
  }

  /** One tick's readings. */
  tick(): void {
    const t0 = this.options.t0 ?? T0;
    const readings: Reading[] = [];
    for (let i = 0; i < this.options.perTick; i++) {
      const k = this.k++;
      for (const sensorId of this.ids) {
        readings.push({ sensorId, value: k, quality: 'good', ts: t0 + k });
      }
    }
    this.uplink.publishReadings(readings);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  alarm(): string {
    const alarmId = `S000-gas.L2.${this.alarmIds.length}`;
    this.alarmIds.push(alarmId);
    const base = {
      alarmId,
      ruleId: 'S000-gas',
      sensorId: this.ids[0]!,
      level: 2 as const,
      unit: '%LEL',
      setpoint: 50, // GB/T 50493-2019 §5.5.3 item 1: level 2 <= 50 %LEL
      drill: true, // drills never page an emergency centre
    };
    this.uplink.publishAlarm({ ...base, transition: 'raised', value: 55, ts: Date.now() });
    this.uplink.publishAlarm({ ...base, transition: 'cleared', value: 10, ts: Date.now() + 1 });
    return alarmId;
  }
}

/**
 * What the store holds per sensor: the count of readings, whether each k in
 * [0, expected) is present exactly once, and whether seq never decreases with ts.
 */
export async function storedReport(
  server: CentralServer,
  ids: readonly string[],
  expected: number,
): Promise<{ missing: number; duplicates: number; outOfOrder: number; extra: number }> {
  let missing = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let extra = 0;
  for (const sensorId of ids) {
    const rows = await server.store.queryRange({
      gatewayId: GATEWAY,
      sensorId,
      from: T0,
      to: T0 + 10_000_000,
      limit: 10_000_000,
    });
    const seen = new Map<number, number>();
    let lastSeq = -1;
    for (const row of rows) {
      const k = row.ts - T0;
      seen.set(k, (seen.get(k) ?? 0) + 1);
      if (row.value !== k) extra++;
      if (row.seq < lastSeq) outOfOrder++;
      lastSeq = row.seq;
    }
    for (let k = 0; k < expected; k++) {
      const n = seen.get(k) ?? 0;
      if (n === 0 && process.env.DEBUG_UPLINK && missing < 5) console.log('missing', sensorId, k);
      if (n === 0) missing++;
      if (n > 1) duplicates += n - 1;
    }
    for (const k of seen.keys()) if (k >= expected) extra++;
  }
  return { missing, duplicates, outOfOrder, extra };
}

export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TypeScript child process (node --import tsx), with its stdout lines. */
export function spawnScript(
  script: string,
  args: string[],
): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, script), ...args], {
    cwd: path.resolve(here, '../..'),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'silent' },
  });
  const lines: string[] = [];
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      if (code) process.stderr.write(`${script} exited ${code}: ${stderr}\n`);
      resolve(code);
    });
  });
  return { child, lines, exited };
}

export type Cleanup = () => Promise<void> | void;

/**
 * The cleanup list of a test file: registers an afterEach that runs and empties it,
 * last pushed first.
 */
export function useCleanups(): Cleanup[] {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });
  return cleanups;
}
