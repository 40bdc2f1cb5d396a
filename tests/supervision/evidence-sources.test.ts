/**
 * The other evidence screening reads, through the real ingest: lifecycle transitions the alarm
 * ledger keeps (shelved), setpoints seen in alarms, alarms left unhandled, bypass points.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, SENSORS_A, startHarness } from './harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

let h: Harness;
afterEach(async () => {
  await h?.stop();
});

const opened = async (rule: string) =>
  (await h.supervision.store.hazards()).filter((x) => x.ruleId === rule);

describe('a detector shelved at the edge', () => {
  it('is not working: the shelve reaches the server as an alarm transition', async () => {
    h = await startHarness({
      ruleOverrides: [{ rule: 'gas-detector-not-working', forMs: 2 * HOUR }],
    });
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101', value: 3 }]);
    await h.alarm('ent-a', 'gw-a', { alarmId: 'GT-101-gas.L1.1', level: 1, setpoint: 20 });
    await h.alarm('ent-a', 'gw-a', {
      alarmId: 'GT-101-gas.L1.1',
      level: 1,
      setpoint: 20,
      transition: 'shelved',
      state: 'shelved',
      by: 'operator-7',
    });
    await h.supervision.screenNow();
    for (let i = 0; i < 26; i++) {
      h.clock.advance(5 * MIN); // the detector keeps reading: only its alarm is shelved
      await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101', value: 3 + (i % 2) }]);
    }
    const pass = await h.supervision.screenNow();
    expect(pass.failedRules).toEqual([]);
    const [hazard] = await opened('gas-detector-not-working');
    expect(hazard).toBeDefined();
    expect((await h.supervision.store.events(hazard!.hazardId))[0]!.detail.evidence).toMatchObject({
      state: 'shelved',
    });

    await h.alarm('ent-a', 'gw-a', {
      alarmId: 'GT-101-gas.L1.1',
      level: 1,
      setpoint: 20,
      transition: 'unshelved',
      state: 'normal',
    });
    expect((await h.supervision.screenNow()).cleared.map((x) => x.hazardId)).toEqual([
      hazard!.hazardId,
    ]);
  });
});

describe('setpoints seen in alarms', () => {
  it('a level-2 setpoint of 60 %LEL opens a general record under GB/T 50493-2019 §5.5.3; a justified one does not', async () => {
    h = await startHarness();
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101', value: 3 }]);
    await h.alarm('ent-a', 'gw-a', {
      alarmId: 'GT-101-gas.L2.1',
      level: 2,
      setpoint: 60,
      value: 61,
    });
    await h.supervision.screenNow();
    const [hazard] = await opened('setpoint-looser-than-gbt50493');
    expect(hazard).toMatchObject({ severity: 'general', kind: 'accident', subject: 'gw-a/GT-101' });
    expect(hazard!.item).toMatchObject({ standard: 'GB/T 50493-2019', number: '5.5.3' });
    expect((await h.supervision.store.events(hazard!.hazardId))[0]!.detail.evidence).toMatchObject({
      problems: ['level 2 60 %LEL > 50 %LEL'],
    });

    const admin = await h.login('admin');
    const dq = await h.get<{ points: { sensorId: string; setpoint: string }[] }>(
      admin,
      '/api/v1/supervision/data-quality?enterpriseId=ent-a',
    );
    expect(dq.body.points.find((p) => p.sensorId === 'GT-101')!.setpoint).toBe('looser');
  });

  it('is not reported with a justification', async () => {
    h = await startHarness({
      setpointJustifications: [
        {
          gatewayId: 'gw-a',
          sensorId: 'GT-101',
          reason: 'vendor range: approved deviation 2026-01',
        },
      ],
    });
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101', value: 3 }]);
    await h.alarm('ent-a', 'gw-a', {
      alarmId: 'GT-101-gas.L2.1',
      level: 2,
      setpoint: 60,
      value: 61,
    });
    await h.supervision.screenNow();
    expect(await opened('setpoint-looser-than-gbt50493')).toHaveLength(0);
  });
});

describe('an alarm left unacknowledged for a day', () => {
  it('is an alarm-management finding, kept apart from accident hazards', async () => {
    h = await startHarness();
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.alarm('ent-a', 'gw-a', { alarmId: 'GT-101-gas.L2.9', level: 2, setpoint: 50 });
    h.clock.advance(25 * HOUR);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101', value: 3 }]);
    await h.supervision.screenNow();
    const [finding] = await opened('alarm-not-handled');
    expect(finding).toMatchObject({ kind: 'alarm-management', severity: 'general' });
    const admin = await h.login('admin');
    const report = await h.get<{ byKind: Record<string, { found: number }> }>(
      admin,
      '/api/v1/supervision/report',
    );
    expect(report.body.byKind['alarm-management']!.found).toBe(1);
    expect(report.body.byKind.accident!.found).toBe(0);
  });
});

describe('an ESD bypass point', () => {
  it('reporting its bypassed value for an hour opens a major record under item 4', async () => {
    h = await startHarness({
      bypassPoints: [
        {
          gatewayId: 'gw-a',
          sensorId: 'XS-401',
          enterpriseId: 'ent-a',
          installationId: 'unit-1',
          what: 'ESD-1 of tank 1',
          bypassedValues: ['BYPASS', true],
        },
      ],
    });
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'XS-401', value: 'AUTO' }]);
    h.clock.advance(MIN);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'XS-401', value: 'BYPASS' }]);
    for (let i = 0; i < 13; i++) {
      h.clock.advance(5 * MIN);
      await h.read('ent-a', 'gw-a', [{ sensorId: 'XS-401', value: 'BYPASS' }]);
    }
    await h.supervision.screenNow();
    const [hazard] = await opened('interlock-or-esd-bypassed');
    expect(hazard).toMatchObject({ severity: 'major', installationId: 'unit-1' });
    expect(hazard!.item.number).toBe('4');
    await h.read('ent-a', 'gw-a', [{ sensorId: 'XS-401', value: 'AUTO' }]);
    expect((await h.supervision.screenNow()).cleared).toHaveLength(1);
  });
});
