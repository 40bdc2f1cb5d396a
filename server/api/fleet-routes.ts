/**
 * Fleet management API (issue 17, docs/fleet.md), a fastify plugin registered at /api/v1/fleet:
 *
 *   POST /enrol                          a gateway exchanges its one-time token (no login: the
 *                                        token is the credential; recommend HTTPS in front)
 *   POST /tokens                         admin: a one-time enrolment token for an enterprise
 *   GET  /gateways                       the fleet in scope: versions, health, flags and why
 *   GET  /gateways/:gatewayId            one gateway with its version history (who, when, why)
 *   POST /gateways/:gatewayId/versions   admin: push a configuration and rule set, with reason
 *   POST /gateways/:gatewayId/revoke     admin: refuse it at the broker, close its sessions
 *   POST /gateways/:gatewayId/commands   remote command, the authority of operator commands:
 *                                        a role that may take disposal steps, within scope
 *
 * Every change and every command is audited by the fleet service.
 */
import type { FastifyRequest } from 'fastify';
import {
  FLEET_COMMAND_TYPES,
  fleetCommandResultSchema,
  fleetConfigDocumentSchema,
  fleetConfigStatusSchema,
  fleetHealthSchema,
} from '../../protocol/index.js';
import { EnrolmentRefused } from '../fleet/enrolment.js';
import type { FleetService } from '../fleet/fleet-service.js';
import { canDispose, type Principal } from '../platform/access.js';
import type { Platform } from '../platform/platform.js';
import { idParam } from './dto.js';
import { Errors, errorBodySchema } from './errors.js';
import { requirePrincipalOf, scopeOf } from './platform-routes.js';
import type { RoutePlugin } from './typed.js';

export const FLEET_ROUTE_DEFAULTS = {
  versionBodyLimitBytes: 8 * 1024 * 1024, // 8 MiB: a large plant's config and rule files
} as const;

export interface FleetRouteOptions {
  fleet: FleetService;
  /** Without a platform there are no logins: only enrolment answers. */
  platform?: Platform;
}

const errors = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  409: errorBodySchema,
} as const;
const gatewayParams = {
  type: 'object',
  additionalProperties: false,
  required: ['gatewayId'],
  properties: { gatewayId: idParam },
} as const;
/** A protocol message in a reply, or null before the gateway sent one. */
const configStatusOrNull = { ...fleetConfigStatusSchema, type: ['object', 'null'] } as const;
const configDocumentOrNull = { ...fleetConfigDocumentSchema, type: ['object', 'null'] } as const;
/**
 * The gateway's last health message (protocol fields only: the protocol schema is open for
 * newer gateways, the reply is not) with when it arrived and the clock offset then.
 */
const healthViewSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: [...fleetHealthSchema.required, 'receivedAt', 'clockOffsetMs'],
  properties: {
    ...fleetHealthSchema.properties,
    receivedAt: { type: 'number' },
    clockOffsetMs: { type: 'number' },
  },
} as const;
const flag = { type: 'boolean' } as const;

/** fleet-view.ts FleetGatewayView. */
const gatewayViewSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'gatewayId',
    'enterpriseId',
    'enrolledAt',
    'revoked',
    'desiredVersion',
    'runningVersion',
    'lastStatus',
    'health',
    'flags',
    'reasons',
  ],
  properties: {
    gatewayId: { type: 'string' },
    enterpriseId: { type: 'string' },
    enrolledAt: { type: 'number' },
    revoked: { type: 'boolean' },
    desiredVersion: { type: ['integer', 'null'] },
    runningVersion: { type: ['integer', 'null'] },
    lastStatus: configStatusOrNull,
    health: healthViewSchema,
    flags: {
      type: 'object',
      additionalProperties: false,
      required: ['behind', 'full', 'skewed', 'outOfDate', 'stale', 'drift'],
      properties: {
        behind: flag,
        full: flag,
        skewed: flag,
        outOfDate: flag,
        stale: flag,
        drift: flag,
      },
    },
    reasons: { type: 'array', items: { type: 'string' } },
  },
} as const;

function enrolmentError(err: unknown): never {
  if (err instanceof EnrolmentRefused) {
    if (err.status === 401) throw Errors.unauthorized(err.message);
    if (err.status === 409) throw Errors.conflict(err.message);
    throw Errors.validation(err.message);
  }
  throw err;
}

