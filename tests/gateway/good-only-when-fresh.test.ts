/**
 * The invariant of every acquisition driver (source.ts ReadingGate): a value is reported
 * good only when freshly read with a good status in the current connection; a path that
 * re-emits a value (catch-up read, reconnect) carries the status the server gave the
 * point then. First the gate alone, then each driver trying to break it across
 * refusals, reconnects and server restarts: OPC UA subscription, OPC UA polling, Modbus.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StatusCodes } from 'node-opcua';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import { OpcuaSource } from '../../gateway/acquisition/opcua/opcua-source.js';
import { ReadingGate } from '../../gateway/acquisition/source.js';
import type { OpcuaDeviceConfig, OpcuaTagConfig } from '../../gateway/config/types.js';
import type { Reading } from '../../protocol/payloads.js';
import { device as modbusDevice, modbusFixtures, tag as modbusTag } from './modbus-fixtures.js';
import {
  cuttableProxy,
  NODE,
  type OtherStackServer,
  startOtherStackServer,
  until,
} from './opcua-fixture.js';

const good = (sensorId: string, value: number, ts: number): Reading => ({
  sensorId,
  value,
  quality: 'good',
  ts,
});

function gateWithLog() {
  const out: Reading[] = [];
  const gate = new ReadingGate((batch) => out.push(...batch), { repeats: 'drop' });
  return { gate, out };
}

describe('ReadingGate', () => {
  it('drops a reply to a request made before the connection was lost', () => {
    const { gate, out } = gateWithLog();
    const before = gate.generation;
    gate.lost(['A', 'B'], 'comm lost', 10);
    const failure: Reading = {
      sensorId: 'B',
      value: null,
      quality: 'bad',
      reason: 'timeout',
      ts: 5,
    };
    gate.fresh(before, [good('A', 1, 5), failure]);
    // The value is dropped; the failure of that request still says what failed.
    expect(out).toEqual([
      { sensorId: 'A', value: null, quality: 'bad', reason: 'comm lost', ts: 10 },
      { sensorId: 'B', value: null, quality: 'bad', reason: 'comm lost', ts: 10 },
      failure,
    ]);
    expect(gate.counters.staleGeneration).toBe(1);
  });

  it('lets a catch-up value be good only for a point acquired in this connection', () => {
    const { gate, out } = gateWithLog();
    gate.fresh(gate.generation, [good('A', 1, 1), good('B', 2, 1)]);
    gate.lost(['A', 'B'], 'comm lost', 2);
    gate.accept('A'); // A's monitored item is held by the server in the new connection
    gate.catchUp(gate.generation, [good('A', 1, 3), good('B', 2, 3)]);
    expect(out.slice(-1)).toEqual([good('A', 1, 3)]);
    expect(gate.counters.unconfirmed).toBe(1); // B: nothing says it is acquired
  });

  it('gives a refused point its refusal, not the good value of a catch-up read, also after a reconnect', () => {
    const { gate, out } = gateWithLog();
    gate.refuse('A', 'BadFilterNotAllowed', 1);
    gate.catchUp(gate.generation, [good('A', 1, 2)]);
    gate.lost(['A'], 'comm lost', 3);
    gate.refuse('A', 'BadFilterNotAllowed', 4); // the item is still refused after the reconnect
    gate.catchUp(gate.generation, [good('A', 1, 5)]);
    expect(out.map((r) => [r.quality, r.reason])).toEqual([
      ['bad', 'BadFilterNotAllowed'],
      ['bad', 'comm lost'],
      ['bad', 'BadFilterNotAllowed'],
    ]);
    gate.fresh(gate.generation, [good('A', 7, 6)]); // accepted at last: fresh values are good
    expect(out.at(-1)).toEqual(good('A', 7, 6));
  });

  it('emits one sample once, however many paths read it', () => {
    const { gate, out } = gateWithLog();
    gate.fresh(gate.generation, [good('A', 1, 1)]);
    gate.catchUp(gate.generation, [good('A', 1, 1)]);
    gate.fresh(gate.generation, [good('A', 1, 1)]);
    gate.fresh(gate.generation, [good('A', 1, 2)]);
    expect(out).toEqual([good('A', 1, 1), good('A', 1, 2)]);
    expect(gate.counters.duplicates).toBe(2);
  });
});

describe('OPC UA drivers', () => {
  const pkiRoot = mkdtempSync(path.join(tmpdir(), 'hw-fresh-'));
  let stack: OtherStackServer;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    stack = await startOtherStackServer({
      port: await freePort(),
      pkiRoot: path.join(pkiRoot, 'srv'),
    });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    stack.acceptItems('pressure');
    if (!stack.variables.count) stack.addNode('count');
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(pkiRoot, { recursive: true, force: true });
  });

  const tag = (sensorId: string, nodeId: string): OpcuaTagConfig => ({
    sensorId,
    name: sensorId,
    kind: 'other',
    unit: '',
    nodeId,
  });

  async function watch(readMode: 'subscribe' | 'poll') {
    const proxy = await cuttableProxy(stack.port);
    const readings: Reading[] = [];
    const config = {
      id: 'fresh-1',
      protocol: 'opcua',
      endpointUrl: `opc.tcp://127.0.0.1:${proxy.port}`,
      securityMode: 'None',
      securityPolicy: 'None',
      samplingIntervalMs: 50,
      readMode,
      tags: [tag('TT-1', NODE.temperature), tag('PT-1', NODE.pressure), tag('CNT-1', NODE.count)],
    } as OpcuaDeviceConfig;
    const source = new OpcuaSource(config, (batch) => readings.push(...batch), {
      clock: new ManualClock(),
      pkiDir: path.join(pkiRoot, 'client'),
      reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
      repairBackoff: { initialMs: 100, maxMs: 400 },
    });
    cleanups.push(proxy.close, () => source.stop());
    await source.start();
    const of = (sensorId: string) => readings.filter((r) => r.sensorId === sensorId);
    return { proxy, source, readings, of, last: (sensorId: string) => of(sensorId).at(-1) };
  }

  it('subscription: a refused item never turns good across reconnects and a server restart', async () => {
    stack.refuseItems('pressure', StatusCodes.BadTooManyMonitoredItems); // Read still answers
    const w = await watch('subscribe');
    await until(() => w.last('TT-1')?.quality === 'good', 'a good value');
    await until(() => w.last('PT-1')?.reason === 'BadTooManyMonitoredItems', 'the refusal');

    w.proxy.cut();
    await until(() => w.last('TT-1')?.reason === 'comm lost', "'comm lost'");
    w.proxy.restore();
    await until(() => w.last('TT-1')?.quality === 'good', 'TT-1 after the reconnect', 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500)); // catch-up read, item retries
    expect(w.of('PT-1').filter((r) => r.quality !== 'bad')).toEqual([]);
    expect(w.last('PT-1')).toMatchObject({ reason: 'BadTooManyMonitoredItems' });

    // The server restarts without the Count node: bad, never a good value of the old one.
    const lossesBefore = w.source.counters.connectionLosses;
    await stack.restart({ without: ['count'] });
    await until(() => w.source.counters.connectionLosses > lossesBefore, 'the restart seen');
    await until(() => w.last('TT-1')?.quality === 'good', 'TT-1 after the restart', 20_000);
    await until(() => w.last('CNT-1')?.reason === 'BadNodeIdUnknown', 'the missing node', 10_000);
    const sinceRestart = w.readings.slice(
      w.readings.findLastIndex((r) => r.reason === 'comm lost'),
    );
    expect(sinceRestart.filter((r) => r.sensorId !== 'TT-1' && r.quality !== 'bad')).toEqual([]);

    // Once the server accepts the items again, they are good.
    stack.acceptItems('pressure');
    stack.addNode('count');
    await until(
      () => w.last('PT-1')?.quality === 'good' && w.last('CNT-1')?.quality === 'good',
      'both items accepted',
      10_000,
    );
  }, 60_000);

  it('polling: a node missing after a restart reads bad until it is back, each sample once', async () => {
    const w = await watch('poll');
    await until(() => w.last('CNT-1')?.quality === 'good', 'a good value');
    await stack.restart({ without: ['count'] });
    await until(() => w.last('CNT-1')?.reason === 'BadNodeIdUnknown', 'the missing node', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sinceLoss = w
      .of('CNT-1')
      .slice(w.of('CNT-1').findLastIndex((r) => r.reason === 'comm lost'));
    expect(sinceLoss.filter((r) => r.quality !== 'bad')).toEqual([]);
    stack.addNode('count');
    stack.set('count', 9);
    await until(() => w.last('CNT-1')?.value === 9, 'the node back', 10_000);
    const keys = w.readings.map((r) => JSON.stringify(r));
    expect(new Set(keys).size).toBe(keys.length); // no sample twice
  }, 40_000);
});

describe('Modbus driver', () => {
  const fx = modbusFixtures();

  it('a value read before the connection dropped is not reported good after the loss', async () => {
    // Two blocks far apart (never coalesced): A answers, then the device drops the
    // connection on B. A's reply came from the connection that is gone.
    const sim = await fx.simulator([{ unitId: 1, registers: { holding: { 0: 11, 1000: 5 } } }]);
    let requests = 0;
    sim.on('request', () => {
      requests++;
      // Change A while B's request is on the wire: a good 11 after the loss would be old.
      if (requests === 2) sim.set(1, 'holding', 0, 22);
    });
    sim.addFault({ kind: 'drop-connection', table: 'holding', from: 1000, to: 1000, times: 1 });
    const readings: Reading[] = [];
    const config = modbusDevice(sim, [
      modbusTag('A', { table: 'holding', address: 0 }),
      modbusTag('B', { table: 'holding', address: 1000 }),
    ]);
    const source = fx.source(config, (batch) => readings.push(...batch));
    await source.start();
    await until(
      () => readings.some((r) => r.sensorId === 'A' && r.value === 22),
      'A after the drop',
    );
    const a = readings.filter((r) => r.sensorId === 'A');
    const lost = a.findIndex((r) => r.reason?.startsWith('comm lost'));
    expect(lost).toBeGreaterThanOrEqual(0);
    expect(a.slice(lost + 1).filter((r) => r.value === 11)).toEqual([]);
  });
});
