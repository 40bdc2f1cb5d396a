/**
 * Supervision routes (issue 16; docs/supervision.md), a fastify plugin registered with the
 * prefix /api/v1/supervision. Every route needs a token and is scoped like the rest: a regulator
 * sees its jurisdiction, an enterprise itself; out-of-scope and unknown ids answer the same 403.
 *
 *   GET  /hazards                     records in scope (?status, kind, severity, enterpriseId)
 *   POST /hazards                     open one (regulator: inspection; enterprise: self-report)
 *   GET  /hazards/:id                 record and its chain rows
 *   POST /hazards/:id/assign|plan|rectify   the enterprise's steps (and administrators')
 *   POST /hazards/:id/verify          passed closes, failed sends back to rectifying
 *   GET  /ledger/verify               hazard chain + projection + anchors (admins, regulators)
 *   GET  /data-quality                per enterprise and in total (?enterpriseId: its points)
 *   GET  /gradings                    live GB 18218-2018 grading and grade history
 *   GET  /report                      hazards found/rectified/overdue/listed by region (?from, to)
 *   POST /screening/run               one screening pass now (admins)
 */
import type { FastifyRequest } from 'fastify';
import { canDispose, type Principal } from '../platform/access.js';
import type { Platform } from '../platform/platform.js';
import { summarise } from '../supervision/data-quality.js';
import {
  dataQualitySchema,
  HAZARD_KINDS,
  HAZARD_SEVERITIES,
  type HazardDto,
  hazardEventSchema,
  hazardSchema,
  integrityResultSchema,
  reportSchema,
  screeningRunSchema,
  standardItemSchema,
  toHazardDto,
  toHazardEventDto,
} from '../supervision/dto.js';
import { type Hazard, HazardStateError, type StandardItem } from '../supervision/hazard-chain.js';
import type { SupervisionService } from '../supervision/service.js';
import { qualityInScope, reportInScope } from '../supervision/views.js';
import { idParam, parseTime } from './dto.js';
import { Errors, errorBodySchema } from './errors.js';
import { requirePrincipalOf, scopeOf } from './platform-routes.js';
import type { RoutePlugin } from './typed.js';

export interface SupervisionRouteOptions {
  platform: Platform;
  supervision: SupervisionService;
}

const errors = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  409: errorBodySchema,
  429: errorBodySchema,
} as const;
const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: idParam },
} as const;
const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength }) as const;
const time = { type: 'string', maxLength: 40, description: 'epoch ms or ISO 8601' } as const;
const hazardReply = {
  type: 'object',
  additionalProperties: false,
  required: ['hazard'],
  properties: { hazard: hazardSchema },
} as const;

/** An inspection finding without a standard item falls under the inspector's own text. */
const INSPECTION_ITEM: StandardItem = {
  standard: 'inspection finding',
  number: null,
  text: 'as recorded by the inspector',
  checked: true,
};

