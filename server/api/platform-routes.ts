/**
 * Platform routes (regulators, emergency centres, enterprise operators, administrators) and the
 * authentication hook that scopes every /api/v1 answer. The routes are the `platformRoutes`
 * plugin, registered by app.ts with the prefix /api/v1 (the URLs below are the public ones);
 * the hook is not part of it: it stays on the root instance (registerAuthHook).
 *
 *   POST /api/v1/auth/login                   { username, password } → { token, expiresAt, user }
 *   POST /api/v1/auth/logout
 *   GET  /api/v1/me
 *   GET  /api/v1/enterprises                   ranked by risk score (colour red/orange/yellow/blue)
 *   GET  /api/v1/enterprises/:id               installations (GB 18218 grading), sensors, alarms
 *   GET  /api/v1/overview                      jurisdiction overview
 *   GET  /api/v1/disposals                     alarms in scope whose disposal is not closed
 *   GET  /api/v1/alarms/:enterpriseId/:gatewayId/:alarmId/disposal   disposition and ledger rows
 *   POST /api/v1/alarms/:enterpriseId/:gatewayId/:alarmId/acknowledge|assign|measures|close
 *   GET  /api/v1/linkage/mqtt                  MQTT emergency notifications with receipts
 *   ledger export and verification: ledger-routes.ts
 *
 * An alarm is addressed by its identity (enterprise, gateway, alarm id: server/alarms/identity.ts),
 * each part one path segment, URL-encoded (alarm ids may hold any character).
 *
 * Tokens: `Authorization: Bearer <token>`, or `?access_token=` (EventSource cannot set headers).
 * Platform routes always need a token; the older read routes need one when
 * `platform.requireAuth` is set, and are scoped whenever a token is given. Out-of-scope and
 * unknown ids answer the same 403, so ids cannot be probed.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../../common/clock.js';
import { DisposalStateError, type Disposition } from '../alarms/disposal.js';
import { type AlarmKey, describeAlarm } from '../alarms/identity.js';
import type { AlarmLedger } from '../alarms/ledger.js';
import { type FailureThrottle, loginThrottle as newLoginThrottle } from '../auth/throttle.js';
import { canDispose, type Principal } from '../platform/access.js';
import type { Platform } from '../platform/platform.js';
import type { InstallationRecord } from '../platform/registry.js';
import type { TelemetryStore } from '../store/telemetry-store.js';
import { alarmParams, alarmSchema, jurisdictionSchema, nullableString, toAlarmDto } from './dto.js';
import { Errors, errorBodySchema } from './errors.js';
import type { FromSchema, RoutePlugin } from './typed.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; null when anonymous (only where auth is not required). */
    principal: Principal | null;
    /**
     * Enterprise ids the caller may see, set with `principal` by the auth hook (one registry
     * read per request, so scope checks in the handlers stay synchronous); null = everything.
     */
    enterpriseScope: Set<string> | null;
  }
  interface FastifySchema {
    /** Shown in the OpenAPI document (/docs). */
    description?: string;
  }
  interface FastifyContextConfig {
    /** Route needs a token even when `platform.requireAuth` is false. */
    platform?: boolean;
    /** Route answers without a token (health, login). */
    public?: boolean;
  }
}

export interface PlatformRouteOptions {
  platform: Platform;
  /** Time for the login backoff (server/auth/throttle.ts); default the system clock. */
  clock?: Clock;
  /** Login backoff per account, address and pair; default from `loginAttemptsPerMinute`. */
  loginThrottle?: FailureThrottle;
  ledger: Pick<AlarmLedger, 'get' | 'list'>;
  store: Pick<TelemetryStore, 'latest'>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * The error answers of every token-guarded route (here and in ledger-routes.ts): bad input,
 * no or unknown token, out of scope or wrong role, rate limited.
 */
export const authErrorResponses = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  429: errorBodySchema,
} as const;
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

/**
 * The wire form of a disposition. `satisfies` rather than a return type: callers keep the
 * precise inferred type (dto.ts's `nullable()` derives `string | number | null`).
 */
export function toDispositionDto(d: Disposition) {
  return {
    alarmId: d.alarmId,
    enterpriseId: d.enterpriseId,
    gatewayId: d.gatewayId,
    level: d.level,
    drill: d.drill,
    status: d.status,
    openedAt: new Date(d.openedAt).toISOString(),
    acknowledgedAt: iso(d.acknowledgedAt),
    acknowledgedBy: d.acknowledgedBy,
    assignee: d.assignee,
    measures: d.measures,
    closedAt: iso(d.closedAt),
    closedBy: d.closedBy,
    escalationLevel: d.escalationLevel,
  } satisfies DispositionDto;
}

