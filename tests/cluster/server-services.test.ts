/**
 * The central server as an ordered list of services: started in order, stopped in reverse,
 * one failing stop does not keep the others open; external mode swaps only the MQTT service.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { type Cleanup, nodeConfig } from './harness.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const EMBEDDED_ORDER = [
  'database',
  'event relay',
  'presence share',
  'audit',
  'store',
  'ledger',
  'notifier',
  'acks',
  'fleet',
  'platform',
  'supervision',
  'ingest',
  'broker',
  'leader jobs',
  'ledger anchor',
  'commands',
  'http',
];

describe('the central server’s services', () => {
  it('starts them in order, stops them in reverse, and a failing stop does not keep the rest open', async () => {
    const server = new CentralServer(
      parseServerConfig({ http: { port: 0 }, mqtt: { port: 0 }, store: { path: ':memory:' } }),
      { dashboard: false },
    );
    cleanups.push(() => server.stop());
    expect(server.services.map((s) => s.name)).toEqual(EMBEDDED_ORDER);
    const started: string[] = [];
    const stopped: string[] = [];
    for (const service of server.services) {
      const { start, stop } = service;
      Object.assign(service, {
        start: async () => {
          await start.call(service);
          started.push(service.name);
        },
        stop: async () => {
          stopped.push(service.name);
          if (service.name === 'platform') throw new Error('platform stop failed (test)');
          await stop.call(service);
        },
      });
    }
    await server.start();
    expect(started).toEqual(EMBEDDED_ORDER);
    expect(server.httpPort).toBeGreaterThan(0);
    expect(server.mqttPort).toBeGreaterThan(0);
    await server.stop();
    expect(stopped).toEqual([...EMBEDDED_ORDER].reverse());
    expect(server.httpPort).toBe(0);
    expect(server.broker.connectedClients).toBe(0);
  });

  it('in external mode runs the external broker in the broker’s place and listens on no MQTT port', () => {
    const server = new CentralServer(nodeConfig('mqtt://127.0.0.1:1', 'node-1', ':memory:'), {
      dashboard: false,
    });
    expect(server.services.map((s) => s.name)).toEqual(
      EMBEDDED_ORDER.map((name) => (name === 'broker' ? 'external broker' : name)),
    );
    expect(server.mqttPort).toBe(0);
  });

  it('a failed start (the external broker unreachable) stops what had started and names the broker', async () => {
    const server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        node: { id: 'node-1' },
        mqtt: {
          mode: 'external',
          url: 'mqtt://127.0.0.1:1',
          username: 'hazardwatch-node',
          password: 'secret',
        },
        store: { path: ':memory:' },
      }),
      { dashboard: false },
    );
    cleanups.push(() => server.stop());
    await expect(server.start()).rejects.toThrow(
      /external broker mqtt:\/\/127\.0\.0\.1:1 cannot be reached/,
    );
    expect(server.httpPort).toBe(0);
  });

  it('a PostgreSQL database that cannot be reached fails the start, naming it without its password', async () => {
    const server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0 },
        database: { kind: 'postgres', url: 'postgres://hw:secret@127.0.0.1:1/hw' },
        store: { path: ':memory:' },
      }),
      { dashboard: false },
    );
    cleanups.push(() => server.stop());
    const failure = await server.start().then(
      () => null,
      (err: Error) => err.message,
    );
    expect(failure).toMatch(/cannot start database 'postgres:\/\/hw:\*+@127\.0\.0\.1:1\/hw'/);
    expect(failure).not.toContain('secret');
    expect(server.httpPort).toBe(0);
  });
});
