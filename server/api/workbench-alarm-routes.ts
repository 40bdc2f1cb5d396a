/**
 * The alarm desk of the workbench (prefix /api/v1/workbench):
 *
 *   GET  /alarms                           ?level&state&status&enterpriseId&from&to&sort&page&pageSize
 *   GET  /alarms/:enterpriseId/:gatewayId/:alarmId          alarm, disposal steps, measures, notifications
 *   POST /alarms/acknowledge               { alarms: [identity], note? }: one result per alarm
 *   POST /alarms/:enterpriseId/:gatewayId/:alarmId/close    { note, override? }
 *
 * Assign and measures stay on the platform routes (/api/v1/alarms/.../assign|measures). Closing
 * here refuses (409) an alarm whose value has not returned to normal unless an override reason is
 * given; the override is written to the disposal ledger as a measure before the close, so it is
 * in the hash chain with who and when.
 */
import type { FastifyRequest } from 'fastify';
import { systemClock } from '../../common/clock.js';
import { DisposalStateError } from '../alarms/disposal.js';
import { type AlarmKey, describeAlarm } from '../alarms/identity.js';
import type { AlarmRecord } from '../alarms/ledger.js';
import { canDispose } from '../platform/access.js';
import { readAlarms } from '../platform/risk-inputs.js';
import { alarmParams, alarmSchema, toAlarmDto } from './dto.js';
import { ApiError, Errors, errorBodySchema } from './errors.js';
import { dispositionSchema, requirePrincipalOf, toDispositionDto } from './platform-routes.js';
import type { RoutePlugin } from './typed.js';
import { timeWindow, type WorkbenchRouteOptions } from './workbench-routes.js';
import { deskItemSchema, timeQuery, workbenchErrors } from './workbench-schemas.js';

export const DESK_DEFAULTS = {
  pageSize: 20,
  maxPageSize: 100,
  bulkMax: 200, // alarms per bulk acknowledgement
  recentMs: 30 * 24 * 60 * 60_000, // 30 d: the desk without a time filter (plus every unclosed alarm)
  maxAlarms: 100_000, // alarms read per request at most (pages of the ledger's time-range query)
} as const;

/**
 * The alarms of `ids` whose time (raise, or clear while the raise has not arrived) lies in
 * [from, to], read page by page through the ledger's time-range query; with `withUnclosed`,
 * also every alarm whose disposal is not closed, however old (the desk must show those).
 */
export function alarmsBetween(
  deps: Pick<WorkbenchRouteOptions, 'ledger' | 'platform'>,
  ids: readonly string[],
  from: number,
  to: number,
  withUnclosed = false,
): Promise<AlarmRecord[]> {
  return readAlarms(deps, ids, [{ from, to }], {
    unclosed: withUnclosed,
    maxAlarms: DESK_DEFAULTS.maxAlarms,
  });
}

const identityBody = {
  type: 'object',
  additionalProperties: false,
  required: ['enterpriseId', 'gatewayId', 'alarmId'],
  properties: alarmParams.properties,
} as const;

