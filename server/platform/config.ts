/**
 * The `platform:` section of the server config (regulator and emergency-centre platform):
 * installations with their inventory (GB 18218-2018 grading), users and roles, escalation timers,
 * rate limits. Its JSON Schema is merged into the server config schema (server/config/schema.ts);
 * every key is optional with a default, so a config without `platform:` keeps working.
 */
import { ID_PATTERN } from '../../protocol/index.js';
import {
  type SupervisionConfig,
  supervisionConfigProblems,
  supervisionConfigSchema,
} from '../supervision/config.js';

export const PLATFORM_CONFIG_DEFAULTS = {
  requireAuth: false, // read APIs public unless set; platform routes always need a token
  tokenTtlMs: 12 * 60 * 60_000, // 12 h session
  rateLimitPerMinute: 600, // requests per user (or per client address when anonymous)
  loginAttemptsPerMinute: 10, // per client address
  acknowledgeWithinMs: [5 * 60_000, 15 * 60_000, 30 * 60_000], // unacknowledged → county, city, province
  disposeWithinMs: [60 * 60_000, 2 * 60 * 60_000, 4 * 60 * 60_000], // not closed → county, city, province
  escalationTickMs: 1_000, // 1 s between escalation checks
  overdueDisposalMs: 60 * 60_000, // 1 h: an open alarm older than this counts as an overdue disposal
  emergencyTopic: 'hazardwatch/v1/emergency/notifications', // MQTT topic for emergency centres
} as const;

export type Role = 'enterprise' | 'regulator' | 'emergency' | 'admin';
export const ROLES: readonly Role[] = ['enterprise', 'regulator', 'emergency', 'admin'];

/** A jurisdiction: the deeper the path, the narrower (province ⊃ city ⊃ county ⊃ park). */
export interface Jurisdiction {
  readonly province?: string;
  readonly city?: string;
  readonly county?: string;
  readonly park?: string;
}

export interface InstallationConfig {
  readonly id: string;
  readonly enterpriseId: string;
  readonly name: string;
  readonly peopleWithin500m: number;
  readonly inventory: readonly {
    readonly chemical: string;
    readonly quantityT: number;
    readonly criticalQuantityT?: number;
    readonly beta?: number;
  }[];
}

export interface UserConfig {
  readonly username: string;
  readonly name?: string;
  readonly role: Role;
  /** Plain password (demo configs only) or `passwordHash` (`scrypt$<salt b64>$<hash b64>`). */
  readonly password?: string;
  readonly passwordHash?: string;
  /** Enterprise operators: the enterprise they belong to. */
  readonly enterpriseId?: string;
  /** Regulators (their jurisdiction) and emergency centres (their region). */
  readonly jurisdiction?: Jurisdiction;
}

export interface PlatformConfig {
  readonly requireAuth: boolean;
  readonly tokenTtlMs: number;
  readonly rateLimitPerMinute: number;
  readonly loginAttemptsPerMinute: number;
  readonly installations: readonly InstallationConfig[];
  readonly users: readonly UserConfig[];
  readonly escalation: {
    readonly acknowledgeWithinMs: readonly number[];
    readonly disposeWithinMs: readonly number[];
    readonly tickMs: number;
  };
  readonly overdueDisposalMs: number;
  readonly emergencyTopic: string;
  /** Where each enterprise is (the workbench map) and its English name; optional per enterprise. */
  readonly enterpriseSites?: readonly EnterpriseSite[];
  /** Workbench choices: risk half-life and indicator target times (server/platform/indicators.ts). */
  readonly workbench?: WorkbenchSettings;
  /** Hazard screening, data quality, live inventory, listed supervision (server/supervision). */
  readonly supervision?: SupervisionConfig;
}

export interface EnterpriseSite {
  readonly enterpriseId: string;
  readonly lat?: number;
  readonly lon?: number;
  readonly nameEn?: string;
}

export interface WorkbenchSettings {
  readonly riskHalfLifeMs?: number;
  readonly acknowledgeTargetMs?: number;
  readonly disposeTargetMs?: number;
  readonly onlineRateTarget?: number;
  readonly reportsDir?: string;
  readonly reportHour?: number;
}

const text = (title: string, maxLength = 100) => ({ title, type: 'string', maxLength }) as const;

const jurisdictionSchema = {
  title: 'Jurisdiction (province ⊃ city ⊃ county ⊃ chemical park)',
  type: 'object',
  additionalProperties: false,
  properties: {
    province: text('Province'),
    city: text('City'),
    county: text('County'),
    park: text('Chemical park'),
  },
} as const;

