/**
 * The `platform.supervision:` section (issue 16): which screening packs run and how often, the
 * limits sites change without editing a pack, the vessels whose level sensors give the live
 * inventory, the points that report an interlock or ESD bypass, the justifications of setpoints
 * looser than GB/T 50493-2019, rectification deadlines and the listed-supervision timers.
 *
 * Every key has a default, so a config without the section keeps working. The schema is merged
 * into the platform schema (server/platform/config.ts) and validated with the rest of the server
 * config; {@link supervisionConfigProblems} adds the checks a schema cannot express.
 */
import { ID_PATTERN } from '../../protocol/index.js';

const DAY = 24 * 60 * 60_000;

export const SUPERVISION_DEFAULTS = {
  screeningIntervalMs: 60_000, // 1 min: the bench target (< 1 s per 10k points) allows it
  packs: ['accident-hazards', 'alarm-management', 'data-quality'] as string[], // built-in packs
  // Rectification deadlines when no plan gives one. No rule gives a number: ours, configurable.
  generalDeadlineMs: 7 * DAY,
  majorDeadlineMs: 30 * DAY,
  // Listed supervision (挂牌督办): an overdue major hazard is listed with the county at its
  // deadline, with the city this long after, with the province this long after that. Ours.
  listingEscalateAfterMs: [0, 7 * DAY, 14 * DAY] as number[],
  listingTickMs: 60_000, // 1 min between listing checks
  staleMs: 5 * 60_000, // 5 min without a reading: the point is offline (as the platform's risk score)
  expectedReadingIntervalMs: 60_000, // completeness baseline: one reading a minute per point
  skewThresholdMs: 30_000, // 30 s between source and server time counts as a wrong clock
  pointNamePattern: '^[A-Z]{1,4}-[0-9]{1,5}[A-Z]?$', // ISA-5.1-style tag (GT-101); ours, site-specific
  windowMs: DAY, // data-quality window: the last 24 h
} as const;

export interface VesselConfig {
  readonly id: string;
  readonly installationId: string;
  /** A chemical key of server/platform/grading.ts (or a name the installation's inventory uses). */
  readonly chemical: string;
  /** The level (or weight) sensor. */
  readonly gatewayId: string;
  readonly sensorId: string;
  /** Geometric capacity, m³. */
  readonly capacityM3: number;
  /** Density of the stored liquid, t/m³. */
  readonly densityTPerM3: number;
  /** Sensor value at empty and at full (default 0 and 100: a level in %). */
  readonly levelEmpty?: number;
  readonly levelFull?: number;
  /** Registered maximum for this vessel, t (default: none; the installation's registration counts). */
  readonly maxQuantityT?: number;
}

export interface BypassPointConfig {
  readonly gatewayId: string;
  readonly sensorId: string;
  readonly enterpriseId: string;
  readonly installationId?: string;
  /** What it bypasses, for the record ('ESD-1 interlock', 'SIS of tank 3'). */
  readonly what: string;
  /** Values that mean "bypassed, forced or in manual" (true, 1, 'BYPASS', ...). */
  readonly bypassedValues: readonly (string | number | boolean)[];
}

export interface SetpointJustification {
  readonly gatewayId: string;
  readonly sensorId: string;
  readonly reason: string;
}

export interface RuleOverride {
  readonly rule: string;
  readonly forMs?: number;
  readonly enabled?: boolean;
}

export interface SupervisionConfig {
  readonly screeningIntervalMs: number;
  /** Built-in pack names (server/supervision/packs/<name>.yaml) or paths to pack files. */
  readonly packs: readonly string[];
  readonly ruleOverrides: readonly RuleOverride[];
  readonly vessels: readonly VesselConfig[];
  readonly bypassPoints: readonly BypassPointConfig[];
  readonly setpointJustifications: readonly SetpointJustification[];
  readonly generalDeadlineMs: number;
  readonly majorDeadlineMs: number;
  readonly listingEscalateAfterMs: readonly number[];
  readonly listingTickMs: number;
  readonly staleMs: number;
  readonly expectedReadingIntervalMs: number;
  readonly skewThresholdMs: number;
  readonly pointNamePattern: string;
  readonly windowMs: number;
}