/** Every field is always present (toDispositionDto), so every one is required. */
export const dispositionSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'alarmId',
    'enterpriseId',
    'gatewayId',
    'level',
    'drill',
    'status',
    'openedAt',
    'acknowledgedAt',
    'acknowledgedBy',
    'assignee',
    'measures',
    'closedAt',
    'closedBy',
    'escalationLevel',
  ],
  properties: {
    alarmId: { type: 'string' },
    enterpriseId: { type: 'string' },
    gatewayId: { type: 'string' },
    level: { type: 'integer', enum: [1, 2] },
    drill: { type: 'boolean' },
    status: { type: 'string', enum: ['open', 'acknowledged', 'closed'] },
    openedAt: { type: 'string' },
    acknowledgedAt: nullableString,
    acknowledgedBy: nullableString,
    assignee: nullableString,
    measures: { type: 'integer' },
    closedAt: nullableString,
    closedBy: nullableString,
    escalationLevel: { type: 'integer', minimum: 0, maximum: 3 },
  },
} as const;
export type DispositionDto = FromSchema<typeof dispositionSchema>;

const riskSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['score', 'colour'],
  properties: {
    score: { type: 'number' },
    colour: { type: 'string', enum: ['red', 'orange', 'yellow', 'blue'] },
    grade: { type: ['integer', 'null'] },
    activeLevel1: { type: 'integer' },
    activeLevel2: { type: 'integer' },
    offlinePoints: { type: 'integer' },
    overdueDisposals: { type: 'integer' },
    terms: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: { factor: { type: 'string' }, points: { type: 'number' } },
      },
    },
  },
} as const;

const rankedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'jurisdiction', 'risk'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    jurisdiction: jurisdictionSchema,
    risk: riskSchema,
  },
} as const;

/** One GB 18218-2018 graded inventory item (server/platform/grading.ts GradedItem). */
const gradedItemSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'chemical',
    'name',
    'quantityT',
    'criticalQuantityT',
    'beta',
    'ratio',
    'weightedRatio',
    'source',
  ],
  properties: {
    chemical: { type: 'string' },
    name: { type: 'string' },
    quantityT: { type: 'number' },
    criticalQuantityT: { type: 'number' },
    beta: { type: 'number' },
    ratio: { type: 'number' },
    weightedRatio: { type: 'number' },
    source: { type: 'string' },
  },
} as const;

/** A major hazard installation with its grading (registry.ts InstallationRecord). */
const installationSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id',
    'enterpriseId',
    'name',
    'peopleWithin500m',
    'inventory',
    'grading',
    'gradingError',
  ],
  properties: {
    id: { type: 'string' },
    enterpriseId: { type: 'string' },
    name: { type: 'string' },
    peopleWithin500m: { type: 'number' },
    inventory: {
      type: 'array',
      items: {
        // Open: the registry answers the inventory as it was configured.
        type: 'object',
        additionalProperties: true,
        required: ['chemical', 'quantityT'],
        properties: {
          chemical: { type: 'string' },
          quantityT: { type: 'number' },
          criticalQuantityT: { type: 'number' },
          beta: { type: 'number' },
        },
      },
    },
    grading: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['items', 'sumRatio', 'isMajorHazard', 'alpha', 'r', 'grade', 'derivation'],
      properties: {
        items: { type: 'array', items: gradedItemSchema },
        sumRatio: { type: 'number' },
        isMajorHazard: { type: 'boolean' },
        alpha: { type: 'number' },
        r: { type: 'number' },
        grade: { type: ['integer', 'null'] },
        derivation: { type: 'array', items: { type: 'string' } },
      },
    },
    gradingError: nullableString,
  },
} as const;

type InstallationDto = FromSchema<typeof installationSchema>;

/** The registry's record as answered: only the inventory is copied (read-only in the domain). */
function toInstallationDto(i: InstallationRecord): InstallationDto {
  return { ...i, inventory: i.inventory.map((item) => ({ ...item })) };
}

const userSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['username', 'name', 'role'],
  properties: {
    username: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: ['enterprise', 'regulator', 'emergency', 'admin'] },
    enterpriseId: nullableString,
    jurisdiction: { anyOf: [jurisdictionSchema, { type: 'null' }] },
  },
} as const;

function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.startsWith('Bearer '))
    return header.slice(7).trim() || null;
  const query = request.query as Record<string, unknown> | undefined;
  const fromQuery = query?.access_token;
  return typeof fromQuery === 'string' && fromQuery.length > 0 ? fromQuery : null;
}

