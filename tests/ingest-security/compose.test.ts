/**
 * docker-compose.yml checked statically (there is no Docker engine here): it
 * parses, every file it references exists, services reference each other
 * consistently, and the configs it mounts load with the product's own loaders
 * and agree with each other (hosts, database, secrets, password hashes).
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadGatewayConfig } from '../../gateway/config/index.js';
import { loadUsersFile } from '../../server/auth/mqtt-access.js';
import { verifyPassword } from '../../server/auth/password.js';
import { loadServerConfig } from '../../server/config/index.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const file = (path: string) => join(root, path);
const yamlOf = (path: string) => parse(readFileSync(file(path), 'utf8'), { merge: true });

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = yamlOf('docker-compose.yml') as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;

/** `${NAME:-default}` → default (what compose uses without a .env file). */
const withDefaults = (value: string) => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

describe('docker-compose.yml', () => {
  it('has the InfluxDB, server, gateway, simulators and Grafana services', () => {
    expect(Object.keys(services).sort()).toEqual([
      'gateway',
      'grafana',
      'influxdb',
      'server',
      'simulators',
    ]);
    for (const [name, service] of Object.entries(services)) {
      expect(service.image ?? service.build, `${name} has an image or a build`).toBeTruthy();
    }
  });

  it('references only files that exist, and declares every named volume', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) {
        expect(existsSync(file(service.build.context)), `${name} build context`).toBe(true);
        expect(existsSync(file(service.build.dockerfile)), `${name} Dockerfile`).toBe(true);
      }
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(':') as [string];
        if (source.startsWith('./')) {
          expect(existsSync(file(source)), `${name} mounts ${source}`).toBe(true);
        } else {
          expect(compose.volumes, `${name} uses volume ${source}`).toHaveProperty(source);
        }
      }
      // Every repository file a command names (tsx entry points, --config files).
      for (const arg of service.command ?? []) {
        if (/\.(ts|ya?ml)$/.test(arg))
          expect(existsSync(file(arg)), `${name} runs ${arg}`).toBe(true);
      }
    }
    const dockerfile = readFileSync(file('deploy/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20/m);
    for (const copied of ['package.json', 'package-lock.json']) {
      expect(existsSync(file(copied))).toBe(true);
    }
  });

  it('starts services only after what they need, waiting on health checks that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services, `${name} depends on ${dependency}`).toHaveProperty(dependency);
        if (condition === 'service_healthy') {
          expect(
            services[dependency]?.healthcheck,
            `${dependency} has a health check`,
          ).toBeTruthy();
        }
      }
    }
    expect(Object.keys(services.server?.depends_on ?? {})).toContain('influxdb');
    expect(Object.keys(services.gateway?.depends_on ?? {}).sort()).toEqual([
      'server',
      'simulators',
    ]);
  });

  it('initialises InfluxDB 2 with org, bucket, token, 30-day retention and a DBRP mapping', () => {
    const env = services.influxdb?.environment ?? {};
    expect(services.influxdb?.image).toMatch(/^influxdb:2\./);
    expect(env.DOCKER_INFLUXDB_INIT_MODE).toBe('setup');
    expect(env.DOCKER_INFLUXDB_INIT_ORG).toBe('hazardwatch');
    expect(env.DOCKER_INFLUXDB_INIT_BUCKET).toBe('telemetry');
    expect(env.DOCKER_INFLUXDB_INIT_RETENTION).toBe('30d'); // SAWS Order 40 art. 13
    expect(withDefaults(env.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN ?? '')).not.toBe('');
    const init = services.influxdb?.volumes?.find((v) => v.includes('docker-entrypoint-initdb.d'));
    const script = init?.split(':')[0] ?? '';
    accessSync(file(script), constants.X_OK);
    expect(readFileSync(file(script), 'utf8')).toMatch(
      /influx v1 dbrp create[\s\S]*--db "\$\{DOCKER_INFLUXDB_INIT_BUCKET\}" --rp autogen --default/,
    );
  });

  it('gives the server a config that loads and points at the compose InfluxDB and simulators', () => {
    const config = loadServerConfig(file('deploy/server.yaml'));
    expect(services.server?.command).toEqual(
      expect.arrayContaining(['server/main.ts', '--config', 'deploy/server.yaml']),
    );
    const influx = config.store.influxdb;
    expect(config.store.type).toBe('influxdb');
    expect(new URL(influx?.url ?? '').host).toBe('influxdb:8086');
    const env = services.influxdb?.environment ?? {};
    expect(influx?.org).toBe(env.DOCKER_INFLUXDB_INIT_ORG);
    expect(influx?.bucket).toBe(env.DOCKER_INFLUXDB_INIT_BUCKET);
    expect(influx?.database).toBe(env.DOCKER_INFLUXDB_INIT_BUCKET); // the DBRP mapping's db
    expect(withDefaults(services.server?.environment?.HAZARDWATCH_INFLUX_TOKEN ?? '')).toBe(
      withDefaults(env.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN ?? ''),
    );
    // Listening beyond loopback inside the compose network: authentication on.
    expect(config.mqtt.host).toBe('0.0.0.0');
    expect(config.mqtt.auth.mode).toBe('password');
    const centre = config.emergencyCentres[0];
    expect(new URL(centre?.url ?? '').hostname).toBe('simulators');
    expect(centre?.secret).toBe(services.simulators?.environment?.RECEIVER_SECRET);
  });

  it('gives the gateway a config that loads, reaches the server and the simulators, and whose password matches its hash', async () => {
    const gateway = loadGatewayConfig(file('deploy/gateway.yaml'), { env: {} });
    expect(new URL(gateway.uplink.url).host).toBe('server:1883');
    const hosts = gateway.devices.map((d) =>
      'host' in d ? d.host : new URL((d as { endpointUrl: string }).endpointUrl).hostname,
    );
    expect(new Set(hosts)).toEqual(new Set(['simulators']));
    const server = loadServerConfig(file('deploy/server.yaml'));
    const users = loadUsersFile(file(server.mqtt.auth.usersFile ?? ''), 'password');
    const user = users.find((u) => u.username === gateway.gateway.id);
    expect(user).toMatchObject({ role: 'gateway', enterpriseId: gateway.gateway.enterpriseId });
    expect(gateway.uplink.username).toBe(gateway.gateway.id);
    expect(await verifyPassword(gateway.uplink.password ?? '', user?.passwordHash ?? '')).toBe(
      true,
    );
  });

  it('provisions Grafana with the InfluxDB data source and a plant dashboard over real sensor ids', () => {
    const grafana = services.grafana;
    const mounts = Object.fromEntries(
      (grafana?.volumes ?? []).map((v) => v.split(':') as [string, string]),
    );
    expect(mounts['./deploy/grafana/provisioning']).toBe('/etc/grafana/provisioning');
    const datasources = yamlOf('deploy/grafana/provisioning/datasources/influxdb.yaml')
      .datasources as {
      uid: string;
      type: string;
      url: string;
      jsonData: { dbName: string };
      secureJsonData: { httpHeaderValue1: string };
    }[];
    const source = datasources[0];
    expect(source?.type).toBe('influxdb');
    expect(new URL(source?.url ?? '').host).toBe('influxdb:8086');
    expect(source?.jsonData.dbName).toBe(
      loadServerConfig(file('deploy/server.yaml')).store.influxdb?.database,
    );
    expect(source?.secureJsonData.httpHeaderValue1).toBe('Token $INFLUX_TOKEN');
    expect(grafana?.environment?.INFLUX_TOKEN).toBe(
      services.influxdb?.environment?.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN,
    );
    const provider = yamlOf('deploy/grafana/provisioning/dashboards/hazardwatch.yaml').providers[0];
    expect(mounts['./deploy/grafana/dashboards']).toBe(provider.options.path);

    const dashboard = JSON.parse(
      readFileSync(file('deploy/grafana/dashboards/plant.json'), 'utf8'),
    );
    const sensorIds = new Set(
      loadGatewayConfig(file('deploy/gateway.yaml'), { env: {} }).devices.flatMap((d) =>
        d.tags.map((t) => t.sensorId),
      ),
    );
    const queries: string[] = dashboard.panels.flatMap((p: { targets: { query: string }[] }) =>
      p.targets.map((t) => t.query),
    );
    expect(queries.length).toBeGreaterThan(5);
    for (const query of queries) {
      expect(query).toContain('FROM "reading"');
      for (const [, id] of query.matchAll(/"sensor_id" = '([^']+)'/g)) {
        expect(sensorIds, `dashboard sensor ${id}`).toContain(id);
      }
    }
    for (const panel of dashboard.panels) expect(panel.datasource.uid).toBe(source?.uid);
  });
});
