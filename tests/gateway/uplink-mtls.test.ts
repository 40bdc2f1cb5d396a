/**
 * The gateway's uplink over mutual TLS, against the real central server in
 * `mqtt.auth.mode: mtls` with a TLS listener. Certificates come from the
 * openssl CLI (tests/server/broker-harness.ts); a missing openssl fails the suite.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import { ConfigError, loadGatewayConfig, parseGatewayConfig } from '../../gateway/config/index.js';
import { Gateway } from '../../gateway/gateway.js';
import { MqttUplink } from '../../gateway/uplink/mqtt-uplink.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { makePki, type TestPki } from '../server/broker-harness.js';
import { waitFor } from '../server/fixtures.js';

const ENTERPRISE = 'ent-01';

let dir: string;
let pki: TestPki;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hw-gw-mtls-'));
  pki = makePki(dir, ['gw-01', 'gw-02']);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startMtlsServer(): Promise<CentralServer> {
  const server = new CentralServer(
    parseServerConfig({
      http: { port: 0 },
      mqtt: {
        port: 0,
        auth: {
          mode: 'mtls',
          users: ['gw-01', 'gw-02'].map((username) => ({
            username,
            role: 'gateway',
            enterpriseId: ENTERPRISE,
          })),
        },
        tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caCert },
      },
      store: { path: ':memory:' },
    }),
    { dashboard: false },
  );
  cleanups.push(() => server.stop());
  await server.start();
  return server;
}

/**
 * Writes a gateway config file into the PKI folder, naming the TLS files
 * relative to it (the loader resolves them against the file's folder).
 */
async function writeGatewayConfig(
  gatewayId: string,
  mqttPort: number,
  certOf: string,
): Promise<string> {
  const modbusPort = await freePort(); // nothing listens: acquisition just retries
  const file = path.join(dir, `${gatewayId}-with-${certOf}.yaml`);
  writeFileSync(
    file,
    `
gateway: { id: ${gatewayId}, enterpriseId: ${ENTERPRISE} }
uplink:
  url: mqtts://127.0.0.1:${mqttPort}
  publishIntervalMs: 50
  tls:
    caFile: ca.pem
    certFile: client-${certOf}.pem
    keyFile: client-${certOf}.key
devices:
  - id: dev-1
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${modbusPort}
    tags:
      - { sensorId: GT-1, name: Methane, kind: gas, gas: methane, unit: '%LEL', rangeMin: 0, rangeMax: 100, register: { table: input, address: 0, type: float32 } }
`,
  );
  return file;
}

async function startGateway(file: string): Promise<Gateway> {
  const gateway = new Gateway(loadGatewayConfig(file, { env: {} }));
  cleanups.push(() => gateway.stop());
  await gateway.start();
  return gateway;
}

const methane = (value: number) => ({
  sensorId: 'GT-1',
  value,
  quality: 'good' as const,
  ts: Date.now(),
});

describe('a gateway uplink over mutual TLS to the central server', () => {
  it('connects over mqtts:// with a certificate naming its own id, and its telemetry is stored', async () => {
    const server = await startMtlsServer();
    const gateway = await startGateway(await writeGatewayConfig('gw-01', server.mqttPort, 'gw-01'));
    await waitFor(() => gateway.uplink.connected, 'the TLS connection');
    gateway.uplink.publishReadings([methane(12.5)]);
    // The device itself is unreachable, so acquisition may store a bad reading of GT-1 first:
    // wait for the value published here.
    const stored = await waitFor(
      async () =>
        (
          await server.store.queryRange({
            gatewayId: 'gw-01',
            sensorId: 'GT-1',
            from: 0,
            to: Date.now() + 60_000,
            limit: 100,
          })
        ).find((r) => r.value === 12.5),
      'the reading in the store',
    );
    expect(stored).toMatchObject({ enterpriseId: ENTERPRISE, value: 12.5 });
    expect(server.ingest.metrics().readings).toBeGreaterThan(0);
    expect(server.audit.recent()).toEqual([]);
  });

  it('is refused when its certificate names another gateway, and nothing of it is stored', async () => {
    const server = await startMtlsServer();
    const gateway = await startGateway(await writeGatewayConfig('gw-02', server.mqttPort, 'gw-01'));
    gateway.uplink.publishReadings([methane(40)]);
    const refusal = await waitFor(
      () =>
        server.audit.recent().find((r) => r.event === 'connect-refused' && r.clientId === 'gw-02'),
      'the refusal in the audit log',
    );
    expect(refusal.reason).toBe("client id 'gw-02' is not the authenticated identity 'gw-01'");
    // One reconnect period (1 s) later it is still out, and still holds its reading.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(gateway.uplink.connected).toBe(false);
    expect(server.store.latest().filter((r) => r.gatewayId === 'gw-02')).toEqual([]);
    expect(server.ingest.metrics()).toMatchObject({ readings: 0, statusMessages: 0 });
    expect(gateway.uplink.health?.().backlog.telemetry.readings).toBeGreaterThan(0);
  });
});

