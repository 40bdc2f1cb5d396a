/**
 * Stand-in for an emergency centre's dispatch system: receives HazardWatch emergency linkage
 * webhooks (contract: protocol/linkage.ts) and shows them on a page. A peer from outside: it checks
 * signatures with its own node:crypto code, as a real centre would, not with protocol/linkage.ts.
 *
 * POST /api/v1/notifications
 *   headers x-hazardwatch-timestamp: epoch seconds, epoch milliseconds (13+ digits) or ISO 8601
 *           x-hazardwatch-signature: 'sha256=' + hex(HMAC-SHA256(secret, `${timestamp}.${rawBody}`))
 *           x-hazardwatch-delivery:  stable id across retries (optional; notificationId otherwise)
 *   503 for the first `failFirst` requests (to exercise the sender's retries), then:
 *   401 missing/unparsable timestamp, timestamp outside ±replay window (5 min), missing or wrong
 *       signature; 415 not JSON; 400 JSON that is not an EmergencyNotification;
 *   200 { duplicate: true } for a delivery id or notificationId seen before (not recorded again);
 *   202 { accepted: true, notificationId } otherwise.
 *   A body with `kind` 'cleared' or 'closed' is a follow-up (docs/protocol.md): it marks the
 *   notification it names as returned to normal or closed (kept until that notification
 *   arrives, should it come later); 202 { accepted: true, followUpId }.
 * GET /api/v1/notifications  JSON array, newest first, each with its status and follow-up times.
 * POST /api/v1/notifications/:notificationId/confirm   the dispatcher confirms receipt (page button).
 * GET /                      the dispatch console (zh-CN, English on request; phone-sized too).
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { type Clock, systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import { isAddressInUse, PortInUseError } from '../common/net.js';
import type { EmergencyNotification } from '../protocol/linkage.js';
import { RECEIVER_PAGE } from './emergency-receiver-page.js';

const log = createLogger('simulators.receiver');

const DEFAULTS = {
  host: '127.0.0.1',
  replayWindowMs: 5 * 60_000, // 5 min either side of now, as protocol/linkage.ts suggests
  failFirst: 0, // requests answered 503 before the receiver starts working
  waitForTimeoutMs: 5000, // 5 s
  bodyLimitBytes: 256 * 1024, // 256 KiB: a notification is well under 2 KiB
};

const HEADERS = {
  timestamp: 'x-hazardwatch-timestamp',
  signature: 'x-hazardwatch-signature',
  delivery: 'x-hazardwatch-delivery',
} as const;

export const NOTIFICATIONS_PATH = '/api/v1/notifications';

/** A notification as recorded: the body plus when and under which delivery id it arrived. */
export interface ReceivedNotification extends EmergencyNotification {
  /** ISO 8601 time the receiver accepted it (receiver clock). */
  receivedAt: string;
  /** x-hazardwatch-delivery, or notificationId when the header was absent. */
  deliveryId: string;
  /** What the follow-ups said: still in alarm, returned to normal, or disposal closed. */
  status: 'active' | 'cleared' | 'closed';
  clearedAt: string | null;
  closedAt: string | null;
  closedBy: string | null;
  /** When a dispatcher confirmed receipt on the console (receiver clock). */
  confirmedAt: string | null;
}

/** A follow-up as sent by the server (server/linkage/emergency-notifier.ts). */
export interface FollowUp {
  v: 1;
  kind: 'cleared' | 'closed';
  followUpId: string;
  notificationId: string;
  alarmId: string;
  enterpriseId: string;
  gatewayId: string;
  at: string;
  by?: string;
}

/** Field problems of a follow-up body; empty when valid. */
export function followUpIssues(b: Record<string, unknown>): string[] {
  const issues: string[] = [];
  if (b.v !== 1) issues.push(`v: must be 1 (got ${JSON.stringify(b.v)})`);
  if (b.kind !== 'cleared' && b.kind !== 'closed')
    issues.push(`kind: must be cleared or closed (got ${JSON.stringify(b.kind)})`);
  for (const key of ['followUpId', 'notificationId', 'alarmId', 'enterpriseId', 'gatewayId']) {
    if (typeof b[key] !== 'string' || b[key] === '')
      issues.push(`${key}: must be a non-empty string`);
  }
  if (typeof b.at !== 'string' || Number.isNaN(Date.parse(b.at)))
    issues.push('at: must be an ISO 8601 time');
  if (b.by !== undefined && typeof b.by !== 'string') issues.push('by: must be a string');
  return issues;
}

