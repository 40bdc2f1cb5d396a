/**
 * GET /metrics: Prometheus text exposition format 0.0.4, written by hand (counters and gauges
 * only). Counters restart at 0 with the server; Prometheus' rate() handles that.
 *
 * Two parts, because of fastify's encapsulation: `countHttpResponses(app)` is a plain function
 * called on the ROOT instance, so its onResponse hook counts the answers of every route of the
 * app, 404s included (fastify hands a root hook to every child context; a hook added inside a
 * plugin would count only that plugin's routes); `metricsRoutes` is the route plugin,
 * registered by app.ts with the prefix /metrics.
 */
import type { FastifyInstance } from 'fastify';
import type { IngestMetrics } from '../ingest.js';
import type { LinkageCounts } from '../linkage/emergency-notifier.js';
import type { PlatformCounters } from '../platform/platform.js';
import type { RoutePlugin } from './typed.js';

export interface MetricsDeps {
  ingest: { metrics(): IngestMetrics };
  notifier: { counts(): Promise<LinkageCounts> };
  ledger: { activeCount(): Promise<number> };
  gateways: { online(): unknown[]; list(): unknown[] };
  platform?: {
    counters: PlatformCounters;
    integrity?: {
      anchorsWritten: number;
      failures: number;
      lastResult: { ok: boolean } | null;
    };
  };
  /** Counts of HTTP answers by status class, kept by countHttpResponses. */
  http: ReadonlyMap<string, number>;
}

type Sample = [labels: Record<string, string> | null, value: number];

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function family(name: string, type: 'counter' | 'gauge', help: string, samples: Sample[]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    const text = labels
      ? `{${Object.entries(labels)
          .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
          .join(',')}}`
      : '';
    lines.push(`${name}${text} ${Number.isFinite(value) ? value : 0}`);
  }
  return lines.join('\n');
}

/** The exposition text for the current counters. */
export async function renderMetrics(deps: MetricsDeps): Promise<string> {
  const m = deps.ingest.metrics();
  const linkage = await deps.notifier.counts();
  const p = deps.platform?.counters;
  const parts = [
    family('hazardwatch_ingest_batches_total', 'counter', 'Telemetry batches committed.', [
      [null, m.batches],
    ]),
    family('hazardwatch_ingest_readings_total', 'counter', 'Readings committed.', [
      [null, m.readings],
    ]),
    family('hazardwatch_ingest_alarm_events_total', 'counter', 'Alarm transitions committed.', [
      [null, m.alarmEvents],
    ]),
    family(
      'hazardwatch_ingest_rejected_total',
      'counter',
      'Messages rejected, by reason.',
      Object.entries(m.rejectedByReason).map(([reason, n]) => [{ reason }, n] as Sample),
    ),
    family(
      'hazardwatch_ingest_duplicates_total',
      'counter',
      'Resent items already stored (same gateway, outbox epoch, seq and content): acknowledged, not stored again.',
      [[null, m.duplicates]],
    ),
    family(
      'hazardwatch_ingest_reused_seqs_total',
      'counter',
      'Items whose seq was seen before in the same outbox epoch with other content (a restored or cloned outbox): stored and flagged.',
      [[null, m.reusedSeqs]],
    ),
    family(
      'hazardwatch_ingest_store_failures_total',
      'counter',
      'Valid messages the store failed to commit.',
      [[null, m.storeFailures]],
    ),
    family('hazardwatch_alarms_active', 'gauge', 'Alarms currently active.', [
      [null, await deps.ledger.activeCount()],
    ]),
    family('hazardwatch_gateways_online', 'gauge', 'Gateways online.', [
      [null, deps.gateways.online().length],
    ]),
    family('hazardwatch_gateways_known', 'gauge', 'Gateways heard of.', [
      [null, deps.gateways.list().length],
    ]),
    family('hazardwatch_linkage_deliveries', 'gauge', 'Emergency webhook deliveries by state.', [
      [{ state: 'pending' }, linkage.pending],
      [{ state: 'delivered' }, linkage.delivered],
    ]),
    family(
      'hazardwatch_http_responses_total',
      'counter',
      'HTTP responses by status class.',
      [...deps.http.entries()].map(([status, n]) => [{ status }, n] as Sample),
    ),
  ];
  if (p) {
    parts.push(
      family(
        'hazardwatch_linkage_mqtt_notifications_total',
        'counter',
        'Emergency notifications published on MQTT.',
        [[null, p.mqttNotifications]],
      ),
      family(
        'hazardwatch_linkage_mqtt_receipts_total',
        'counter',
        'Receipts from emergency centres on MQTT.',
        [[null, p.mqttReceipts]],
      ),
      family('hazardwatch_escalations_total', 'counter', 'Alarm escalations (one per level).', [
        [null, p.escalations],
      ]),
      family(
        'hazardwatch_disposal_steps_total',
        'counter',
        'Disposal steps taken through the API.',
        [[null, p.disposalSteps]],
      ),
      family('hazardwatch_logins_total', 'counter', 'Logins by outcome.', [
        [{ outcome: 'ok' }, p.logins],
        [{ outcome: 'failed' }, p.loginFailures],
      ]),
      family('hazardwatch_rate_limited_total', 'counter', 'Requests refused by rate limits.', [
        [null, p.rateLimited],
      ]),
    );
  }
  const integrity = deps.platform?.integrity;
  if (integrity) {
    parts.push(
      family(
        'hazardwatch_ledger_verified',
        'gauge',
        'Last disposal ledger self-check: 1 verified, 0 failed (absent before the first; docs/ledger.md).',
        integrity.lastResult ? [[null, integrity.lastResult.ok ? 1 : 0]] : [],
      ),
      family(
        'hazardwatch_ledger_verify_failures_total',
        'counter',
        'Failed ledger verifications.',
        [[null, integrity.failures]],
      ),
      family('hazardwatch_ledger_anchors_total', 'counter', 'Chain heads anchored.', [
        [null, integrity.anchorsWritten],
      ]),
    );
  }
  return `${parts.join('\n')}\n`;
}

/**
 * Counts every answer of `app` by status class ("2xx", "4xx", ...) into the returned map.
 * Call it on the root instance (see the header comment).
 */
export function countHttpResponses(app: FastifyInstance): ReadonlyMap<string, number> {
  const http = new Map<string, number>();
  app.addHook('onResponse', async (_request, reply) => {
    const key = `${Math.floor(reply.statusCode / 100)}xx`;
    http.set(key, (http.get(key) ?? 0) + 1);
  });
  return http;
}

export const metricsRoutes: RoutePlugin<MetricsDeps> = (app, deps, done) => {
  app.get(
    '/',
    {
      // Only /metrics itself: the default would also register /metrics/.
      prefixTrailingSlash: 'no-slash',
      config: { public: true },
      schema: {
        description: 'Prometheus metrics (text exposition format 0.0.4).',
        response: { 200: { type: 'string' } },
      },
    },
    async (_request, reply) =>
      reply
        .header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
        .send(await renderMetrics(deps)),
  );
  done();
};
