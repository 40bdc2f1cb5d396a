import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadServerConfig, parseServerConfig } from '../../server/config/index.js';

function problemsOf(obj: unknown): string[] {
  try {
    parseServerConfig(obj, 'test');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('server config', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('fills every default into an empty config and freezes it', () => {
    const config = parseServerConfig({});
    expect(config).toEqual({
      http: { host: '127.0.0.1', port: 8080 },
      mqtt: {
        host: '127.0.0.1',
        port: 1883,
        auth: { mode: 'none', users: [] },
        maxPacketBytes: 2 * 1024 * 1024,
        drainTimeoutMs: 10_000,
        connectTimeoutMs: 10_000,
        maxConnections: 20_000,
      },
      store: {
        type: 'sqlite',
        path: 'data/hazardwatch.db',
        retentionDays: 30,
        maxSensorsPerGateway: 10_000,
      },
      audit: { maxBytes: 10 * 1024 * 1024, maxRecordsPerSecond: 200 },
      plausibility: { maxClockAheadMs: 3_600_000, maxAgeDays: 1_826 },
      enterprises: [],
      emergencyCentres: [],
      linkage: { retryInitialMs: 500, retryMaxMs: 30_000 },
      platform: expect.objectContaining({ requireAuth: false, installations: [], users: [] }),
      ledger: {
        anchorIntervalMs: 60_000,
        verifyIntervalMs: 3_600_000,
        anchorTopic: 'hazardwatch/ledger/anchor',
      },
    });
    expect(Object.isFrozen(config.http)).toBe(true);
    expect(() => {
      (config.http as { port: number }).port = 1;
    }).toThrow();
  });

  it('gives an emergency centre minLevel 2 unless told otherwise and accepts :memory:', () => {
    const config = parseServerConfig({
      store: { path: ':memory:' },
      emergencyCentres: [
        { id: 'ec-1', name: 'City centre', url: 'http://127.0.0.1:9/hook', secret: 'x'.repeat(16) },
      ],
    });
    expect(config.emergencyCentres[0]?.minLevel).toBe(2);
    expect(config.store.path).toBe(':memory:');
  });

  it('reports every error at once, each naming its key path and the value it got', () => {
    const problems = problemsOf({
      http: { port: 70000, hots: 'x' },
      store: { type: 'influx' },
      emergencyCentres: [{ id: 'ec 1', url: 'ftp://x', secret: 'short' }],
      linkage: { retryInitialMs: 'soon' },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'http.port: must be <= 65535 (got 70000)',
        'http.hots: is not a known key',
        "store.type: must be one of 'sqlite', 'influxdb' (got 'influx')",
        'emergencyCentres[0].name: is required',
        expect.stringMatching(/^emergencyCentres\[0\]\.id: must match pattern .* \(got 'ec 1'\)$/),
        expect.stringMatching(
          /^emergencyCentres\[0\]\.url: must match pattern .* \(got 'ftp:\/\/x'\)$/,
        ),
        "linkage.retryInitialMs: must be integer (got 'soon')",
      ]),
    );
  });

  it('never echoes a secret in an error', () => {
    const problems = problemsOf({
      emergencyCentres: [{ id: 'ec-1', name: 'A', url: 'http://a', secret: 'hunter2' }],
    });
    expect(problems).toEqual([
      'emergencyCentres[0].secret: must NOT have fewer than 16 characters (got <hidden>)',
    ]);
  });

  it('refuses duplicate centre ids and a retry ceiling below the first delay', () => {
    const centre = { id: 'ec-1', name: 'A', url: 'http://a', secret: 'x'.repeat(16) };
    expect(
      problemsOf({
        emergencyCentres: [centre, centre],
        linkage: { retryInitialMs: 1000, retryMaxMs: 10 },
      }),
    ).toEqual([
      "emergencyCentres[1].id: duplicate id (got 'ec-1')",
      'linkage.retryMaxMs: must be >= linkage.retryInitialMs (1000) (got 10)',
    ]);
  });

  it('loads YAML from a file, with command-line overrides merged before validation', () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-config-'));
    const file = join(dir, 'server.yaml');
    writeFileSync(
      file,
      ['http:', '  port: 9000', 'enterprises:', '  - { id: ent-01, name: Demo Chemical }'].join(
        '\n',
      ),
    );
    const config = loadServerConfig(file, { mqtt: { port: 2883 } });
    expect(config.http.port).toBe(9000);
    expect(config.mqtt.port).toBe(2883);
    expect(config.enterprises).toEqual([{ id: 'ent-01', name: 'Demo Chemical' }]);
    expect(() => loadServerConfig(file, { http: { port: -1 } })).toThrow(
      /server\.yaml[\s\S]*http\.port: must be >= 0 \(got -1\)/,
    );
  });

  it('accepts the sample config shipped beside the schema', () => {
    const config = loadServerConfig(
      fileURLToPath(new URL('../../server/config/server.sample.yaml', import.meta.url)),
    );
    expect(config.emergencyCentres.map((c) => [c.id, c.minLevel])).toEqual([['ec-city', 2]]);
    expect(config.http.port).toBe(8080);
  });

  it('names the file it cannot read', () => {
    expect(() => loadServerConfig('/nonexistent/server.yaml')).toThrow(
      "cannot read server config '/nonexistent/server.yaml'",
    );
  });
});
