/**
 * The failures seen against an OPC UA server of another stack (issue 18), each a test
 * named after it, against the shared fixture that behaves like other stacks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StatusCodes } from 'node-opcua';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import { Backoff, jittered } from '../../gateway/acquisition/backoff.js';
import { OpcuaSource, type OpcuaSourceDeps } from '../../gateway/acquisition/opcua/opcua-source.js';
import type { OpcuaDeviceConfig, OpcuaTagConfig } from '../../gateway/config/types.js';
import type { Reading } from '../../protocol/payloads.js';
import {
  cuttableProxy,
  NODE,
  type OtherStackServer,
  startOtherStackServer,
  until,
} from './opcua-fixture.js';

const pkiRoot = mkdtempSync(path.join(tmpdir(), 'hw-opcua-other-'));
let stack: OtherStackServer;
const sources: OpcuaSource[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  stack = await startOtherStackServer({
    port: await freePort(),
    pkiRoot: path.join(pkiRoot, 'srv'),
  });
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  stack.set('temperature', 21.5);
  stack.set('highLevel', false);
  stack.set('mode', 'auto');
  stack.acceptItems('temperature');
});

afterAll(async () => {
  await stack?.stop();
  rmSync(pkiRoot, { recursive: true, force: true });
});

function tag(
  sensorId: string,
  nodeId: string,
  extra: Partial<OpcuaTagConfig> = {},
): OpcuaTagConfig {
  return { sensorId, name: sensorId, kind: 'other', unit: '', nodeId, ...extra };
}

function device(port: number, tags: OpcuaTagConfig[], extra: Partial<OpcuaDeviceConfig> = {}) {
  return {
    id: 'other-stack-1',
    protocol: 'opcua',
    endpointUrl: `opc.tcp://127.0.0.1:${port}`,
    securityMode: 'None',
    securityPolicy: 'None',
    samplingIntervalMs: 50,
    tags,
    ...extra,
  } as OpcuaDeviceConfig;
}

function recorder() {
  const readings: Reading[] = [];
  return {
    readings,
    sink: (batch: Reading[]) => {
      readings.push(...batch);
    },
    of: (sensorId: string) => readings.filter((r) => r.sensorId === sensorId),
    last: (sensorId: string) => readings.filter((r) => r.sensorId === sensorId).at(-1),
  };
}

/** A pino logger that keeps its lines, to check what is logged and how often. */
function logCapture() {
  const lines: { level: number; msg: string; nodeId?: string }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line)) },
  );
  return { lines, logger, warnings: () => lines.filter((l) => l.level === 40) };
}

function newSource(
  config: OpcuaDeviceConfig,
  sink: (r: Reading[]) => void,
  extra: Partial<OpcuaSourceDeps> = {},
) {
  const source = new OpcuaSource(config, sink, {
    clock: new ManualClock(),
    pkiDir: path.join(pkiRoot, 'client'),
    reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
    repairBackoff: { initialMs: 100, maxMs: 400 },
    ...extra,
  });
  sources.push(source);
  return source;
}

async function proxied() {
  const proxy = await cuttableProxy(stack.port);
  cleanups.push(proxy.close);
  return proxy;
}