export function requirePrincipalOf(request: FastifyRequest): Principal {
  return requirePrincipal(request);
}

/** Enterprise ids the request may see; null = everything (admin, or anonymous where allowed). */
export function scopeOf(
  platform: Platform | undefined,
  request: FastifyRequest,
): Set<string> | null {
  const principal = request.principal ?? null;
  if (!platform || principal === null || principal.role === 'admin') return null;
  // Set by the auth hook with the principal; never widened to everything if it is missing.
  return request.enterpriseScope ?? new Set();
}

function requirePrincipal(request: FastifyRequest): Principal {
  if (!request.principal) throw Errors.unauthorized('a token is required');
  return request.principal;
}

/**
 * Installs the authentication and rate-limit hook for every /api/v1 route. A plain function
 * called on the root instance, not a plugin: a hook added inside a registered plugin would be
 * encapsulated and see only that plugin's routes, while this one must guard every route
 * (core, platform, ledger, workbench, supervision, fleet, stream, history).
 */
export function registerAuthHook(app: FastifyInstance, platform: Platform): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('enterpriseScope', null);
  app.addHook('onRequest', async (request, reply) => {
    request.principal = null;
    request.enterpriseScope = null;
    const config = request.routeOptions.config ?? {};
    const path = request.url.split('?')[0] ?? '';
    if (!path.startsWith('/api/v1/') || config.public) return;
    const token = bearerToken(request);
    if (token !== null) {
      const principal = await platform.access.authenticate(token);
      if (!principal) throw Errors.unauthorized('token unknown or expired; log in again');
      const waitMs = platform.requestLimiter.take(`user:${principal.username}`);
      if (waitMs > 0) {
        platform.counters.rateLimited++;
        const seconds = Math.ceil(waitMs / 1000);
        reply.header('retry-after', String(seconds));
        throw Errors.rateLimited(seconds);
      }
      request.principal = principal;
      request.enterpriseScope =
        principal.role === 'admin'
          ? null
          : new Set((await platform.visibleEnterprises(principal)).map((e) => e.id));
      return;
    }
    if (config.platform || platform.config.requireAuth)
      throw Errors.unauthorized('a token is required');
  });
}

const disposalStepResponse = {
  200: {
    type: 'object',
    required: ['disposition'],
    properties: { disposition: dispositionSchema },
  },
  409: errorBodySchema,
  ...authErrorResponses,
} as const;
const disposalText = { type: 'string', minLength: 1, maxLength: 2000 } as const;
/** Body of a step whose text is optional (acknowledge: the note). */
const optionalNoteBody = {
  type: 'object',
  additionalProperties: false,
  properties: { note: disposalText },
} as const;
const requiredText = {
  type: 'object',
  additionalProperties: false,
} as const;
/** Bodies of the steps whose text is required. */
const noteBody = {
  ...requiredText,
  required: ['note'],
  properties: { note: disposalText },
} as const;
const assigneeBody = {
  ...requiredText,
  required: ['assignee'],
  properties: { assignee: disposalText },
} as const;
const measureBody = {
  ...requiredText,
  required: ['measure'],
  properties: { measure: disposalText },
} as const;

