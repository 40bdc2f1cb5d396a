/**
 * The one builder of an external-mode node's config (node-config.ts), which the cluster tests
 * and the cluster bench share: each option adds its keys and nothing else, and an option left
 * out leaves the server's own default in place (not a test value that would hide it).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseServerConfig } from '../../server/config/index.js';
import {
  type ClusterNodeOptions,
  clusterNodeConfig,
  DISPOSE_PER_ACKNOWLEDGE,
  TEST_ESCALATION_TICK_MS,
  TEST_LINKAGE_RETRY,
} from './node-config.js';

const base: ClusterNodeOptions = {
  nodeId: 'node-7',
  brokerUrl: 'mqtt://127.0.0.1:1883',
  service: { username: 'hazardwatch-node', shareGroup: 'hazardwatch' },
  servicePassword: 'node-secret-for-tests-only',
  storePath: '/tmp/node-7.db',
};
const defaults = parseServerConfig({});

describe('clusterNodeConfig', () => {
  it('joins the external broker as the shared service identity, state and telemetry in its own SQLite file', () => {
    const config = clusterNodeConfig(base);
    expect(config.node).toEqual({ id: 'node-7' });
    expect(config.http.port).toBe(0);
    expect(config.mqtt).toMatchObject({
      mode: 'external',
      url: 'mqtt://127.0.0.1:1883',
      username: 'hazardwatch-node',
      password: 'node-secret-for-tests-only',
      shareGroup: 'hazardwatch',
    });
    expect(config.mqtt.sessionExpirySeconds).toBeUndefined();
    expect(config.database).toBeUndefined();
    expect(config.store).toMatchObject({ type: 'sqlite', path: '/tmp/node-7.db' });
    expect(config.emergencyCentres).toEqual([]);
    expect(config.linkage).toEqual(defaults.linkage);
    expect(config.platform.escalation).toEqual(defaults.platform.escalation);
  });

  it('sets the session expiry when given, 0 included (no session kept after a disconnect)', () => {
    expect(clusterNodeConfig({ ...base, sessionExpirySeconds: 2 }).mqtt.sessionExpirySeconds).toBe(
      2,
    );
    expect(clusterNodeConfig({ ...base, sessionExpirySeconds: 0 }).mqtt.sessionExpirySeconds).toBe(
      0,
    );
  });

  it('keeps the platform state in PostgreSQL with the pool asked for, else the default pool', () => {
    const url = 'postgres://hw:pw@127.0.0.1:5432/hw';
    expect(clusterNodeConfig({ ...base, database: { url, poolSize: 4 } }).database).toMatchObject({
      kind: 'postgres',
      url,
      poolSize: 4,
    });
    const defaultPool = parseServerConfig({ database: { kind: 'postgres', url } }).database;
    expect(defaultPool).toMatchObject({ poolSize: expect.any(Number) });
    expect(clusterNodeConfig({ ...base, database: { url } }).database).toMatchObject({
      kind: 'postgres',
      url,
      poolSize: (defaultPool as { poolSize: number }).poolSize,
    });
  });

  it('writes telemetry to InfluxDB when given its URL', () => {
    const config = clusterNodeConfig({ ...base, influxUrl: 'http://127.0.0.1:8428' });
    expect(config.store).toMatchObject({
      type: 'influxdb',
      path: '/tmp/node-7.db',
      influxdb: { url: 'http://127.0.0.1:8428', bucket: 'telemetry' },
    });
  });

  it('pages one emergency centre from level 2 and retries it at the test pace', () => {
    const centre = {
      id: 'ecc-1',
      name: 'County emergency centre',
      url: 'http://127.0.0.1:9/pages',
      secret: 'centre-secret-for-tests-only',
    };
    const config = clusterNodeConfig({ ...base, emergencyCentre: centre });
    expect(config.emergencyCentres).toHaveLength(1);
    expect(config.emergencyCentres[0]).toMatchObject({ ...centre, minLevel: 2 });
    expect(config.linkage).toEqual(TEST_LINKAGE_RETRY);
  });

  it('escalates at the given deadlines, disposal a fixed multiple of each, checked at the test tick', () => {
    const config = clusterNodeConfig({ ...base, acknowledgeWithinMs: [1_000, 2_000, 3_000] });
    expect(config.platform.escalation).toEqual({
      acknowledgeWithinMs: [1_000, 2_000, 3_000],
      disposeWithinMs: [1_000, 2_000, 3_000].map((ms) => ms * DISPOSE_PER_ACKNOWLEDGE),
      tickMs: TEST_ESCALATION_TICK_MS,
    });
  });

  it('refuses a bad option with the config error naming its key', () => {
    expect(() => clusterNodeConfig({ ...base, sessionExpirySeconds: -1 })).toThrow(ConfigError);
    expect(() => clusterNodeConfig({ ...base, sessionExpirySeconds: -1 })).toThrow(
      /mqtt\.sessionExpirySeconds/,
    );
  });
});