describe('issue 18: OPC UA against servers we did not write', () => {
  it('a refused Boolean item under a device deadband shows good after a reconnect', async () => {
    const proxy = await proxied();
    const rec = recorder();
    const config = device(
      proxy.port,
      [tag('TT-1', NODE.temperature), tag('LSH-1', NODE.highLevel)],
      {
        deadband: { type: 'absolute', value: 0.5 },
      },
    );
    const source = newSource(config, rec.sink);
    await source.start();
    // The deadband is sent for the Double only: the Boolean is monitored, not refused.
    await until(
      () => rec.last('LSH-1')?.quality === 'good' && rec.last('TT-1')?.quality === 'good',
      'both tags good',
    );
    expect(rec.of('LSH-1').filter((r) => r.quality === 'bad')).toEqual([]);
    expect(source.counters.deadbandsDropped).toBe(1);

    proxy.cut();
    await until(() => rec.last('LSH-1')?.reason === 'comm lost', "'comm lost'");
    proxy.restore();
    await until(
      () => rec.last('LSH-1')?.quality === 'good',
      'the Boolean after the reconnect',
      15_000,
    );
    stack.set('highLevel', true);
    // Live, not frozen: the change after the reconnect arrives.
    await until(
      () => rec.last('LSH-1')?.value === true,
      'the Boolean change after the reconnect',
      10_000,
    );
    expect(rec.last('LSH-1')).toMatchObject({ quality: 'good', value: true });
  }, 40_000);

  it('a filter that can never work is retried forever', async () => {
    // A stack that refuses any filter on this Double (as some do for items without
    // EURange or with a deadband they do not implement): the same filter again is futile.
    stack.refuseFilters('temperature', StatusCodes.BadFilterNotAllowed);
    const logs = logCapture();
    const rec = recorder();
    const config = device(stack.port, [tag('TT-1', NODE.temperature), tag('PT-1', NODE.pressure)], {
      deadband: { type: 'absolute', value: 0.5 },
    });
    const source = newSource(config, rec.sink, { logger: logs.logger });
    await source.start();
    await until(
      () => rec.last('TT-1')?.quality === 'good',
      'the item monitored without its filter',
    );
    await new Promise((resolve) => setTimeout(resolve, 1500)); // several backoff periods
    expect(source.counters.itemRetries).toBe(1);
    stack.set('temperature', 22.5);
    await until(() => rec.last('TT-1')?.value === 22.5, 'a change of the item');
    const refusedLines = logs.warnings().filter((l) => l.msg.includes('refused the deadband'));
    expect(refusedLines).toHaveLength(1);
    expect(refusedLines[0]).toMatchObject({ nodeId: NODE.temperature });
  }, 20_000);

  it('reconnect jitter does nothing', async () => {
    // The backoff function: a hundred devices failing at the same instant must not
    // retry at the same instants. A seeded random source keeps the test exact.
    let seed = 42;
    const seeded = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const devices = Array.from({ length: 100 }, () => new Backoff(undefined, seeded));
    const times = devices.map(() => 0);
    for (let attempt = 0; attempt < 8; attempt++) {
      devices.forEach((backoff, i) => {
        times[i]! += backoff.next();
      });
      const sorted = [...times].sort((a, b) => a - b);
      // Spread of this attempt's retry instants: at least a quarter of the ±20 % band.
      expect(sorted.at(-1)! - sorted[0]!).toBeGreaterThan(0.1 * (sorted[50] ?? 0));
      // And no crowd: no 1 ms slot holds more than 5 of the 100 devices.
      const perMs = new Map<number, number>();
      for (const t of sorted) perMs.set(t, (perMs.get(t) ?? 0) + 1);
      expect(Math.max(...perMs.values())).toBeLessThanOrEqual(5);
    }
    expect(jittered(1000, 0.2, () => 0)).toBe(800);
    expect(jittered(1000, 0.2, () => 0.5)).toBe(1000);
    expect(jittered(1000, 0.2, () => 0.999_999)).toBe(1200);

    // The OPC UA reconnect actually uses it: three devices, same server, same cut.
    const draws = [0, 0.5, 0.999_999];
    const watched = await Promise.all(
      draws.map(async (draw) => {
        const proxy = await proxied();
        const rec = recorder();
        const logs = logCapture();
        const source = newSource(device(proxy.port, [tag('TT-1', NODE.temperature)]), rec.sink, {
          random: () => draw,
          reconnect: { initialDelayMs: 200, maxDelayMs: 800 },
          logger: logs.logger,
        });
        await source.start();
        // The delays node-opcua waits before each attempt, from its 'backoff' events.
        const delays = () =>
          logs.lines
            .filter((l) => l.msg === 'OPC UA connect retry')
            .map((l) => (l as unknown as { delayMs: number }).delayMs);
        return { proxy, rec, delays };
      }),
    );
    for (const w of watched)
      await until(() => w.rec.last('TT-1')?.quality === 'good', 'a good value');
    for (const w of watched) w.proxy.cut();
    await until(
      () => watched.every((w) => w.delays().length >= 3),
      'three reconnect attempts each',
      15_000,
    );
    // node-opcua's reconnection doubles from the initial delay we drew for it.
    expect(watched.map((w) => w.delays().slice(0, 3))).toEqual([
      [160, 320, 640],
      [200, 400, 800],
      [240, 480, 960],
    ]);
    for (const w of watched) w.proxy.restore();
    await until(
      () => watched.every((w) => w.rec.last('TT-1')?.quality === 'good'),
      'all back',
      15_000,
    );
  }, 40_000);

  it('polling mode is silent about bad nodes', async () => {
    const logs = logCapture();
    const rec = recorder();
    const missing = 'ns=1;s=Tank9.Missing';
    const config = device(stack.port, [tag('TT-1', NODE.temperature), tag('XT-9', missing)], {
      readMode: 'poll',
    });
    const source = newSource(config, rec.sink, { logger: logs.logger });
    await source.start();
    await until(() => rec.of('XT-9').length >= 1, 'the missing node');
    await new Promise((resolve) => setTimeout(resolve, 400)); // about 8 polls
    const about = logs.warnings().filter((l) => l.nodeId === missing);
    expect(about).toHaveLength(1);
    expect(about[0]!.msg).toContain('BadNodeIdUnknown');
    expect(rec.last('XT-9')).toMatchObject({
      quality: 'bad',
      reason: 'BadNodeIdUnknown',
      value: null,
    });
    expect(rec.last('TT-1')).toMatchObject({ quality: 'good', value: 21.5 });
  });

  it('polling mode emits every reading twice after a reconnect', async () => {
    const proxy = await proxied();
    const rec = recorder();
    const config = device(proxy.port, [tag('TT-1', NODE.temperature)], { readMode: 'poll' });
    const source = newSource(config, rec.sink);
    await source.start();
    await until(() => rec.last('TT-1')?.quality === 'good', 'a good value');
    proxy.cut();
    await until(() => rec.last('TT-1')?.reason === 'comm lost', "'comm lost'");
    stack.set('temperature', 30.25);
    proxy.restore();
    await until(() => rec.last('TT-1')?.value === 30.25, 'the value after the reconnect', 15_000);
    await new Promise((resolve) => setTimeout(resolve, 400)); // several more polls
    const afterLoss = rec
      .of('TT-1')
      .slice(rec.of('TT-1').findIndex((r) => r.reason === 'comm lost') + 1);
    expect(afterLoss).toEqual([expect.objectContaining({ value: 30.25, quality: 'good' })]);
  }, 30_000);
});

