import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, PortInUseError } from '../../common/net.js';
import { MqttBroker } from '../../server/broker.js';
import { CentralServer } from '../../server/central-server.js';
import { configFromArgs, parseServerConfig } from '../../server/config/index.js';

/** Holds a port the way another program would. */
async function occupy(): Promise<{ port: number; release: () => Promise<void> }> {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const address = blocker.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { port, release: () => new Promise<void>((resolve) => blocker.close(() => resolve())) };
}

describe('MQTT broker', () => {
  let broker: MqttBroker | null = null;
  let release: (() => Promise<void>) | null = null;

  afterEach(async () => {
    await broker?.stop();
    broker = null;
    await release?.();
    release = null;
  });

  it('names a taken port and how to choose another', async () => {
    const taken = await occupy();
    release = taken.release;
    broker = new MqttBroker({ port: taken.port });
    const failure = broker.start();
    await expect(failure).rejects.toBeInstanceOf(PortInUseError);
    await expect(failure).rejects.toThrow(
      `MQTT broker: port ${taken.port} is already in use; choose another with --mqtt-port or HAZARDWATCH_MQTT_PORT`,
    );
  });

  it('closes every connection at once when it stops, even one that never sent CONNECT', async () => {
    // Nothing but stop() may close these within the test's timeout: no CONNECT
    // deadline at the broker, no keepalive at the client.
    broker = new MqttBroker({ port: 0, connectTimeoutMs: 3_600_000 });
    await broker.start();
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
      reconnectPeriod: 0,
      keepalive: 0,
    });
    const silent = net.connect(broker.port, '127.0.0.1');
    await new Promise((resolve) => silent.once('connect', resolve));
    const silentClosed = new Promise((resolve) => silent.once('close', resolve));
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));

    // Both still open just before stop(); stop() resolves and both close (a broker
    // waiting for its clients to leave would hang here until the test times out).
    expect(client.connected).toBe(true);
    expect(silent.readyState).toBe('open');
    await broker.stop();
    await Promise.all([silentClosed, clientClosed]);
    expect(client.disconnecting).toBe(false); // closed by the broker, not by the client
    await broker.stop(); // safe twice
    await client.endAsync(true);
  });
});

describe('central server', () => {
  let server: CentralServer | null = null;
  let release: (() => Promise<void>) | null = null;

  afterEach(async () => {
    await server?.stop();
    server = null;
    await release?.();
    release = null;
  });

  it('reports a taken HTTP port by name and leaves nothing running', async () => {
    const taken = await occupy();
    release = taken.release;
    const mqttPort = await freePort();
    server = new CentralServer(
      parseServerConfig({
        http: { port: taken.port },
        mqtt: { port: mqttPort },
        store: { path: ':memory:' },
      }),
      { dashboard: false },
    );
    await expect(server.start()).rejects.toThrow(
      `HTTP API: port ${taken.port} is already in use; choose another with --http-port or HAZARDWATCH_HTTP_PORT`,
    );
    // The broker it had started is closed again: its port is free.
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(mqttPort, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  it('starts on free ports, reports them, and stops twice without complaint', async () => {
    server = new CentralServer(
      parseServerConfig({ http: { port: 0 }, mqtt: { port: 0 }, store: { path: ':memory:' } }),
    );
    await server.start();
    expect(server.httpPort).toBeGreaterThan(0);
    expect(server.mqttPort).toBeGreaterThan(0);
    const health = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/health`);
    expect(health.status).toBe(200);
    await server.stop();
    await server.stop();
    expect(server.httpPort).toBe(0);
  });
});

describe('command line', () => {
  it('takes ports from flags before the environment, and the rest from defaults', () => {
    const config = configFromArgs(['--http-port', '9001'], {
      HAZARDWATCH_HTTP_PORT: '9002',
      HAZARDWATCH_MQTT_PORT: '2884',
    });
    expect(config?.http.port).toBe(9001);
    expect(config?.mqtt.port).toBe(2884);
    expect(config?.store.path).toBe('data/hazardwatch.db');
  });

  it('server/main.ts ignored HAZARDWATCH_NODE_ID and HAZARDWATCH_BROKER_PASSWORD: now a node takes them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-node-env-'));
    const file = join(dir, 'node.yaml');
    writeFileSync(
      file,
      'mqtt: { mode: external, url: "mqtt://broker:1883", username: hazardwatch-node }\n',
    );
    try {
      const config = configFromArgs(['--config', file], {
        HAZARDWATCH_NODE_ID: 'node-7',
        HAZARDWATCH_BROKER_PASSWORD: 'from-the-environment',
      });
      expect(config?.node?.id).toBe('node-7');
      expect(config?.mqtt).toMatchObject({ mode: 'external', password: 'from-the-environment' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names a port that is not a number', () => {
    expect(() => configFromArgs(['--mqtt-port', 'eighty'], {})).toThrow(
      "mqtt.port: must be integer (got 'eighty')",
    );
  });

  it('returns nothing for --help', () => {
    expect(configFromArgs(['--help'], {})).toBeNull();
  });
});