const ms = (title: string, fallback: number, minimum = 1_000) =>
  ({ title, type: 'integer', minimum, default: fallback }) as const;
const id = (title: string) => ({ title, type: 'string', pattern: ID_PATTERN }) as const;

export const supervisionConfigSchema = {
  title:
    'Supervision by data: hazard screening, data quality, live inventory (docs/supervision.md)',
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    screeningIntervalMs: ms(
      'Time between screening passes (ms)',
      SUPERVISION_DEFAULTS.screeningIntervalMs,
    ),
    packs: {
      title: 'Screening packs: built-in names or paths to pack files',
      type: 'array',
      items: { type: 'string', minLength: 1, maxLength: 500 },
      default: [...SUPERVISION_DEFAULTS.packs],
    },
    ruleOverrides: {
      title: 'Per-rule limits and switches (rule id of a pack)',
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['rule'],
        properties: {
          rule: id('Rule id'),
          forMs: {
            title: 'How long the condition must hold before a record opens (ms)',
            type: 'integer',
            minimum: 0,
          },
          enabled: { title: 'Run this rule', type: 'boolean', default: true },
        },
      },
    },
    vessels: {
      title: 'Vessels whose level (or weight) sensor gives the live inventory (GB 18218-2018 q)',
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: [
          'id',
          'installationId',
          'chemical',
          'gatewayId',
          'sensorId',
          'capacityM3',
          'densityTPerM3',
        ],
        properties: {
          id: id('Vessel id'),
          installationId: id('Installation (platform.installations[].id)'),
          chemical: { title: 'Chemical key or name', type: 'string', maxLength: 100 },
          gatewayId: id('Gateway of the level sensor'),
          sensorId: id('Level (or weight) sensor'),
          capacityM3: { title: 'Capacity (m³)', type: 'number', exclusiveMinimum: 0 },
          densityTPerM3: { title: 'Density (t/m³)', type: 'number', exclusiveMinimum: 0 },
          levelEmpty: { title: 'Sensor value at empty', type: 'number', default: 0 },
          levelFull: { title: 'Sensor value at full', type: 'number', default: 100 },
          maxQuantityT: {
            title: 'Registered maximum of this vessel (t)',
            type: 'number',
            exclusiveMinimum: 0,
          },
        },
      },
    },
    bypassPoints: {
      title: 'Points that report an interlock / ESD bypass, forcing or manual mode',
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['gatewayId', 'sensorId', 'enterpriseId', 'what', 'bypassedValues'],
        properties: {
          gatewayId: id('Gateway'),
          sensorId: id('Status point'),
          enterpriseId: id('Enterprise'),
          installationId: id('Installation'),
          what: { title: 'What it bypasses', type: 'string', minLength: 1, maxLength: 200 },
          bypassedValues: {
            title: 'Values that mean bypassed / forced / manual',
            type: 'array',
            minItems: 1,
            items: {
              anyOf: [{ type: 'string', maxLength: 100 }, { type: 'number' }, { type: 'boolean' }],
            },
          },
        },
      },
    },
    setpointJustifications: {
      title: 'Setpoints looser than GB/T 50493-2019 that are justified (e.g. the IDLH basis)',
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['gatewayId', 'sensorId', 'reason'],
        properties: {
          gatewayId: id('Gateway'),
          sensorId: id('Sensor'),
          reason: { title: 'Justification', type: 'string', minLength: 5, maxLength: 500 },
        },
      },
    },
    generalDeadlineMs: ms(
      'Rectification deadline of a general hazard when no plan gives one (ms)',
      SUPERVISION_DEFAULTS.generalDeadlineMs,
    ),
    majorDeadlineMs: ms(
      'Rectification deadline of a major hazard when no plan gives one (ms)',
      SUPERVISION_DEFAULTS.majorDeadlineMs,
    ),
    listingEscalateAfterMs: {
      title: 'Listed supervision: ms after the deadline at which county, city, province list it',
      type: 'array',
      items: { type: 'integer', minimum: 0 },
      minItems: 1,
      maxItems: 3,
      default: [...SUPERVISION_DEFAULTS.listingEscalateAfterMs],
    },
    listingTickMs: ms('Listing check interval (ms)', SUPERVISION_DEFAULTS.listingTickMs, 10),
    staleMs: ms(
      'No reading for this long: the point is offline (ms)',
      SUPERVISION_DEFAULTS.staleMs,
    ),
    expectedReadingIntervalMs: ms(
      'Expected time between readings of a point (completeness, ms)',
      SUPERVISION_DEFAULTS.expectedReadingIntervalMs,
    ),
    skewThresholdMs: ms(
      'Source time minus server time beyond which a clock is wrong (ms)',
      SUPERVISION_DEFAULTS.skewThresholdMs,
    ),
    pointNamePattern: {
      title: 'Regular expression a standard point id matches',
      type: 'string',
      minLength: 1,
      maxLength: 200,
      default: SUPERVISION_DEFAULTS.pointNamePattern,
    },
    windowMs: ms('Data-quality window (ms)', SUPERVISION_DEFAULTS.windowMs, 60_000),
  },
} as const;

