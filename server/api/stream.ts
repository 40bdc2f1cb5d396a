/**
 * GET /api/v1/stream: Server-Sent Events from the event hub (the plugin `streamRoutes`,
 * registered by app.ts with the prefix /api/v1).
 *
 *   event: readings  data: { gatewayId, enterpriseId, readings: Reading[] }
 *   event: alarm     data: one alarm as in GET /api/v1/alarms
 *   event: gateway   data: one gateway as in GET /api/v1/gateways
 *   event: disposal  data: an alarm's disposition (platform: acknowledged, escalated, closed, ...)
 *   event: escalation data: { alarmId, enterpriseId, level, to, reason, at }
 *   event: hazard    data: { action, hazard } (hazard as in GET /api/v1/supervision/hazards)
 *   event: gradeChanged data: { installationId, enterpriseId, at, grade, previousGrade,
 *                              isMajorHazard, r, sumRatio } (live GB 18218-2018 grading)
 *   event: resync    data: { reason } — events may have been missed (cluster mode: the relay
 *                    between nodes had a gap, server/cluster/event-relay.ts); the server then
 *                    ends the stream, and the client reloads its snapshot when it reconnects
 *                    (the dashboard does so on every reconnect)
 *
 * With a platform and a token (`?access_token=`: EventSource cannot send headers), only the
 * caller's enterprises are streamed (hazard and grade events as alarms: by their enterprise).
 *
 * A comment line every 15 s keeps proxies and browsers from timing the stream
 * out. A slow client cannot grow server memory without bound: while its socket
 * buffer is above `maxBufferedBytes`, readings events for it are dropped (a
 * comment reports how many once it drains); alarm and gateway events are
 * always written, they are few and must not be lost.
 *
 * A logged-in user may hold at most `maxStreamsPerUser` streams at once (issue
 * 13 item 6): one more is answered 429 HW_TOO_MANY_STREAMS naming the limit,
 * so one account (or a leaked token) cannot pin the server's sockets and
 * listeners. Anonymous streams (only where the platform allows them) are not counted.
 */
import type { FastifyRequest } from 'fastify';
import type { Disposition } from '../alarms/disposal.js';
import type { AlarmRecord } from '../alarms/ledger.js';
import type { EventHub, ReadingsEvent } from '../events.js';
import type { GatewayPresence } from '../gateways.js';
import type { EscalationNotice } from '../platform/platform.js';
import { toHazardDto } from '../supervision/dto.js';
import type { HazardNotice } from '../supervision/service.js';
import type { GradeChangeRecord } from '../supervision/store.js';
import { toAlarmDto, toGatewayDto } from './dto.js';
import { Errors } from './errors.js';
import { toDispositionDto } from './platform-routes.js';
import type { RoutePlugin } from './typed.js';

export const STREAM_DEFAULTS = {
  heartbeatMs: 15_000, // 15 s comment line
  maxBufferedBytes: 256 * 1024, // 256 KiB queued per connection before readings are dropped
  retryMs: 3_000, // 3 s: EventSource reconnect delay we ask browsers for
  maxStreamsPerUser: 8, // a few browser tabs and a wall display per account
} as const;

export interface StreamOptions {
  events: EventHub;
  heartbeatMs?: number;
  maxBufferedBytes?: number;
  /** Streams one logged-in user may hold open at once. */
  maxStreamsPerUser?: number;
  /** Enterprise ids a request may see (null: all); default all. */
  scope?: (request: FastifyRequest) => ReadonlySet<string> | null;
}

/**
 * The route; every open stream ends when the app closes (a preClose hook: fastify runs those
 * of every plugin context, so it need not sit on the root instance).
 */
