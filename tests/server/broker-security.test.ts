/**
 * Broker security, with Debian's mosquitto_pub / mosquitto_sub as independent
 * clients and certificates made by the openssl CLI (broker-harness.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { topicFor } from '../../protocol/index.js';
import type { MqttUser } from '../../server/auth/config.js';
import { hashPassword } from '../../server/auth/password.js';
import {
  type InboundMessage,
  MqttBroker,
  type MqttBrokerOptions,
  type SecurityEvent,
} from '../../server/broker.js';
import { makePki, mosquitto, type TestPki } from './broker-harness.js';
import { waitFor } from './fixtures.js';

const PASSWORDS = { 'gw-01': 'gw-01-secret', 'gw-02': 'gw-02-secret', 'ecc-1': 'ecc-1-secret' };
const OWN = topicFor('ent-01', 'gw-01', 'telemetry');
const NOTIFICATIONS = 'hazardwatch/v1/emergency/notifications';

let users: MqttUser[];
let dir: string;
let pki: TestPki;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hw-broker-'));
  pki = makePki(dir, ['gw-01', 'gw-02']);
  users = [
    {
      username: 'gw-01',
      role: 'gateway',
      enterpriseId: 'ent-01',
      passwordHash: await hashPassword(PASSWORDS['gw-01']),
    },
    {
      username: 'gw-02',
      role: 'gateway',
      enterpriseId: 'ent-02',
      passwordHash: await hashPassword(PASSWORDS['gw-02']),
    },
    {
      username: 'ecc-1',
      role: 'client',
      passwordHash: await hashPassword(PASSWORDS['ecc-1']),
      subscribe: [NOTIFICATIONS],
      publish: [`${NOTIFICATIONS}/receipts`],
    },
  ];
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let broker: MqttBroker;
let received: InboundMessage[];
let events: SecurityEvent[];

async function startBroker(options: MqttBrokerOptions): Promise<string[]> {
  received = [];
  events = [];
  broker = new MqttBroker({
    port: 0,
    onPublish: async (message) => {
      if (!message.topic.startsWith('$SYS')) received.push(message);
    },
    onSecurityEvent: (event) => events.push(event),
    ...options,
  });
  await broker.start();
  return ['-h', '127.0.0.1', '-p', String(broker.port)];
}

afterEach(async () => {
  await broker?.stop();
});

const as = (user: keyof typeof PASSWORDS, clientId: string = user) => [
  '-i',
  clientId,
  '-u',
  user,
  '-P',
  PASSWORDS[user],
];

describe('MQTT broker with per-gateway passwords', () => {
  it('takes a gateway publishing on its own topics with its own password', async () => {
    const base = await startBroker({ auth: { mode: 'password', users } });
    const result = await mosquitto('mosquitto_pub', [
      ...base,
      ...as('gw-01'),
      ...['-t', OWN, '-m', '{"ok":1}', '-q', '1'],
    ]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    await waitFor(() => received.length === 1, 'the publish');
    expect(received[0]).toMatchObject({ topic: OWN, clientId: 'gw-01' });
    expect(events).toEqual([]);
  });

  it('refuses a wrong password, a missing one and an unknown user (CONNACK 4)', async () => {
    const base = await startBroker({ auth: { mode: 'password', users } });
    const publish = ['-t', OWN, '-m', 'x', '-q', '1'];
    const wrong = await mosquitto('mosquitto_pub', [
      ...base,
      ...['-i', 'gw-01', '-u', 'gw-01', '-P', 'guess'],
      ...publish,
    ]);
    expect(wrong.stderr).toMatch(/bad user name or password/);
    expect(wrong.code).not.toBe(0);
    const none = await mosquitto('mosquitto_pub', [...base, '-i', 'gw-01', ...publish]);
    expect(none.stderr).toMatch(/bad user name or password/);
    const unknown = await mosquitto('mosquitto_pub', [
      ...base,
      ...['-i', 'gw-99', '-u', 'gw-99', '-P', 'x'],
      ...publish,
    ]);
    expect(unknown.stderr).toMatch(/bad user name or password/);
    expect(received).toEqual([]);
    expect(events.map((e) => [e.kind, e.reason])).toEqual([
      ['connect-refused', "wrong password for 'gw-01'"],
      ['connect-refused', 'username and password required'],
      ['connect-refused', "unknown user 'gw-99'"],
    ]);
  });

  it('throttles MQTT bad-password attempts with backoff, without locking out the other gateways behind the same address', async () => {
    const clock = new ManualClock();
    const base = await startBroker({ auth: { mode: 'password', users }, clock });
    const publish = ['-t', OWN, '-m', 'x', '-q', '1'];
    // Someone guesses gw-01's password from this address.
    for (let i = 0; i < 5; i++) {
      const wrong = await mosquitto('mosquitto_pub', [
        ...base,
        ...['-i', 'gw-01', '-u', 'gw-01', '-P', `guess-${i}`],
        ...publish,
      ]);
      expect(wrong.stderr).toMatch(/bad user name or password/);
    }
    // Now even the right password waits: refused at once, no password check.
    const blocked = await mosquitto('mosquitto_pub', [...base, ...as('gw-01'), ...publish]);
    expect(blocked.stderr).toMatch(/not authori[sz]ed/i);
    expect(events.at(-1)).toMatchObject({ kind: 'connect-throttled', clientId: 'gw-01' });
    expect(events.at(-1)!.reason).toMatch(/\(pair\); retry in 1 s/);
    // Another gateway behind the same address is not affected.
    const other = await mosquitto('mosquitto_pub', [
      ...base,
      ...as('gw-02'),
      ...['-t', topicFor('ent-02', 'gw-02', 'telemetry'), '-m', '{"ok":1}', '-q', '1'],
    ]);
    expect(other).toMatchObject({ code: 0, stderr: '' });
    // Each further failure doubles the wait; once it has passed, the right password gets in.
    clock.advance(1_000);
    const sixth = await mosquitto('mosquitto_pub', [
      ...base,
      ...['-i', 'gw-01', '-u', 'gw-01', '-P', 'guess-5'],
      ...publish,
    ]);
    expect(sixth.stderr).toMatch(/bad user name or password/);
    clock.advance(1_000);
    expect(
      (await mosquitto('mosquitto_pub', [...base, ...as('gw-01'), ...publish])).stderr,
    ).toMatch(/not authori[sz]ed/i);
    clock.advance(1_000);
    const allowed = await mosquitto('mosquitto_pub', [...base, ...as('gw-01'), ...publish]);
    expect(allowed).toMatchObject({ code: 0, stderr: '' });
    expect(broker.securityCounts()['connect-throttled']).toBe(2);
  });

  it("refuses a gateway that takes another gateway's client id (CONNACK 2)", async () => {
    const base = await startBroker({ auth: { mode: 'password', users } });
    const result = await mosquitto('mosquitto_pub', [
      ...base,
      ...as('gw-02', 'gw-01'),
      ...['-t', OWN, '-m', 'x', '-q', '1'],
    ]);
    expect(result.stderr).toMatch(/identifier rejected/);
    expect(received).toEqual([]);
    expect(events[0]).toMatchObject({
      kind: 'connect-refused',
      clientId: 'gw-01',
      username: 'gw-02',
      reason: "client id 'gw-01' is not the authenticated identity 'gw-02'",
    });
  });

  it("disconnects a gateway publishing to another enterprise's topic, or to $SYS", async () => {
    const base = await startBroker({ auth: { mode: 'password', users } });
    for (const topic of [topicFor('ent-02', 'gw-02', 'telemetry'), '$SYS/fake/heartbeat']) {
      const result = await mosquitto('mosquitto_pub', [
        ...base,
        ...as('gw-01'),
        ...['-t', topic, '-m', 'x', '-q', '1'],
      ]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/connection was lost/i);
    }
    // Its own enterprise but another gateway's topic, or a server channel: refused too.
    const other = await mosquitto('mosquitto_pub', [
      ...base,
      ...as('gw-01'),
      ...['-t', topicFor('ent-01', 'gw-02', 'telemetry'), '-m', 'x', '-q', '1'],
    ]);
    expect(other.code).not.toBe(0);
    const ack = await mosquitto('mosquitto_pub', [
      ...base,
      ...as('gw-01'),
      ...['-t', topicFor('ent-01', 'gw-01', 'ack'), '-m', 'x', '-q', '1'],
    ]);
    expect(ack.code).not.toBe(0);
    expect(received).toEqual([]);
    expect(events.map((e) => [e.kind, e.topic])).toEqual([
      ['publish-refused', 'hazardwatch/v1/ent-02/gw-02/telemetry'],
      ['publish-refused', '$SYS/fake/heartbeat'],
      ['publish-refused', 'hazardwatch/v1/ent-01/gw-02/telemetry'],
      ['publish-refused', 'hazardwatch/v1/ent-01/gw-01/ack'],
    ]);
  });

  it('denies # , $SYS/# and wildcard filters but grants a gateway its own ack topic', async () => {
    const base = await startBroker({ auth: { mode: 'password', users } });
    const everything = await mosquitto('mosquitto_sub', [...base, ...as('gw-01'), '-t', '#']);
    expect(everything.stderr).toMatch(/All subscription requests were denied/);
    const sys = await mosquitto('mosquitto_sub', [...base, ...as('gw-01'), '-t', '$SYS/#']);
    expect(sys.stderr).toMatch(/All subscription requests were denied/);
    const wildcard = await mosquitto('mosquitto_sub', [
      ...base,
      ...as('gw-01'),
      ...['-t', 'hazardwatch/v1/ent-01/+/ack'],
    ]);
    expect(wildcard.stderr).toMatch(/All subscription requests were denied/);

    const ackTopic = topicFor('ent-01', 'gw-01', 'ack');
    await broker.publish(ackTopic, '{"v":1,"seqs":[7]}', { retain: true });
    const own = await mosquitto('mosquitto_sub', [
      ...base,
      ...as('gw-01'),
      ...['-t', ackTopic, '-C', '1', '-W', '3'],
    ]);
    expect(own).toMatchObject({ code: 0, stdout: '{"v":1,"seqs":[7]}\n' });
    expect(events.map((e) => [e.kind, e.topic])).toEqual([
      ['subscribe-refused', '#'],
      ['subscribe-refused', '$SYS/#'],
      ['subscribe-refused', 'hazardwatch/v1/ent-01/+/ack'],
    ]);
  });

  it('gives a client identity exactly its listed topics (an emergency centre)', async () => {
    const base = await startBroker({ auth: { mode: 'password', users } });
    await broker.publish(NOTIFICATIONS, '{"n":1}', { retain: true });
    const sub = await mosquitto('mosquitto_sub', [
      ...base,
      ...as('ecc-1'),
      ...['-t', NOTIFICATIONS, '-C', '1', '-W', '3'],
    ]);
    expect(sub).toMatchObject({ code: 0, stdout: '{"n":1}\n' });
    const receipt = await mosquitto('mosquitto_pub', [
      ...base,
      ...as('ecc-1'),
      ...['-t', `${NOTIFICATIONS}/receipts`, '-m', '{}', '-q', '1'],
    ]);
    expect(receipt.code).toBe(0);
    const telemetry = await mosquitto('mosquitto_pub', [
      ...base,
      ...as('ecc-1'),
      ...['-t', OWN, '-m', '{}', '-q', '1'],
    ]);
    expect(telemetry.code).not.toBe(0);
    const fromClients = received.filter((m) => m.clientId !== null); // not the server's own
    expect(fromClients.map((m) => m.topic)).toEqual([`${NOTIFICATIONS}/receipts`]);
  });

  it('reads users from a YAML file and names a bad one', async () => {
    const file = join(dir, 'users.yaml');
    writeFileSync(
      file,
      `users:\n  - username: gw-01\n    role: gateway\n    enterpriseId: ent-01\n    passwordHash: "${users[0]?.passwordHash}"\n`,
    );
    const base = await startBroker({ auth: { mode: 'password', usersFile: file } });
    const ok = await mosquitto('mosquitto_pub', [
      ...base,
      ...as('gw-01'),
      ...['-t', OWN, '-m', 'x', '-q', '1'],
    ]);
    expect(ok.code).toBe(0);
    await broker.stop();
    const bad = join(dir, 'bad-users.yaml');
    writeFileSync(bad, '- username: gw-01\n  role: gateway\n  password: plain-text\n');
    broker = new MqttBroker({ port: 0, auth: { mode: 'password', usersFile: bad } });
    await expect(broker.start()).rejects.toThrow(
      /invalid MQTT users file '.*bad-users.yaml':\n {2}users\[0\]: must NOT have additional properties 'password'/,
    );
  });
});

describe('MQTT broker with mutual TLS', () => {
  const tlsArgs = (cert?: { cert: string; key: string }) => [
    '--cafile',
    pki.caCert,
    ...(cert ? ['--cert', cert.cert, '--key', cert.key] : []),
  ];
  const startTls = () =>
    startBroker({
      auth: { mode: 'mtls', users },
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caCert },
    });

  it('takes a gateway whose certificate CN is its client id, over TLS', async () => {
    const base = await startTls();
    const result = await mosquitto('mosquitto_pub', [
      ...base,
      ...tlsArgs(pki.client('gw-01')),
      ...['-i', 'gw-01', '-t', OWN, '-m', 'x', '-q', '1'],
    ]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    await waitFor(() => received.length === 1, 'the publish over TLS');
    expect(received[0]?.clientId).toBe('gw-01');
  });

  it("refuses another gateway's certificate for this client id", async () => {
    const base = await startTls();
    const result = await mosquitto('mosquitto_pub', [
      ...base,
      ...tlsArgs(pki.client('gw-02')),
      ...['-i', 'gw-01', '-t', OWN, '-m', 'x', '-q', '1'],
    ]);
    expect(result.stderr).toMatch(/identifier rejected/);
    expect(received).toEqual([]);
  });

  it('refuses a client without a certificate, or with one from another CA, during the handshake', async () => {
    const base = await startTls();
    for (const cert of [undefined, pki.rogue]) {
      const result = await mosquitto('mosquitto_pub', [
        ...base,
        ...tlsArgs(cert),
        ...['-i', 'gw-01', '-t', OWN, '-m', 'x', '-q', '1'],
      ]);
      expect(result.code).not.toBe(0);
    }
    expect(received).toEqual([]);
    await waitFor(() => events.filter((e) => e.kind === 'tls-refused').length === 2, 'refusals');
    // A plain-TCP client on the TLS port gets nowhere either.
    const plain = await mosquitto('mosquitto_pub', [
      ...base,
      ...['-i', 'gw-01', '-t', OWN, '-m', 'x', '-q', '1'],
    ]);
    expect(plain.code).not.toBe(0);
  });
});

describe('MQTT broker limits', () => {
  it('drops a client announcing an oversized packet, before buffering it, and keeps serving others', async () => {
    await startBroker({ maxPacketBytes: 64 * 1024 });
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const big = await mqtt.connectAsync(url, { clientId: 'gw-big', reconnectPeriod: 0 });
    const small = await mqtt.connectAsync(url, { clientId: 'gw-small', reconnectPeriod: 0 });
    try {
      const closed = new Promise<void>((resolve) => big.once('close', () => resolve()));
      big.publish(OWN, Buffer.alloc(65 * 1024, 'x'), { qos: 0 });
      await closed;
      await small.publishAsync(OWN, 'fine', { qos: 1 });
      await waitFor(() => received.length === 1, 'the small publish');
      expect(received[0]?.clientId).toBe('gw-small');
      expect(events[0]).toMatchObject({
        kind: 'packet-too-large',
        clientId: 'gw-big',
        reason: expect.stringMatching(/^packet of 66\d{3} bytes exceeds 65536$/),
      });
    } finally {
      big.end(true);
      await small.endAsync(true);
    }
  });

  it('drops a frozen subscriber after the drain timeout while another keeps receiving', async () => {
    await startBroker({ drainTimeoutMs: 300 });
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const topic = topicFor('ent-01', 'gw-01', 'command');
    const frozen = await mqtt.connectAsync(url, { clientId: 'frozen', reconnectPeriod: 0 });
    const healthy = await mqtt.connectAsync(url, { clientId: 'healthy', reconnectPeriod: 0 });
    try {
      await frozen.subscribeAsync(topic, { qos: 0 });
      await healthy.subscribeAsync(topic, { qos: 0 });
      let delivered = 0;
      healthy.on('message', () => {
        delivered++;
      });
      frozen.stream.pause(); // stops reading: its socket buffers fill up
      const frozenClosed = new Promise<void>((resolve) => frozen.once('close', () => resolve()));
      const payload = Buffer.alloc(256 * 1024, 'c');
      for (let i = 0; i < 40; i++) await broker.publish(topic, payload, { qos: 0 });
      await waitFor(() => events.some((e) => e.kind === 'drain-timeout'), 'the drain timeout');
      frozen.stream.resume();
      await frozenClosed;
      await waitFor(() => delivered === 40, 'every message at the healthy subscriber');
      expect(events.find((e) => e.kind === 'drain-timeout')?.clientId).toBe('frozen');
    } finally {
      frozen.end(true);
      await healthy.endAsync(true);
    }
  });
});
