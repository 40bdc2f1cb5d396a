/**
 * The cluster keys of the server config: `mqtt.mode` (a string; an unknown one fails by name),
 * the external broker, the node id, the `database` section server/db expects, and the
 * environment overrides for what should not sit in a shared config file.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  ConfigError,
  environmentOverrides,
  parseServerConfig,
  withOverrides,
} from '../../server/config/index.js';

function problemsOf(obj: unknown): string[] {
  try {
    parseServerConfig(obj, 'test');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

const external = {
  mode: 'external',
  url: 'mqtts://emqx:8883',
  username: 'hazardwatch-node',
  password: 'broker-secret',
};

describe('cluster keys of the server config', () => {
  it('reads a config without them as the embedded server, unchanged', () => {
    const config = parseServerConfig({});
    expect(config.mqtt.mode).toBeUndefined();
    expect(config.node).toBeUndefined();
    expect(config.database).toBeUndefined();
  });

  it('takes an external broker with its service identity, share group, TLS and node id', () => {
    const config = parseServerConfig({
      node: { id: 'server-1' },
      mqtt: { ...external, shareGroup: 'province', brokerTls: { caFile: 'ca.pem' } },
    });
    expect(config.mqtt).toMatchObject({ ...external, shareGroup: 'province' });
    expect(config.node).toEqual({ id: 'server-1' });
  });

  it('fails an unknown mode by name', () => {
    expect(problemsOf({ mqtt: { mode: 'cluster' } })).toEqual([
      "mqtt.mode: must be one of 'embedded', 'external' (got 'cluster')",
    ]);
  });

  it('names every key external mode is missing, and the embedded listener TLS it cannot use', () => {
    expect(
      problemsOf({ mqtt: { mode: 'external', tls: { certFile: 'c', keyFile: 'k' } } }),
    ).toEqual([
      "mqtt.url: is required when mqtt.mode is 'external'",
      "mqtt.username: is required when mqtt.mode is 'external'",
      "mqtt.password: is required when mqtt.mode is 'external' (or HAZARDWATCH_BROKER_PASSWORD)",
      "node.id: is required when mqtt.mode is 'external', one per node (or HAZARDWATCH_NODE_ID)",
      "mqtt.tls: is the embedded broker's listener; with mqtt.mode 'external' use mqtt.brokerTls",
    ]);
  });

  it('refuses external keys in embedded mode, a share group with a slash, and broker TLS on mqtt://', () => {
    expect(problemsOf({ mqtt: { url: 'mqtt://emqx:1883' } })).toEqual([
      "mqtt.url: is used only when mqtt.mode is 'external'",
    ]);
    expect(problemsOf({ node: { id: 'n1' }, mqtt: { ...external, shareGroup: 'a/b' } })).toEqual([
      'mqtt.shareGroup: must match pattern "^[A-Za-z0-9_.-]{1,64}$" (got \'a/b\')',
    ]);
    expect(
      problemsOf({
        node: { id: 'n1' },
        mqtt: { ...external, url: 'mqtt://emqx:1883', brokerTls: { certFile: 'c.pem' } },
      }),
    ).toEqual([
      'mqtt.brokerTls: certFile and keyFile go together',
      "mqtt.brokerTls: needs an mqtts:// URL (got 'mqtt://emqx:1883')",
    ]);
  });

  it('never echoes the broker password or the database password in an error', () => {
    const problems = problemsOf({
      mqtt: { password: 12 },
      database: { kind: 'postgres', url: 'mysql://hw:hunter2@db/hw' },
    }).join('\n');
    expect(problems).not.toContain('hunter2');
    expect(problems).toContain('mqtt.password: must be string (got <hidden>)');
    expect(problems).toContain('database.url: must match pattern');
  });
});

describe('the database section', () => {
  it('fills the defaults of its kind only (a postgres section gets no SQLite keys and back)', () => {
    const postgres = parseServerConfig({
      node: { id: 'server-2' },
      database: { kind: 'postgres', url: 'postgres://hw@db:5432/hw' },
    });
    expect(postgres.database).toEqual({
      kind: 'postgres',
      url: 'postgres://hw@db:5432/hw',
      poolSize: 10,
      applicationName: 'server-2', // the node id shows in pg_stat_activity
    });
    const sqlite = parseServerConfig({ database: { kind: 'sqlite', path: ':memory:' } });
    expect(sqlite.database).toEqual({ kind: 'sqlite', path: ':memory:', synchronous: 'NORMAL' });
  });

  it('names the kind it does not know and the keys of the other kind', () => {
    expect(problemsOf({ database: { kind: 'mysql' } })).toEqual([
      "database.kind: must be one of 'sqlite', 'postgres' (got 'mysql')",
    ]);
    expect(
      problemsOf({ database: { kind: 'postgres', url: 'postgres://db/hw', path: 'x.db' } }),
    ).toEqual(["database.path: not used with kind 'postgres'"]);
    expect(problemsOf({ database: { path: 'x.db' } })).toEqual(['database.kind: is required']);
  });
});

describe('environment overrides', () => {
  it('take the node id, the database URL and the broker password from HAZARDWATCH_*', () => {
    const env = {
      HAZARDWATCH_NODE_ID: 'server-3',
      HAZARDWATCH_DATABASE_URL: 'postgres://hw:secret@db:5432/hw',
      HAZARDWATCH_BROKER_PASSWORD: 'broker-secret',
    };
    expect(environmentOverrides(env)).toEqual({
      node: { id: 'server-3' },
      database: { url: 'postgres://hw:secret@db:5432/hw' },
      mqtt: { password: 'broker-secret' },
    });
    expect(environmentOverrides({})).toEqual({});
    const file = {
      database: { kind: 'postgres' },
      mqtt: { mode: 'external', url: 'mqtt://emqx:1883', username: 'hazardwatch-node' },
    };
    const config = parseServerConfig(withOverrides(file, environmentOverrides(env)));
    expect(config.node?.id).toBe('server-3');
    expect(config.mqtt.password).toBe('broker-secret');
    expect(config.database).toMatchObject({ url: 'postgres://hw:secret@db:5432/hw' });
  });

  it('accept docker-compose.cluster.yml’s node config with a node’s environment', () => {
    const compose = parseYaml(readFileSync('docker-compose.cluster.yml', 'utf8')) as {
      configs: Record<string, { content: string }>;
    };
    // Compose interpolation with the demo defaults: ${NAME:-default} → default.
    const text = compose.configs['server-conf']!.content.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
    const env = { HAZARDWATCH_NODE_ID: 'server-2', HAZARDWATCH_BROKER_PASSWORD: 'broker-secret' };
    const config = parseServerConfig(withOverrides(parseYaml(text), environmentOverrides(env)));
    expect(config.mqtt).toMatchObject({ mode: 'external', username: 'hazardwatch-node' });
    expect(config.node?.id).toBe('server-2');
    expect(config.database).toMatchObject({ kind: 'postgres', applicationName: 'server-2' });
  });
});