const deadlines = (title: string, fallback: readonly number[]) =>
  ({
    title,
    description:
      'Milliseconds after the alarm reached the server at which the alarm escalates to the county, city and province (in that order, increasing).',
    type: 'array',
    items: { type: 'integer', minimum: 1 },
    minItems: 1,
    maxItems: 3,
    default: [...fallback],
  }) as const;

export const platformConfigSchema = {
  title: 'Regulator and emergency-centre platform',
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    requireAuth: {
      title: 'Require a token for the read API',
      description:
        'false keeps /api/v1/{sensors,alarms,gateways,telemetry,stream} public (demo); true asks for a token and scopes every answer. /api/v1/health stays public.',
      type: 'boolean',
      default: PLATFORM_CONFIG_DEFAULTS.requireAuth,
    },
    tokenTtlMs: {
      title: 'Session lifetime (ms)',
      type: 'integer',
      minimum: 60_000,
      default: PLATFORM_CONFIG_DEFAULTS.tokenTtlMs,
    },
    rateLimitPerMinute: {
      title: 'Requests per user per minute',
      type: 'integer',
      minimum: 1,
      default: PLATFORM_CONFIG_DEFAULTS.rateLimitPerMinute,
    },
    loginAttemptsPerMinute: {
      title: 'Login attempts per client address per minute',
      type: 'integer',
      minimum: 1,
      default: PLATFORM_CONFIG_DEFAULTS.loginAttemptsPerMinute,
    },
    installations: {
      title: 'Major hazard installations (GB 18218-2018)',
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'enterpriseId', 'name', 'inventory'],
        properties: {
          id: {
            title: 'Installation id (as in sensor catalogues)',
            type: 'string',
            pattern: ID_PATTERN,
          },
          enterpriseId: { title: 'Enterprise id', type: 'string', pattern: ID_PATTERN },
          name: text('Installation name', 200),
          peopleWithin500m: {
            title: 'People within 500 m of the boundary (GB 18218-2018 Table 5)',
            type: 'integer',
            minimum: 0,
            default: 0,
          },
          inventory: {
            title: 'Chemicals present (maximum quantities)',
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['chemical', 'quantityT'],
              properties: {
                chemical: text('Chemical key (server/platform/grading.ts) or name'),
                quantityT: { title: 'Quantity q (t)', type: 'number', minimum: 0 },
                criticalQuantityT: {
                  title: 'Critical quantity Q (t) for chemicals not in the built-in table',
                  type: 'number',
                  exclusiveMinimum: 0,
                },
                beta: {
                  title: 'Correction factor β (GB 18218-2018 Table 4)',
                  type: 'number',
                  minimum: 1,
                },
              },
            },
          },
        },
      },
    },
    users: {
      title: 'Platform users',
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['username', 'role'],
        properties: {
          username: { title: 'Login name', type: 'string', pattern: ID_PATTERN },
          name: text('Display name', 200),
          role: { title: 'Role', enum: ['enterprise', 'regulator', 'emergency', 'admin'] },
          password: { title: 'Password (demo configs only)', type: 'string', minLength: 4 },
          passwordHash: {
            title: 'scrypt password hash',
            description:
              'scrypt$<salt base64>$<key base64> (server/platform/access.ts hashPassword).',
            type: 'string',
            pattern: '^scrypt\\$[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+$',
          },
          enterpriseId: {
            title: 'Enterprise (role enterprise)',
            type: 'string',
            pattern: ID_PATTERN,
          },
          jurisdiction: jurisdictionSchema,
        },
      },
    },
    escalation: {
      title: 'Escalation timers (enterprise → county → city → province)',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        acknowledgeWithinMs: deadlines(
          'Unacknowledged alarm escalates after',
          PLATFORM_CONFIG_DEFAULTS.acknowledgeWithinMs,
        ),
        disposeWithinMs: deadlines(
          'Undisposed alarm escalates after',
          PLATFORM_CONFIG_DEFAULTS.disposeWithinMs,
        ),
        tickMs: {
          title: 'Check interval (ms)',
          type: 'integer',
          minimum: 10,
          default: PLATFORM_CONFIG_DEFAULTS.escalationTickMs,
        },
      },
    },
    overdueDisposalMs: {
      title: 'An open alarm older than this is an overdue disposal (risk score)',
      type: 'integer',
      minimum: 1,
      default: PLATFORM_CONFIG_DEFAULTS.overdueDisposalMs,
    },
    enterpriseSites: {
      title: 'Enterprise sites (workbench map) and English names',
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['enterpriseId'],
        properties: {
          enterpriseId: { title: 'Enterprise id', type: 'string', pattern: ID_PATTERN },
          lat: { title: 'Latitude (WGS 84, degrees)', type: 'number', minimum: -90, maximum: 90 },
          lon: {
            title: 'Longitude (WGS 84, degrees)',
            type: 'number',
            minimum: -180,
            maximum: 180,
          },
          nameEn: text('English name (the English page shows it)', 200),
        },
      },
    },
    workbench: {
      title: 'Regulator workbench: risk decay and indicator targets (docs/indicators.md)',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        riskHalfLifeMs: {
          title: 'Half-life of a handled alarm in the risk score (ms)',
          type: 'integer',
          minimum: 60_000,
          default: 6 * 60 * 60_000,
        },
        acknowledgeTargetMs: {
          title: 'Acknowledgement target time (ms after the server heard of the alarm)',
          type: 'integer',
          minimum: 1_000,
          default: 5 * 60_000,
        },
        disposeTargetMs: {
          title: 'Disposal target time (ms from alarm to closed disposal)',
          type: 'integer',
          minimum: 1_000,
          default: 60 * 60_000,
        },
        onlineRateTarget: {
          title: 'Online rate target (fraction; the national system holds >= 0.995)',
          type: 'number',
          minimum: 0,
          maximum: 1,
          default: 0.995,
        },
        reportsDir: text('Folder for scheduled reports (empty: beside the store file)', 500),
        reportHour: {
          title: 'Local hour of the daily scheduled report (-1: none)',
          type: 'integer',
          minimum: -1,
          maximum: 23,
          default: -1,
        },
      },
    },
    supervision: supervisionConfigSchema,
    emergencyTopic: {
      title: 'MQTT topic emergency centres subscribe to',
      type: 'string',
      minLength: 1,
      pattern: '^[^#+]+$',
      default: PLATFORM_CONFIG_DEFAULTS.emergencyTopic,
    },
  },
} as const;

