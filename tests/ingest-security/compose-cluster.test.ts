/**
 * docker-compose.cluster.yml checked statically (there is no Docker engine here), as
 * compose.test.ts checks docker-compose.yml: it parses, every file, volume, config and secret it
 * references exists, the server nodes are identical and stateless, the load balancer and the
 * EMQX cluster list exactly the services that exist, and the inline configs agree with the
 * services (database URL and credentials, InfluxDB org and bucket, hook secret, placeholders).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkDatabaseConfig } from '../../server/db/config.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const file = (path: string) => join(root, path);
const raw = readFileSync(file('docker-compose.cluster.yml'), 'utf8');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  hostname?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  configs?: { source: string; target: string }[];
  secrets?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(raw, { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  configs: Record<string, { content: string }>;
  secrets: Record<string, { environment?: string; file?: string }>;
};
const services = compose.services;

/** What compose makes of a value without a .env file: `${NAME:-default}` → default, `$$` → `$`. */
const interpolate = (value: string) =>
  value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1').replace(/\$\$/g, '$');

const serverNodes = Object.keys(services).filter((name) => /^server-\d+$/.test(name));
const emqxNodes = Object.keys(services).filter((name) => /^emqx\d+$/.test(name));
const haproxyCfg = interpolate(compose.configs['haproxy-cfg']?.content ?? '');
const emqxConf = interpolate(compose.configs['emqx-conf']?.content ?? '');
const serverConf = parse(interpolate(compose.configs['server-conf']?.content ?? '')) as {
  database: Record<string, unknown>;
  mqtt: { mode: string; url: string; shareGroup: string; username: string };
  store: { type: string; influxdb: { url: string; org: string; bucket: string } };
  ledger: { keyFile: string };
};

