/**
 * The fleet view from the gateways' health (a clock 10 minutes off, local edits as drift) and
 * remote commands with the authority of operator commands, each one and its result audited.
 */
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/gateway.js';
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

interface GatewayView {
  gatewayId: string;
  flags: Record<string, boolean>;
  reasons: string[];
  health: { clockOffsetMs: number; drift: string[]; versions: { config: number | null } } | null;
}

async function fleetView(): Promise<GatewayView[]> {
  return (await fleet.api<{ gateways: GatewayView[] }>('GET', '/api/v1/fleet/gateways')).body
    .gateways;
}

async function runningGateway(gatewayId: string, options: { clock?: ShiftedClock } = {}) {
  const sim = await startDetector(cleanups, 4);
  const started = await fleet.enrolAndStart(await fleet.token('ent-a', gatewayId), options);
  await fleet.api('POST', `/api/v1/fleet/gateways/${gatewayId}/versions`, {
    config: gatewayYaml([{ id: 'det-1', port: sim.port, sensorId: 'GT-101' }], ['gas.yaml']),
    rules: [{ file: 'gas.yaml', text: methaneRules('GT-101') }],
    reason: 'commissioning',
  });
  await until(() => (started.agent.runningVersion === 1 ? true : undefined), 'version 1');
  return started;
}

describe('fleet health', () => {
  it('shows a gateway whose clock is 10 minutes off as skewed, and one in time as not', async () => {
    const off = await runningGateway('gw-skewed', { clock: new ShiftedClock(10 * 60_000) });
    const fine = await runningGateway('gw-on-time');
    const gateways = await until(async () => {
      // A sample taken before the new uplink connected says so; the next one is current.
      off.agent.publishHealth();
      fine.agent.publishHealth();
      const all = await fleetView();
      const current = (g: GatewayView) =>
        g.health?.versions.config === 1 &&
        (g.health as { outbox?: { connected?: boolean } }).outbox?.connected === true;
      return all.length === 2 && all.every(current) ? all : undefined;
    }, 'health of both gateways');
    const skewed = gateways.find((g) => g.gatewayId === 'gw-skewed')!;
    expect(skewed.flags.skewed).toBe(true);
    expect(skewed.health!.clockOffsetMs).toBeGreaterThan(9.9 * 60_000);
    expect(skewed.reasons).toContainEqual(
      expect.stringMatching(/^skewed: clock 6\d\d s off the server$/),
    );
    const onTime = gateways.find((g) => g.gatewayId === 'gw-on-time')!;
    expect(onTime.flags).toMatchObject({
      skewed: false,
      outOfDate: false,
      full: false,
      behind: false,
    });
    expect(onTime.health).toMatchObject({
      versions: { config: 1 },
      devices: { total: 1 },
      outbox: { connected: true },
    });
  });

  it('reports a local edit of a pushed rule file as drift', async () => {
    const { agent, dataDir } = await runningGateway('gw-drift');
    appendFileSync(
      path.join(dataDir, 'fleet', 'versions', '1', 'rules', 'gas.yaml'),
      '# edited on the box\n',
    );
    expect(agent.publishHealth().drift).toEqual(['rules/gas.yaml']);
    const shown = await until(async () => {
      const g = (await fleetView())[0];
      return g?.flags.drift ? g : undefined;
    }, 'drift shown');
    expect(shown.reasons).toContain('drift: edited on the box: rules/gas.yaml');
  });
});

describe('remote commands', () => {
  it('runs log-tail, log-level, rule-check and restart-acquisition for an operator in scope, auditing each and its result', async () => {
    const { agent } = await runningGateway('gw-cmd');
    const before = agent.current as Gateway;
    const run = (body: object, user = 'op-a') =>
      fleet.api<{ ok: boolean; output: string[] }>(
        'POST',
        '/api/v1/fleet/gateways/gw-cmd/commands',
        body,
        user,
      );

    const level = await run({ type: 'log-level', level: 'debug', durationMs: 60_000 });
    expect(level.body).toMatchObject({
      ok: true,
      output: [expect.stringMatching(/^log level debug until /)],
    });
    const check = await run({ type: 'rule-check' });
    expect(check.body).toMatchObject({
      ok: true,
      output: ['version 1: configuration and rules pass the start checks'],
    });
    const restart = await run({ type: 'restart-acquisition' });
    expect(restart.body).toMatchObject({
      ok: true,
      output: ['acquisition restarted on version 1'],
    });
    expect(agent.current).not.toBe(before);
    const tail = await run({ type: 'log-tail', lines: 50 });
    expect(tail.body.ok).toBe(true);
    // The restart just logged its stop and start (at debug level now, so logged in tests too).
    expect(tail.body.output.join('\n')).toContain('gateway stopped');

    const outsider = await run({ type: 'log-tail' }, 'op-b');
    expect(outsider.status).toBe(403);
    const audit = fleet.server.audit.recent().filter((r) => r.category === 'fleet');
    expect(audit.filter((r) => r.event === 'command-sent').map((r) => r.reason)).toEqual([
      'log-level',
      'rule-check',
      'restart-acquisition',
      'log-tail',
    ]);
    expect(audit.filter((r) => r.event === 'command-done')).toHaveLength(4);
    expect(audit.find((r) => r.event === 'command-sent')?.username).toBe('enterprise:op-a');
  });
});