/** Registered by workbenchRoutes under its prefix. */
export const workbenchAlarmRoutes: RoutePlugin<WorkbenchRouteOptions> = (app, deps, done) => {
  const { platform } = deps;
  const clock = deps.clock ?? systemClock;
  const config = { platform: true } as const;

  /** The alarm if the caller may see it; otherwise the uniform 403. */
  const visibleAlarm = async (request: FastifyRequest, key: AlarmKey): Promise<AlarmRecord> => {
    const principal = requirePrincipalOf(request);
    // Scope first: an out-of-scope enterprise answers the same 403 as an unknown alarm.
    const alarm = (await platform.canSee(principal, key.enterpriseId))
      ? await deps.ledger.get(key)
      : undefined;
    if (!alarm) throw Errors.forbidden('alarm', describeAlarm(key));
    return alarm;
  };

  app.get(
    '/alarms',
    {
      config,
      schema: {
        description:
          'Alarms in scope for the desk: filtered, sorted (priority: escalated, then level 2, then newest; drills and closed last) and paged.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            level: { type: 'integer', enum: [1, 2] },
            state: { type: 'string', enum: ['active', 'cleared'] },
            status: { type: 'string', enum: ['open', 'acknowledged', 'closed', 'unclosed'] },
            enterpriseId: { type: 'string', minLength: 1, maxLength: 200 },
            from: timeQuery('received at or after'),
            to: timeQuery('received at or before'),
            sort: { type: 'string', enum: ['priority', 'newest'], default: 'priority' },
            drills: { type: 'boolean', default: true },
            page: { type: 'integer', minimum: 1, default: 1 },
            pageSize: {
              type: 'integer',
              minimum: 1,
              maximum: DESK_DEFAULTS.maxPageSize,
              default: DESK_DEFAULTS.pageSize,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['total', 'page', 'pageSize', 'items'],
            properties: {
              total: { type: 'integer' },
              page: { type: 'integer' },
              pageSize: { type: 'integer' },
              items: { type: 'array', items: deskItemSchema },
            },
          },
          ...workbenchErrors,
        },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      const q = request.query;
      const now = clock.now();
      const visible = (await platform.visibleEnterprises(principal)).map((e) => e.id);
      const ids =
        q.enterpriseId === undefined ? visible : visible.filter((id) => id === q.enterpriseId);
      // With a time filter: the alarms whose time (raise) is in it. Without: the last 30 days
      // and every alarm whose disposal is still open, however old.
      const window = q.from !== undefined || q.to !== undefined ? timeWindow(q, now, now) : null;
      const alarms = await alarmsBetween(
        deps,
        ids,
        window?.from ?? now - DESK_DEFAULTS.recentMs,
        window?.to ?? now,
        window === null,
      );
      const rows = [];
      for (const alarm of alarms) {
        if (q.level !== undefined && alarm.level !== q.level) continue;
        if (q.state !== undefined && alarm.state !== q.state) continue;
        if (!q.drills && alarm.drill) continue;
        const d = await platform.disposal.disposition(alarm);
        const openedAt = d?.openedAt ?? alarm.receivedAt;
        const status = d?.status ?? 'open';
        if (
          q.status === 'unclosed'
            ? status === 'closed'
            : q.status !== undefined && status !== q.status
        )
          continue;
        rows.push({ alarm, d, openedAt, status, escalation: d?.escalationLevel ?? 0 });
      }
      rows.sort((a, b) =>
        q.sort === 'newest'
          ? b.openedAt - a.openedAt
          : Number(a.alarm.drill) - Number(b.alarm.drill) ||
            Number(a.status === 'closed') - Number(b.status === 'closed') ||
            b.escalation - a.escalation ||
            b.alarm.level - a.alarm.level ||
            Number(b.alarm.state === 'active') - Number(a.alarm.state === 'active') ||
            b.openedAt - a.openedAt,
      );
      const start = (q.page - 1) * q.pageSize;
      return {
        total: rows.length,
        page: q.page,
        pageSize: q.pageSize,
        items: rows.slice(start, start + q.pageSize).map((r) => ({
          alarm: toAlarmDto(r.alarm),
          disposition: r.d ? toDispositionDto(r.d) : null,
        })),
      };
    },
  );

  app.get(
    '/alarms/:enterpriseId/:gatewayId/:alarmId',
    {
      config,
      schema: {
        description:
          'One alarm for the desk: the alarm, its disposition, every disposal step (measures among them) and its emergency notifications.',
        params: alarmParams,
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['alarm', 'receivedAt', 'disposition', 'steps', 'notifications'],
            properties: {
              alarm: alarmSchema,
              receivedAt: { type: 'integer' },
              disposition: dispositionSchema,
              steps: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['seq', 'action', 'actor', 'at', 'detail'],
                  properties: {
                    seq: { type: 'integer' },
                    action: { type: 'string' },
                    actor: { type: 'string' },
                    at: { type: 'integer' },
                    detail: { type: 'object', additionalProperties: true },
                  },
                },
              },
              notifications: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['channel', 'centre', 'state', 'attempts', 'createdAt', 'deliveredAt'],
                  properties: {
                    channel: { type: 'string', enum: ['webhook', 'mqtt'] },
                    centre: { type: 'string' },
                    state: { type: 'string' },
                    attempts: { type: 'integer' },
                    createdAt: { type: ['integer', 'null'] },
                    deliveredAt: { type: ['integer', 'null'] },
                  },
                },
              },
            },
          },
          ...workbenchErrors,
        },
      },
    },
    async (request) => {
      const alarm = await visibleAlarm(request, request.params);
      const disposition = await platform.dispositionOf(alarm);
      const steps = (await platform.disposal.events(alarm)).map((e) => ({
        seq: e.seq,
        action: e.action,
        actor: e.actor,
        at: e.at,
        detail: e.detail,
      }));
      const same = (x: AlarmKey) =>
        x.enterpriseId === alarm.enterpriseId &&
        x.gatewayId === alarm.gatewayId &&
        x.alarmId === alarm.alarmId;
      const webhook = (await deps.notifier.deliveries(1_000)).filter(same).map((d) => ({
        channel: 'webhook' as const,
        centre: d.centreName ?? d.centreId,
        state: d.state,
        attempts: d.attempts,
        createdAt: d.createdAt,
        deliveredAt: d.deliveredAt,
      }));
      const mqtt = ((await platform.mqtt?.notifications()) ?? []).filter(same).map((n) => ({
        channel: 'mqtt' as const,
        centre: n.receipts.map((r) => r.centreId).join(', ') || platform.config.emergencyTopic,
        state: n.receipts.length > 0 ? 'delivered' : 'published',
        attempts: 1,
        createdAt: n.publishedAt,
        deliveredAt: n.receipts[0]?.receivedAt ?? null,
      }));
      return {
        alarm: toAlarmDto(alarm),
        receivedAt: alarm.receivedAt,
        disposition: toDispositionDto(disposition),
        steps,
        notifications: [...webhook, ...mqtt],
      };
    },
  );

  app.post(
    '/alarms/acknowledge',
    {
      config,
      schema: {
        description:
          'Acknowledges several alarms with one note; each alarm answers apart (already acknowledged: conflict, not an error of the whole request).',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['alarms'],
          properties: {
            alarms: {
              type: 'array',
              minItems: 1,
              maxItems: DESK_DEFAULTS.bulkMax,
              items: identityBody,
            },
            note: { type: 'string', minLength: 1, maxLength: 2000 },
          },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['acknowledged', 'results'],
            properties: {
              acknowledged: { type: 'integer' },
              results: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['enterpriseId', 'gatewayId', 'alarmId', 'ok'],
                  properties: {
                    enterpriseId: { type: 'string' },
                    gatewayId: { type: 'string' },
                    alarmId: { type: 'string' },
                    ok: { type: 'boolean' },
                    code: { type: 'string' },
                    message: { type: 'string' },
                  },
                },
              },
            },
          },
          ...workbenchErrors,
        },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      if (!canDispose(principal)) throw Errors.roleForbidden(principal.role, 'acknowledge alarms');
      const results = [];
      let acknowledged = 0;
      for (const key of request.body.alarms) {
        const id = {
          enterpriseId: key.enterpriseId,
          gatewayId: key.gatewayId,
          alarmId: key.alarmId,
        };
        try {
          const alarm = await visibleAlarm(request, id);
          await platform.dispositionOf(alarm);
          const d = await platform.disposal.acknowledge(
            alarm,
            principal.username,
            request.body.note,
          );
          platform.disposalChanged(d);
          acknowledged++;
          results.push({ ...id, ok: true });
        } catch (err) {
          if (err instanceof DisposalStateError) {
            results.push({ ...id, ok: false, code: 'HW_CONFLICT', message: err.message });
          } else if (err instanceof ApiError && err.statusCode === 403) {
            results.push({ ...id, ok: false, code: 'HW_FORBIDDEN', message: err.message });
          } else throw err;
        }
      }
      return { acknowledged, results };
    },
  );

  app.post(
    '/alarms/:enterpriseId/:gatewayId/:alarmId/close',
    {
      config,
      schema: {
        description:
          'Closes the disposal loop. Refused (409) while the alarm is still in alarm, unless `override` gives the reason, which is recorded in the ledger as a measure before the close.',
        params: alarmParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['note'],
          properties: {
            note: { type: 'string', minLength: 1, maxLength: 2000 },
            override: { type: 'string', minLength: 1, maxLength: 2000 },
          },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['disposition'],
            properties: { disposition: dispositionSchema },
          },
          409: errorBodySchema,
          ...workbenchErrors,
        },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      const alarm = await visibleAlarm(request, request.params);
      if (!canDispose(principal)) throw Errors.roleForbidden(principal.role, 'close alarms');
      const current = await platform.dispositionOf(alarm);
      const { note, override } = request.body;
      if (current.status !== 'acknowledged')
        throw Errors.conflict(
          `alarm '${describeAlarm(alarm)}' cannot be closed while ${current.status}: acknowledge it first`,
        );
      if (alarm.state === 'active' && override === undefined)
        throw Errors.conflict(
          `alarm '${describeAlarm(alarm)}' is still in alarm (value has not returned to normal); close it with an override reason, which is recorded`,
        );
      try {
        if (alarm.state === 'active' && override !== undefined) {
          await platform.disposal.recordMeasure(
            alarm,
            principal.username,
            `override: closed while still in alarm: ${override}`,
          );
        }
        const d = await platform.disposal.close(alarm, principal.username, note);
        platform.disposalChanged(d);
        return { disposition: toDispositionDto(d) };
      } catch (err) {
        if (err instanceof DisposalStateError) throw Errors.conflict(err.message);
        throw err;
      }
    },
  );
  done();
};