export const fleetPlugin: RoutePlugin<FleetRouteOptions> = (app, options, done) => {
  const { fleet, platform } = options;

  const admin = (request: FastifyRequest, action: string): Principal => {
    const principal = requirePrincipalOf(request);
    if (principal.role !== 'admin') throw Errors.roleForbidden(principal.role, action);
    return principal;
  };
  /** The gateway if the caller may see its enterprise; the uniform 403 otherwise. */
  const visibleGateway = async (request: FastifyRequest, gatewayId: string) => {
    const principal = requirePrincipalOf(request);
    await fleet.refresh(); // another node may have enrolled or revoked it
    const gateway = fleet.gateway(gatewayId);
    if (!gateway || !(await platform?.canSee(principal, gateway.enterpriseId)))
      throw Errors.forbidden('gateway', gatewayId);
    return { principal, gateway };
  };

  app.post(
    '/enrol',
    {
      config: { public: true },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['token', 'publicKeyPem', 'proof'],
          properties: {
            token: { type: 'string', minLength: 1, maxLength: 200 },
            publicKeyPem: { type: 'string', minLength: 1, maxLength: 4_000 },
            proof: { type: 'string', minLength: 1, maxLength: 1_000 },
            gatewayId: idParam,
          },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: [
              'gatewayId',
              'enterpriseId',
              'username',
              'password',
              'keyFingerprint',
              'enrolledAt',
              'mqttUrl',
              'config',
            ],
            properties: {
              gatewayId: { type: 'string' },
              enterpriseId: { type: 'string' },
              username: { type: 'string' },
              password: { type: 'string' },
              keyFingerprint: { type: 'string' },
              enrolledAt: { type: 'number' },
              mqttUrl: { type: 'string' },
              config: configDocumentOrNull,
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      try {
        return await fleet.enrol(request.body, request.hostname.replace(/:\d+$/, ''));
      } catch (err) {
        enrolmentError(err);
      }
    },
  );

  app.post(
    '/tokens',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['enterpriseId'],
          properties: {
            enterpriseId: idParam,
            gatewayId: idParam,
            ttlMs: { type: 'integer', minimum: 1 },
          },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['token', 'expiresAt'],
            properties: { token: { type: 'string' }, expiresAt: { type: 'number' } },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const principal = admin(request, 'create enrolment tokens');
      try {
        return await fleet.createToken({ ...request.body, by: principal.username });
      } catch (err) {
        enrolmentError(err);
      }
    },
  );

  app.get(
    '/gateways',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['gateways'],
            properties: { gateways: { type: 'array', items: gatewayViewSchema } },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      requirePrincipalOf(request);
      const scope = scopeOf(platform, request);
      await fleet.refresh();
      return { gateways: fleet.view(scope) };
    },
  );

  app.get(
    '/gateways/:gatewayId',
    {
      schema: {
        params: gatewayParams,
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['gateway', 'versions'],
            properties: {
              gateway: gatewayViewSchema,
              // The management-of-change record of each version, without its files.
              versions: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['version', 'hash', 'by', 'reason', 'issuedAt'],
                  properties: {
                    version: { type: 'integer' },
                    hash: { type: 'string' },
                    by: { type: 'string' },
                    reason: { type: 'string' },
                    issuedAt: { type: 'number' },
                  },
                },
              },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const { gateway } = await visibleGateway(request, request.params.gatewayId);
      const view = fleet
        .view(new Set([gateway.enterpriseId]))
        .find((g) => g.gatewayId === gateway.gatewayId);
      // The view is of the same enrolled set visibleGateway just read; nothing awaits between.
      if (!view) throw Errors.forbidden('gateway', gateway.gatewayId);
      return { gateway: view, versions: await fleet.versions(gateway.gatewayId) };
    },
  );

  app.post(
    '/gateways/:gatewayId/versions',
    {
      bodyLimit: FLEET_ROUTE_DEFAULTS.versionBodyLimitBytes,
      schema: {
        params: gatewayParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['config', 'rules', 'reason'],
          properties: {
            config: { type: 'string', minLength: 1, maxLength: 1_048_576 },
            rules: {
              type: 'array',
              maxItems: 200,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['file', 'text'],
                properties: {
                  file: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\\.ya?ml$' },
                  text: { type: 'string', maxLength: 4_194_304 },
                },
              },
            },
            // A management-of-change record needs its why.
            reason: { type: 'string', minLength: 3, maxLength: 2_000 },
          },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['version', 'hash'],
            properties: { version: { type: 'integer' }, hash: { type: 'string' } },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const principal = admin(request, 'push gateway configurations');
      await visibleGateway(request, request.params.gatewayId);
      const document = await fleet.pushVersion(request.params.gatewayId, {
        ...request.body,
        by: principal.username,
      });
      return { version: document.version, hash: document.hash };
    },
  );

  app.post(
    '/gateways/:gatewayId/revoke',
    {
      schema: {
        params: gatewayParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['reason'],
          properties: { reason: { type: 'string', minLength: 3, maxLength: 2_000 } },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['revoked'],
            properties: { revoked: { type: 'boolean' } },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const principal = admin(request, 'revoke gateways');
      await visibleGateway(request, request.params.gatewayId);
      const revoked = await fleet.revoke(
        request.params.gatewayId,
        principal.username,
        request.body.reason,
      );
      if (!revoked)
        throw Errors.conflict(`gateway '${request.params.gatewayId}' is already revoked`);
      return { revoked };
    },
  );

  app.post(
    '/gateways/:gatewayId/commands',
    {
      schema: {
        params: gatewayParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['type'],
          properties: {
            type: { enum: FLEET_COMMAND_TYPES },
            level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] },
            durationMs: { type: 'integer', minimum: 1_000, maximum: 86_400_000 },
            lines: { type: 'integer', minimum: 1, maximum: 1_000 },
          },
        },
        response: {
          // The gateway's fleet-result without its protocol version.
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['commandId', 'ok', 'ts', 'output'],
            properties: {
              commandId: fleetCommandResultSchema.properties.commandId,
              ok: fleetCommandResultSchema.properties.ok,
              ts: fleetCommandResultSchema.properties.ts,
              output: fleetCommandResultSchema.properties.output,
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const { principal, gateway } = await visibleGateway(request, request.params.gatewayId);
      if (!canDispose(principal)) throw Errors.roleForbidden(principal.role, 'command gateways');
      if (request.body.type === 'log-level' && request.body.level === undefined)
        throw Errors.validation('body/level is required for log-level');
      return fleet.command(gateway.gatewayId, {
        ...request.body,
        by: `${principal.role}:${principal.username}`,
      });
    },
  );
  done();
};
