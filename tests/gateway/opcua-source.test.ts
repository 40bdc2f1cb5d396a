import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  DataType,
  DataValue,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  type UAVariable,
  Variant,
} from 'node-opcua';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import {
  OpcuaSource,
  type OpcuaSourceDeps,
  qualityOf,
} from '../../gateway/acquisition/opcua/opcua-source.js';
import type { DeviceStatusEvent } from '../../gateway/acquisition/source.js';
import type { OpcuaDeviceConfig, OpcuaTagConfig } from '../../gateway/config/types.js';
import type { Reading } from '../../protocol/payloads.js';
import { cuttableProxy, until } from './opcua-fixture.js';

const pkiRoot = mkdtempSync(path.join(tmpdir(), 'hw-opcua-'));

interface TankServer {
  server: OPCUAServer;
  temperature: UAVariable;
  pressure: UAVariable;
  port: number;
}

/** A real node-opcua server with Tank1.Temperature and Tank1.Pressure (ns=1). */
async function startTankServer(port: number): Promise<TankServer> {
  const server = new OPCUAServer({
    port,
    hostname: '127.0.0.1',
    securityModes: [MessageSecurityMode.None],
    securityPolicies: [SecurityPolicy.None],
    serverCertificateManager: new OPCUACertificateManager({
      rootFolder: path.join(pkiRoot, 'server'),
      automaticallyAcceptUnknownCertificate: true,
    }),
    // Without this the server keeps user certificates in the per-user default folder.
    userCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(pkiRoot, 'user') }),
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace!;
  const namespace = addressSpace.getOwnNamespace();
  const tank = namespace.addObject({
    organizedBy: addressSpace.rootFolder.objects,
    browseName: 'Tank1',
  });
  const variable = (name: string, value: number) =>
    namespace.addVariable({
      componentOf: tank,
      browseName: name,
      nodeId: `s=Tank1.${name}`,
      dataType: 'Double',
      minimumSamplingInterval: 50,
      value: new Variant({ dataType: DataType.Double, value }),
    });
  const temperature = variable('Temperature', 21.5);
  const pressure = variable('Pressure', 101.3);
  await server.start();
  return { server, temperature, pressure, port };
}

function tag(sensorId: string, nodeId: string): OpcuaTagConfig {
  return { sensorId, name: sensorId, kind: 'temperature', unit: '°C', nodeId };
}

function device(port: number, tags: OpcuaTagConfig[]): OpcuaDeviceConfig {
  return {
    id: 'tank-farm-1',
    protocol: 'opcua',
    endpointUrl: `opc.tcp://127.0.0.1:${port}`,
    securityMode: 'None',
    securityPolicy: 'None',
    samplingIntervalMs: 50,
    tags,
  };
}

const temperatureTag = tag('TT-201', 'ns=1;s=Tank1.Temperature');
const pressureTag = tag('PT-202', 'ns=1;s=Tank1.Pressure');

function recorder() {
  const batches: Reading[][] = [];
  return {
    batches,
    sink: (readings: Reading[]) => {
      batches.push(readings);
    },
    of: (sensorId: string) => batches.flat().filter((r) => r.sensorId === sensorId),
  };
}

const sources: OpcuaSource[] = [];
const extraServers: OPCUAServer[] = [];

function newSource(
  config: OpcuaDeviceConfig,
  sink: (r: Reading[]) => void,
  clock = new ManualClock(),
  extra: Partial<OpcuaSourceDeps> = {},
) {
  const source = new OpcuaSource(config, sink, {
    ...extra,
    clock,
    pkiDir: path.join(pkiRoot, 'client'),
    reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
    repairBackoff: { initialMs: 100, maxMs: 400 },
  });
  sources.push(source);
  return source;
}

let tank: TankServer;

beforeAll(async () => {
  tank = await startTankServer(await freePort());
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  await Promise.all(extraServers.splice(0).map((s) => s.shutdown(0)));
});

afterAll(async () => {
  await tank?.server.shutdown(0);
  rmSync(pkiRoot, { recursive: true, force: true });
});

