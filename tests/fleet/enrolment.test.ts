/**
 * Enrolment against the real server: a gateway with only the server's address and a one-time
 * token enrols, stores its identity (0600) and streams once a version is pushed; a used or
 * expired token is refused; a revoked gateway is disconnected and refused.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnrolmentError, enrolGateway, identityPaths } from '../../gateway/fleet/identity.js';
import {
  type FleetHarness,
  gatewayYaml,
  methaneRules,
  startDetector,
  startFleetServer,
  until,
} from './harness.js';

let fleet: FleetHarness;
const cleanups: (() => Promise<unknown>)[] = [];
beforeEach(async () => {
  fleet = await startFleetServer();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  await fleet.stop();
});

describe('enrolment', () => {
  it('a gateway started with only an address and a token enrols, then streams the version pushed to it', async () => {
    const detector = await startDetector(cleanups, 7);

    const token = await fleet.token('ent-a', 'gw-new-1');
    const { agent, dataDir } = await fleet.enrolAndStart(token);
    const files = identityPaths(dataDir);
    expect(statSync(files.identity).mode & 0o777).toBe(0o600);
    expect(statSync(files.key).mode & 0o777).toBe(0o600);

    const seen = await fleet.api<{ gateways: { gatewayId: string; enterpriseId: string }[] }>(
      'GET',
      '/api/v1/fleet/gateways',
    );
    expect(seen.body.gateways).toEqual([
      expect.objectContaining({ gatewayId: 'gw-new-1', enterpriseId: 'ent-a' }),
    ]);

    const pushed = await fleet.api<{ version: number }>(
      'POST',
      '/api/v1/fleet/gateways/gw-new-1/versions',
      {
        config: gatewayYaml(
          [{ id: 'det-1', port: detector.port, sensorId: 'GT-101' }],
          ['gas.yaml'],
        ),
        rules: [{ file: 'gas.yaml', text: methaneRules('GT-101') }],
        reason: 'commissioning: first gas detector',
      },
    );
    expect(pushed).toMatchObject({ status: 200, body: { version: 1 } });
    await until(() => (agent.runningVersion === 1 ? true : undefined), 'version 1 running');
    // The server stores the detector's readings: the gateway streams with its enrolled password.
    const reading = await until(
      () => fleet.server.store.latest().find((r) => r.sensorId === 'GT-101' && r.value === 7),
      'a stored reading of GT-101',
    );
    expect(reading).toMatchObject({ gatewayId: 'gw-new-1', enterpriseId: 'ent-a' });
    expect(path.basename(path.dirname(files.identity))).toBe('fleet');
  });

  it('refuses a token used once already, and an expired one, naming why', async () => {
    const token = await fleet.token('ent-a');
    await fleet.enrolAndStart(token);
    const again = enrolGateway({ serverUrl: fleet.baseUrl, token, dataDir: `${fleet.dir}/again` });
    await expect(again).rejects.toBeInstanceOf(EnrolmentError);
    await expect(again).rejects.toThrow(/\(401\): enrolment token unknown or already used/);

    const shortLived = await fleet.token('ent-a', undefined, 60 * 60_000);
    fleet.serverClock.advance(60 * 60_000 + 1); // one hour later, on the server's clock
    await expect(
      enrolGateway({ serverUrl: fleet.baseUrl, token: shortLived, dataDir: `${fleet.dir}/late` }),
    ).rejects.toThrow(/\(401\): enrolment token expired at/);
    const refusals = fleet.server.audit
      .recent()
      .filter((r) => r.category === 'fleet' && r.event === 'enrol-refused');
    expect(refusals).toHaveLength(2);
  });

  it('a revoked gateway is disconnected at once and refused when it connects again', async () => {
    const token = await fleet.token('ent-a', 'gw-revoke-1');
    const { agent, dataDir } = await fleet.enrolAndStart(token);
    const identity = JSON.parse(
      (await import('node:fs')).readFileSync(identityPaths(dataDir).identity, 'utf8'),
    ) as { mqttUrl: string; username: string; password: string };
    const session = await mqtt.connectAsync(identity.mqttUrl, {
      clientId: identity.username,
      username: identity.username,
      password: identity.password,
      reconnectPeriod: 0,
    });
    cleanups.push(() => session.endAsync(true));
    const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));

    const revoked = await fleet.api('POST', '/api/v1/fleet/gateways/gw-revoke-1/revoke', {
      reason: 'box stolen from the tank farm',
    });
    expect(revoked).toMatchObject({ status: 200, body: { revoked: true } });
    await closed;

    const refused = mqtt.connectAsync(identity.mqttUrl, {
      clientId: identity.username,
      username: identity.username,
      password: identity.password,
      reconnectPeriod: 0,
    });
    await expect(refused).rejects.toThrow(/Bad username or password|Not authorized/);
    const audit = fleet.server.audit.recent();
    expect(audit).toContainEqual(
      expect.objectContaining({
        category: 'broker',
        event: 'connect-refused',
        reason: "gateway 'gw-revoke-1' is revoked",
      }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({ category: 'fleet', event: 'revoked', gatewayId: 'gw-revoke-1' }),
    );
    // Bug found here: stopping a revoked gateway hung, waiting for acknowledgements of health
    // messages queued while the broker refused it (a graceful MQTT end waits for them forever).
    agent.publishHealth();
    await agent.stop();
  });

  it('a token made with the command line against the running server enrols a gateway', async () => {
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'server/fleet/enrol-token.ts',
        '--store',
        path.join(fleet.dir, 'server.db'),
        '--enterprise',
        'ent-b',
        '--gateway-id',
        'gw-cli-1',
        '--ttl-hours',
        '2',
      ],
      { env: { ...process.env, LOG_LEVEL: 'silent' } },
    ).toString();
    const made = JSON.parse(out) as { token: string; enterpriseId: string };
    expect(made).toMatchObject({ enterpriseId: 'ent-b', token: expect.stringMatching(/^hwe_/) });
    await fleet.enrolAndStart(made.token);
    expect(fleet.server.fleet.gateway('gw-cli-1')).toMatchObject({ enterpriseId: 'ent-b' });
  });

  it('only an administrator makes tokens; an operator of another enterprise cannot see the gateway', async () => {
    const refused = await fleet.api(
      'POST',
      '/api/v1/fleet/tokens',
      { enterpriseId: 'ent-a' },
      'op-a',
    );
    expect(refused).toMatchObject({ status: 403, body: { code: 'HW_ROLE_FORBIDDEN' } });
    const token = await fleet.token('ent-a', 'gw-scope-1');
    await fleet.enrolAndStart(token);
    const other = await fleet.api('GET', '/api/v1/fleet/gateways/gw-scope-1', undefined, 'op-b');
    expect(other.status).toBe(403);
    const own = await fleet.api('GET', '/api/v1/fleet/gateways/gw-scope-1', undefined, 'op-a');
    expect(own.status).toBe(200);
    const list = await fleet.api<{ gateways: unknown[] }>(
      'GET',
      '/api/v1/fleet/gateways',
      undefined,
      'op-b',
    );
    expect(list.body.gateways).toEqual([]);
  });
});