/** Checks the schema cannot express; returns one line per problem. */
export function platformConfigProblems(
  config: PlatformConfig,
  enterpriseIds: readonly string[],
): string[] {
  const problems: string[] = [];
  const known = new Set(enterpriseIds);
  const seenInstallations = new Set<string>();
  config.installations.forEach((inst, i) => {
    if (seenInstallations.has(inst.id))
      problems.push(`platform.installations[${i}].id: duplicate id (got '${inst.id}')`);
    seenInstallations.add(inst.id);
    if (!known.has(inst.enterpriseId)) {
      problems.push(
        `platform.installations[${i}].enterpriseId: not in enterprises (got '${inst.enterpriseId}')`,
      );
    }
  });
  (config.enterpriseSites ?? []).forEach((site, i) => {
    if (!known.has(site.enterpriseId)) {
      problems.push(
        `platform.enterpriseSites[${i}].enterpriseId: not in enterprises (got '${site.enterpriseId}')`,
      );
    }
  });
  const seenUsers = new Set<string>();
  config.users.forEach((user, i) => {
    const at = `platform.users[${i}]`;
    if (seenUsers.has(user.username))
      problems.push(`${at}.username: duplicate (got '${user.username}')`);
    seenUsers.add(user.username);
    if (user.password === undefined && user.passwordHash === undefined) {
      problems.push(`${at}: needs password or passwordHash`);
    }
    if (
      user.role === 'enterprise' &&
      (user.enterpriseId === undefined || !known.has(user.enterpriseId))
    ) {
      problems.push(
        `${at}.enterpriseId: role enterprise needs a known enterprise (got '${user.enterpriseId ?? ''}')`,
      );
    }
    if ((user.role === 'regulator' || user.role === 'emergency') && !user.jurisdiction?.province) {
      problems.push(
        `${at}.jurisdiction.province: role ${user.role} needs a jurisdiction with at least a province`,
      );
    }
  });
  if (config.supervision) {
    problems.push(
      ...supervisionConfigProblems(
        config.supervision,
        config.installations.map((i) => i.id),
      ),
    );
  }
  for (const key of ['acknowledgeWithinMs', 'disposeWithinMs'] as const) {
    const list = config.escalation[key];
    for (let i = 1; i < list.length; i++) {
      if ((list[i] ?? 0) <= (list[i - 1] ?? 0)) {
        problems.push(
          `platform.escalation.${key}[${i}]: must be greater than the level before (got ${list[i]})`,
        );
      }
    }
  }
  return problems;
}