describe('OpcuaSource against a real node-opcua server', () => {
  it('receives the initial value and a changed value with good quality and the source timestamp', async () => {
    const rec = recorder();
    const source = newSource(device(tank.port, [temperatureTag, pressureTag]), rec.sink);
    await source.start();
    await until(() => rec.of('TT-201').length > 0 && rec.of('PT-202').length > 0, 'initial values');
    expect(rec.of('TT-201')[0]).toMatchObject({ value: 21.5, quality: 'good' });
    expect(rec.of('PT-202')[0]).toMatchObject({ value: 101.3, quality: 'good' });

    const sourceTimestamp = new Date(Date.UTC(2026, 3, 1, 12, 0, 0));
    tank.temperature.setValueFromSource(
      new Variant({ dataType: DataType.Double, value: 48.25 }),
      StatusCodes.Good,
      sourceTimestamp,
    );
    await until(() => rec.of('TT-201').some((r) => r.value === 48.25), 'the changed value');
    expect(rec.of('TT-201').find((r) => r.value === 48.25)).toEqual({
      sensorId: 'TT-201',
      value: 48.25,
      quality: 'good',
      ts: sourceTimestamp.getTime(),
    });
    // Readings come in batches per notification, not one sink call per item.
    expect(rec.batches[0]!.length).toBe(2);
  });

  it('maps Uncertain and Bad status codes to quality, naming the status', async () => {
    const rec = recorder();
    const source = newSource(device(tank.port, [temperatureTag]), rec.sink);
    await source.start();
    await until(() => rec.of('TT-201').length > 0, 'initial value');

    tank.temperature.setValueFromSource(
      new Variant({ dataType: DataType.Double, value: 30 }),
      StatusCodes.UncertainLastUsableValue,
    );
    await until(() => rec.of('TT-201').some((r) => r.quality === 'uncertain'), 'uncertain');
    tank.temperature.setValueFromSource(
      new Variant({ dataType: DataType.Double, value: 31 }),
      StatusCodes.BadSensorFailure,
    );
    await until(() => rec.of('TT-201').some((r) => r.quality === 'bad'), 'bad');
    expect(rec.of('TT-201').find((r) => r.quality === 'uncertain')).toMatchObject({
      value: 30,
      reason: 'UncertainLastUsableValue',
    });
    expect(rec.of('TT-201').find((r) => r.quality === 'bad')).toMatchObject({
      value: null,
      reason: 'BadSensorFailure',
    });
    tank.temperature.setValueFromSource(new Variant({ dataType: DataType.Double, value: 21.5 }));
  });

  it('reports a node the server does not know as bad, and picks it up once it exists', async () => {
    const rec = recorder();
    const late = tag('XT-9', 'ns=1;s=Tank9.Level');
    const source = newSource(device(tank.port, [temperatureTag, late]), rec.sink);
    await source.start();
    await until(() => rec.of('XT-9').length > 0 && rec.of('TT-201').length > 0, 'both tags');
    expect(rec.of('XT-9')[0]).toMatchObject({
      quality: 'bad',
      value: null,
      reason: 'BadNodeIdUnknown',
    });
    expect(rec.of('TT-201')[0]).toMatchObject({ quality: 'good' });

    // As after a server restart that loads its address space late: the source
    // recreates the subscription until the item is accepted.
    const namespace = tank.server.engine.addressSpace!.getOwnNamespace();
    namespace.addVariable({
      organizedBy: tank.server.engine.addressSpace!.rootFolder.objects,
      browseName: 'Tank9Level',
      nodeId: 's=Tank9.Level',
      dataType: 'Double',
      minimumSamplingInterval: 50,
      value: new Variant({ dataType: DataType.Double, value: 3.5 }),
    });
    await until(() => rec.of('XT-9').some((r) => r.quality === 'good'), 'the late node');
    expect(rec.of('XT-9').find((r) => r.quality === 'good')).toMatchObject({ value: 3.5 });
    // Only the refused item was retried: the subscription (and TT-201) was left alone.
    expect(source.counters.subscriptionsCreated).toBe(1);
    expect(source.counters.itemRetries).toBeGreaterThanOrEqual(1);
    expect(rec.of('TT-201').every((r) => r.quality === 'good')).toBe(true);
  });

  it("starts without waiting for an unreachable server, reports 'comm lost' once, then connects", async () => {
    const port = await freePort();
    const rec = recorder();
    const statuses: DeviceStatusEvent[] = [];
    const source = newSource(device(port, [temperatureTag]), rec.sink, new ManualClock(), {
      onDeviceStatus: (e) => statuses.push(e),
    });
    await source.start();
    // start() resolved before the first connection attempt failed: nothing reported yet.
    expect(statuses).toEqual([]);
    expect(rec.batches).toEqual([]);
    await until(() => rec.of('TT-201').length > 0, "'comm lost'");
    expect(statuses.map((e) => e.online)).toEqual([false]);
    await new Promise((resolve) => setTimeout(resolve, 600)); // several connect retries
    expect(rec.of('TT-201')).toEqual([
      expect.objectContaining({ quality: 'bad', reason: 'comm lost', value: null }),
    ]);

    const late = await startTankServer(port);
    extraServers.push(late.server);
    await until(() => rec.of('TT-201').some((r) => r.quality === 'good'), 'a good value');
    expect(statuses.map((e) => e.online)).toEqual([false, true]);
  });

  it('comes back after a server restart without restarting the source', async () => {
    const port = await freePort();
    let restartable = await startTankServer(port);
    const rec = recorder();
    const source = newSource(device(port, [temperatureTag]), rec.sink);
    await source.start();
    await until(() => rec.of('TT-201').some((r) => r.quality === 'good'), 'a good value');

    await restartable.server.shutdown(0);
    await until(() => rec.of('TT-201').some((r) => r.reason === 'comm lost'), "'comm lost'");
    const before = rec.batches.length;
    restartable = await startTankServer(port);
    extraServers.push(restartable.server);
    restartable.temperature.setValueFromSource(
      new Variant({ dataType: DataType.Double, value: 55 }),
    );
    await until(
      () =>
        rec.batches
          .slice(before)
          .some((b) => b.some((r) => r.value === 55 && r.quality === 'good')),
      'the value from the restarted server',
      15_000,
    );
    expect(rec.of('TT-201').filter((r) => r.reason === 'comm lost')).toHaveLength(1);
  });
});

