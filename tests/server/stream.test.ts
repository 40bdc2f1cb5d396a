import net from 'node:net';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { alarmEvent, batch, status, waitFor } from './fixtures.js';

interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads SSE frames from a fetch body into `events`. */
function collect(
  body: ReadableStream<Uint8Array>,
  events: SseEvent[],
  comments: string[],
): { ended: boolean } {
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = body.getReader();
  const stream = { ended: false };
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) {
        stream.ended = true;
        return;
      }
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = frame.split('\n');
        const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
        const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
        if (event && data) events.push({ event, data: JSON.parse(data) });
        comments.push(...lines.filter((l) => l.startsWith(':')));
        end = buffer.indexOf('\n\n');
      }
    }
  })();
  return stream;
}

describe('live stream (Server-Sent Events)', () => {
  let server: CentralServer;

  beforeEach(async () => {
    server = new CentralServer(
      parseServerConfig({ http: { port: 0 }, mqtt: { port: 0 }, store: { path: ':memory:' } }),
      { dashboard: false },
    );
    await server.start();
  });
  afterEach(async () => {
    await server.stop();
  });

  it('streams readings, gateway presence and alarms as the API shows them, and ends when the server stops', async () => {
    const abort = new AbortController();
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/stream`, {
      signal: abort.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events: SseEvent[] = [];
    const comments: string[] = [];
    const stream = collect(response.body!, events, comments);
    await waitFor(() => comments.includes(': connected'), 'the stream to open');

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: 'gw-01',
      reconnectPeriod: 0,
    });
    try {
      await client.publishAsync(topicFor('ent-01', 'gw-01', 'status'), JSON.stringify(status()), {
        qos: 1,
      });
      await client.publishAsync(
        topicFor('ent-01', 'gw-01', 'telemetry'),
        JSON.stringify(batch([{ sensorId: 'GT-101', value: 12.5 }])),
        { qos: 1 },
      );
      await client.publishAsync(
        topicFor('ent-01', 'gw-01', 'alarm'),
        JSON.stringify(alarmEvent()),
        {
          qos: 1,
        },
      );
      await waitFor(() => events.some((e) => e.event === 'alarm'), 'the alarm event');
    } finally {
      await client.endAsync(true);
    }

    const alarms = (await (
      await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/alarms`)
    ).json()) as { alarms: unknown[] };
    const gateways = (await (
      await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/gateways`)
    ).json()) as { gateways: object[] };
    expect(events.map((e) => e.event)).toEqual(['gateway', 'readings', 'alarm']);
    // Same shape as /api/v1/gateways (lastSeen has moved on since: later messages).
    expect(events[0]?.data).toEqual({ ...gateways.gateways[0], lastSeen: expect.any(String) });
    expect(events[1]?.data).toMatchObject({
      gatewayId: 'gw-01',
      enterpriseId: 'ent-01',
      readings: [{ sensorId: 'GT-101', value: 12.5, quality: 'good' }],
    });
    expect(events[2]?.data).toEqual(alarms.alarms[0]);

    // An open stream must not hold the HTTP server open: stop() resolves (within the
    // test's timeout) and the stream ends, though the client never closed it.
    expect(stream.ended).toBe(false);
    await server.stop();
    await waitFor(() => stream.ended, 'the stream to end');
    abort.abort();
  });

  it('drops readings for a client that does not read, but never its alarms', async () => {
    const socket = net.connect(server.httpPort, '127.0.0.1');
    const received: Buffer[] = [];
    await new Promise<void>((resolve) => {
      socket.once('data', (chunk) => {
        received.push(chunk);
        resolve();
      });
      socket.write('GET /api/v1/stream HTTP/1.1\r\nHost: localhost\r\n\r\n');
    });
    socket.pause(); // a browser tab that stopped reading

    const readings = Array.from({ length: 200 }, (_, i) => ({
      sensorId: `S${i}`,
      value: i,
      quality: 'good' as const,
      ts: Date.now(),
    }));
    const perEvent = JSON.stringify({
      gatewayId: 'gw-01',
      enterpriseId: 'ent-01',
      readings,
    }).length;
    const emitted = 5_000;
    for (let i = 0; i < emitted; i++) {
      server.events.emit('readings', { gatewayId: 'gw-01', enterpriseId: 'ent-01', readings });
    }
    await server.ledger.record(alarmEvent());
    server.events.emit(
      'alarm',
      (await server.ledger.get({
        enterpriseId: 'ent-01',
        gatewayId: 'gw-01',
        alarmId: 'GT-101-gas.L2.1',
      }))!,
    );

    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.resume();
    const text = await waitFor(() => {
      const all = Buffer.concat(received).toString('utf8');
      return all.includes('event: alarm') ? all : null;
    }, 'the alarm after the backlog');
    socket.destroy();

    expect(text).toMatch(/: dropped \d+ readings events \(client too slow\)/);
    expect(text.length).toBeLessThan((perEvent * emitted) / 2);
  });
});