/** The defaults as a complete config (for callers without a parsed server config). */
export function defaultSupervisionConfig(
  overrides: Partial<SupervisionConfig> = {},
): SupervisionConfig {
  return {
    screeningIntervalMs: SUPERVISION_DEFAULTS.screeningIntervalMs,
    packs: [...SUPERVISION_DEFAULTS.packs],
    ruleOverrides: [],
    vessels: [],
    bypassPoints: [],
    setpointJustifications: [],
    generalDeadlineMs: SUPERVISION_DEFAULTS.generalDeadlineMs,
    majorDeadlineMs: SUPERVISION_DEFAULTS.majorDeadlineMs,
    listingEscalateAfterMs: [...SUPERVISION_DEFAULTS.listingEscalateAfterMs],
    listingTickMs: SUPERVISION_DEFAULTS.listingTickMs,
    staleMs: SUPERVISION_DEFAULTS.staleMs,
    expectedReadingIntervalMs: SUPERVISION_DEFAULTS.expectedReadingIntervalMs,
    skewThresholdMs: SUPERVISION_DEFAULTS.skewThresholdMs,
    pointNamePattern: SUPERVISION_DEFAULTS.pointNamePattern,
    windowMs: SUPERVISION_DEFAULTS.windowMs,
    ...overrides,
  };
}

/** Checks the schema cannot express, one line per problem (`platform.supervision.<path>: ...`). */
export function supervisionConfigProblems(
  config: SupervisionConfig,
  installationIds: readonly string[],
): string[] {
  const at = 'platform.supervision';
  const problems: string[] = [];
  const known = new Set(installationIds);
  const vesselIds = new Set<string>();
  config.vessels.forEach((v, i) => {
    if (vesselIds.has(v.id)) problems.push(`${at}.vessels[${i}].id: duplicate (got '${v.id}')`);
    vesselIds.add(v.id);
    if (!known.has(v.installationId)) {
      problems.push(
        `${at}.vessels[${i}].installationId: not in platform.installations (got '${v.installationId}')`,
      );
    }
    if ((v.levelFull ?? 100) === (v.levelEmpty ?? 0)) {
      problems.push(`${at}.vessels[${i}].levelFull: must differ from levelEmpty`);
    }
  });
  try {
    new RegExp(config.pointNamePattern);
  } catch (err) {
    problems.push(`${at}.pointNamePattern: not a regular expression (${(err as Error).message})`);
  }
  const list = config.listingEscalateAfterMs;
  for (let i = 1; i < list.length; i++) {
    if ((list[i] ?? 0) <= (list[i - 1] ?? 0)) {
      problems.push(
        `${at}.listingEscalateAfterMs[${i}]: must be greater than the level before (got ${list[i]})`,
      );
    }
  }
  return problems;
}
