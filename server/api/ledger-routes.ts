/**
 * Disposal ledger routes (docs/ledger.md), the `ledgerRoutes` plugin, registered by app.ts with
 * the prefix /api/v1/ledger:
 *
 *   GET /api/v1/ledger/export.csv   the chain rows in the caller's scope as CSV
 *   GET /api/v1/ledger/verify       keyed chain + dispositions + anchors, verified now
 *
 * Verification is for administrators and regulators. The chain is one for all enterprises, so
 * its verdict is global; problems that name an alarm of an enterprise outside a regulator's
 * jurisdiction are shown without the alarm (the ids of other plants are not theirs to see).
 */
import { type DisposalEvent, disposalCsv } from '../alarms/disposal.js';
import type { Platform } from '../platform/platform.js';
import { nullableString } from './dto.js';
import { Errors } from './errors.js';
import { authErrorResponses, requirePrincipalOf, scopeOf } from './platform-routes.js';
import type { RoutePlugin } from './typed.js';

export interface LedgerRouteOptions {
  platform: Platform;
}

const stringList = { type: 'array', items: { type: 'string' } } as const;

const verifySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ok', 'rows', 'brokenAt', 'reason', 'problems', 'head', 'anchors', 'checkedAt'],
  properties: {
    ok: { type: 'boolean' },
    rows: { type: 'integer' },
    brokenAt: { type: ['integer', 'null'] },
    reason: nullableString,
    problems: stringList,
    head: {
      type: ['object', 'null'],
      additionalProperties: false,
      properties: { seq: { type: 'integer' }, hash: { type: 'string' } },
    },
    projection: {
      type: 'object',
      additionalProperties: false,
      properties: { differences: { type: 'integer' }, problems: stringList },
    },
    anchors: {
      type: 'object',
      additionalProperties: false,
      properties: {
        checked: { type: 'integer' },
        lastAnchoredSeq: { type: ['integer', 'null'] },
        problems: stringList,
      },
    },
    checkedAt: { type: 'string', format: 'date-time' },
  },
} as const;

/** Alarm identities (`ent-b/gw-2/<alarm id>:`) of enterprises outside the scope are hidden. */
function redact(text: string, scope: ReadonlySet<string>): string {
  return text.replace(
    /(^|\s)([A-Za-z0-9_.-]{1,64})\/([A-Za-z0-9_.-]{1,64})\/(\S*?):/g,
    (whole, lead: string, enterpriseId: string) =>
      scope.has(enterpriseId) ? whole : `${lead}(an alarm outside your jurisdiction):`,
  );
}

export const ledgerRoutes: RoutePlugin<LedgerRouteOptions> = (app, { platform }, done) => {
  app.get(
    '/export.csv',
    {
      config: { platform: true },
      schema: {
        description:
          'Disposal ledger rows in scope as CSV (seq, alarm identity, ..., prevHash, hash).',
        response: { 200: { type: 'string' }, ...authErrorResponses },
      },
    },
    async (request, reply) => {
      requirePrincipalOf(request);
      const scope = scopeOf(platform, request);
      const events: DisposalEvent[] = [];
      for await (const e of platform.disposal.allEvents(scope ?? undefined)) events.push(e);
      const body = [...disposalCsv(events)].join('');
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="alarm-disposal-ledger.csv"')
        .send(body);
    },
  );

  app.get(
    '/verify',
    {
      config: { platform: true },
      schema: {
        description:
          'Verifies the disposal ledger now: keyed hash chain, dispositions rebuilt from it, anchors (administrators, regulators).',
        response: { 200: verifySchema, ...authErrorResponses },
      },
    },
    async (request) => {
      const principal = requirePrincipalOf(request);
      if (principal.role !== 'admin' && principal.role !== 'regulator')
        throw Errors.roleForbidden(principal.role, 'verify the ledger');
      const result = await platform.integrity.verifyNow();
      const scope = scopeOf(platform, request);
      if (scope === null) return result;
      const hide = (list: readonly string[]) => list.map((p) => redact(p, scope));
      return {
        ...result,
        reason: result.reason === null ? null : redact(result.reason, scope),
        problems: hide(result.problems),
        projection: { ...result.projection, problems: hide(result.projection.problems) },
      };
    },
  );

  done();
};