export const platformRoutes: RoutePlugin<PlatformRouteOptions> = (app, deps, done) => {
  const { platform, ledger } = deps;
  const loginThrottle =
    deps.loginThrottle ?? newLoginThrottle(platform.config.loginAttemptsPerMinute, deps.clock);

  /** The alarm if the caller may see it; otherwise the uniform 403. */
  const visibleAlarm = async (request: FastifyRequest, key: AlarmKey) => {
    // Scope first: an out-of-scope enterprise answers the same 403 as an unknown alarm.
    const principal = requirePrincipal(request);
    const alarm = (await platform.canSee(principal, key.enterpriseId))
      ? await ledger.get(key)
      : undefined;
    if (!alarm) throw Errors.forbidden('alarm', describeAlarm(key));
    return alarm;
  };

  const disposalStep = async (
    request: FastifyRequest,
    key: AlarmKey,
    action: string,
    step: (key: AlarmKey, actor: string) => Promise<Disposition>,
  ) => {
    const principal = requirePrincipal(request);
    const alarm = await visibleAlarm(request, key);
    if (!canDispose(principal)) throw Errors.roleForbidden(principal.role, action);
    await platform.dispositionOf(alarm);
    let d: Disposition;
    try {
      d = await step(alarm, principal.username);
    } catch (err) {
      if (err instanceof DisposalStateError) throw Errors.conflict(err.message);
      throw err;
    }
    platform.disposalChanged(d);
    return { disposition: toDispositionDto(d) };
  };

  app.post(
    '/auth/login',
    {
      config: { public: true },
      schema: {
        description: 'Log in; the token goes in `Authorization: Bearer <token>`.',
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: {
            username: { type: 'string', minLength: 1, maxLength: 64 },
            password: { type: 'string', minLength: 1, maxLength: 256 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['token', 'expiresAt', 'user'],
            properties: {
              token: { type: 'string' },
              expiresAt: { type: 'string' },
              user: userSchema,
            },
          },
          ...authErrorResponses,
        },
      },
    },
    async (request, reply) => {
      // Backoff per (account, address), account and address: the right password of
      // someone else behind the attacker's address still gets in (issue 13 item 6).
      const { username, password } = request.body;
      const verdict = loginThrottle.check(username, request.ip);
      if (verdict.waitMs > 0) {
        platform.counters.rateLimited++;
        const seconds = Math.ceil(verdict.waitMs / 1000);
        reply.header('retry-after', String(seconds));
        throw Errors.rateLimited(seconds);
      }
      const session = await platform.access.login(username, password);
      if (!session) {
        loginThrottle.failure(username, request.ip);
        platform.counters.loginFailures++;
        throw Errors.badCredentials();
      }
      loginThrottle.success(username, request.ip);
      platform.counters.logins++;
      return {
        token: session.token,
        expiresAt: new Date(session.expiresAt).toISOString(),
        user: session.principal,
      };
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { platform: true },
      schema: { response: { 204: { type: 'null' }, ...authErrorResponses } },
    },
    async (request, reply) => {
      const token = bearerToken(request);
      if (token) await platform.access.logout(token);
      // The schema's body is null; fastify sends a 204 with no body and no content headers.
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      config: { platform: true },
      schema: { response: { 200: userSchema, ...authErrorResponses } },
    },
    async (request) => requirePrincipal(request),
  );

  app.get(
    '/enterprises',
    {
      config: { platform: true },
      schema: {
        description: 'Enterprises in scope, ranked by dynamic risk score (highest first).',
        response: {
          200: {
            type: 'object',
            required: ['enterprises'],
            properties: { enterprises: { type: 'array', items: rankedSchema } },
          },
          ...authErrorResponses,
        },
      },
    },
    async (request) => ({ enterprises: await platform.ranking(requirePrincipal(request)) }),
  );

  app.get(
    '/overview',
    {
      config: { platform: true },
      schema: {
        description:
          'Jurisdiction overview: enterprises by colour, alarms, overdue disposals, regions below.',
        response: { 200: { type: 'object', additionalProperties: true }, ...authErrorResponses },
      },
    },
    async (request) => platform.overview(requirePrincipal(request)),
  );

  app.get(
    '/enterprises/:id',
    {
      config: { platform: true },
      schema: {
        description:
          'One enterprise: risk, installations with GB 18218-2018 grading, sensors, recent alarms.',
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: ['enterprise', 'installations', 'sensors', 'alarms'],
            properties: {
              enterprise: rankedSchema,
              installations: { type: 'array', items: installationSchema },
              sensors: { type: 'array', items: { type: 'object', additionalProperties: true } },
              alarms: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['alarm', 'disposition'],
                  properties: {
                    alarm: alarmSchema,
                    disposition: { anyOf: [dispositionSchema, { type: 'null' }] },
                  },
                },
              },
            },
          },
          ...authErrorResponses,
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const id = request.params.id;
      const enterprise = (await platform.ranking(principal)).find((e) => e.id === id);
      if (!enterprise) throw Errors.forbidden('enterprise', id);
      const latest = new Map(
        deps.store
          .latest()
          .filter((r) => r.enterpriseId === id)
          .map((r) => [`${r.gatewayId}\u0000${r.sensorId}`, r]),
      );
      const sensors = (await platform.registry.sensors(id)).map((s) => {
        const r = latest.get(`${s.gatewayId}\u0000${s.sensorId}`);
        return { ...s, value: r?.value ?? null, quality: r?.quality ?? 'bad', ts: r?.ts ?? null };
      });
      const alarms = [];
      for (const alarm of await ledger.list({ state: 'all', limit: 200, enterpriseIds: [id] })) {
        const d = await platform.disposal.disposition(alarm);
        alarms.push({ alarm: toAlarmDto(alarm), disposition: d ? toDispositionDto(d) : null });
      }
      return {
        enterprise,
        installations: (await platform.registry.installations(id)).map(toInstallationDto),
        sensors,
        alarms,
      };
    },
  );

  app.get(
    '/disposals',
    {
      config: { platform: true },
      schema: {
        description: 'Alarms in scope whose disposal is not closed: level 2 first, then newest.',
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['alarm', 'disposition'],
                  properties: { alarm: alarmSchema, disposition: dispositionSchema },
                },
              },
            },
          },
          ...authErrorResponses,
        },
      },
    },
    async (request) => {
      requirePrincipal(request);
      const scope = scopeOf(platform, request);
      const unclosed = (await platform.disposal.unclosed()).filter(
        (d) => scope === null || scope.has(d.enterpriseId),
      );
      const found = await Promise.all(
        unclosed.map(async (d) => ({ alarm: await ledger.get(d), disposition: d })),
      );
      const items = found
        .flatMap(({ alarm, disposition }) => (alarm ? [{ alarm, disposition }] : []))
        .sort(
          (a, b) =>
            Number(a.alarm.drill) - Number(b.alarm.drill) ||
            b.alarm.level - a.alarm.level ||
            b.disposition.openedAt - a.disposition.openedAt,
        )
        .slice(0, 200);
      return {
        items: items.map(({ alarm, disposition }) => ({
          alarm: toAlarmDto(alarm),
          disposition: toDispositionDto(disposition),
        })),
      };
    },
  );

  app.get(
    '/alarms/:enterpriseId/:gatewayId/:alarmId/disposal',
    {
      config: { platform: true },
      schema: {
        description:
          'The closed loop of one alarm: its disposition and every ledger row (hash chain).',
        params: alarmParams,
        response: {
          200: {
            type: 'object',
            required: ['disposition', 'events'],
            properties: {
              disposition: dispositionSchema,
              events: { type: 'array', items: { type: 'object', additionalProperties: true } },
            },
          },
          ...authErrorResponses,
        },
      },
    },
    async (request) => {
      const alarm = await visibleAlarm(request, request.params);
      const disposition = await platform.dispositionOf(alarm);
      const events = (await platform.disposal.events(alarm)).map((e) => ({ ...e, at: iso(e.at) }));
      return { disposition: toDispositionDto(disposition), events };
    },
  );

  app.post(
    '/alarms/:enterpriseId/:gatewayId/:alarmId/acknowledge',
    {
      config: { platform: true },
      schema: { params: alarmParams, body: optionalNoteBody, response: disposalStepResponse },
    },
    async (request) =>
      disposalStep(request, request.params, 'acknowledge alarms', (id, actor) =>
        // A POST with no body at all is an acknowledgement without a note: fastify does not
        // validate an absent body, so `request.body` is undefined then, whatever its type says.
        platform.disposal.acknowledge(id, actor, request.body?.note),
      ),
  );

  app.post(
    '/alarms/:enterpriseId/:gatewayId/:alarmId/assign',
    {
      config: { platform: true },
      schema: { params: alarmParams, body: assigneeBody, response: disposalStepResponse },
    },
    async (request) =>
      disposalStep(request, request.params, 'assign alarms', (id, actor) =>
        platform.disposal.assign(id, actor, request.body.assignee),
      ),
  );

  app.post(
    '/alarms/:enterpriseId/:gatewayId/:alarmId/measures',
    {
      config: { platform: true },
      schema: { params: alarmParams, body: measureBody, response: disposalStepResponse },
    },
    async (request) =>
      disposalStep(request, request.params, 'record disposal measures', (id, actor) =>
        platform.disposal.recordMeasure(id, actor, request.body.measure),
      ),
  );

  app.post(
    '/alarms/:enterpriseId/:gatewayId/:alarmId/close',
    {
      config: { platform: true },
      schema: { params: alarmParams, body: noteBody, response: disposalStepResponse },
    },
    async (request) =>
      disposalStep(request, request.params, 'close alarms', (id, actor) =>
        platform.disposal.close(id, actor, request.body.note),
      ),
  );

  app.get(
    '/linkage/mqtt',
    {
      config: { platform: true },
      schema: {
        description:
          'Emergency notifications published on the MQTT emergency topic, with receipts.',
        response: { 200: { type: 'object', additionalProperties: true }, ...authErrorResponses },
      },
    },
    async (request) => {
      requirePrincipal(request);
      const scope = scopeOf(platform, request);
      const list = (await platform.mqtt?.notifications()) ?? [];
      const visible = scope === null ? list : list.filter((n) => scope.has(n.enterpriseId));
      return {
        topic: platform.config.emergencyTopic,
        notifications: visible.map((n) => ({
          ...n,
          publishedAt: iso(n.publishedAt),
          receipts: n.receipts.map((r) => ({
            centreId: r.centreId,
            receivedAt: iso(r.receivedAt),
          })),
        })),
      };
    },
  );

  done();
};
