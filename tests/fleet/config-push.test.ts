/**
 * Versions pushed from the server to a gateway running against a real Modbus gas detector:
 * applied with alarm state kept, rolled back when acquisition does not start, refused at the
 * gateway (with the clause) when a setpoint is looser than GB/T 50493-2019.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../common/net.js';
import type { GatewayConfig } from '../../gateway/config/index.js';
import { dataDirOptions, Gateway } from '../../gateway/gateway.js';
import type { FleetConfigStatus } from '../../protocol/index.js';
import { GATEWAY_OFFLINE_RULE } from '../../server/gateways.js';
import {
  type FleetHarness,
  gatewayYaml,
  methaneRules,
  ShiftedClock,
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

const detector = (value: number) => startDetector(cleanups, value);

interface GatewayView {
  runningVersion: number | null;
  desiredVersion: number | null;
  lastStatus: FleetConfigStatus | null;
  flags: Record<string, boolean>;
  reasons: string[];
}

async function view(gatewayId: string): Promise<GatewayView> {
  const answer = await fleet.api<{ gateway: GatewayView }>(
    'GET',
    `/api/v1/fleet/gateways/${gatewayId}`,
  );
  return answer.body.gateway;
}

async function push(gatewayId: string, config: string, rules: { file: string; text: string }[]) {
  const answer = await fleet.api<{ version: number }>(
    'POST',
    `/api/v1/fleet/gateways/${gatewayId}/versions`,
    { config, rules, reason: 'test change' },
  );
  expect(answer.status).toBe(200);
  return answer.body.version;
}

describe('pushed versions', () => {
  it('a version that adds a device is applied without losing alarm state', async () => {
    const first = await detector(30); // above level 1 (20 %LEL): raised
    const clock = new ShiftedClock();
    const { agent } = await fleet.enrolAndStart(await fleet.token('ent-a', 'gw-push-1'), { clock });
    await push(
      'gw-push-1',
      gatewayYaml([{ id: 'det-1', port: first.port, sensorId: 'GT-101' }], ['gas.yaml']),
      [{ file: 'gas.yaml', text: methaneRules('GT-101') }],
    );
    const v1 = await until(() => (agent.current as Gateway | undefined) ?? undefined, 'version 1');
    const raised = await until(() => v1.engine.active()[0], 'the level 1 alarm');
    v1.applyCommand({
      v: 1,
      commandId: 'ack-1',
      type: 'acknowledge',
      alarmId: raised.alarmId,
      by: 'op-a',
      ts: clock.now(),
    });
    expect(v1.engine.active()[0]).toMatchObject({ alarmId: raised.alarmId, state: 'acknowledged' });

    const second = await detector(3);
    await push(
      'gw-push-1',
      gatewayYaml(
        [
          { id: 'det-1', port: first.port, sensorId: 'GT-101' },
          { id: 'det-2', port: second.port, sensorId: 'GT-102' },
        ],
        ['gas.yaml'],
      ),
      [
        {
          file: 'gas.yaml',
          text: methaneRules('GT-101') + methaneRules('GT-102').split('rules:\n')[1],
        },
      ],
    );
    await until(() => (agent.runningVersion === 2 ? true : undefined), 'version 2 running');
    const v2 = agent.current as Gateway;
    expect(v2).not.toBe(v1);
    expect(v2.config.devices.map((d) => d.id)).toEqual(['det-1', 'det-2']);
    // The same occurrence, still acknowledged: not raised again, not forgotten.
    expect(v2.engine.active()).toEqual([
      expect.objectContaining({ alarmId: raised.alarmId, state: 'acknowledged' }),
    ]);
    const shown = await until(async () => {
      const v = await view('gw-push-1');
      return v.runningVersion === 2 ? v : undefined;
    }, 'the platform to show version 2');
    expect(shown).toMatchObject({
      desiredVersion: 2,
      lastStatus: { state: 'applied', errors: [] },
    });
    // The restart that applied it was expected: no gateway-offline alarm for it.
    expect(
      (await fleet.server.ledger.list({ state: 'all' })).filter(
        (a) => a.gatewayId === 'gw-push-1' && a.ruleId === GATEWAY_OFFLINE_RULE,
      ),
    ).toEqual([]);
  });

  it('a version that cannot start acquisition is rolled back and the platform shows why', async () => {
    const live = await detector(5);
    const clock = new ShiftedClock();
    const { agent } = await fleet.enrolAndStart(await fleet.token('ent-a', 'gw-push-2'), { clock });
    await push(
      'gw-push-2',
      gatewayYaml([{ id: 'det-1', port: live.port, sensorId: 'GT-101' }], ['gas.yaml']),
      [{ file: 'gas.yaml', text: methaneRules('GT-101') }],
    );
    await until(() => (agent.runningVersion === 1 ? true : undefined), 'version 1 running');
    const deadPort = await freePort(); // nothing listens there
    await push(
      'gw-push-2',
      gatewayYaml([{ id: 'det-dead', port: deadPort, sensorId: 'GT-101' }], ['gas.yaml']),
      [{ file: 'gas.yaml', text: methaneRules('GT-101') }],
    );
    await until(() => (agent.runningVersion === 2 ? true : undefined), 'version 2 on probation');
    expect(await agent.checkProbation()).toBeNull(); // within its 60 s

    clock.advance(61_000);
    const outcome = await agent.checkProbation();
    expect(outcome).toMatchObject({ version: 2, state: 'rolled-back', runningVersion: 1 });
    expect(outcome?.errors[0]).toMatch(
      /^acquisition did not start: none of devices det-dead came online within 60000 ms/,
    );
    expect(agent.runningVersion).toBe(1);
    expect((agent.current as Gateway).config.devices[0]?.id).toBe('det-1');

    const shown = await until(async () => {
      const v = await view('gw-push-2');
      return v.lastStatus?.state === 'rolled-back' ? v : undefined;
    }, 'the platform to show the rollback');
    expect(shown).toMatchObject({
      runningVersion: 1,
      desiredVersion: 2,
      flags: { outOfDate: true },
    });
    expect(shown.reasons.join('\n')).toContain('rolled-back: acquisition did not start');
    expect(fleet.server.audit.recent()).toContainEqual(
      expect.objectContaining({
        category: 'fleet',
        event: 'version-rolled-back',
        gatewayId: 'gw-push-2',
      }),
    );
  });

  it('a version whose uplink stays down longer than the limit is rolled back', async () => {
    const live = await detector(5);
    const clock = new ShiftedClock();
    const deadBroker = `mqtt://127.0.0.1:${await freePort()}`;
    let dataDir = '';
    // Version 2 names a second device; its uplink is sent where no broker listens (the real
    // MQTT uplink, failing to connect as it would behind a broken route).
    const createGateway = (config: GatewayConfig) =>
      new Gateway(
        config.devices.length === 2
          ? { ...config, uplink: { ...config.uplink, url: deadBroker } }
          : config,
        { ...dataDirOptions(dataDir), clock },
      );
    const started = await fleet.enrolAndStart(await fleet.token('ent-a', 'gw-push-4'), {
      clock,
      createGateway,
    });
    dataDir = started.dataDir;
    const { agent } = started;
    const devices = [{ id: 'det-1', port: live.port, sensorId: 'GT-101' }];
    await push('gw-push-4', gatewayYaml(devices, []), []);
    await until(() => (agent.runningVersion === 1 ? true : undefined), 'version 1 running');
    await push(
      'gw-push-4',
      gatewayYaml([...devices, { id: 'det-2', port: live.port, sensorId: 'GT-102' }], []),
      [],
    );
    await until(() => (agent.runningVersion === 2 ? true : undefined), 'version 2 on probation');
    await until(
      () => (agent.current?.config.devices.length === 2 ? true : undefined),
      'version 2 gateway',
    );
    // A device comes online (acquisition is fine); only the uplink is down.
    await until(
      () => (agent.publishHealth().devices.online > 0 ? true : undefined),
      'a device of version 2 online',
    );
    clock.advance(61_000);
    const outcome = await agent.checkProbation();
    expect(outcome).toMatchObject({ version: 2, state: 'rolled-back', runningVersion: 1 });
    expect(outcome?.errors[0]).toMatch(/^uplink lost for \d+ s \(limit 60000 ms\)$/);
  });

  it('a rule set with a setpoint looser than GB/T 50493 and no justification is refused at the gateway with the clause', async () => {
    const live = await detector(5);
    const { agent } = await fleet.enrolAndStart(await fleet.token('ent-a', 'gw-push-3'));
    const config = gatewayYaml(
      [{ id: 'det-1', port: live.port, sensorId: 'GT-101' }],
      ['gas.yaml'],
    );
    await push('gw-push-3', config, [{ file: 'gas.yaml', text: methaneRules('GT-101') }]);
    await until(() => (agent.runningVersion === 1 ? true : undefined), 'version 1 running');
    const running = agent.current;

    // Level 1 at 30 %LEL: GB/T 50493-2019 §5.5.3 allows at most 25 %LEL.
    await push('gw-push-3', config, [{ file: 'gas.yaml', text: methaneRules('GT-101', 30, 40) }]);
    const shown = await until(async () => {
      const v = await view('gw-push-3');
      return v.lastStatus?.version === 2 ? v : undefined;
    }, 'the refusal');
    expect(shown.lastStatus?.state).toBe('refused');
    expect(shown.lastStatus?.errors.join('\n')).toMatch(
      /rules\/gas\.yaml:\d+:\d+ .*level1.*GB\/T 50493/,
    );
    expect(shown.runningVersion).toBe(1);
    expect(agent.current).toBe(running); // the running gateway was never stopped
  });
});
