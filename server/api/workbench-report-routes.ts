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
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../common/clock.js';
import type { Principal } from '../platform/access.js';
import { computeIndicators, localDay } from '../platform/indicators.js';
import { buildReport, periodWindow, reportCsv, reportXlsx } from '../platform/reports.js';
import { REPORT_SCHEDULE_DEFAULTS, ReportSchedule } from '../platform/reports-schedule.js';
import { gatherInputs, workbenchSettings } from '../platform/risk-inputs.js';
import { Errors } from './errors.js';
import { requirePrincipalOf } from './platform-routes.js';
import { rankEnterprises, timeWindow, type WorkbenchDeps } from './workbench-routes.js';
import { timeQuery, utcOffsetQuery, workbenchErrors } from './workbench-schemas.js';

interface ReportQuery {
  period: 'day' | 'week' | 'month' | 'custom';
  date?: string;
  from?: string;
  to?: string;
  utcOffsetMin?: number;
  lang: 'zh-CN' | 'en';
  format: 'json' | 'csv' | 'xlsx';
}

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

function scopeName(principal: Principal, lang: 'zh-CN' | 'en'): string {
  const j = principal.jurisdiction;
  const parts = j ? [j.province, j.city, j.county, j.park].filter(Boolean) : [];
  if (parts.length > 0) return parts.join(' / ');
  if (principal.role === 'admin') return lang === 'en' ? 'All' : '全部';
  return principal.enterpriseId ?? principal.username;
}

export function registerWorkbenchReportRoutes(
  app: FastifyInstance,
  deps: WorkbenchDeps,
  clock: Clock,
): void {
  const config = { platform: true } as const;
  const serverOffset = (now: number) => -new Date(now).getTimezoneOffset();

  const render = async (
    principal: Principal,
    window: { from: number; to: number },
    lang: 'zh-CN' | 'en',
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

  app.get<{ Querystring: ReportQuery }>(
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
            lang: { type: 'string', enum: ['zh-CN', 'en'], default: 'zh-CN' },
            format: { type: 'string', enum: ['json', 'csv', 'xlsx'], default: 'json' },
          },
        },
        response: {
          200: {
            description: 'json: { model, indicators }; csv and xlsx: the file',
            anyOf: [
              {
                type: 'object',
                required: ['model', 'indicators'],
                properties: {
                  model: { type: 'object', additionalProperties: true },
                  indicators: { type: 'object', additionalProperties: true },
                },
              },
              { type: 'string' },
            ],
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
      if (q.format === 'csv') {
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${base}.csv"`)
          .send(reportCsv(model));
      }
      if (q.format === 'xlsx') {
        return reply
          .header('content-type', XLSX_TYPE)
          .header('content-disposition', `attachment; filename="${base}.xlsx"`)
          .send(await reportXlsx(model));
      }
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
            required: ['hour', 'files'],
            properties: {
              hour: { type: 'integer' },
              files: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    username: { type: 'string' },
                    day: { type: 'string' },
                    format: { type: 'string' },
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

  app.get<{ Params: { name: string } }>(
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
      const body = await readFile(path);
      return reply
        .header(
          'content-type',
          request.params.name.endsWith('.csv') ? 'text/csv; charset=utf-8' : XLSX_TYPE,
        )
        .header('content-disposition', `attachment; filename="${request.params.name}"`)
        .send(body);
    },
  );
}