describe('docker-compose.cluster.yml', () => {
  it('has EMQX, PostgreSQL, InfluxDB 2, at least two server nodes and a load balancer', () => {
    expect(emqxNodes.length).toBeGreaterThanOrEqual(2);
    expect(serverNodes.length).toBeGreaterThanOrEqual(2);
    expect(Object.keys(services).sort()).toEqual(
      ['haproxy', 'influxdb', 'postgres', ...emqxNodes, ...serverNodes].sort(),
    );
    expect(services.postgres?.image).toMatch(/^postgres:15/);
    expect(services.influxdb?.image).toMatch(/^influxdb:2\./);
    expect(services.haproxy?.image).toMatch(/^haproxy:/);
    for (const name of emqxNodes) expect(services[name]?.image).toMatch(/^emqx\/emqx:5\./);
  });

  it('references only files, volumes, configs and secrets that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.image ?? service.build, `${name} has an image or a build`).toBeTruthy();
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
      for (const config of service.configs ?? []) {
        expect(compose.configs, `${name} uses config ${config.source}`).toHaveProperty(
          config.source,
        );
      }
      for (const secret of service.secrets ?? []) {
        expect(compose.secrets, `${name} uses secret ${secret}`).toHaveProperty(secret);
      }
      for (const arg of service.command ?? []) {
        if (/\.ts$/.test(arg)) expect(existsSync(file(arg)), `${name} runs ${arg}`).toBe(true);
      }
    }
  });

  it('starts services only after what they need, waiting on health checks that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services, `${name} depends on ${dependency}`).toHaveProperty(dependency);
        if (condition === 'service_healthy') {
          expect(services[dependency]?.healthcheck, `${dependency} health check`).toBeTruthy();
        }
      }
    }
    for (const node of serverNodes) {
      expect(Object.keys(services[node]?.depends_on ?? {}).sort()).toEqual(
        ['influxdb', 'postgres', ...emqxNodes].sort(),
      );
    }
  });

  it('runs identical, stateless server nodes: same image, command and config, a node id each, no data volume', () => {
    const strip = (s: Service) => {
      const { HAZARDWATCH_NODE_ID: _id, ...environment } = s.environment ?? {};
      return { ...s, environment };
    };
    const first = services[serverNodes[0]!]!;
    const ids = new Set<string>();
    for (const node of serverNodes) {
      const service = services[node]!;
      expect(strip(service), `${node} is the same as ${serverNodes[0]}`).toEqual(strip(first));
      expect(service.environment?.HAZARDWATCH_NODE_ID).toBe(node);
      ids.add(service.environment?.HAZARDWATCH_NODE_ID ?? '');
      // State lives in PostgreSQL and InfluxDB: a node may only mount read-only files.
      for (const volume of service.volumes ?? []) {
        expect(volume, `${node} mounts ${volume}`).toMatch(/^\.\/.*:ro$/);
      }
      expect(service.ports ?? [], `${node} is reached through the load balancer`).toEqual([]);
    }
    expect(ids.size).toBe(serverNodes.length);
  });

  it('balances HTTP over every server node with the nodes’ own health check, and MQTT over every EMQX node', () => {
    const backend = (name: string) =>
      new RegExp(`backend ${name}\\n([\\s\\S]*?)(?=\\n\\S|$)`).exec(haproxyCfg)?.[1] ?? '';
    const http = backend('server-nodes');
    const listed = [...http.matchAll(/server (\S+) (\S+):8080 check/g)].map((m) => m[2]);
    expect(listed.sort()).toEqual([...serverNodes].sort());
    const healthUrl = /fetch\('http:\/\/127\.0\.0\.1:8080([^']+)'\)/.exec(
      services[serverNodes[0]!]?.healthcheck?.test.join(' ') ?? '',
    )?.[1];
    expect(healthUrl).toBe('/api/v1/health');
    expect(http).toContain(`option httpchk GET ${healthUrl}`);
    const mqtt = backend('emqx');
    expect([...mqtt.matchAll(/server (\S+) (\S+):1883 check/g)].map((m) => m[2]).sort()).toEqual(
      [...emqxNodes].sort(),
    );
    // SSE: the idle timeouts outlast the stream heartbeat (15 s, server/api/stream.ts).
    expect(haproxyCfg).toMatch(/timeout server 60s/);
    expect(services.haproxy?.ports).toEqual(expect.arrayContaining(['8080:8080', '1883:1883']));
  });

  it('clusters EMQX by static seeds that are exactly its nodes, and dispatches shared subscriptions by gateway', () => {
    const names = emqxNodes.map((n) => services[n]?.environment?.EMQX_NODE__NAME);
    for (const n of emqxNodes) {
      expect(services[n]?.environment?.EMQX_NODE__NAME).toBe(`emqx@${services[n]?.hostname}`);
      expect(services[n]?.configs?.[0]?.target).toBe('/opt/emqx/etc/emqx.conf');
    }
    const seeds = /seeds = \[([^\]]*)\]/.exec(emqxConf)?.[1] ?? '';
    expect(seeds.split(',').map((s) => s.trim().replace(/"/g, ''))).toEqual(names);
    expect(emqxConf).toMatch(/shared_subscription_strategy = hash_clientid/);
  });

  it('sends gateway authentication and authorization to the nodes’ hook through the load balancer, denying what no rule allows', () => {
    expect(emqxConf).toContain('url = "http://haproxy:8080/api/v1/broker/authenticate"');
    expect(emqxConf).toContain('url = "http://haproxy:8080/api/v1/broker/authorize"');
    expect(emqxConf).toMatch(/no_match = deny/);
    // EMQX's placeholders survive compose: written $${...} in the file, ${...} for EMQX.
    expect(raw).not.toMatch(/[^$]\$\{(clientid|username|password|topic|action)\}/);
    for (const placeholder of ['clientid', 'username', 'password', 'topic', 'action']) {
      expect(emqxConf).toContain(`"\${${placeholder}}"`);
    }
    const secrets = [...emqxConf.matchAll(/"x-hazardwatch-hook-secret" = "([^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(secrets).toHaveLength(2);
    for (const node of serverNodes) {
      const secret = interpolate(services[node]?.environment?.HAZARDWATCH_BROKER_HOOK_SECRET ?? '');
      expect(secrets).toEqual([secret, secret]);
    }
  });

  it('gives every node a database section the layer accepts, pointing at the compose PostgreSQL', () => {
    expect(checkDatabaseConfig(serverConf.database)).toEqual([]);
    const url = new URL(String(serverConf.database.url));
    const env = services.postgres?.environment ?? {};
    expect(url.host).toBe('postgres:5432');
    expect(url.username).toBe(env.POSTGRES_USER);
    expect(url.pathname).toBe(`/${env.POSTGRES_DB}`);
    expect(url.password).toBe(interpolate(env.POSTGRES_PASSWORD ?? ''));
    // pool size × nodes + two dedicated connections per node stay under max_connections.
    const max = Number(
      /max_connections=(\d+)/.exec(services.postgres?.command?.join(' ') ?? '')?.[1],
    );
    expect(serverNodes.length * (Number(serverConf.database.poolSize) + 2)).toBeLessThan(max);
  });

  it('points every node at the broker cluster, InfluxDB and the shared ledger key', () => {
    expect(serverConf.mqtt).toMatchObject({ mode: 'external', url: 'mqtt://haproxy:1883' });
    expect(serverConf.mqtt.shareGroup).toMatch(/^[a-z-]+$/);
    const influx = services.influxdb?.environment ?? {};
    expect(serverConf.store.type).toBe('influxdb');
    expect(new URL(serverConf.store.influxdb.url).host).toBe('influxdb:8086');
    expect(serverConf.store.influxdb.org).toBe(influx.DOCKER_INFLUXDB_INIT_ORG);
    expect(serverConf.store.influxdb.bucket).toBe(influx.DOCKER_INFLUXDB_INIT_BUCKET);
    expect(influx.DOCKER_INFLUXDB_INIT_RETENTION).toBe('30d'); // SAWS Order 40 art. 13
    expect(serverConf.ledger.keyFile).toBe('/run/secrets/ledger_key');
    for (const node of serverNodes) expect(services[node]?.secrets).toContain('ledger_key');
  });
});
