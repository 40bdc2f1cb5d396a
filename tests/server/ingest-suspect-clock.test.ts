/**
 * Issue 13 review (HIGH): the server rejected a real gas alarm over a timestamp,
 * and the gateway then deleted it. A gateway whose RTC holds local time as UTC
 * (+8 h in China) sent alarms 8 h "ahead"; the timestamp screen refused them as
 * 'schema', ingest put them in the StoreAck's rejected list and the gateway
 * dropped them. Ingest built from real parts (SQLite ledger, the emergency
 * notifier with a recording HTTP client, the default screen and audit log).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../common/clock.js';
import { topicFor } from '../../protocol/index.js';
import type { AlarmLedger } from '../../server/alarms/ledger.js';
import { AuditLog } from '../../server/auth/audit-log.js';
import { ingestSecurityOptions } from '../../server/auth/index.js';
import type { InboundMessage } from '../../server/broker.js';
import type { AckSink, Ingest } from '../../server/ingest.js';
import type { EmergencyNotifier } from '../../server/linkage/emergency-notifier.js';
import { type ServerParts, startServerParts } from '../support/server-parts.js';
import { alarmEvent, batch, SECRET, T0 } from './fixtures.js';

const HOUR = 3_600_000;

function message(topic: string, payload: unknown): InboundMessage {
  return {
    topic,
    payload: Buffer.from(JSON.stringify(payload)),
    qos: 1,
    retain: false,
    clientId: 'gw-01',
  };
}

describe('a gateway whose clock is wrong', () => {
  let parts: ServerParts;
  let ledger: AlarmLedger;
  let notifier: EmergencyNotifier;
  let audit: AuditLog;
  let pages: string[];
  let acks: { stored: number[]; rejected: number[] };
  let subject: Ingest;
  const clock = new ManualClock(T0);

  beforeEach(async () => {
    pages = [];
    acks = { stored: [], rejected: [] };
    audit = new AuditLog({ path: null, clock });
    const sink: AckSink = {
      stored: (_e, _g, seq) => acks.stored.push(seq),
      rejected: (_e, _g, seq) => acks.rejected.push(seq),
    };
    parts = await startServerParts({
      clock,
      notifier: {
        clock: systemClock, // real time for the notifier; the ManualClock is for ingest's screen
        centres: [
          { id: 'ec-1', name: 'City', url: 'http://centre.test/hook', secret: SECRET, minLevel: 2 },
        ],
        fetch: (async (_url: string | URL | Request, init?: RequestInit) => {
          pages.push(JSON.parse(String(init?.body)).alarmId);
          return new Response('{}', { status: 202 });
        }) as typeof fetch,
      },
      ingest: { acks: sink, ...ingestSecurityOptions(undefined, audit, clock) },
    });
    ({ ledger, notifier, ingest: subject } = parts);
  });

  afterEach(async () => {
    await parts.stop();
  });

  it('the server rejects a real gas alarm over a timestamp, and the gateway then deletes it: no longer, it is stored, acknowledged, paged and flagged', async () => {
    const ahead = T0 + 8 * HOUR; // local time (UTC+8) written as UTC
    const event = alarmEvent({ alarmId: 'GT-101-gas.L2.clock', sentAt: ahead, ts: ahead });
    const outcome = await subject.handle(message(topicFor('ent-01', 'gw-01', 'alarm'), event));

    expect(outcome).toEqual({ result: 'stored', channel: 'alarm' });
    expect(acks).toEqual({ stored: [event.seq], rejected: [] });
    const stored = await ledger.get({
      enterpriseId: 'ent-01',
      gatewayId: 'gw-01',
      alarmId: 'GT-101-gas.L2.clock',
    });
    expect(stored?.raisedAt).toBe(ahead); // the source's time, as reported
    expect(stored?.receivedAt).toBe(T0); // and the server's
    expect((await notifier.deliveries()).map((d) => d.alarmId)).toEqual(['GT-101-gas.L2.clock']);
    const metrics = subject.metrics();
    expect(metrics.rejected).toBe(0);
    expect(metrics.suspectTimestamps).toBe(1);
    expect(audit.recent().filter((r) => r.category === 'ingest')).toEqual([
      expect.objectContaining({
        event: 'suspect-timestamp',
        reason: 'clock',
        detail: expect.stringMatching(
          new RegExp(
            `^/sentAt .* is 480 min ahead of the server clock.*; stored alarm seq ${event.seq} alarm GT-101-gas\\.L2\\.clock$`,
          ),
        ),
      }),
    ]);
  });

  it('stores and acknowledges telemetry 8 h ahead (a rejection would delete it at the gateway), flagged', async () => {
    const ahead = T0 + 8 * HOUR;
    const item = batch([{ value: 12, ts: ahead }], { sentAt: ahead });
    const outcome = await subject.handle(message(topicFor('ent-01', 'gw-01', 'telemetry'), item));
    expect(outcome).toEqual({ result: 'stored', channel: 'telemetry' });
    expect(acks).toEqual({ stored: [item.seq], rejected: [] });
    expect(subject.metrics().suspectTimestamps).toBe(1);
  });

  it('still rejects a malformed alarm as schema', async () => {
    const bad = { ...alarmEvent({ alarmId: 'GT-101-gas.L2.bad' }), level: 'two' };
    const outcome = await subject.handle(message(topicFor('ent-01', 'gw-01', 'alarm'), bad));
    expect(outcome).toMatchObject({ result: 'rejected', reason: 'schema' });
    expect(acks.rejected).toEqual([bad.seq]);
  });
});