describe('OPC UA data-change deadband', () => {
  it('reports a change smaller than an absolute deadband not at all, a larger one at once', async () => {
    const rec = recorder();
    const config = {
      ...device(tank.port, [pressureTag]),
      deadband: { type: 'absolute', value: 1 },
    };
    const source = newSource(config as OpcuaDeviceConfig, rec.sink);
    await source.start();
    await until(() => rec.of('PT-202').length > 0, 'initial value');
    const set = (value: number) =>
      tank.pressure.setValueFromSource(new Variant({ dataType: DataType.Double, value }));
    set(101.8); // 0.5 from 101.3: inside the deadband
    await new Promise((resolve) => setTimeout(resolve, 300));
    set(103.5); // 2.2 away: reported
    await until(() => rec.of('PT-202').some((r) => r.value === 103.5), 'the large change');
    expect(rec.of('PT-202').map((r) => r.value)).toEqual([101.3, 103.5]);
    set(101.3);
  });
});

describe('a network cut between gateway and server', () => {
  it("flags the gap with 'comm lost' once and resumes the subscription by itself (2 s cut, scaled down from 20 s)", async () => {
    const proxy = await cuttableProxy(tank.port);
    const rec = recorder();
    const source = newSource(device(proxy.port, [temperatureTag]), rec.sink);
    try {
      await source.start();
      await until(() => rec.of('TT-201').some((r) => r.quality === 'good'), 'a good value');
      proxy.cut();
      await until(() => rec.of('TT-201').some((r) => r.reason === 'comm lost'), "'comm lost'");
      await new Promise((resolve) => setTimeout(resolve, 2000));
      proxy.restore();
      const before = rec.batches.length;
      tank.temperature.setValueFromSource(new Variant({ dataType: DataType.Double, value: 66.5 }));
      await until(
        () => rec.batches.slice(before).some((b) => b.some((r) => r.value === 66.5)),
        'the value after the cut',
        15_000,
      );
      expect(rec.of('TT-201').filter((r) => r.reason === 'comm lost')).toHaveLength(1);
    } finally {
      await source.stop();
      await proxy.close();
      tank.temperature.setValueFromSource(new Variant({ dataType: DataType.Double, value: 21.5 }));
    }
  });
});

