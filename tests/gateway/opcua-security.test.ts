import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { OpcuaSource } from '../../gateway/acquisition/opcua/opcua-source.js';
import type { OpcuaDeviceConfig } from '../../gateway/config/types.js';
import type { Reading } from '../../protocol/payloads.js';
import { type OpcuaTankSecurity, OpcuaTankSimulator } from '../../simulators/opcua-tank.js';

const root = mkdtempSync(path.join(tmpdir(), 'hw-opcua-sec-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

const SECURE: OpcuaTankSecurity = {
  modes: ['Sign', 'SignAndEncrypt'],
  users: [{ username: 'operator', password: 'correct horse' }],
};

async function secureServer(name: string): Promise<OpcuaTankSimulator> {
  const sim = new OpcuaTankSimulator({
    port: 0,
    tanks: [{ id: 'Tank1' }],
    tickMs: 0,
    pkiDir: path.join(root, `server-${name}`),
    security: SECURE,
  });
  await sim.start();
  running.push(sim);
  return sim;
}

/** Puts the server's own certificate into the client's trust list, as an engineer would. */
function trust(serverPki: string, clientPki: string): void {
  const own = path.join(serverPki, 'own', 'certs');
  const trusted = path.join(clientPki, 'trusted', 'certs');
  mkdirSync(trusted, { recursive: true });
  for (const file of readdirSync(own)) copyFileSync(path.join(own, file), path.join(trusted, file));
}

function device(
  sim: OpcuaTankSimulator,
  extra: Partial<OpcuaDeviceConfig> = {},
): OpcuaDeviceConfig {
  return {
    id: 'secure-tank',
    protocol: 'opcua',
    endpointUrl: sim.endpointUrl,
    securityMode: 'SignAndEncrypt',
    securityPolicy: 'Basic256Sha256',
    username: 'operator',
    password: 'correct horse',
    samplingIntervalMs: 100,
    tags: [
      {
        sensorId: 'TT-1',
        name: 'T',
        kind: 'temperature',
        unit: '°C',
        nodeId: sim.nodeId('Tank1', 'Temperature'),
      },
    ],
    ...extra,
  };
}

function start(config: OpcuaDeviceConfig, pkiDir: string) {
  const readings: Reading[] = [];
  const source = new OpcuaSource(config, (r) => readings.push(...r), {
    clock: new ManualClock(),
    pkiDir,
    reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
    repairBackoff: { initialMs: 200, maxMs: 400 },
  });
  running.push(source);
  return { source, readings, started: source.start() };
}

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('OPC UA security', () => {
  it('reads a SignAndEncrypt Basic256Sha256 server it trusts, with username and password', async () => {
    const sim = await secureServer('trusted');
    const clientPki = path.join(root, 'client-trusting');
    trust(path.join(root, 'server-trusted'), clientPki);
    const { readings, started } = start(device(sim), clientPki);
    await started;
    await until(() => readings.some((r) => r.quality === 'good'), 'a good reading');
    expect(readings.find((r) => r.quality === 'good')).toMatchObject({
      sensorId: 'TT-1',
      value: sim.getValue('Tank1', 'Temperature'),
    });
  });

  it('reads the same server with Sign only', async () => {
    const sim = await secureServer('trusted');
    const clientPki = path.join(root, 'client-trusting');
    trust(path.join(root, 'server-trusted'), clientPki);
    const { readings, started } = start(device(sim, { securityMode: 'Sign' }), clientPki);
    await started;
    await until(() => readings.some((r) => r.quality === 'good'), 'a good reading');
  });

  it('refuses a server whose certificate is not in the trust list, and keeps it in rejected/', async () => {
    const sim = await secureServer('stranger');
    const clientPki = path.join(root, 'client-refusing');
    const { source, readings, started } = start(device(sim), clientPki);
    await started;
    await until(() => source.counters.untrustedServer >= 2, 'two refused attempts');
    expect(readings.filter((r) => r.quality === 'good')).toEqual([]);
    expect(readings).toEqual([expect.objectContaining({ quality: 'bad', reason: 'comm lost' })]);
    expect(readdirSync(path.join(clientPki, 'rejected')).length).toBeGreaterThan(0);
  });

  it('accepts an unknown server only when the config says trustUnknownServer', async () => {
    const sim = await secureServer('stranger');
    const clientPki = path.join(root, 'client-trust-all');
    const { readings, started } = start(device(sim, { trustUnknownServer: true }), clientPki);
    await started;
    await until(() => readings.some((r) => r.quality === 'good'), 'a good reading');
  });

  it('creates its own certificate once and keeps it across restarts', async () => {
    const sim = await secureServer('trusted');
    const clientPki = path.join(root, 'client-kept');
    trust(path.join(root, 'server-trusted'), clientPki);
    const first = start(device(sim), clientPki);
    await first.started;
    await until(() => first.readings.some((r) => r.quality === 'good'), 'a good reading');
    await first.source.stop();
    const ownCerts = path.join(clientPki, 'own', 'certs');
    const files = readdirSync(ownCerts).filter((f) => f.endsWith('.pem'));
    expect(files.length).toBeGreaterThan(0);
    const before = files.map((f) => readFileSync(path.join(ownCerts, f), 'utf8'));
    const second = start(device(sim), clientPki);
    await second.started;
    await until(() => second.readings.some((r) => r.quality === 'good'), 'a good reading again');
    expect(files.map((f) => readFileSync(path.join(ownCerts, f), 'utf8'))).toEqual(before);
    expect(existsSync(path.join(clientPki, 'own', 'private'))).toBe(true);
  });

  it('gets no value with a wrong password, and says comm lost once', async () => {
    const sim = await secureServer('trusted');
    const clientPki = path.join(root, 'client-trusting');
    trust(path.join(root, 'server-trusted'), clientPki);
    const { readings, started } = start(device(sim, { password: 'wrong' }), clientPki);
    await started;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(readings.filter((r) => r.quality === 'good')).toEqual([]);
    expect(readings.filter((r) => r.reason === 'comm lost')).toHaveLength(1);
  });
});
