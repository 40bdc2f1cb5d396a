import { createHmac } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PortInUseError } from '../../common/net.js';
import type { EmergencyNotification } from '../../protocol/linkage.js';
import {
  EmergencyReceiver,
  type EmergencyReceiverOptions,
} from '../../simulators/emergency-receiver.js';

const SECRET = 'test-secret-0123456789';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startReceiver(
  options: Partial<EmergencyReceiverOptions> = {},
): Promise<EmergencyReceiver> {
  const receiver = new EmergencyReceiver({ port: 0, secret: SECRET, ...options });
  cleanups.push(() => receiver.stop());
  await receiver.start();
  return receiver;
}

function notification(overrides: Partial<EmergencyNotification> = {}): EmergencyNotification {
  return {
    v: 1,
    notificationId: 'ntf-001',
    alarmId: 'alm-001',
    enterpriseId: 'ENT-370500-0042',
    enterpriseName: '东营示范化工有限公司',
    gatewayId: 'gw-01',
    installationId: 'compressor-skid',
    sensorId: 'gd-01.ch0',
    sensorName: 'Compressor skid methane',
    location: '压缩机房 Compressor house',
    gas: 'CH4',
    level: 2,
    value: 61.2,
    unit: '%LEL',
    setpoint: 50,
    raisedAt: '2026-11-28T10:00:00.000Z',
    drill: false,
    message: '甲烷二级报警 methane level 2',
    ...overrides,
  };
}

