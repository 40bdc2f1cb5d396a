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
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { FLEET_COMMAND_TYPES } from '../../protocol/index.js';
import { EnrolmentRefused } from '../fleet/enrolment.js';
import type { FleetService } from '../fleet/fleet-service.js';
import { canDispose, type Principal } from '../platform/access.js';
import type { Platform } from '../platform/platform.js';
import { idParam } from './dto.js';
import { Errors, errorBodySchema } from './errors.js';
import { requirePrincipalOf } from './platform-routes.js';

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
  required: ['gatewayId'],
  properties: { gatewayId: idParam },
} as const;
const anyObject = { type: 'object', additionalProperties: true } as const;
const gatewayViewSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    gatewayId: { type: 'string' },
    enterpriseId: { type: 'string' },
    enrolledAt: { type: 'number' },
    revoked: { type: 'boolean' },
    desiredVersion: { type: ['integer', 'null'] },
    runningVersion: { type: ['integer', 'null'] },
    lastStatus: { anyOf: [anyObject, { type: 'null' }] },
    health: { anyOf: [anyObject, { type: 'null' }] },
    flags: anyObject,
    reasons: { type: 'array', items: { type: 'string' } },
  },
} as const;

interface GatewayParams {
  Params: { gatewayId: string };
}

function enrolmentError(err: unknown): never {
  if (err instanceof EnrolmentRefused) {
    if (err.status === 401) throw Errors.unauthorized(err.message);
    if (err.status === 409) throw Errors.conflict(err.message);
    throw Errors.validation(err.message);
  }
  throw err;
}

export const fleetPlugin: FastifyPluginAsync<FleetRouteOptions> = async (app, options) => {
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

  app.post<{
    Body: { token: string; publicKeyPem: string; proof: string; gatewayId?: string };
  }>(
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
            gatewayId: { type: 'string', minLength: 1, maxLength: 64 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['gatewayId', 'enterpriseId', 'username', 'password', 'mqttUrl'],
            properties: {
              gatewayId: { type: 'string' },
              enterpriseId: { type: 'string' },
              username: { type: 'string' },
              password: { type: 'string' },
              keyFingerprint: { type: 'string' },
              enrolledAt: { type: 'number' },
              mqttUrl: { type: 'string' },
              config: { anyOf: [anyObject, { type: 'null' }] },
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

  app.post<{ Body: { enterpriseId: string; gatewayId?: string; ttlMs?: number } }>(
    '/tokens',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['enterpriseId'],
          properties: {
            enterpriseId: { type: 'string', minLength: 1, maxLength: 64 },
            gatewayId: { type: 'string', minLength: 1, maxLength: 64 },
            ttlMs: { type: 'integer', minimum: 1 },
          },
        },
        response: {
          200: {
            type: 'object',
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
            required: ['gateways'],
            properties: { gateways: { type: 'array', items: gatewayViewSchema } },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      const scope =
        !platform || principal.role === 'admin'
          ? null
          : new Set((await platform.visibleEnterprises(principal)).map((e) => e.id));
      await fleet.refresh();
      return { gateways: fleet.view(scope) };
    },
  );

  app.get<GatewayParams>(
    '/gateways/:gatewayId',
    {
      schema: {
        params: gatewayParams,
        response: {
          200: {
            type: 'object',
            required: ['gateway', 'versions'],
            properties: {
              gateway: gatewayViewSchema,
              versions: {
                type: 'array',
                items: {
                  type: 'object',
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
      const view = fleet.view(new Set([gateway.enterpriseId]));
      return {
        gateway: view.find((g) => g.gatewayId === gateway.gatewayId),
        versions: await fleet.versions(gateway.gatewayId),
      };
    },
  );

  app.post<
    GatewayParams & {
      Body: { config: string; rules: { file: string; text: string }[]; reason: string };
    }
  >(
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

  app.post<GatewayParams & { Body: { reason: string } }>(
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

  app.post<
    GatewayParams & {
      Body: {
        type: (typeof FLEET_COMMAND_TYPES)[number];
        level?: string;
        durationMs?: number;
        lines?: number;
      };
    }
  >(
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
          200: {
            type: 'object',
            required: ['commandId', 'ok', 'output'],
            properties: {
              commandId: { type: 'string' },
              ok: { type: 'boolean' },
              ts: { type: 'number' },
              output: { type: 'array', items: { type: 'string' } },
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
};