describe('uplink.tls in the gateway configuration', () => {
  const base = (uplink: string) => `
gateway: { id: gw-01, enterpriseId: ent-01 }
uplink:
${uplink}
devices:
  - id: dev-1
    protocol: modbus-tcp
    host: 127.0.0.1
    tags:
      - { sensorId: GT-1, name: Methane, kind: gas, gas: methane, unit: '%LEL', register: { table: input, address: 0, type: float32 } }
`;
  const parse = (uplink: string) =>
    parseGatewayConfig(base(uplink), 'gw.yaml', { env: {}, baseDir: '/etc/hazardwatch' });
  const errors = (uplink: string): readonly string[] => {
    try {
      parse(uplink);
    } catch (err) {
      if (err instanceof ConfigError) return err.lines;
      throw err;
    }
    throw new Error('the configuration was accepted');
  };

  it('resolves relative file paths against the config folder and verifies the broker by default', () => {
    const config = parse(`  url: mqtts://broker:8883
  tls: { caFile: pki/ca.pem, certFile: /abs/gw.pem, keyFile: gw.key, servername: broker.example }`);
    expect(config.uplink.tls).toEqual({
      caFile: '/etc/hazardwatch/pki/ca.pem',
      certFile: '/abs/gw.pem',
      keyFile: '/etc/hazardwatch/gw.key',
      rejectUnauthorized: true,
      servername: 'broker.example',
    });
  });

  it('names the missing key of a certificate or key given alone, and a url that is not TLS', () => {
    expect(errors('  url: mqtts://broker:8883\n  tls: { certFile: gw.pem }')).toEqual([
      'uplink.tls.keyFile: is required with certFile',
    ]);
    expect(errors('  url: mqtts://broker:8883\n  tls: { keyFile: gw.key }')).toEqual([
      'uplink.tls.certFile: is required with keyFile',
    ]);
    expect(errors('  url: mqtt://broker:1883\n  tls: { caFile: ca.pem }')).toEqual([
      "uplink.url: must be an mqtts:// or wss:// url when uplink.tls is set (got 'mqtt://broker:1883')",
    ]);
    expect(errors('  url: mqtts://broker:8883\n  tls: { cafile: ca.pem }')[0]).toMatch(
      /^uplink\.tls\.cafile: unknown key; did you mean 'caFile'\?/,
    );
  });

  it('refuses to start an uplink whose certificate file cannot be read, naming the file', async () => {
    const missing = path.join(dir, 'no-such-cert.pem');
    const uplink = new MqttUplink({
      url: 'mqtts://127.0.0.1:1',
      gatewayId: 'gw-01',
      enterpriseId: ENTERPRISE,
      sensors: [],
      clock: systemClock,
      tls: { caFile: pki.caCert, certFile: missing, keyFile: pki.client('gw-01').key },
    });
    cleanups.push(() => uplink.stop());
    await expect(uplink.start()).rejects.toThrow(
      `uplink TLS certFile '${missing}' cannot be read: ENOENT`,
    );
    expect(uplink.connected).toBe(false);
  });
});
