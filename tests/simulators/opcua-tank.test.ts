import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  AttributeIds,
  type ClientSession,
  OPCUACertificateManager,
  OPCUAClient,
  VariableIds,
} from 'node-opcua';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { PortInUseError } from '../../common/net.js';
import {
  DEMO_TANK_NODE_IDS,
  DEMO_TANKS,
  type OpcuaTankOptions,
  OpcuaTankSimulator,
  TANK_NAMESPACE_URI,
} from '../../simulators/opcua-tank.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startTanks(options: Partial<OpcuaTankOptions> = {}): Promise<OpcuaTankSimulator> {
  const tanks = new OpcuaTankSimulator({ port: 0, tanks: DEMO_TANKS, tickMs: 0, ...options });
  cleanups.push(() => tanks.stop());
  await tanks.start();
  return tanks;
}

async function openSession(endpointUrl: string): Promise<ClientSession> {
  const client = OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100 },
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: path.join(os.tmpdir(), 'hazardwatch-pki-test-client'),
      automaticallyAcceptUnknownCertificate: true,
    }),
  });
  await client.connect(endpointUrl);
  const session = await client.createSession();
  cleanups.push(async () => {
    await session.close().catch(() => {});
    await client.disconnect();
  });
  return session;
}

async function readValue(session: ClientSession, nodeId: string) {
  return await session.read({ nodeId, attributeId: AttributeIds.Value });
}

describe('OpcuaTankSimulator', () => {
  it('serves tank variables under their documented NodeIds in namespace 1', async () => {
    const tanks = await startTanks();
    expect(tanks.endpointUrl).toBe(`opc.tcp://127.0.0.1:${tanks.port}`);
    const session = await openSession(tanks.endpointUrl);
    const namespaces = await readValue(session, `ns=0;i=${VariableIds.Server_NamespaceArray}`);
    expect(namespaces.value.value[1]).toBe(TANK_NAMESPACE_URI);

    const temperature = await readValue(session, 'ns=1;s=Tank1.Temperature');
    expect(temperature.statusCode.isGood()).toBe(true);
    expect(temperature.value.value).toBeCloseTo(18, 0);
    const pressure = await readValue(session, DEMO_TANK_NODE_IDS.Tank2!.Pressure);
    expect(pressure.value.value).toBeCloseTo(0.004, 2);
    expect(tanks.nodeId('Tank1', 'Level')).toBe('ns=1;s=Tank1.Level');
  });

  it('shows a value set by setValue at once, stamped with the injected clock', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 8, 30));
    const tanks = await startTanks({ clock });
    const session = await openSession(tanks.endpointUrl);
    clock.advance(1234);
    tanks.setValue('Tank1', 'Pressure', 1.75);
    const read = await readValue(session, 'ns=1;s=Tank1.Pressure');
    expect(read.value.value).toBe(1.75);
    expect(read.sourceTimestamp?.getTime()).toBe(clock.now());
    tanks.tick(); // held: drift does not move it
    expect((await readValue(session, 'ns=1;s=Tank1.Pressure')).value.value).toBe(1.75);
    tanks.release('Tank1', 'Pressure');
    tanks.tick();
    expect((await readValue(session, 'ns=1;s=Tank1.Pressure')).value.value).toBeCloseTo(0.95, 1);
  });

  it('answers BadNodeIdUnknown for a variable that does not exist', async () => {
    const tanks = await startTanks();
    const session = await openSession(tanks.endpointUrl);
    const read = await readValue(session, 'ns=1;s=Tank9.Temperature');
    expect(read.statusCode.name).toBe('BadNodeIdUnknown');
    expect(() => tanks.setValue('Tank9', 'Level', 1)).toThrow(/no variable 'Tank9.Level'/);
  });

  it('listens on the same port again after stop() and start(), like a restarted PLC', async () => {
    const tanks = await startTanks();
    const port = tanks.port;
    await tanks.stop();
    await tanks.stop(); // safe twice
    await tanks.start();
    expect(tanks.port).toBe(port);
    const session = await openSession(tanks.endpointUrl);
    expect((await readValue(session, 'ns=1;s=Tank2.Level')).statusCode.isGood()).toBe(true);
  });

  it('rejects with PortInUseError naming the port when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const port = (blocker.address() as net.AddressInfo).port;
    const tanks = new OpcuaTankSimulator({ port, tanks: DEMO_TANKS });
    cleanups.push(() => tanks.stop());
    const error = await tanks.start().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PortInUseError);
    expect((error as Error).message).toContain(`port ${port} is already in use`);
  });

  it('grants the publishing interval a client asks for down to minPublishingIntervalMs, and puts node-opcua’s floor back at stop', async () => {
    const requestPublishing = async (tanks: OpcuaTankSimulator) => {
      const session = await openSession(tanks.endpointUrl);
      const subscription = await session.createSubscription2({
        requestedPublishingInterval: 10,
        requestedMaxKeepAliveCount: 10,
        requestedLifetimeCount: 100,
        publishingEnabled: true,
      });
      const granted = subscription.publishingInterval;
      await subscription.terminate();
      return granted;
    };
    const fast = await startTanks({ minPublishingIntervalMs: 10 });
    expect(await requestPublishing(fast)).toBe(10);
    await fast.stop();
    const usual = await startTanks();
    expect(await requestPublishing(usual)).toBe(50); // node-opcua's default floor
  });

  it('refuses a minPublishingIntervalMs that is not a whole number of ms', async () => {
    const tanks = new OpcuaTankSimulator({
      port: 0,
      tanks: DEMO_TANKS,
      minPublishingIntervalMs: 0,
    });
    await expect(tanks.start()).rejects.toThrow(/minPublishingIntervalMs.*got 0/);
  });
});
