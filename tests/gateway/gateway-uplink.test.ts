/**
 * The Gateway wires the store-and-forward uplink from its config: the outbox
 * file survives a restart, and outbox events become readings of the gateway's
 * own status sensors, which the edge evaluates like any field value.
 */

import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../common/net.js';
import type { EdgeAlarmTransition } from '../../edge/index.js';
import { parseGatewayConfig } from '../../gateway/config/index.js';
import { GATEWAY_DIAGNOSTIC_SENSORS } from '../../gateway/diagnostics.js';
import { dataDirOptions, Gateway } from '../../gateway/gateway.js';
import type { Reading } from '../../protocol/index.js';
import { startTestBroker } from '../support/broker.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function gatewayConfig(outbox: string, brokerUrl?: string) {
  const modbusPort = await freePort(); // nothing listens: acquisition just retries
  const mqttPort = await freePort(); // nothing listens: the uplink holds everything
  const yaml = `
gateway: { id: gw-wired, enterpriseId: ent-1 }
uplink:
  url: ${brokerUrl ?? `mqtt://127.0.0.1:${mqttPort}`}
  outbox: { path: ${outbox}, telemetryMaxMB: 1, highWaterPct: 50 }
  ackTimeoutMs: 5000
devices:
  - id: dev-1
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${modbusPort}
    tags:
      - { sensorId: GT-1, name: Methane, kind: gas, gas: methane, unit: '%LEL', rangeMin: 0, rangeMax: 100, register: { table: input, address: 0, type: float32 } }
`;
  return parseGatewayConfig(yaml, 'test.yaml', { env: {}, baseDir: os.tmpdir() });
}

describe('the gateway with a store-and-forward uplink', () => {
  it('adds its device and uplink status sensors to the catalogue and reports the high-water mark as a reading', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hw-gw-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const outbox = path.join(dir, 'outbox.db');
    const gateway = new Gateway(await gatewayConfig(outbox));
    expect(gateway.sensors.map((s) => s.sensorId)).toEqual([
      'GT-1',
      'dev-1.online',
      ...GATEWAY_DIAGNOSTIC_SENSORS.map((s) => s.sensorId),
    ]);
    const seen: Reading[] = [];
    gateway.observe({ onReadings: (readings) => seen.push(...readings) });
    await gateway.start();
    cleanups.push(() => gateway.stop());

    const ts = Date.now();
    for (let i = 0; i < 20 && !gateway.uplink.health?.().highWater; i++) {
      gateway.uplink.publishReadings(
        Array.from({ length: 1_000 }, (_, k) => ({
          sensorId: 'GT-1',
          value: k,
          quality: 'good' as const,
          ts: ts + i * 1_000 + k,
        })),
      );
      await new Promise((r) => setTimeout(r, 0));
      (gateway.uplink as unknown as { flush(): void }).flush();
    }
    await new Promise((r) => setTimeout(r, 10));
    const backlog = seen.filter((r) => r.sensorId === '_uplink.backlog').at(-1);
    expect(backlog?.value).toBeGreaterThanOrEqual(50);
    const health = gateway.uplink.health!();
    expect(health).toMatchObject({ connected: false, durable: true, highWater: true });

    await gateway.stop(); // flushes the last readings into the outbox
    const held = gateway.uplink.health!().backlog.telemetry.readings;
    const again = new Gateway(await gatewayConfig(outbox));
    await again.start();
    cleanups.push(() => again.stop());
    // Acquisition may add a comm-lost reading of its own meanwhile.
    expect(again.uplink.health!().backlog.telemetry.readings).toBeGreaterThanOrEqual(held);
    expect(held).toBeGreaterThan(8_000);
  });

  it('a healthy gateway showed _uplink.backlog and _uplink.dropped as "no data yet" forever: now they have values from the start', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hw-gw-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const gateway = new Gateway(await gatewayConfig(path.join(dir, 'outbox.db')));
    const seen: Reading[] = [];
    gateway.observe({ onReadings: (readings) => seen.push(...readings) });
    await gateway.start();
    cleanups.push(() => gateway.stop());
    await expect
      .poll(() =>
        ['_uplink.backlog', '_uplink.dropped', '_gateway.storage_faults'].filter(
          (id) => !seen.some((r) => r.sensorId === id && r.quality === 'good'),
        ),
      )
      .toEqual([]);
    expect(seen.find((r) => r.sensorId === '_uplink.dropped')?.value).toBe(0);
  });

  it('a corrupt alarm-state or outbox file stopped the gateway: now each is moved aside and announced, and the gateway runs', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hw-gw-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const files = dataDirOptions(dir);
    writeFileSync(files.alarmStatePath!, '{"version":1,"points":{"GT-1');
    writeFileSync(
      files.outboxPath!,
      Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4096, 0xab)]),
    );
    const gateway = new Gateway(await gatewayConfig(files.outboxPath!), files);
    const alarms: EdgeAlarmTransition[] = [];
    gateway.observe({ onAlarm: (t) => alarms.push(t) });
    await gateway.start();
    cleanups.push(() => gateway.stop());
    await expect.poll(() => alarms.filter((a) => a.transition === 'raised').length).toBe(2);
    const messages = alarms.filter((a) => a.transition === 'raised').map((a) => a.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^local storage fault: alarm state file .*alarm-state\.json moved to .*corrupt/,
        ),
        expect.stringMatching(/^local storage fault: outbox file .*outbox\.db moved to .*corrupt/),
      ]),
    );
    expect(new Set(alarms.map((a) => a.alarmId)).size).toBe(2);
    expect(alarms.every((a) => a.level === 1 && !a.drill)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.corrupt-')).length).toBeGreaterThanOrEqual(
      2,
    );
    expect(existsSync(files.outboxPath!)).toBe(true);
    expect(gateway.uplink.health!().durable).toBe(true);
  });

  it('an alarm quarantined from the outbox was lost without an alarm: now the gateway raises a storage fault', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hw-gw-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const outbox = path.join(dir, 'outbox.db');
    // An alarm transition waits in the outbox of a gateway whose server is unreachable.
    const first = new Gateway(await gatewayConfig(outbox));
    await first.start();
    first.uplink.publishAlarm({
      alarmId: 'GT-1-gas.level2.gw-wired-1',
      ruleId: 'GT-1-gas',
      sensorId: 'GT-1',
      level: 2,
      transition: 'raised',
      value: 60,
      unit: '%LEL',
      setpoint: 40,
      ts: Date.now(),
      drill: false,
    });
    await first.stop();
    // Disk damage to that row.
    const db = new Database(outbox);
    db.prepare('UPDATE items SET payload = ? WHERE lane = 0').run('{"garbled');
    db.close();
    // Back up, with a broker to send to: the row cannot be read back and is quarantined.
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const config = await gatewayConfig(outbox, broker.url);
    const again = new Gateway(config);
    const alarms: EdgeAlarmTransition[] = [];
    again.observe({ onAlarm: (t) => alarms.push(t) });
    await again.start();
    cleanups.push(() => again.stop());
    await expect
      .poll(() => alarms.find((a) => a.transition === 'raised')?.message, { timeout: 10_000 })
      .toMatch(
        /^local storage fault: outbox alarm item in .*outbox\.db: alarm transition seq \d+ could not be read back and was not sent/,
      );
  });
});