/** Signs like the contract says, with node:crypto only. */
function sign(secret: string, timestamp: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

interface PostOptions {
  body?: string;
  timestamp?: string;
  signature?: string | null;
  delivery?: string;
  secret?: string;
  contentType?: string;
}

async function post(receiver: EmergencyReceiver, options: PostOptions = {}) {
  const body = options.body ?? JSON.stringify(notification());
  const timestamp = options.timestamp ?? String(Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/json',
    'x-hazardwatch-timestamp': timestamp,
  };
  const signature =
    options.signature === undefined
      ? sign(options.secret ?? SECRET, timestamp, body)
      : options.signature;
  if (signature !== null) headers['x-hazardwatch-signature'] = signature;
  if (options.delivery) headers['x-hazardwatch-delivery'] = options.delivery;
  const response = await fetch(receiver.notifyUrl, { method: 'POST', headers, body });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('EmergencyReceiver', () => {
  it('accepts a correctly signed notification with 202 and records it once', async () => {
    const receiver = await startReceiver();
    const arrived = receiver.waitFor((n) => n.sensorId === 'gd-01.ch0');
    const answer = await post(receiver, { delivery: 'dlv-1' });
    expect(answer).toEqual({ status: 202, json: { accepted: true, notificationId: 'ntf-001' } });
    const received = await arrived;
    expect(received.enterpriseName).toBe('东营示范化工有限公司');
    expect(received.deliveryId).toBe('dlv-1');
    expect(Date.parse(received.receivedAt)).toBeGreaterThan(Date.now() - 5000);
    expect(receiver.notifications).toHaveLength(1);
    expect(receiver.stats()).toMatchObject({ requests: 1, accepted: 1, rejected: 0 });
  });

  it('checks the signature over the raw body bytes, not a re-serialisation', async () => {
    const receiver = await startReceiver();
    const spaced = JSON.stringify(notification(), null, 2);
    expect((await post(receiver, { body: spaced })).status).toBe(202);
    const compact = JSON.stringify(notification({ notificationId: 'ntf-002' }));
    const timestamp = String(Math.floor(Date.now() / 1000));
    const reformatted = JSON.stringify(JSON.parse(compact), null, 1);
    const answer = await post(receiver, {
      body: compact,
      timestamp,
      signature: sign(SECRET, timestamp, reformatted),
    });
    expect(answer.status).toBe(401);
    expect(answer.json.error).toMatch(/signature does not match/);
  });

  it('rejects a wrong or missing signature with 401 and a JSON error', async () => {
    const receiver = await startReceiver();
    const wrongSecret = await post(receiver, { secret: 'not-the-secret' });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.json.error).toMatch(/x-hazardwatch-signature does not match/);
    const missing = await post(receiver, { signature: null });
    expect(missing).toEqual({
      status: 401,
      json: { error: 'missing x-hazardwatch-signature header' },
    });
    const tampered = await post(receiver, {
      body: JSON.stringify(notification({ value: 1 })),
      signature: sign(
        SECRET,
        String(Math.floor(Date.now() / 1000)),
        JSON.stringify(notification()),
      ),
    });
    expect(tampered.status).toBe(401);
    expect(receiver.notifications).toHaveLength(0);
    expect(receiver.stats().rejected).toBe(3);
  });

  it('rejects a correctly signed request whose timestamp is more than 5 min away', async () => {
    const receiver = await startReceiver();
    const stale = String(Math.floor((Date.now() - 6 * 60_000) / 1000));
    const answer = await post(receiver, { timestamp: stale });
    expect(answer.status).toBe(401);
    expect(answer.json.error).toMatch(
      /x-hazardwatch-timestamp is 36\d s from now \(window 300 s\)/,
    );
    const future = String(Date.now() + 6 * 60_000);
    expect((await post(receiver, { timestamp: future })).status).toBe(401);
    expect((await post(receiver, { timestamp: 'yesterday' })).status).toBe(401);
    expect(receiver.notifications).toHaveLength(0);
  });

  it('accepts timestamps in epoch seconds, epoch milliseconds and ISO 8601', async () => {
    const receiver = await startReceiver();
    const now = Date.now();
    const stamps = [String(Math.floor(now / 1000)), String(now), new Date(now).toISOString()];
    for (const [i, timestamp] of stamps.entries()) {
      const body = JSON.stringify(notification({ notificationId: `ntf-ts-${i}` }));
      expect((await post(receiver, { body, timestamp })).status).toBe(202);
    }
  });

  it('answers a repeated delivery or notification with 200 duplicate and does not record it again', async () => {
    const receiver = await startReceiver();
    expect((await post(receiver, { delivery: 'dlv-7' })).status).toBe(202);
    expect(await post(receiver, { delivery: 'dlv-7' })).toEqual({
      status: 200,
      json: { duplicate: true, notificationId: 'ntf-001' },
    });
    // Same notificationId under a new delivery id is still the same notification.
    expect((await post(receiver, { delivery: 'dlv-8' })).json.duplicate).toBe(true);
    expect(receiver.notifications).toHaveLength(1);
    expect(receiver.stats()).toMatchObject({ accepted: 1, duplicates: 2 });
  });

  it('answers 503 to the first failFirst requests, then accepts', async () => {
    const receiver = await startReceiver({ failFirst: 2 });
    expect((await post(receiver)).status).toBe(503);
    expect((await post(receiver)).status).toBe(503);
    expect((await post(receiver)).status).toBe(202);
    expect(receiver.stats()).toMatchObject({ requests: 3, unavailable: 2, accepted: 1 });
  });

  it('rejects a signed body that is not an EmergencyNotification with 400 listing the fields', async () => {
    const receiver = await startReceiver();
    const body = JSON.stringify({ ...notification(), level: 3, drill: 'no' });
    const answer = await post(receiver, { body });
    expect(answer.status).toBe(400);
    expect(answer.json.issues).toEqual([
      'level: must be 1 or 2 (got 3)',
      'drill: must be true or false',
    ]);
    expect((await post(receiver, { body: '{not json' })).status).toBe(400);
    expect((await post(receiver, { contentType: 'text/plain' })).status).toBe(415);
  });

  it('lists notifications newest first as JSON and on a bilingual page', async () => {
    const receiver = await startReceiver();
    for (const id of ['ntf-a', 'ntf-b']) {
      await post(receiver, { body: JSON.stringify(notification({ notificationId: id })) });
    }
    const list = (await (await fetch(receiver.notifyUrl)).json()) as Array<{
      notificationId: string;
    }>;
    expect(list.map((n) => n.notificationId)).toEqual(['ntf-b', 'ntf-a']);
    const page = await fetch(`${receiver.url}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('应急指挥中心');
    expect(html).toContain('Emergency centre');
    expect(html).toContain("fetch('/api/v1/notifications'");
  });

  it('rejects waitFor after the timeout when nothing matching arrives', async () => {
    const receiver = await startReceiver();
    await expect(receiver.waitFor((n) => n.level === 1, 50)).rejects.toThrow(
      'no matching notification within 50 ms',
    );
  });

  it('rejects with PortInUseError naming the port when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const port = (blocker.address() as net.AddressInfo).port;
    const receiver = new EmergencyReceiver({ port, secret: SECRET });
    cleanups.push(() => receiver.stop());
    const error = await receiver.start().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PortInUseError);
    expect((error as Error).message).toContain(`port ${port} is already in use`);
  });
});