describe('a network cut longer than the session timeout (the 5 min cut, scaled down)', () => {
  it('opens a new session and new monitored items by itself once the link is back', async () => {
    const proxy = await cuttableProxy(tank.port);
    const rec = recorder();
    // Session timeout 5 s and a 12 s cut: the server expires the session during the cut,
    // as a 5 min cut does against the default 60 s timeout. (The session timeout must stay
    // above the subscription's keep-alive interval, keep-alive count × publishing interval.)
    const source = newSource(device(proxy.port, [temperatureTag]), rec.sink, new ManualClock(), {
      sessionTimeoutMs: 5_000,
      reconnect: { initialDelayMs: 200, maxDelayMs: 1_000 },
    });
    const sessionsCreated: string[] = [];
    const sessionsClosed: string[] = [];
    const onCreate = (session: { sessionName?: string }) =>
      sessionsCreated.push(String(session.sessionName));
    const onClose = (session: { sessionName?: string }) =>
      sessionsClosed.push(String(session.sessionName));
    tank.server.on('create_session', onCreate);
    tank.server.on('session_closed', onClose);
    try {
      await source.start();
      await until(() => rec.of('TT-201').some((r) => r.quality === 'good'), 'a good value');
      expect(sessionsCreated).toHaveLength(1);
      proxy.cut();
      await until(() => rec.of('TT-201').some((r) => r.reason === 'comm lost'), "'comm lost'");
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      // The server has given up on the session: recovery cannot simply reactivate it.
      expect(sessionsClosed).toHaveLength(1);
      proxy.restore();
      const before = rec.batches.length;
      tank.temperature.setValueFromSource(new Variant({ dataType: DataType.Double, value: 77.25 }));
      await until(
        () => rec.batches.slice(before).some((b) => b.some((r) => r.value === 77.25)),
        'the value after the session expired',
        20_000,
      );
      expect(rec.of('TT-201').filter((r) => r.reason === 'comm lost')).toHaveLength(1);
      expect(sessionsCreated).toHaveLength(2); // a new session, not the expired one
    } finally {
      tank.server.off('create_session', onCreate);
      tank.server.off('session_closed', onClose);
      await source.stop();
      await proxy.close();
      tank.temperature.setValueFromSource(new Variant({ dataType: DataType.Double, value: 21.5 }));
    }
  }, 60_000);
});

describe('a server that refuses subscriptions', () => {
  it('falls back to polling with Read and still reports changes', async () => {
    const capabilities = tank.server.engine.serverCapabilities;
    const allowed = capabilities.maxSubscriptionsPerSession;
    capabilities.maxSubscriptionsPerSession = 0; // every CreateSubscription: BadTooManySubscriptions
    const rec = recorder();
    const source = newSource(device(tank.port, [temperatureTag]), rec.sink);
    try {
      await source.start();
      await until(() => rec.of('TT-201').some((r) => r.quality === 'good'), 'a good value');
      tank.temperature.setValueFromSource(new Variant({ dataType: DataType.Double, value: 55.5 }));
      await until(() => rec.of('TT-201').some((r) => r.value === 55.5), 'the changed value');
      expect(tank.server.engine.currentSubscriptionCount).toBe(0);
    } finally {
      capabilities.maxSubscriptionsPerSession = allowed;
      await source.stop();
      tank.temperature.setValueFromSource(new Variant({ dataType: DataType.Double, value: 21.5 }));
    }
  });
});

describe("readMode 'poll'", () => {
  it('reads every tag each sampling interval with Read, without a subscription; an unchanged sample is one reading', async () => {
    const rec = recorder();
    const config = {
      ...device(tank.port, [pressureTag]),
      readMode: 'poll',
      samplingIntervalMs: 50,
    };
    const source = newSource(config as OpcuaDeviceConfig, rec.sink);
    await source.start();
    await until(() => rec.of('PT-202').length >= 1, 'the first polled value');
    await new Promise((resolve) => setTimeout(resolve, 300)); // about 6 polls
    // The server's source timestamp did not move: the same sample is not repeated.
    expect(rec.of('PT-202')).toHaveLength(1);
    tank.pressure.setValueFromSource(new Variant({ dataType: DataType.Double, value: 99.5 }));
    await until(() => rec.of('PT-202').some((r) => r.value === 99.5), 'the changed value');
    expect(rec.of('PT-202')).toHaveLength(2);
    expect(source.counters.subscriptionsCreated).toBe(0);
    tank.pressure.setValueFromSource(new Variant({ dataType: DataType.Double, value: 101.3 }));
  });
});

describe('status code severity', () => {
  it('reads quality from the two top bits', () => {
    expect(qualityOf(StatusCodes.Good)).toBe('good');
    expect(qualityOf(StatusCodes.GoodClamped)).toBe('good');
    expect(qualityOf(StatusCodes.UncertainInitialValue)).toBe('uncertain');
    expect(qualityOf(StatusCodes.BadNodeIdUnknown)).toBe('bad');
    expect(new DataValue({ statusCode: StatusCodes.BadCommunicationError }).statusCode.name).toBe(
      'BadCommunicationError',
    );
  });
});