/** Counters since start (or clear()). */
export interface ReceiverStats {
  /** POSTs to the notifications endpoint, whatever the outcome. */
  requests: number;
  accepted: number;
  duplicates: number;
  /** 400/401/415 answers. */
  rejected: number;
  /** 503 answers from failFirst. */
  unavailable: number;
}

export interface EmergencyReceiverOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one (read `port` after start()). */
  port: number;
  /** Shared secret for the HMAC signature. */
  secret: string;
  /** Answer 503 to the first n POSTs; default 0. */
  failFirst?: number;
  clock?: Clock;
  /** Accepted distance between the timestamp header and now; default 5 min. */
  replayWindowMs?: number;
}

export interface EmergencyReceiverEvents {
  notification: [notification: ReceivedNotification];
  followUp: [followUp: FollowUp];
}

/** Parses the timestamp header: epoch s, epoch ms (13+ digits) or ISO 8601 → epoch ms. */
export function parseLinkageTimestamp(value: string): number | undefined {
  if (/^\d{1,16}$/.test(value)) {
    const n = Number(value);
    return value.length >= 13 ? n : n * 1000;
  }
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Checks `sha256=<hex>` against HMAC-SHA256(secret, `${timestamp}.` + raw body bytes). */
export function signatureMatches(
  secret: string,
  timestamp: string,
  rawBody: Buffer,
  header: string,
): boolean {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`, 'utf8');
  mac.update(rawBody);
  const expected = Buffer.from(`sha256=${mac.digest('hex')}`, 'utf8');
  const given = Buffer.from(header, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Field problems of a parsed body; empty when it is a valid EmergencyNotification. */
export function notificationIssues(body: unknown): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return ['(body): must be a JSON object'];
  }
  const b = body as Record<string, unknown>;
  const issues: string[] = [];
  const isString = (v: unknown) => typeof v === 'string' && v.length > 0;
  const isNumber = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (b.v !== 1) issues.push(`v: must be 1 (got ${JSON.stringify(b.v)})`);
  for (const key of ['notificationId', 'alarmId', 'enterpriseId', 'gatewayId', 'sensorId']) {
    if (!isString(b[key])) issues.push(`${key}: must be a non-empty string`);
  }
  for (const key of ['enterpriseName', 'installationId', 'sensorName', 'location', 'gas']) {
    if (b[key] !== undefined && typeof b[key] !== 'string') issues.push(`${key}: must be a string`);
  }
  if (b.level !== 1 && b.level !== 2)
    issues.push(`level: must be 1 or 2 (got ${JSON.stringify(b.level)})`);
  if (b.value !== null && !isNumber(b.value)) issues.push('value: must be a number or null');
  if (typeof b.unit !== 'string') issues.push('unit: must be a string');
  if (!isNumber(b.setpoint)) issues.push('setpoint: must be a number');
  if (typeof b.raisedAt !== 'string' || Number.isNaN(Date.parse(b.raisedAt))) {
    issues.push('raisedAt: must be an ISO 8601 time');
  }
  if (typeof b.drill !== 'boolean') issues.push('drill: must be true or false');
  if (typeof b.message !== 'string') issues.push('message: must be a string');
  return issues;
}

/**
 * Simulated emergency-centre receiver.
 *
 * Lifecycle: the constructor stores options; start() listens (rejects with PortInUseError when the
 * port is taken); stop() closes the server and is safe to call twice. Guarantees: a notification
 * is recorded and emitted ('notification') only after its signature and timestamp checked out,
 * and at most once per delivery id / notificationId. Records stay in memory until clear().
 */
export class EmergencyReceiver extends EventEmitter<EmergencyReceiverEvents> {
  private readonly host: string;
  private readonly secret: string;
  private readonly clock: Clock;
  private readonly replayWindowMs: number;
  private failuresLeft: number;
  private readonly records: ReceivedNotification[] = [];
  private readonly seenDeliveries = new Set<string>();
  private readonly seenNotifications = new Set<string>();
  /** Follow-ups by the notification they name (applied when it is, or arrives). */
  private readonly followUps = new Map<string, FollowUp[]>();
  private counters: ReceiverStats = emptyStats();
  private app: FastifyInstance | undefined;
  private boundPort: number;

  constructor(options: EmergencyReceiverOptions) {
    super();
    if (!options.secret) throw new Error('EmergencyReceiver: secret must not be empty');
    this.host = options.host ?? DEFAULTS.host;
    this.secret = options.secret;
    this.clock = options.clock ?? systemClock;
    this.replayWindowMs = options.replayWindowMs ?? DEFAULTS.replayWindowMs;
    this.failuresLeft = options.failFirst ?? DEFAULTS.failFirst;
    this.boundPort = options.port;
  }

  get port(): number {
    return this.boundPort;
  }

  /** `http://host:port` after start(). */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.boundPort}`;
  }

  /** The webhook URL to configure in the sender. */
  get notifyUrl(): string {
    return `${this.url}${NOTIFICATIONS_PATH}`;
  }

  /** Accepted notifications in arrival order (oldest first). */
  get notifications(): readonly ReceivedNotification[] {
    return this.records;
  }

  stats(): ReceiverStats {
    return { ...this.counters };
  }

  /** Forgets records, seen ids and counters (not the failFirst budget already spent). */
  clear(): void {
    this.records.length = 0;
    this.seenDeliveries.clear();
    this.seenNotifications.clear();
    this.followUps.clear();
    this.counters = emptyStats();
  }

  /**
   * Resolves with the first accepted notification (already recorded or arriving later) that
   * matches; rejects after timeoutMs naming the timeout.
   */
  waitFor(
    predicate: (n: ReceivedNotification) => boolean = () => true,
    timeoutMs = DEFAULTS.waitForTimeoutMs,
  ): Promise<ReceivedNotification> {
    const existing = this.records.find(predicate);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const onNotification = (n: ReceivedNotification) => {
        if (!predicate(n)) return;
        clearTimeout(timer);
        this.off('notification', onNotification);
        resolve(n);
      };
      const timer = setTimeout(() => {
        this.off('notification', onNotification);
        reject(
          new Error(`EmergencyReceiver.waitFor: no matching notification within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.on('notification', onNotification);
    });
  }

  async start(): Promise<void> {
    if (this.app) return;
    const app = this.buildApp();
    try {
      await app.listen({ host: this.host, port: this.boundPort });
    } catch (cause) {
      await app.close().catch(() => {});
      if (isAddressInUse(cause)) {
        throw new PortInUseError('Emergency receiver', this.boundPort, 'the port option', {
          cause,
        });
      }
      throw new Error(`Emergency receiver: cannot listen on ${this.host}:${this.boundPort}`, {
        cause,
      });
    }
    const address = app.server.address();
    if (typeof address === 'object' && address) this.boundPort = address.port;
    this.app = app;
    log.info({ url: this.url }, 'emergency receiver listening');
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    if (!app) return;
    await app.close();
    log.info({ port: this.boundPort }, 'emergency receiver stopped');
  }

  /** The fastify app, kept apart from listen(). */
  private buildApp(): FastifyInstance {
    // pino's Logger type is wider than fastify's logger type parameter; pin the base type.
    const app: FastifyInstance = Fastify<
      Server,
      IncomingMessage,
      ServerResponse,
      FastifyBaseLogger
    >({
      loggerInstance: log,
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: DEFAULTS.bodyLimitBytes,
    });
    // The signature covers the body bytes exactly as sent: keep them raw, parse JSON ourselves
    // only after the signature checked out.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
      done(null, body);
    });
    app.post(NOTIFICATIONS_PATH, (request, reply) => this.receive(request, reply));
    app.get(NOTIFICATIONS_PATH, async () => [...this.records].reverse());
    app.post<{ Params: { id: string } }>(
      `${NOTIFICATIONS_PATH}/:id/confirm`,
      async (request, reply) => {
        const record = this.records.find((r) => r.notificationId === request.params.id);
        if (!record)
          return reply.code(404).send({ error: `notification '${request.params.id}' not known` });
        record.confirmedAt ??= new Date(this.clock.now()).toISOString();
        return { confirmedAt: record.confirmedAt };
      },
    );
    app.get('/', async (_request, reply) =>
      reply.type('text/html; charset=utf-8').send(RECEIVER_PAGE),
    );
    return app;
  }

  private receiveFollowUp(f: FollowUp, delivery: string | undefined, reply: FastifyReply): unknown {
    const deliveryId = delivery ?? f.followUpId;
    if (this.seenDeliveries.has(deliveryId)) {
      this.counters.duplicates += 1;
      return reply.code(200).send({ duplicate: true, followUpId: f.followUpId });
    }
    this.seenDeliveries.add(deliveryId);
    const list = this.followUps.get(f.notificationId) ?? [];
    list.push(f);
    this.followUps.set(f.notificationId, list);
    const record = this.records.find((r) => r.notificationId === f.notificationId);
    if (record) applyFollowUp(record, f);
    this.counters.accepted += 1;
    log.info({ followUpId: f.followUpId, kind: f.kind }, 'follow-up accepted');
    this.emit('followUp', f);
    return reply.code(202).send({ accepted: true, followUpId: f.followUpId });
  }

  private async receive(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    this.counters.requests += 1;
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      this.counters.unavailable += 1;
      return reply.code(503).send({ error: 'service unavailable (simulated: failFirst)' });
    }
    const reject = (code: number, error: string, extra: Record<string, unknown> = {}) => {
      this.counters.rejected += 1;
      log.warn({ code, error }, 'notification rejected');
      return reply.code(code).send({ error, ...extra });
    };

    const timestamp = headerValue(request, HEADERS.timestamp);
    const signature = headerValue(request, HEADERS.signature);
    if (!timestamp) return reject(401, `missing ${HEADERS.timestamp} header`);
    if (!signature) return reject(401, `missing ${HEADERS.signature} header`);
    const sentAt = parseLinkageTimestamp(timestamp);
    if (sentAt === undefined) {
      return reject(
        401,
        `${HEADERS.timestamp} '${timestamp}' is not epoch seconds, ms or ISO 8601`,
      );
    }
    const skewMs = Math.abs(this.clock.now() - sentAt);
    if (skewMs > this.replayWindowMs) {
      return reject(
        401,
        `${HEADERS.timestamp} is ${Math.round(skewMs / 1000)} s from now (window ${this.replayWindowMs / 1000} s)`,
      );
    }
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    if (!signatureMatches(this.secret, timestamp, raw, signature)) {
      return reject(401, `${HEADERS.signature} does not match the body`);
    }

    const contentType = String(request.headers['content-type'] ?? '');
    if (!/^application\/json\b/i.test(contentType)) {
      return reject(415, `content-type must be application/json (got '${contentType}')`);
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return reject(400, 'body is not valid JSON');
    }
    if (typeof body === 'object' && body !== null && 'kind' in body) {
      const issues = followUpIssues(body as Record<string, unknown>);
      if (issues.length > 0) return reject(400, 'body is not a follow-up', { issues });
      return this.receiveFollowUp(body as FollowUp, headerValue(request, HEADERS.delivery), reply);
    }
    const issues = notificationIssues(body);
    if (issues.length > 0) return reject(400, 'body is not an EmergencyNotification', { issues });
    const notification = body as EmergencyNotification;

    const deliveryId = headerValue(request, HEADERS.delivery) ?? notification.notificationId;
    if (
      this.seenDeliveries.has(deliveryId) ||
      this.seenNotifications.has(notification.notificationId)
    ) {
      this.counters.duplicates += 1;
      return reply.code(200).send({ duplicate: true, notificationId: notification.notificationId });
    }
    this.seenDeliveries.add(deliveryId);
    this.seenNotifications.add(notification.notificationId);
    const record: ReceivedNotification = {
      ...notification,
      receivedAt: new Date(this.clock.now()).toISOString(),
      deliveryId,
      status: 'active',
      clearedAt: null,
      closedAt: null,
      closedBy: null,
      confirmedAt: null,
    };
    for (const f of this.followUps.get(record.notificationId) ?? []) applyFollowUp(record, f);
    this.records.push(record);
    this.counters.accepted += 1;
    log.info(
      { notificationId: record.notificationId, sensorId: record.sensorId, level: record.level },
      'notification accepted',
    );
    this.emit('notification', record);
    return reply.code(202).send({ accepted: true, notificationId: record.notificationId });
  }
}

/** Marks a notification as the follow-up says; 'closed' wins over 'cleared' whatever the order. */
function applyFollowUp(record: ReceivedNotification, f: FollowUp): void {
  if (f.kind === 'cleared') {
    record.clearedAt = f.at;
    if (record.status === 'active') record.status = 'cleared';
  } else {
    record.closedAt = f.at;
    record.closedBy = f.by ?? null;
    record.status = 'closed';
  }
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function emptyStats(): ReceiverStats {
  return { requests: 0, accepted: 0, duplicates: 0, rejected: 0, unavailable: 0 };
}
