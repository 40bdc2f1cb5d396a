import { describe, expect, it } from 'vitest';
import {
  allGatewaysFilter,
  decodeAlarmEvent,
  decodeTelemetryBatch,
  parseTopic,
  readEnvelopeHead,
  signLinkage,
  topicFor,
  verifyLinkage,
} from '../../protocol/index.js';

const now = Date.UTC(2026, 10, 28);
const batch = {
  v: 1,
  gatewayId: 'gw-1',
  enterpriseId: 'ent-1',
  seq: 7,
  sentAt: now,
  readings: [{ sensorId: 'GT-101', value: 3.2, quality: 'good', ts: now }],
};

describe('topic namespace', () => {
  it('round-trips a topic through topicFor and parseTopic', () => {
    const topic = topicFor('ent-1', 'gw-1', 'telemetry');
    expect(topic).toBe('hazardwatch/v1/ent-1/gw-1/telemetry');
    expect(parseTopic(topic)).toEqual({
      enterpriseId: 'ent-1',
      gatewayId: 'gw-1',
      channel: 'telemetry',
    });
  });

  it('refuses identifiers that would inject MQTT wildcards or levels', () => {
    expect(() => topicFor('ent/1', 'gw-1', 'alarm')).toThrow(/enterpriseId 'ent\/1'/);
    expect(() => topicFor('ent-1', '#', 'alarm')).toThrow(/gatewayId '#'/);
    expect(() => topicFor('ent-1', '$SYS', 'alarm')).toThrow();
  });

  it('rejects topics of another version, root or channel', () => {
    expect(parseTopic('hazardwatch/v2/ent-1/gw-1/telemetry')).toBeNull();
    expect(parseTopic('other/v1/ent-1/gw-1/telemetry')).toBeNull();
    expect(parseTopic('hazardwatch/v1/ent-1/gw-1/secrets')).toBeNull();
    expect(parseTopic('hazardwatch/v1/ent-1/gw-1/telemetry/extra')).toBeNull();
    expect(allGatewaysFilter('alarm')).toBe('hazardwatch/v1/+/+/alarm');
  });
});

describe('payload validation', () => {
  it('accepts a well-formed telemetry batch', () => {
    expect(decodeTelemetryBatch(JSON.stringify(batch))).toEqual({ ok: true, value: batch });
  });

  it('names what is wrong in a malformed batch', () => {
    const bad = {
      ...batch,
      readings: [{ sensorId: 'GT-101', value: 3, quality: 'great', ts: now }],
    };
    const result = decodeTelemetryBatch(JSON.stringify(bad));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatch(/\/readings\/0\/quality/);
  });

  it('rejects text that is not JSON, NaN included', () => {
    expect(decodeTelemetryBatch('{"v":1,')).toMatchObject({ ok: false });
    expect(decodeTelemetryBatch('{"v":1,"value":NaN}')).toMatchObject({ ok: false });
  });

  it('rejects a source timestamp ten years off', () => {
    const future = {
      ...batch,
      readings: [{ ...batch.readings[0], ts: now + 10 * 365 * 86_400_000 * 10 }],
    };
    expect(decodeTelemetryBatch(JSON.stringify(future)).ok).toBe(false);
  });

  it('rejects unknown fields so that schema drift is noticed, not stored', () => {
    expect(decodeTelemetryBatch(JSON.stringify({ ...batch, extra: 1 })).ok).toBe(false);
  });

  it('requires the alarm level to be 1 or 2', () => {
    const alarm = {
      ...batch,
      readings: undefined,
      alarmId: 'a',
      ruleId: 'r',
      sensorId: 's',
      level: 3,
      transition: 'raised',
      value: 1,
      unit: '%LEL',
      setpoint: 1,
      ts: now,
      drill: false,
    };
    const result = decodeAlarmEvent(JSON.stringify(alarm));
    expect(!result.ok && result.error).toMatch(/\/level/);
    expect(decodeAlarmEvent(JSON.stringify({ ...alarm, level: 2 })).ok).toBe(true);
  });
});

describe('linkage signature', () => {
  it('verifies its own signature and refuses a changed body or wrong secret', () => {
    const body = '{"alarmId":"a"}';
    const signature = signLinkage('s3cret', '1700000000000', body);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyLinkage('s3cret', '1700000000000', body, signature)).toBe(true);
    expect(verifyLinkage('s3cret', '1700000000000', `${body} `, signature)).toBe(false);
    expect(verifyLinkage('other', '1700000000000', body, signature)).toBe(false);
    expect(verifyLinkage('s3cret', '1700000000001', body, signature)).toBe(false);
  });
});

describe('envelope head and outbox epoch (issue 13)', () => {
  const epoch = 'Qm9vdHN0cmFwRXBvY2gx';
  const withEpoch = { v: 1, gatewayId: 'gw-1', enterpriseId: 'ent-1', seq: 7, epoch, sentAt: now };

  it('accepts an optional epoch and refuses a malformed one', () => {
    expect(decodeTelemetryBatch(JSON.stringify({ ...withEpoch, readings: [] })).ok).toBe(true);
    expect(decodeTelemetryBatch(JSON.stringify(batch)).ok).toBe(true); // gateways before epochs
    for (const bad of ['', 'short', 'has/slash-in-it', 'x'.repeat(65), 42]) {
      expect(decodeTelemetryBatch(JSON.stringify({ ...batch, epoch: bad })).ok).toBe(false);
    }
  });

  it('reads seq and epoch from the head of a payload that does not parse', () => {
    const text = JSON.stringify({ ...withEpoch, readings: [{ sensorId: 'GT-101', value: 1 }] });
    expect(readEnvelopeHead(text.slice(0, 90))).toEqual({
      gatewayId: 'gw-1',
      enterpriseId: 'ent-1',
      seq: 7,
      epoch,
    });
    const garbledTail = Buffer.from(text);
    garbledTail.fill(0xff, 100);
    expect(readEnvelopeHead(garbledTail)?.seq).toBe(7);
    expect(readEnvelopeHead(JSON.stringify(batch).slice(0, 70))).toMatchObject({ seq: 7 });
  });

  it('falls back to a full parse for another key order, and names nothing it cannot trust', () => {
    expect(readEnvelopeHead(JSON.stringify({ seq: 9, v: 1, gatewayId: 'gw-1' }))?.seq).toBe(9);
    expect(readEnvelopeHead('{"seq":9')).toBeNull(); // not our head, not JSON
    expect(readEnvelopeHead('{"seq":-1}')).toBeNull();
    expect(readEnvelopeHead('{"seq":"9"}')).toBeNull();
    expect(readEnvelopeHead(`{"seq":${2 ** 53 + 2}}`)).toBeNull();
    expect(
      readEnvelopeHead('{"v":1,"gatewayId":"gw-1","enterpriseId":"ent-1","seq":99999999999999999,'),
    ).toBeNull();
    expect(readEnvelopeHead('[')).toBeNull();
    expect(readEnvelopeHead('null')).toBeNull();
  });
});
