/**
 * An external witness sees both chains: the hazard ledger's anchors are published retained on
 * hazardwatch/ledger/hazard-anchor beside the disposal ledger's, by the real server on its real
 * broker, and the server does not mistake its own publication for a gateway's. Each chain's
 * integrity logs under its own name (a hazard-chain failure was logged as the disposal ledger).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AnchorFile } from '../../server/alarms/ledger-anchors.js';
import { HAZARD_ANCHOR_TOPIC, LedgerIntegrity } from '../../server/alarms/ledger-integrity.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { waitFor } from '../server/fixtures.js';

describe('hazard ledger anchors for the external witness', () => {
  let dir: string;
  let server: CentralServer;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-hazard-anchor-'));
    server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0 },
        store: { path: join(dir, 'db.sqlite') },
        enterprises: [{ id: 'ent-a', name: 'A', province: 'P', city: 'C', county: 'K' }],
      }),
      { dashboard: false },
    );
    await server.start();
  });
  afterEach(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes the hazard chain head retained on its own topic, and ingest does not take it for a gateway', async () => {
    const h = await server.supervision.hazards.open(
      {
        enterpriseId: 'ent-a',
        installationId: null,
        kind: 'accident',
        severity: 'major',
        title: 'Gas detector not working',
        item: { standard: 'inspection finding', number: null, text: 'as found', checked: true },
        source: 'inspection',
      },
      'inspector',
    );
    const rejectedBefore = server.ingest.metrics().rejected;
    const anchor = await server.supervision.integrity.anchorNow();
    expect(anchor).not.toBeNull();
    // A witness that subscribes afterwards still gets it (retained).
    const witness = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: 'witness',
      reconnectPeriod: 0,
    });
    const seen = new Map<string, { seq: number; hash: string }>();
    witness.on('message', (topic, payload) => seen.set(topic, JSON.parse(payload.toString())));
    try {
      await witness.subscribeAsync('hazardwatch/ledger/#', { qos: 1 });
      await waitFor(() => seen.has(HAZARD_ANCHOR_TOPIC), 'the hazard anchor');
      expect(seen.get(HAZARD_ANCHOR_TOPIC)).toMatchObject({ seq: anchor!.seq, hash: anchor!.hash });
      expect(await server.supervision.store.hashAt(anchor!.seq)).toBe(anchor!.hash);
      expect(h.hazardId).toMatch(/^HZ-/);
      expect(server.platform.handleMqtt(HAZARD_ANCHOR_TOPIC, Buffer.from('{}'))).toBe(true);
      expect(server.ingest.metrics().rejected).toBe(rejectedBefore);
    } finally {
      await witness.endAsync(true);
    }
  });

  it('names the chain in its log lines: the hazard ledger, not the disposal ledger', async () => {
    expect(server.supervision.integrity.name).toBe('hazard ledger');
    expect(server.platform.integrity.name).toBe('disposal ledger');
    const lines: string[] = [];
    const logger = {
      info: (_: object, msg: string) => void lines.push(msg),
      warn: (_: object, msg: string) => void lines.push(msg),
      error: (_: object, msg: string) => void lines.push(msg),
    } as unknown as ConstructorParameters<typeof LedgerIntegrity>[0]['logger'];
    const integrity = new LedgerIntegrity({
      name: 'hazard ledger',
      logger,
      disposal: {
        verify: async () => ({
          ok: false,
          rows: 3,
          brokenAt: 2,
          reason: 'prev_hash does not link',
          projection: { differences: 0, problems: [] },
          head: { seq: 3, hash: 'c'.repeat(64) },
        }),
        hashAt: async () => undefined,
        head: async () => ({ seq: 3, hash: 'c'.repeat(64) }),
      },
      key: Buffer.alloc(32, 1),
      anchorFile: new AnchorFile(join(dir, 'hazard-test-anchors.jsonl')),
    });
    await integrity.anchorNow();
    expect((await integrity.verifyNow()).ok).toBe(false);
    expect(lines).toEqual(['hazard ledger anchor', 'hazard ledger verification FAILED']);
  });
});
