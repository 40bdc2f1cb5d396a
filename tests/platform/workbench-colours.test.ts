/**
 * GET /workbench/indicators counts enterprises by colour. It used to rank every enterprise
 * (counts, sort, answer objects) only to read each one's colour; riskColours computes just the
 * colours. These tests pin that it answers exactly what the ranking answers.
 */
import { describe, expect, it } from 'vitest';
import type { AlarmRecord } from '../../server/alarms/ledger.js';
import { rankEnterprises, riskColours } from '../../server/api/workbench-routes.js';
import type { HazardGrade } from '../../server/platform/grading.js';
import type {
  DeskAlarm,
  EnterpriseInputs,
  WorkbenchSettingsResolved,
} from '../../server/platform/risk-inputs.js';

const H = 60 * 60_000;
const NOW = 100 * H;
const settings: WorkbenchSettingsResolved = {
  halfLifeMs: 6 * H,
  overdueMs: H,
  acknowledgeWithinMs: [5 * 60_000, 15 * 60_000, 30 * 60_000],
  disposeWithinMs: [H, 2 * H, 4 * H],
  acknowledgeTargetMs: 5 * 60_000,
  disposeTargetMs: H,
  onlineRateTarget: 0.95,
  staleMs: 5 * 60_000,
};

let seq = 0;
function deskAlarm(
  enterpriseId: string,
  o: {
    level?: 1 | 2;
    drill?: boolean;
    openedAt?: number;
    clearedAt?: number | null;
    closedAt?: number | null;
  } = {},
): DeskAlarm {
  const level = o.level ?? 2;
  const drill = o.drill ?? false;
  const openedAt = o.openedAt ?? NOW - 10 * 60_000;
  const clearedAt = o.clearedAt ?? null;
  const closedAt = o.closedAt ?? null;
  const alarm: AlarmRecord = {
    alarmId: `a${++seq}`,
    gatewayId: 'gw-1',
    enterpriseId,
    ruleId: 'r1',
    sensorId: 's1',
    sensorName: null,
    installationId: null,
    location: null,
    gas: null,
    level,
    state: clearedAt === null ? 'active' : 'cleared',
    value: 30,
    unit: '%LEL',
    setpoint: 25,
    raisedAt: openedAt,
    clearedAt,
    drill,
    message: null,
    receivedAt: openedAt,
  };
  return {
    alarm,
    risk: { level, drill, openedAt, clearedAt, acknowledgedAt: closedAt, closedAt },
    status: closedAt === null ? 'open' : 'closed',
    escalationLevel: 0,
    acknowledgedBy: null,
    assignee: null,
    measures: 0,
    closedBy: null,
  };
}

function enterprise(
  id: string,
  grade: HazardGrade | null,
  alarms: DeskAlarm[],
  offline = 0,
): EnterpriseInputs {
  const points = Array.from({ length: 8 }, (_, i) => ({
    gatewayId: 'gw-1',
    sensorId: `s${i}`,
    name: `point ${i}`,
    unit: '%LEL',
    online: i >= offline,
  }));
  return {
    id,
    name: id,
    nameEn: null,
    jurisdiction: {},
    lat: null,
    lon: null,
    grade,
    alarms,
    points,
  };
}

const inputs: EnterpriseInputs[] = [
  // Grade 1 and two level-2 alarms in alarm: red.
  enterprise('ent-red', 1, [deskAlarm('ent-red'), deskAlarm('ent-red')]),
  // One level-2 alarm in alarm lifts an otherwise low score to orange.
  enterprise('ent-orange', null, [deskAlarm('ent-orange')]),
  // Grade 3 alone is 20 points (blue); five offline points add 10: yellow only if counted.
  enterprise('ent-yellow', 3, [], 5),
  // A drill weighs nothing.
  enterprise('ent-blue', 4, [deskAlarm('ent-blue', { drill: true })]),
  // A level-1 alarm closed long ago has decayed away.
  enterprise('ent-old', null, [
    deskAlarm('ent-old', { level: 1, openedAt: 0, clearedAt: H, closedAt: H }),
  ]),
];

describe('riskColours', () => {
  it('gives each enterprise the colour the ranking gives it, offline points and drills included', () => {
    const ranked = new Map(
      rankEnterprises(inputs, NOW, settings).map((e) => [e.id, e.risk.colour]),
    );
    const colours = riskColours(inputs, NOW, settings);
    expect(colours).toEqual(ranked);
    // All four colours occur, so the comparison covers each threshold.
    expect(Object.fromEntries(colours)).toEqual({
      'ent-red': 'red',
      'ent-orange': 'orange',
      'ent-yellow': 'yellow',
      'ent-blue': 'blue',
      'ent-old': 'blue',
    });
  });
});
