/**
 * Reports of the workbench (prefix /api/v1/workbench):
 *
 *   GET /report          ?period=day|week|month|custom&date&from&to&utcOffsetMin&lang&format=json|csv|xlsx
 *   GET /reports         scheduled report files of the caller (admins: all)
 *   GET /reports/:name   one of those files
 *
 * A report covers the caller's scope only. The schedule (reports-schedule.ts) starts when the
 * app is ready and stops when it closes.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyReply } from 'fastify';
import { systemClock } from '../../common/clock.js';
import type { Principal } from '../platform/access.js';
import { computeIndicators, localDay } from '../platform/indicators.js';
import {
  buildReport,
  periodWindow,
  type ReportLang,
  reportCsv,
  reportXlsx,
} from '../platform/reports.js';
import { REPORT_SCHEDULE_DEFAULTS, ReportSchedule } from '../platform/reports-schedule.js';
import { gatherInputs, workbenchSettings } from '../platform/risk-inputs.js';
import { Errors } from './errors.js';
import { requirePrincipalOf } from './platform-routes.js';
import type { RoutePlugin } from './typed.js';
import { rankEnterprises, timeWindow, type WorkbenchRouteOptions } from './workbench-routes.js';
import {
  indicatorsSchema,
  langQuery,
  reportModelSchema,
  timeQuery,
  utcOffsetQuery,
  workbenchErrors,
} from './workbench-schemas.js';

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/**
 * Sends a report file (.csv or .xlsx, by its name) as a download. A file is not a JSON answer:
 * fastify sends a Buffer, or a string with a non-JSON content type, as it is, past the response
 * schema's serializer; so the reply is taken here without the schema's payload type.
 */
function sendFile(reply: FastifyReply, name: string, body: string | Buffer): FastifyReply {
  return reply
    .header('content-type', name.endsWith('.csv') ? 'text/csv; charset=utf-8' : XLSX_TYPE)
    .header('content-disposition', `attachment; filename="${name}"`)
    .send(body);
}

function scopeName(principal: Principal, lang: ReportLang): string {
  const j = principal.jurisdiction;
  const parts = j ? [j.province, j.city, j.county, j.park].filter(Boolean) : [];
  if (parts.length > 0) return parts.join(' / ');
  if (principal.role === 'admin') return lang === 'en' ? 'All' : '全部';
  return principal.enterpriseId ?? principal.username;
}

/**
 * Registered by workbenchRoutes under its prefix; the report schedule lives as long as the
 * app (hooks of this plugin: onReady starts it, onClose stops it).
 */
