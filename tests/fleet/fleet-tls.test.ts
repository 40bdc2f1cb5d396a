/**
 * A managed gateway whose broker has a certificate from a private CA: the CA given at
 * enrolment (`--ca-file`) is kept in the identity and used by the fleet link and, since the
 * pushed version names no TLS files of its own, by the uplink too.
 *
 * Bug (review of issue 17): the fleet agent's MQTT link ignored the uplink's TLS options, so
 * with an mqtts:// broker and a private CA it never connected and no version was ever applied.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makePki, type TestPki } from '../server/broker-harness.js';
import {
  type FleetHarness,
  gatewayYaml,
  methaneRules,
  startDetector,
  startFleetServer,
  until,
} from './harness.js';

let pkiDir: string;
let pki: TestPki;
beforeAll(() => {
  pkiDir = mkdtempSync(path.join(os.tmpdir(), 'hw-fleet-pki-'));
  pki = makePki(pkiDir, []);
});
afterAll(() => rmSync(pkiDir, { recursive: true, force: true }));

let fleet: FleetHarness | undefined;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  await fleet?.stop();
  fleet = undefined;
});

describe('fleet link over TLS with a private CA', () => {
  it('fleet agent TLS: connects with the enrolment CA, applies the pushed version, and its uplink reaches the broker too', async () => {
    fleet = await startFleetServer({
      mqttTls: { certFile: pki.serverCert, keyFile: pki.serverKey },
    });
    const sim = await startDetector(cleanups);
    const { agent } = await fleet.enrolAndStart(await fleet.token('ent-a', 'gw-tls'), {
      tls: { caFile: pki.caCert },
    });
    await fleet.api('POST', '/api/v1/fleet/gateways/gw-tls/versions', {
      config: gatewayYaml([{ id: 'det-1', port: sim.port, sensorId: 'GT-101' }], ['gas.yaml']),
      rules: [{ file: 'gas.yaml', text: methaneRules('GT-101') }],
      reason: 'commissioning',
    });
    await until(() => (agent.runningVersion === 1 ? true : undefined), 'version 1 applied');
    const gateway = agent.current;
    expect(gateway?.config.uplink.url).toMatch(/^mqtts:\/\//);
    expect(gateway?.config.uplink.tls?.caFile).toBe(pki.caCert);
    await until(() => (gateway?.uplink.connected ? true : undefined), 'the uplink over TLS');
  }, 30_000);
});
