import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DELIVERY_HEADER,
  type EmergencyNotification,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyLinkage,
} from '../../protocol/index.js';
import type { AlarmLedger, AlarmRecord } from '../../server/alarms/ledger.js';
import type { EmergencyCentreConfig } from '../../server/config/index.js';
import { Database } from '../../server/db/database.js';
import {
  backoffDelayMs,
  EmergencyNotifier,
  type EmergencyNotifierOptions,
  prepareEmbeddedDeliveries,
} from '../../server/linkage/emergency-notifier.js';
import { testLedger } from '../support/ledger.js';
import { alarmEvent, SECRET, waitFor } from './fixtures.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  signatureValid: boolean;
}

/** A stand-in emergency centre: verifies signatures and answers what `answer` says. */
class TestCentre {
  readonly received: Received[] = [];
  answer: (n: number) => number | 'hang' = () => 202;
  private server: Server | null = null;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        const timestamp = String(req.headers[TIMESTAMP_HEADER] ?? '');
        const signature = String(req.headers[SIGNATURE_HEADER] ?? '');
        this.received.push({
          headers: req.headers,
          body,
          signatureValid: verifyLinkage(SECRET, timestamp, body, signature),
        });
        const status = this.answer(this.received.length);
        if (status === 'hang') return;
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/api/v1/notifications`;
  }

  accepted(): Received[] {
    return this.received.filter((_, i) => {
      const status = this.answer(i + 1);
      return typeof status === 'number' && status < 300;
    });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
    this.server = null;
  }
}

describe('emergency notifier', () => {
  let centre: TestCentre;
  let ledger: AlarmLedger;
  let notifier: EmergencyNotifier | null = null;
  let database: Database;
  let dir: string | null = null;

  const centreConfig = (overrides: Partial<EmergencyCentreConfig> = {}): EmergencyCentreConfig => ({
    id: 'ec-city',
    name: 'City emergency centre',
    url: centre.url,
    secret: SECRET,
    minLevel: 2,
    ...overrides,
  });

  function startNotifier(options: Partial<EmergencyNotifierOptions> = {}): Promise<void> {
    notifier = new EmergencyNotifier({
      database,
      nodeId: 'node-1',
      centres: [centreConfig()],
      enterprises: [{ id: 'ent-01', name: 'Demo Chemical Co.' }],
      retryInitialMs: 10,
      retryMaxMs: 40,
      ...options,
    });
    return notifier.start();
  }

  /** Replaces the in-memory database with one on `path`, as a server on that file opens it. */
  async function useFile(path: string): Promise<void> {
    await database.stop();
    database = new Database({ kind: 'sqlite', path });
    await database.start();
  }

  async function raise(overrides: Parameters<typeof alarmEvent>[0] = {}): Promise<AlarmRecord> {
    return (await ledger.record(alarmEvent(overrides))).alarm;
  }

  beforeEach(async () => {
    centre = new TestCentre();
    await centre.start();
    ledger = testLedger();
    await ledger.start();
    database = new Database({ kind: 'sqlite', path: ':memory:' });
    await database.start();
  });
  afterEach(async () => {
    await notifier?.stop();
    notifier = null;
    await database.stop();
    await ledger.stop();
    await centre.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('retries a signed notification through two 503s until the centre accepts it', async () => {
    centre.answer = (n) => (n <= 2 ? 503 : 202);
    await startNotifier();
    expect(await notifier!.notify(await raise())).toBe(1);

    const delivered = await waitFor(
      async () => (await notifier!.counts()).delivered === 1,
      'delivery',
    );
    expect(delivered).toBe(true);
    expect(centre.received).toHaveLength(3);
    expect(centre.received.every((r) => r.signatureValid)).toBe(true);
    const ids = new Set(centre.received.map((r) => r.headers[DELIVERY_HEADER]));
    expect(ids.size).toBe(1);
    expect(centre.received.map((r) => r.body)).toEqual(Array(3).fill(centre.received[0]?.body));
    expect(centre.received[0]?.headers['content-type']).toBe('application/json');

    const body = JSON.parse(centre.received[2]!.body) as EmergencyNotification;
    expect(body).toMatchObject({
      v: 1,
      alarmId: 'GT-101-gas.L2.1',
      enterpriseId: 'ent-01',
      enterpriseName: 'Demo Chemical Co.',
      gatewayId: 'gw-01',
      installationId: 'unit-1',
      sensorId: 'GT-101',
      gas: 'methane',
      level: 2,
      value: 52.4,
      unit: '%LEL',
      setpoint: 50,
      raisedAt: '2026-01-01T08:00:00.000Z',
      drill: false,
    });
    expect(body.notificationId).toBe(centre.received[0]?.headers[DELIVERY_HEADER]);
    expect(body.message).toContain('methane');

    const [delivery] = await notifier!.deliveries();
    expect(delivery).toMatchObject({
      alarmId: 'GT-101-gas.L2.1',
      centreId: 'ec-city',
      centreName: 'City emergency centre',
      state: 'delivered',
      attempts: 3,
      lastStatus: 202,
      lastError: null,
      nextAttemptAt: null,
    });
    expect(delivery?.deliveredAt).toBeTypeOf('number');
    expect(await notifier!.counts()).toEqual({ pending: 0, delivered: 1 });
  });

  it('notifies once per alarm and centre, however often the alarm is redelivered', async () => {
    await startNotifier({
      centres: [centreConfig(), centreConfig({ id: 'ec-county', name: 'County centre' })],
    });
    const alarm = await raise();
    expect(await notifier!.notify(alarm)).toBe(2);
    expect(await notifier!.notify((await ledger.record(alarmEvent())).alarm)).toBe(0);
    await waitFor(async () => (await notifier!.counts()).delivered === 2, 'both deliveries');
    expect(await notifier!.notify(alarm)).toBe(0);
    expect(centre.received).toHaveLength(2);
    expect(new Set(centre.received.map((r) => r.headers[DELIVERY_HEADER])).size).toBe(2);
  });

  it('pages both plants when gateways of two enterprises use the same alarm id (issue 13)', async () => {
    await startNotifier();
    expect(await notifier!.notify(await raise())).toBe(1);
    expect(
      await notifier!.notify(await raise({ enterpriseId: 'ent-02', gatewayId: 'gw-02' })),
    ).toBe(1);
    await waitFor(async () => (await notifier!.counts()).delivered === 2, 'both plants paged');
    const paged = (await notifier!.deliveries()).map(
      (d) => `${d.enterpriseId}/${d.gatewayId}/${d.alarmId}`,
    );
    expect(paged.sort()).toEqual(['ent-01/gw-01/GT-101-gas.L2.1', 'ent-02/gw-02/GT-101-gas.L2.1']);
  });

  it('migrates a version-1 deliveries table (unique per alarm id) with the embedded upgrade, and resumes it on the database layer', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-linkage-v1-'));
    const path = join(dir, 'hw.db');
    const old = new BetterSqlite(path);
    old.exec(`CREATE TABLE linkage_deliveries (
      notification_id TEXT PRIMARY KEY, alarm_id TEXT NOT NULL, centre_id TEXT NOT NULL,
      body TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('pending', 'delivered')),
      attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT,
      created_at INTEGER NOT NULL, next_attempt_at INTEGER, delivered_at INTEGER,
      UNIQUE (alarm_id, centre_id));
      CREATE INDEX linkage_deliveries_state ON linkage_deliveries (state);`);
    const body = JSON.stringify({
      notificationId: 'ntf-old',
      alarmId: 'old-1',
      enterpriseId: 'ent-01',
      gatewayId: 'gw-01',
    });
    old
      .prepare(
        `INSERT INTO linkage_deliveries (notification_id, alarm_id, centre_id, body, state, attempts, created_at, next_attempt_at)
       VALUES ('ntf-old', 'old-1', 'ec-city', ?, 'pending', 1, 0, 0)`,
      )
      .run(body);
    prepareEmbeddedDeliveries(old, `linkage deliveries '${path}'`);
    old.close();
    await useFile(path);
    await startNotifier();
    await waitFor(async () => (await notifier!.counts()).delivered === 1, 'the migrated delivery');
    expect((await notifier!.deliveries())[0]).toMatchObject({
      notificationId: 'ntf-old',
      enterpriseId: 'ent-01',
      gatewayId: 'gw-01',
      alarmId: 'old-1',
      state: 'delivered',
    });
    expect(centre.received[0]?.body).toBe(body);
  });

  it('never sends drill alarms, cleared alarms, or alarms below a centre’s minLevel', async () => {
    await startNotifier({
      centres: [centreConfig(), centreConfig({ id: 'ec-park', name: 'Park', minLevel: 1 })],
    });
    expect(await notifier!.notify(await raise({ alarmId: 'drill', drill: true }))).toBe(0);
    expect(await notifier!.notify(await raise({ alarmId: 'gone', transition: 'cleared' }))).toBe(0);
    // Level 1 (GB/T 50493-2019 §5.5.3 warning level) reaches only the centre that asked for it.
    expect(await notifier!.notify(await raise({ alarmId: 'warn', level: 1, setpoint: 25 }))).toBe(
      1,
    );
    await waitFor(async () => (await notifier!.counts()).delivered === 1, 'level-1 delivery');
    expect((await notifier!.deliveries()).map((d) => [d.alarmId, d.centreId])).toEqual([
      ['warn', 'ec-park'],
    ]);
  });

  it('gives up on a silent centre after the request timeout and tries again', async () => {
    centre.answer = (n) => (n === 1 ? 'hang' : 200);
    await startNotifier({ requestTimeoutMs: 100 });
    await notifier!.notify(await raise());
    await waitFor(
      async () => (await notifier!.counts()).delivered === 1,
      'delivery after a timeout',
    );
    expect(centre.received).toHaveLength(2);
    expect((await notifier!.deliveries())[0]).toMatchObject({ attempts: 2, lastStatus: 200 });
  });

  it('resumes pending deliveries after a restart', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-linkage-'));
    const path = join(dir, 'hw.db');
    centre.answer = () => 503;
    await useFile(path);
    await startNotifier();
    await notifier!.notify(await raise());
    await waitFor(
      async () => ((await notifier!.deliveries())[0]?.attempts ?? 0) >= 1,
      'a failed attempt',
    );
    await notifier!.stop();
    await useFile(path); // the server restarts: its database too

    centre.answer = () => 202;
    await startNotifier();
    const recordedBefore = (await notifier!.deliveries())[0]?.attempts ?? 0;
    expect(recordedBefore).toBeGreaterThanOrEqual(1);
    expect(await notifier!.counts()).toEqual({ pending: 1, delivered: 0 });
    await waitFor(async () => (await notifier!.counts()).delivered === 1, 'delivery after restart');
    expect((await notifier!.deliveries())[0]?.attempts).toBe(recordedBefore + 1);
  });

  it('a node that cannot renew its claims (database unreachable) aborts the attempt in flight and sends no retry it cannot prove it owns', async () => {
    const calls: { aborted: string | null }[] = [];
    // A centre that never answers: the attempt stays in flight until something aborts it.
    const hanging = ((_url: string | URL | Request, init?: RequestInit) => {
      const call: { aborted: string | null } = { aborted: null };
      calls.push(call);
      const signal = init?.signal;
      if (!signal) throw new Error('the notifier sent a request without an abort signal');
      return new Promise<Response>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          call.aborted = (signal.reason as Error).message;
          reject(signal.reason);
        });
      });
    }) as typeof fetch;
    await startNotifier({
      fetch: hanging,
      claimLeaseMs: 400,
      claimHeartbeatMs: 100,
      requestTimeoutMs: 60_000,
      retryMaxMs: 50,
    });
    await notifier!.notify(await raise());
    expect(calls).toHaveLength(1);
    // Four leases go by while the heartbeat proves the claim: the slow attempt is left alone.
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    expect(calls[0]!.aborted).toBeNull();
    await database.stop(); // this node loses its database; another node's sweep will take over
    await waitFor(() => calls[0]!.aborted !== null, 'the abort of the attempt in flight');
    expect(calls[0]!.aborted).toBe('claim lease not renewed (database unreachable?)');
    // Retries are due every 50 ms; none leaves while the claim cannot be confirmed.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(calls).toHaveLength(1);
  });

  it('backs off exponentially from retryInitialMs up to retryMaxMs, with jitter in the upper half', () => {
    const top = () => 0.999_999;
    const bottom = () => 0;
    expect([1, 2, 3, 4, 5, 10].map((n) => backoffDelayMs(n, 500, 30_000, top))).toEqual([
      500, 1000, 2000, 4000, 8000, 30_000,
    ]);
    expect([1, 2, 10].map((n) => backoffDelayMs(n, 500, 30_000, bottom))).toEqual([
      250, 500, 15_000,
    ]);
  });
});
