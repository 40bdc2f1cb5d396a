/**
 * The trust workflow a plant engineer follows: the gateway refuses an unknown server
 * certificate and says so once; `gateway trust-server` lists it and trusts it by
 * thumbprint; the running gateway connects at its next attempt, without a restart, and
 * node-opcua's certificate dump never reaches the console meanwhile.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { OpcuaSource } from '../../gateway/acquisition/opcua/opcua-source.js';
import type { OpcuaDeviceConfig } from '../../gateway/config/types.js';
import { listRejected, pkiDirOf, runTrustServer } from '../../gateway/trust-server.js';
import type { Reading } from '../../protocol/payloads.js';
import { OpcuaTankSimulator } from '../../simulators/opcua-tank.js';
import { until } from './opcua-fixture.js';

const root = mkdtempSync(path.join(tmpdir(), 'hw-trust-'));
const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
  vi.restoreAllMocks();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = runTrustServer(
    args,
    (l) => out.push(l),
    (l) => err.push(l),
    {},
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('gateway trust-server', () => {
  it('lists the refused server certificate and trusts it by thumbprint; the gateway connects without a restart', async () => {
    const sim = new OpcuaTankSimulator({
      port: 0,
      tanks: [{ id: 'Tank1' }],
      tickMs: 0,
      pkiDir: path.join(root, 'server'),
      security: { modes: ['SignAndEncrypt'], users: [] },
    });
    await sim.start();
    running.push(sim);
    const dataDir = path.join(root, 'data');
    const pkiDir = path.join(dataDir, 'pki');
    const readings: Reading[] = [];
    const config: OpcuaDeviceConfig = {
      id: 'stranger',
      protocol: 'opcua',
      endpointUrl: sim.endpointUrl,
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
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
    };
    const consoleLines: string[] = [];
    const capture = (...args: unknown[]) => {
      consoleLines.push(args.map(String).join(' '));
    };
    vi.spyOn(console, 'log').mockImplementation(capture);
    vi.spyOn(console, 'warn').mockImplementation(capture);
    vi.spyOn(console, 'error').mockImplementation(capture);
    const source = new OpcuaSource(config, (r) => readings.push(...r), {
      clock: new ManualClock(),
      pkiDir,
      reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
      repairBackoff: { initialMs: 200, maxMs: 400 },
    });
    running.push(source);
    await source.start();
    await until(() => source.counters.untrustedServer >= 3, 'three refused attempts', 15_000);
    // node-opcua's certificate dump (base64 at every retry) stays out of the console.
    expect(consoleLines.filter((l) => /[A-Za-z0-9+/=]{64,}/.test(l))).toEqual([]);

    const listed = run(['--data-dir', dataDir]);
    expect(listed.code).toBe(0);
    const [rejected] = listRejected(pkiDir);
    expect(rejected?.thumbprint).toMatch(/^[0-9A-F]{40}$/);
    expect(listed.out).toContain(rejected!.thumbprint);

    const trusted = run(['--data-dir', dataDir, rejected!.thumbprint.slice(0, 12).toLowerCase()]);
    expect(trusted).toMatchObject({ code: 0, err: '' });
    expect(readdirSync(path.join(pkiDir, 'trusted', 'certs'))).toContain(rejected!.file);
    await until(() => readings.some((r) => r.quality === 'good'), 'a good reading', 20_000);
  }, 40_000);

  it('says what did not match, and refuses two certificates at once', () => {
    const pkiDir = path.join(root, 'empty-pki');
    mkdirSync(path.join(pkiDir, 'rejected'), { recursive: true });
    writeFileSync(path.join(pkiDir, 'rejected', 'junk.pem'), 'not a certificate');
    expect(run(['--pki-dir', pkiDir]).out).toContain('junk.pem  (not a certificate');
    expect(run(['--pki-dir', pkiDir, 'ABCDEF0123'])).toMatchObject({
      code: 1,
      err: expect.stringContaining("no rejected certificate matches 'ABCDEF0123'"),
    });
    expect(run(['--pki-dir', pkiDir, 'a', 'b']).code).toBe(2);
    expect(run(['--bogus']).code).toBe(2);
  });

  it('finds the PKI folder where the gateway keeps it', () => {
    expect(pkiDirOf({ 'data-dir': '/var/lib/hw' })).toBe('/var/lib/hw/pki');
    expect(pkiDirOf({}, { HAZARDWATCH_DATA_DIR: '/srv/gw' })).toBe('/srv/gw/pki');
    expect(pkiDirOf({}, {})).toBe(path.join('data/gateway', 'pki'));
    expect(pkiDirOf({ 'pki-dir': '/etc/hw/pki', 'data-dir': '/x' })).toBe('/etc/hw/pki');
  });
});