export const supervisionRoutes: RoutePlugin<SupervisionRouteOptions> = (
  app,
  { platform, supervision },
  done,
) => {
  const config = { platform: true } as const;

  /** The record if the caller may see it; otherwise the uniform 403. */
  const visibleHazard = async (principal: Principal, id: string): Promise<Hazard> => {
    const h = await supervision.hazards.get(id);
    if (!h || !(await platform.canSee(principal, h.enterpriseId)))
      throw Errors.forbidden('hazard', id);
    return h;
  };

  /** Runs a step, mapping a refused state to 409 and announcing the change. */
  const step = async (
    action: string,
    run: () => Promise<Hazard>,
  ): Promise<{ hazard: HazardDto }> => {
    let h: Hazard;
    try {
      h = await run();
    } catch (err) {
      if (err instanceof HazardStateError) throw Errors.conflict(err.message);
      throw err;
    }
    supervision.emit(h, action);
    return { hazard: toHazardDto(h) };
  };

  /** Enterprise steps: the enterprise itself (its own records) and administrators. */
  const enterpriseStep = async (request: FastifyRequest, id: string, action: string) => {
    const principal = requirePrincipalOf(request);
    const h = await visibleHazard(principal, id);
    if (principal.role !== 'admin' && principal.role !== 'enterprise') {
      throw Errors.roleForbidden(principal.role, `${action} a hazard`);
    }
    return { principal, hazard: h };
  };

  app.get(
    '/hazards',
    {
      config,
      schema: {
        description: 'Hazard ledger records in scope, newest first.',
        querystring: {
          type: 'object',
          properties: {
            status: {
              type: 'string',
              enum: ['open', 'rectifying', 'rectified', 'closed', 'unclosed'],
            },
            kind: { type: 'string', enum: HAZARD_KINDS },
            severity: { type: 'string', enum: HAZARD_SEVERITIES },
            enterpriseId: idParam,
          },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['hazards'],
            properties: { hazards: { type: 'array', items: hazardSchema } },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      requirePrincipalOf(request);
      const { status, kind, severity, enterpriseId } = request.query;
      const visible = scopeOf(platform, request);
      const hazards = (await supervision.store.hazards(visible ?? undefined)).filter(
        (h) =>
          (status === undefined ||
            (status === 'unclosed' ? h.status !== 'closed' : h.status === status)) &&
          (kind === undefined || h.kind === kind) &&
          (severity === undefined || h.severity === severity) &&
          (enterpriseId === undefined || h.enterpriseId === enterpriseId),
      );
      return { hazards: hazards.map(toHazardDto) };
    },
  );

  app.post(
    '/hazards',
    {
      config,
      schema: {
        description:
          'Opens a record: regulators and administrators as an inspection finding, an enterprise as a self-report of its own.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['enterpriseId', 'severity', 'title', 'evidence'],
          properties: {
            enterpriseId: idParam,
            installationId: idParam,
            severity: { type: 'string', enum: HAZARD_SEVERITIES },
            kind: { type: 'string', enum: HAZARD_KINDS },
            title: text(200),
            item: standardItemSchema,
            evidence: text(2000),
            responsible: text(200),
          },
        },
        response: { 200: hazardReply, ...errors },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      const body = request.body;
      if (!(await platform.canSee(principal, body.enterpriseId))) {
        throw Errors.forbidden('enterprise', body.enterpriseId);
      }
      if (!canDispose(principal)) throw Errors.roleForbidden(principal.role, 'open a hazard');
      const source = principal.role === 'enterprise' ? 'self-report' : 'inspection';
      return step('opened', () =>
        supervision.hazards.open(
          {
            enterpriseId: body.enterpriseId,
            installationId: body.installationId ?? null,
            kind: body.kind ?? 'accident',
            severity: body.severity,
            title: body.title,
            item: body.item ?? INSPECTION_ITEM,
            source,
            evidence: { text: body.evidence },
            ...(body.responsible ? { responsible: body.responsible } : {}),
          },
          principal.username,
        ),
      );
    },
  );

  app.get(
    '/hazards/:id',
    {
      config,
      schema: {
        description: 'One record and every row of its chain (evidence, steps, listing).',
        params: idParams,
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['hazard', 'events'],
            properties: {
              hazard: hazardSchema,
              events: { type: 'array', items: hazardEventSchema },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const h = await visibleHazard(requirePrincipalOf(request), request.params.id);
      return {
        hazard: toHazardDto(h),
        events: (await supervision.store.events(h.hazardId)).map(toHazardEventDto),
      };
    },
  );

  app.post(
    '/hazards/:id/assign',
    {
      config,
      schema: {
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['responsible'],
          properties: { responsible: text(200) },
        },
        response: { 200: hazardReply, ...errors },
      },
    },
    async (request) => {
      const { principal, hazard } = await enterpriseStep(request, request.params.id, 'assign');
      return step('assigned', () =>
        supervision.hazards.assign(hazard.hazardId, principal.username, request.body.responsible),
      );
    },
  );

  app.post(
    '/hazards/:id/plan',
    {
      config,
      schema: {
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['plan', 'deadline'],
          properties: { plan: text(2000), deadline: time },
        },
        response: { 200: hazardReply, ...errors },
      },
    },
    async (request) => {
      const { principal, hazard } = await enterpriseStep(request, request.params.id, 'plan');
      const deadline = parseTime('deadline', request.body.deadline, Number.NaN);
      return step('planned', () =>
        supervision.hazards.plan(hazard.hazardId, principal.username, request.body.plan, deadline),
      );
    },
  );

  app.post(
    '/hazards/:id/rectify',
    {
      config,
      schema: {
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['evidence'],
          properties: { evidence: text(2000) },
        },
        response: { 200: hazardReply, ...errors },
      },
    },
    async (request) => {
      const { principal, hazard } = await enterpriseStep(request, request.params.id, 'rectify');
      return step('rectified', () =>
        supervision.hazards.rectify(hazard.hazardId, principal.username, request.body.evidence),
      );
    },
  );

  app.post(
    '/hazards/:id/verify',
    {
      config,
      schema: {
        description:
          'Verification: a major hazard by a regulator of its jurisdiction (or an administrator); a general one also by the enterprise.',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['outcome', 'note'],
          properties: { outcome: { type: 'string', enum: ['passed', 'failed'] }, note: text(2000) },
        },
        response: { 200: hazardReply, ...errors },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      const h = await visibleHazard(principal, request.params.id);
      const allowed =
        principal.role === 'admin' ||
        principal.role === 'regulator' ||
        (principal.role === 'enterprise' && h.severity === 'general');
      if (!allowed) throw Errors.roleForbidden(principal.role, `verify a ${h.severity} hazard`);
      const { outcome, note } = request.body;
      return step('verified', () =>
        supervision.hazards.verify(h.hazardId, principal.username, outcome, note),
      );
    },
  );

  app.get(
    '/ledger/verify',
    {
      config,
      schema: {
        description: 'Verifies the hazard chain, its projection and its anchors now.',
        response: { 200: integrityResultSchema, ...errors },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      if (principal.role !== 'admin' && principal.role !== 'regulator') {
        throw Errors.roleForbidden(principal.role, 'verify the hazard ledger');
      }
      return await supervision.integrity.verifyNow();
    },
  );

  app.get(
    '/data-quality',
    {
      config,
      schema: {
        description:
          'Online rate, completeness, flat lines, clock skew, setpoints, point names and gateway outages (docs/indicators.md).',
        querystring: {
          type: 'object',
          properties: { enterpriseId: idParam },
        },
        response: { 200: dataQualitySchema, ...errors },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      const { enterpriseId } = request.query;
      if (enterpriseId !== undefined && !(await platform.canSee(principal, enterpriseId))) {
        throw Errors.forbidden('enterprise', enterpriseId);
      }
      const now = supervision.now();
      const { points, outages } = await qualityInScope(
        supervision,
        scopeOf(platform, request),
        now,
      );
      // One pass over points and outages: filtering them once per enterprise cost
      // enterprises × points (3,000 × 100,000 for a province).
      const pointsOf = byEnterprise(points);
      const outagesOf = byEnterprise(outages);
      const ids = [...pointsOf.keys()].sort();
      return {
        at: new Date(now).toISOString(),
        total: summarise(points, outages),
        enterprises: ids.map((id) => ({
          enterpriseId: id,
          summary: summarise(pointsOf.get(id) ?? [], outagesOf.get(id) ?? []),
        })),
        outages: outages.map((o) => ({
          enterpriseId: o.enterpriseId,
          gatewayId: o.gatewayId,
          startedAt: new Date(o.startedAt).toISOString(),
          endedAt: o.endedAt === null ? null : new Date(o.endedAt).toISOString(),
          points: o.points,
        })),
        ...(enterpriseId === undefined ? {} : { points: pointsOf.get(enterpriseId) ?? [] }),
      };
    },
  );

  app.get(
    '/gradings',
    {
      config,
      schema: {
        description: 'Live GB 18218-2018 grading per installation in scope, with grade history.',
        response: { 200: { type: 'object', additionalProperties: true }, ...errors },
      },
    },
    async (request) => {
      requirePrincipalOf(request);
      const visible = scopeOf(platform, request);
      const gradings = (await supervision.liveGradings()).filter(
        (g) => visible === null || visible.has(g.enterpriseId),
      );
      const installations = [];
      for (const g of gradings) {
        installations.push({
          ...g,
          history: await supervision.store.gradeHistory(g.installationId, 50),
        });
      }
      return { installations };
    },
  );

  app.get(
    '/report',
    {
      config,
      schema: {
        description:
          'Supervision report: hazards found, rectified, overdue and listed, and data quality, by region and period (default the last 30 days).',
        querystring: { type: 'object', properties: { from: time, to: time } },
        response: { 200: reportSchema, ...errors },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      const now = supervision.now();
      const to = parseTime('to', request.query.to, now);
      const from = parseTime('from', request.query.from, to - 30 * 24 * 3_600_000);
      if (from > to) throw Errors.badRange(from, to);
      const jurisdictions = new Map(
        (await platform.visibleEnterprises(principal)).map((e) => [e.id, e.jurisdiction]),
      );
      return reportInScope(
        supervision,
        scopeOf(platform, request),
        jurisdictions,
        principal.jurisdiction,
        from,
        to,
      );
    },
  );

  app.post(
    '/screening/run',
    {
      config,
      schema: {
        description: 'Runs one screening pass now (administrators).',
        response: { 200: screeningRunSchema, ...errors },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      if (principal.role !== 'admin') throw Errors.roleForbidden(principal.role, 'run screening');
      const result = await supervision.screenNow();
      return {
        at: new Date(result.at).toISOString(),
        ms: result.ms,
        holding: result.holding,
        opened: result.opened.length,
        cleared: result.cleared.length,
        returned: result.returned.length,
        failedRules: result.failedRules,
      };
    },
  );
  done();
};

/** Items grouped by their enterprise, each group in the items' order. */
function byEnterprise<T extends { enterpriseId: string }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(item.enterpriseId);
    if (group) group.push(item);
    else groups.set(item.enterpriseId, [item]);
  }
  return groups;
}