describe('other stacks: revised publishing interval and deadband per data type', () => {
  it('works with the publishing interval the server grants, and says what it got', async () => {
    const logs = logCapture();
    const rec = recorder();
    const source = newSource(device(stack.port, [tag('TT-1', NODE.temperature)]), rec.sink, {
      logger: logs.logger,
    });
    await source.start();
    await until(() => rec.last('TT-1')?.quality === 'good', 'a good value');
    expect(source.counters.revisedPublishingIntervalMs).toBe(250); // asked for 10 ms
    expect(
      logs.lines.filter((l) => l.msg.includes('revised the publishing interval')),
    ).toHaveLength(1);
    stack.set('temperature', 40);
    await until(() => rec.last('TT-1')?.value === 40, 'a change');
  });

  it('sends percent only with an EURange, and never a deadband to Boolean or String items', async () => {
    const logs = logCapture();
    const rec = recorder();
    const tags = [
      tag('TT-1', NODE.temperature), // Double with EURange: percent applies
      tag('PT-1', NODE.pressure), // Double without EURange: dropped
      tag('LSH-1', NODE.highLevel), // Boolean: dropped
      tag('MODE-1', NODE.mode), // String: dropped
      tag('CNT-1', NODE.count, { deadband: { type: 'none', value: 0 } }), // none: nothing asked
    ];
    const config = device(stack.port, tags, { deadband: { type: 'percent', value: 10 } });
    const source = newSource(config, rec.sink, { logger: logs.logger });
    await source.start();
    await until(
      () => tags.every((t) => rec.last(t.sensorId)?.quality === 'good'),
      'every tag good',
    );
    expect(source.counters.deadbandsDropped).toBe(3);
    expect(source.counters.itemRetries).toBe(0);
    const dropped = logs.warnings().filter((l) => l.msg.startsWith('deadband not sent'));
    expect(dropped.find((l) => l.nodeId === NODE.highLevel)?.msg).toContain('DataType Boolean');
    expect(dropped.map((l) => l.nodeId).sort()).toEqual(
      [NODE.highLevel, NODE.mode, NODE.pressure].sort(),
    );
    // 10 % of the 0..200 EURange is 20: a change of 5 is filtered, one of 30 reported.
    stack.set('temperature', 26.5);
    stack.set('mode', 'manual');
    await until(() => rec.last('MODE-1')?.value === 'manual', 'the String change');
    stack.set('temperature', 51.5);
    await until(() => rec.last('TT-1')?.value === 51.5, 'the large change');
    expect(rec.of('TT-1').map((r) => r.value)).toEqual([21.5, 51.5]);
  });
});
