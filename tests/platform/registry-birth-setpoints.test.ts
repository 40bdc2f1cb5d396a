/**
 * The registry learns each detector's setpoints from its gateway's birth message
 * (SensorInfo.alarmLimits), so the GB/T 50493-2019 §5.5.3 setpoint screening can judge a
 * detector that has never alarmed. Before, the server knew setpoints only from alarm events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SensorInfo } from '../../protocol/index.js';
import { Database } from '../../server/db/database.js';
import type { GatewayPresence } from '../../server/gateways.js';
import { birthSetpoints, Registry } from '../../server/platform/registry.js';
import { setpointProblems } from '../../server/supervision/conditions/setpoint-looser.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const methane: SensorInfo = {
  sensorId: 'GT-101',
  name: 'Compressor methane',
  kind: 'gas',
  gas: 'methane',
  unit: '%LEL',
  alarmLimits: [
    {
      ruleId: 'GT-101-gas',
      name: 'level1',
      level: 1,
      direction: 'high',
      setpoint: 30,
      deadband: 2,
    },
    {
      ruleId: 'GT-101-gas',
      name: 'level2',
      level: 2,
      direction: 'high',
      setpoint: 50,
      deadband: 2,
    },
  ],
};

describe('setpoints from the birth message', () => {
  it('a detector that never alarmed could not be screened: its birth setpoints now reach the registry and the screening', async () => {
    const database = new Database({ kind: 'sqlite', path: ':memory:' });
    await database.start();
    cleanups.push(() => database.stop());
    const registry = new Registry({ database, enterprises: [], installations: [] });
    await registry.start();
    cleanups.push(() => registry.stop());
    const gateway: GatewayPresence = {
      gatewayId: 'gw-1',
      enterpriseId: 'ent-1',
      state: 'online',
      lastSeen: 1,
      sensors: [methane],
      stale: false,
      staleReason: null,
      clockSkewMs: null,
      clockSkewed: false,
    };
    await registry.noteGateway(gateway);
    const [sensor] = await registry.sensors('ent-1');
    expect(sensor).toMatchObject({ setpointLevel1: 30, setpointLevel2: 50 });
    expect(
      setpointProblems(sensor!, { combustible: { unit: '%LEL', level1Max: 25, level2Max: 50 } }),
    ).toEqual(['level 1 30 %LEL > 25 %LEL']);
  });

  it('takes the deficiency and enrichment limits of an oxygen detector, whatever their levels', () => {
    expect(
      birthSetpoints({
        sensorId: 'AT-103',
        name: 'Oxygen',
        kind: 'oxygen',
        unit: '%VOL',
        alarmLimits: [
          {
            ruleId: 'o2',
            name: 'deficiency',
            level: 2,
            direction: 'low',
            setpoint: 19.5,
            deadband: 0.2,
          },
          {
            ruleId: 'o2',
            name: 'enrichment',
            level: 2,
            direction: 'high',
            setpoint: 23.5,
            deadband: 0.2,
          },
        ],
      }),
    ).toEqual([19.5, 23.5]);
    expect(birthSetpoints({ ...methane, alarmLimits: [] })).toEqual([null, null]);
  });
});