export const workbenchReportRoutes: RoutePlugin<WorkbenchRouteOptions> = (app, deps, done) => {
  const clock = deps.clock ?? systemClock;
  const config = { platform: true } as const;
  const serverOffset = (now: number) => -new Date(now).getTimezoneOffset();

  const render = async (
    principal: Principal,
    window: { from: number; to: number },
    lang: ReportLang,
    utcOffsetMin: number,
  ) => {
    const now = clock.now();
    const settings = workbenchSettings(deps.platform.config);
    const inputs = await gatherInputs(deps, principal, now, { periods: [window] });
    const ranking = rankEnterprises(inputs, now, settings);
    const colours = new Map(ranking.map((e) => [e.id, e.risk.colour]));
    const indicators = computeIndicators(
      inputs,
      colours,
      { ...window, now, utcOffsetMin },
      settings,
    );
    const model = buildReport({
      lang,
      scope: scopeName(principal, lang),
      ...window,
      now,
      utcOffsetMin,
      inputs,
      ranking,
      indicators,
      settings,
    });
    return { model, indicators, ranking };
  };

  const workbench = deps.platform.config.workbench ?? {};
  const schedule = new ReportSchedule({
    dir: workbench.reportsDir || REPORT_SCHEDULE_DEFAULTS.reportsDir,
    hour: workbench.reportHour ?? -1,
    users: deps.platform.config.users,
    utcOffsetMin: serverOffset,
    clock,
    render: async (principal, day) => {
      const offset = serverOffset(clock.now());
      const { model } = await render(principal, periodWindow('day', day, offset), 'zh-CN', offset);
      return { xlsx: await reportXlsx(model), csv: reportCsv(model) };
    },
  });
  app.addHook('onReady', async () => schedule.start());
  app.addHook('onClose', async () => schedule.stop());

  app.get(
    '/report',
    {
      config,
      schema: {
        description:
          'Supervision report of the caller’s jurisdiction for a day, week (7 days ending on `date`), month or custom range: indicators, top enterprises, alarms per day, alarm and disposal table. json for the printable page; csv (UTF-8 with BOM); xlsx.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            period: { type: 'string', enum: ['day', 'week', 'month', 'custom'], default: 'day' },
            date: {
              type: 'string',
              pattern: '^\\d{4}-\\d{2}-\\d{2}$',
              description: 'local day; default today',
            },
            from: timeQuery('custom period start'),
            to: timeQuery('custom period end'),
            utcOffsetMin: utcOffsetQuery,
            lang: langQuery,
            format: { type: 'string', enum: ['json', 'csv', 'xlsx'], default: 'json' },
          },
        },
        response: {
          // Only the JSON answer: csv and xlsx are files sent past the serializer (sendFile).
          // Not anyOf [object, string]: fast-json-stringify validates anyOf branches, and the
          // domain objects carry fields the schema leaves out (a point's unit): a 500.
          200: {
            description: 'format=json: { model, indicators }; format=csv or xlsx: the file',
            type: 'object',
            additionalProperties: false,
            required: ['model', 'indicators'],
            properties: { model: reportModelSchema, indicators: indicatorsSchema },
          },
          ...workbenchErrors,
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipalOf(request);
      const q = request.query;
      const now = clock.now();
      const offset = q.utcOffsetMin ?? serverOffset(now);
      const window =
        q.period === 'custom'
          ? timeWindow(q, now, 24 * 60 * 60_000)
          : periodWindow(q.period, q.date ?? localDay(now, offset), offset);
      if (window.to - window.from > 92 * 24 * 60 * 60_000)
        throw Errors.validation('querystring: a report covers at most 92 days');
      const { model, indicators } = await render(principal, window, q.lang, offset);
      const base = `report-${localDay(window.from, offset)}-${q.period}`;
      if (q.format === 'csv') return sendFile(reply, `${base}.csv`, reportCsv(model));
      if (q.format === 'xlsx') return sendFile(reply, `${base}.xlsx`, await reportXlsx(model));
      return { model, indicators };
    },
  );

  app.get(
    '/reports',
    {
      config,
      schema: {
        description: 'Scheduled report files the caller may fetch (their own; admins: all).',
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['hour', 'files'],
            properties: {
              hour: { type: 'integer' },
              files: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['name', 'username', 'day', 'format', 'bytes'],
                  properties: {
                    name: { type: 'string' },
                    username: { type: 'string' },
                    day: { type: 'string' },
                    format: { type: 'string', enum: ['xlsx', 'csv'] },
                    bytes: { type: 'integer' },
                  },
                },
              },
            },
          },
          ...workbenchErrors,
        },
      },
    },
    async (request) => ({
      hour: workbench.reportHour ?? -1,
      files: await schedule.list(requirePrincipalOf(request)),
    }),
  );

  app.get(
    '/reports/:name',
    {
      config,
      schema: {
        description: 'One scheduled report file.',
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', maxLength: 200 } },
        },
        response: {
          200: { description: 'the file (text/csv or XLSX)', type: 'string' },
          ...workbenchErrors,
        },
      },
    },
    async (request, reply) => {
      const path = await schedule.path(requirePrincipalOf(request), request.params.name);
      if (path === null) throw Errors.forbidden('report', request.params.name);
      return sendFile(reply, request.params.name, await readFile(path));
    },
  );
  done();
};