export const streamRoutes: RoutePlugin<StreamOptions> = (app, options, done) => {
  const heartbeatMs = options.heartbeatMs ?? STREAM_DEFAULTS.heartbeatMs;
  const maxBuffered = options.maxBufferedBytes ?? STREAM_DEFAULTS.maxBufferedBytes;
  const maxPerUser = options.maxStreamsPerUser ?? STREAM_DEFAULTS.maxStreamsPerUser;
  const open = new Set<() => void>();
  const perUser = new Map<string, number>();
  // One serialisation per event, however many streams are open: listeners run
  // one after another on the same payload object.
  const frames = new WeakMap<object, string>();
  const frame = (event: string, payload: object, toData: () => unknown): string => {
    let text = frames.get(payload);
    if (text === undefined) {
      text = `event: ${event}\ndata: ${JSON.stringify(toData())}\n\n`;
      frames.set(payload, text);
    }
    return text;
  };

  app.addHook('preClose', async () => {
    for (const close of [...open]) close();
  });

  app.get(
    '/stream',
    {
      schema: {
        description:
          'Server-Sent Events: `readings`, `alarm` (as /api/v1/alarms items), `gateway` (as /api/v1/gateways items), `disposal`, `escalation`, `hazard` ({ action, hazard }) and `gradeChanged`, each only for the caller’s enterprises.',
        response: { 200: { description: 'text/event-stream', type: 'string' } },
      },
    },
    (request, reply) => {
      const user = request.principal?.username ?? null;
      if (user !== null) {
        const streams = perUser.get(user) ?? 0;
        if (streams >= maxPerUser) {
          throw Errors.tooManyStreams(user, streams, maxPerUser);
        }
        perUser.set(user, streams + 1);
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no', // nginx: do not buffer the stream
      });
      res.write(`retry: ${STREAM_DEFAULTS.retryMs}\n: connected\n\n`);

      const scope = options.scope?.(request) ?? null;
      const inScope = (enterpriseId: string) => scope === null || scope.has(enterpriseId);
      let dropped = 0;
      const write = (text: string) => {
        if (dropped > 0) {
          res.write(`: dropped ${dropped} readings events (client too slow)\n\n`);
          dropped = 0;
        }
        res.write(text);
      };
      const congested = () => res.writableNeedDrain || res.writableLength > maxBuffered;

      const unsubscribe = [
        options.events.on('readings', (payload: ReadingsEvent) => {
          if (!inScope(payload.enterpriseId)) return;
          if (congested()) {
            dropped++;
            return;
          }
          write(frame('readings', payload, () => payload));
        }),
        options.events.on('alarm', (alarm: AlarmRecord) => {
          if (inScope(alarm.enterpriseId)) write(frame('alarm', alarm, () => toAlarmDto(alarm)));
        }),
        options.events.on('gateway', (gateway: GatewayPresence) => {
          if (inScope(gateway.enterpriseId)) {
            write(frame('gateway', gateway, () => toGatewayDto(gateway)));
          }
        }),
        options.events.on('disposal', (d: Disposition) => {
          if (inScope(d.enterpriseId)) write(frame('disposal', d, () => toDispositionDto(d)));
        }),
        options.events.on('escalation', (notice: EscalationNotice) => {
          if (!inScope(notice.event.enterpriseId)) return;
          write(
            frame('escalation', notice, () => ({
              alarmId: notice.event.alarmId,
              enterpriseId: notice.event.enterpriseId,
              level: notice.level,
              to: notice.to,
              reason: notice.event.detail.reason,
              at: new Date(notice.event.at).toISOString(),
            })),
          );
        }),
        options.events.on('hazard', (notice: HazardNotice) => {
          if (!inScope(notice.hazard.enterpriseId)) return;
          write(
            frame('hazard', notice, () => ({
              action: notice.action,
              hazard: toHazardDto(notice.hazard),
            })),
          );
        }),
        options.events.on('gradeChanged', (change: GradeChangeRecord) => {
          if (!inScope(change.enterpriseId)) return;
          write(
            frame('gradeChanged', change, () => ({
              installationId: change.installationId,
              enterpriseId: change.enterpriseId,
              at: new Date(change.at).toISOString(),
              grade: change.grade,
              previousGrade: change.previousGrade,
              isMajorHazard: change.isMajorHazard,
              r: change.r,
              sumRatio: change.sumRatio,
            })),
          );
        }),
        options.events.on('resync', (notice) => {
          if (notice.enterpriseId !== null && !inScope(notice.enterpriseId)) return;
          res.write(`event: resync\ndata: ${JSON.stringify({ reason: notice.reason })}\n\n`);
          close();
        }),
      ];
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
      heartbeat.unref();

      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        for (const off of unsubscribe) off();
        open.delete(close);
        if (user !== null) {
          const left = (perUser.get(user) ?? 1) - 1;
          if (left > 0) perUser.set(user, left);
          else perUser.delete(user);
        }
        if (!res.writableEnded) res.end();
        // The connection is spent: do not let keep-alive hold the server open.
        request.raw.socket?.destroySoon?.();
      };
      open.add(close);
      res.on('close', close);
      res.on('error', close);
    },
  );

  done();
};
