/**
 * The EMQX auth hook (server/api/broker-auth-routes.ts) under the attacks tests/cluster/
 * broker-auth.test.ts runs against mosquitto: wrong password, unknown and anonymous users,
 * another gateway's client id or topics, '#', '$SYS/#', the nodes' shared group. The hook
 * decides from the same users and MqttAccess rules as the embedded broker, so it refuses what
 * mosquitto's files cannot (a borrowed client id, a SUBSCRIBE it would not deliver).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fleetTopicFor, topicFor } from '../../protocol/index.js';
import {
  BROKER_AUTH_DEFAULTS,
  type BrokerHookRefusal,
  brokerAuthPlugin,
  brokerHookAccess,
} from '../../server/api/broker-auth-routes.js';
import { type MqttUser, userProblems } from '../../server/auth/config.js';
import { mosquittoAclFile, mosquittoPasswordFile } from '../../server/auth/mosquitto-files.js';
import { ConnectRefused, MqttAccess, serviceTopicRules } from '../../server/auth/mqtt-access.js';
import { hashPassword } from '../../server/auth/password.js';
import { NOTIFICATIONS, PASSWORDS, SERVICE, SERVICE_PASSWORD, testUsers } from './harness.js';

const SECRET = 'hook-secret-for-tests-only-0123456789abcdef';
const GW1_TELEMETRY = topicFor('ent-01', 'gw-01', 'telemetry');
const GW1_ACK = topicFor('ent-01', 'gw-01', 'ack');
const SHARED_TELEMETRY = `$share/${SERVICE.shareGroup}/hazardwatch/v1/+/+/telemetry`;
const NODE_CLIENT = `${SERVICE.username}-n1`;

let users: MqttUser[];
/** Enrolled by the fleet (server/fleet): the directory answers for it, not the users file. */
let enrolled: MqttUser;
beforeAll(async () => {
  enrolled = {
    username: 'gw-04',
    role: 'gateway',
    enterpriseId: 'ent-04',
    passwordHash: await hashPassword('gw-04-secret'),
  };
  users = [
    ...(await testUsers()),
    // The nodes' own identity in the users file (role 'service').
    {
      username: SERVICE.username,
      role: 'service',
      passwordHash: await hashPassword(SERVICE_PASSWORD),
    },
  ];
});

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function hook(): Promise<{ app: FastifyInstance; refusals: BrokerHookRefusal[] }> {
  const refusals: BrokerHookRefusal[] = [];
  const access = brokerHookAccess(
    { mode: 'password', users },
    SERVICE,
    // gw-04 is enrolled; gw-03 was enrolled and then revoked by the fleet.
    { find: (name) => (name === 'gw-03' ? 'revoked' : name === 'gw-04' ? enrolled : undefined) },
  );
  const app = Fastify();
  await app.register(brokerAuthPlugin, {
    prefix: '/api/v1/broker',
    access,
    secret: SECRET,
    onRefusal: (r) => refusals.push(r),
  });
  await app.ready();
  apps.push(app);
  return { app, refusals };
}

async function authenticate(
  app: FastifyInstance,
  clientid: string,
  username: string,
  password: string,
): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/broker/authenticate',
    headers: { [BROKER_AUTH_DEFAULTS.header]: SECRET },
    payload: { clientid, username, password },
  });
  expect(res.statusCode).toBe(200);
  const body = res.json() as { result: string; is_superuser: boolean };
  expect(body.is_superuser).toBe(false);
  return body.result;
}

async function authorize(
  app: FastifyInstance,
  clientid: string,
  username: string,
  action: 'publish' | 'subscribe',
  topic: string,
): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/broker/authorize',
    headers: { [BROKER_AUTH_DEFAULTS.header]: SECRET },
    payload: { clientid, username, topic, action, qos: 1 },
  });
  expect(res.statusCode).toBe(200);
  return (res.json() as { result: string }).result;
}

describe('EMQX auth hook: authentication', () => {
  it('lets a gateway, an emergency centre and a server node in with their own credentials and client ids', async () => {
    const { app, refusals } = await hook();
    expect(await authenticate(app, 'gw-01', 'gw-01', PASSWORDS['gw-01']!)).toBe('allow');
    expect(await authenticate(app, 'gw-01:fleet', 'gw-01', PASSWORDS['gw-01']!)).toBe('allow');
    expect(await authenticate(app, 'ecc-1', 'ecc-1', PASSWORDS['ecc-1']!)).toBe('allow');
    expect(await authenticate(app, NODE_CLIENT, SERVICE.username, SERVICE_PASSWORD)).toBe('allow');
    expect(await authenticate(app, 'gw-04', 'gw-04', 'gw-04-secret')).toBe('allow');
    expect(
      await authorize(app, 'gw-04', 'gw-04', 'publish', topicFor('ent-04', 'gw-04', 'telemetry')),
    ).toBe('allow');
    expect(refusals).toEqual([]);
  });

  it('refuses a wrong password, an unknown user, an anonymous client, the service password for a gateway and a revoked gateway', async () => {
    const { app, refusals } = await hook();
    const results = {
      wrongPassword: await authenticate(app, 'gw-01', 'gw-01', 'guess'),
      unknownUser: await authenticate(app, 'gw-99', 'gw-99', 'x'),
      anonymous: await authenticate(app, 'gw-01', '', ''),
      servicePassword: await authenticate(app, 'gw-01', 'gw-01', SERVICE_PASSWORD),
      revoked: await authenticate(app, 'gw-03', 'gw-03', 'gw-03-secret'),
    };
    expect(results).toEqual({
      wrongPassword: 'deny',
      unknownUser: 'deny',
      anonymous: 'deny',
      servicePassword: 'deny',
      revoked: 'deny',
    });
    expect(refusals.map((r) => `${r.event}: ${r.reason}`)).toEqual([
      "connect-refused: wrong password for 'gw-01'",
      "connect-refused: unknown user 'gw-99'",
      'connect-refused: username and password required',
      "connect-refused: wrong password for 'gw-01'",
      "connect-refused: gateway 'gw-03' is revoked",
    ]);
  });

  it("refuses a gateway under another gateway's client id (mosquitto's files accept it), and a node id that is no id", async () => {
    const { app } = await hook();
    expect(await authenticate(app, 'gw-01', 'gw-02', PASSWORDS['gw-02']!)).toBe('deny');
    expect(await authenticate(app, 'gw-02:fleet', 'gw-01', PASSWORDS['gw-01']!)).toBe('deny');
    // A gateway cannot borrow the nodes' client-id form either.
    expect(await authenticate(app, 'gw-01-n1', 'gw-01', PASSWORDS['gw-01']!)).toBe('deny');
    expect(
      await authenticate(app, `${SERVICE.username}-`, SERVICE.username, SERVICE_PASSWORD),
    ).toBe('deny');
  });
});

describe('EMQX auth hook: authorization', () => {
  it("gives a gateway its own channels only: another gateway's topics, acks and the nodes' topics are denied", async () => {
    const { app, refusals } = await hook();
    const pub = (clientid: string, user: string, topic: string) =>
      authorize(app, clientid, user, 'publish', topic);
    expect(await pub('gw-01', 'gw-01', GW1_TELEMETRY)).toBe('allow');
    expect(await pub('gw-01:fleet', 'gw-01', fleetTopicFor('ent-01', 'gw-01', 'health'))).toBe(
      'allow',
    );
    expect({
      otherGatewaysTelemetry: await pub('gw-02', 'gw-02', GW1_TELEMETRY),
      ownIdUnderOtherEnterprise: await pub('gw-02', 'gw-02', topicFor('ent-02', 'gw-01', 'alarm')),
      storeAck: await pub('gw-01', 'gw-01', GW1_ACK),
      command: await pub('gw-01', 'gw-01', topicFor('ent-01', 'gw-01', 'command')),
      emergency: await pub('gw-01', 'gw-01', NOTIFICATIONS),
      wildcardTopic: await pub('gw-01', 'gw-01', 'hazardwatch/v1/ent-01/+/telemetry'),
      fleetChannelOnMainConnection: await pub(
        'gw-01',
        'gw-01',
        fleetTopicFor('ent-01', 'gw-01', 'health'),
      ),
    }).toEqual({
      otherGatewaysTelemetry: 'deny',
      ownIdUnderOtherEnterprise: 'deny',
      storeAck: 'deny',
      command: 'deny',
      emergency: 'deny',
      wildcardTopic: 'deny',
      fleetChannelOnMainConnection: 'deny',
    });
    expect(refusals[0]).toEqual({
      event: 'publish-refused',
      reason: "'gw-02' may not publish here",
      clientId: 'gw-02',
      username: 'gw-02',
      topic: GW1_TELEMETRY,
    });
  });

  it("refuses SUBSCRIBE to '#', '$SYS/#', another gateway's ack, '+/+/+/+/+' and the nodes' shared group (mosquitto grants these and filters deliveries)", async () => {
    const { app } = await hook();
    const sub = (topic: string) => authorize(app, 'gw-02', 'gw-02', 'subscribe', topic);
    expect(await sub(topicFor('ent-02', 'gw-02', 'ack'))).toBe('allow');
    expect(await sub(topicFor('ent-02', 'gw-02', 'command'))).toBe('allow');
    const results = await Promise.all(
      ['#', '$SYS/#', GW1_ACK, '+/+/+/+/+', SHARED_TELEMETRY, 'hazardwatch/v1/+/+/telemetry'].map(
        sub,
      ),
    );
    expect(results).toEqual(['deny', 'deny', 'deny', 'deny', 'deny', 'deny']);
  });

  it("denies everything to a borrowed client id, an unknown user and a revoked gateway, even on the victim's own topics", async () => {
    const { app, refusals } = await hook();
    expect(await authorize(app, 'gw-01', 'gw-02', 'subscribe', GW1_ACK)).toBe('deny');
    expect(await authorize(app, 'gw-01', 'gw-02', 'publish', GW1_TELEMETRY)).toBe('deny');
    expect(await authorize(app, 'gw-99', 'gw-99', 'publish', GW1_TELEMETRY)).toBe('deny');
    expect(
      await authorize(app, 'gw-03', 'gw-03', 'publish', topicFor('ent-03', 'gw-03', 'telemetry')),
    ).toBe('deny');
    expect(refusals[0]?.reason).toBe(
      "'gw-02' with client id 'gw-01' is no identity of the users file",
    );
  });

  it('gives an emergency centre exactly its listed topics', async () => {
    const { app } = await hook();
    const ecc = (action: 'publish' | 'subscribe', topic: string) =>
      authorize(app, 'ecc-1', 'ecc-1', action, topic);
    expect(await ecc('subscribe', NOTIFICATIONS)).toBe('allow');
    expect(await ecc('publish', `${NOTIFICATIONS}/receipts`)).toBe('allow');
    expect(await ecc('publish', NOTIFICATIONS)).toBe('deny');
    expect(await ecc('publish', GW1_TELEMETRY)).toBe('deny');
    expect(await ecc('subscribe', `${NOTIFICATIONS}/#`)).toBe('deny');
  });

  it("gives the server nodes the service rules mosquitto's acl_file gets: the shared group, acks, commands, anchors; not a gateway's voice, not '#'", async () => {
    const { app } = await hook();
    const node = (action: 'publish' | 'subscribe', topic: string) =>
      authorize(app, NODE_CLIENT, SERVICE.username, action, topic);
    expect({
      sharedTelemetry: await node('subscribe', SHARED_TELEMETRY),
      // EMQX may present the filter with its $share prefix stripped.
      strippedTelemetry: await node('subscribe', 'hazardwatch/v1/+/+/telemetry'),
      receipts: await node('subscribe', `$share/${SERVICE.shareGroup}/${NOTIFICATIONS}/receipts`),
      ack: await node('publish', GW1_ACK),
      command: await node('publish', topicFor('ent-02', 'gw-02', 'command')),
      emergency: await node('publish', NOTIFICATIONS),
      anchor: await node('publish', SERVICE.anchorTopic),
    }).toEqual({
      sharedTelemetry: 'allow',
      strippedTelemetry: 'allow',
      receipts: 'allow',
      ack: 'allow',
      command: 'allow',
      emergency: 'allow',
      anchor: 'allow',
    });
    expect({
      gatewaysTelemetry: await node('publish', GW1_TELEMETRY),
      everything: await node('subscribe', '#'),
      otherGroup: await node('subscribe', '$share/intruders/hazardwatch/v1/+/+/telemetry'),
      sys: await node('subscribe', '$SYS/#'),
      acksOfAll: await node('subscribe', 'hazardwatch/v1/+/+/ack'),
      wildcardPublish: await node('publish', 'hazardwatch/v1/+/+/ack'),
    }).toEqual({
      gatewaysTelemetry: 'deny',
      everything: 'deny',
      otherGroup: 'deny',
      sys: 'deny',
      acksOfAll: 'deny',
      wildcardPublish: 'deny',
    });
  });
});

describe('EMQX auth hook: who may ask', () => {
  it('answers 401 without the shared secret or with a wrong one, and 400 for a body outside the schema', async () => {
    const { app, refusals } = await hook();
    const payload = { clientid: 'gw-01', username: 'gw-01', password: PASSWORDS['gw-01'] };
    const none = await app.inject({ method: 'POST', url: '/api/v1/broker/authenticate', payload });
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/v1/broker/authenticate',
      headers: { [BROKER_AUTH_DEFAULTS.header]: `${SECRET}x` },
      payload,
    });
    expect([none.statusCode, wrong.statusCode]).toEqual([401, 401]);
    expect(none.json()).toMatchObject({ code: 'HW_UNAUTHORIZED' });
    expect(refusals.map((r) => r.reason)).toEqual([
      `no ${BROKER_AUTH_DEFAULTS.header} header`,
      `wrong ${BROKER_AUTH_DEFAULTS.header} header`,
    ]);
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/broker/authorize',
      headers: { [BROKER_AUTH_DEFAULTS.header]: SECRET },
      payload: { clientid: 'gw-01', username: 'gw-01', topic: GW1_TELEMETRY, action: 'all' },
    });
    expect(bad.statusCode).toBe(400);
  });

  it('refuses a short secret and an auth mode that lets everyone in, by name', async () => {
    const app = Fastify();
    apps.push(app);
    await expect(
      app.register(brokerAuthPlugin, {
        access: new MqttAccess({ mode: 'password', users: [] }),
        secret: 'short',
      }),
    ).rejects.toThrow('at least 32 characters (got 5)');
    expect(() => brokerHookAccess({ mode: 'none', users: [] }, SERVICE)).toThrow(
      "needs mqtt.auth.mode 'password' or 'mtls'",
    );
  });
});

describe("role 'service' outside the hook", () => {
  it('the embedded broker (no service topics) refuses a service identity by name', async () => {
    const access = new MqttAccess({ mode: 'password', users });
    await expect(
      access.authenticate(NODE_CLIENT, SERVICE.username, Buffer.from(SERVICE_PASSWORD), undefined),
    ).rejects.toThrow(ConnectRefused);
    expect(access.identify(NODE_CLIENT, SERVICE.username)).toBeNull();
  });

  it('a service identity with rights of its own is a config problem', () => {
    const problems = userProblems(
      [{ username: 'node', role: 'service', enterpriseId: 'ent-01', publish: ['#'] }],
      'none',
      'users',
    );
    expect(problems).toEqual([
      "users[0].enterpriseId: a service identity's rights are fixed; remove 'enterpriseId'",
      "users[0].publish: a service identity's rights are fixed; remove 'publish'",
    ]);
  });

  it("mosquitto's acl_file grants the service exactly the hook's rules, whether or not the users file lists it", () => {
    const rules = serviceTopicRules(SERVICE);
    const block = (acl: string) =>
      acl
        .slice(acl.indexOf(`user ${SERVICE.username}`))
        .trim()
        .split('\n');
    const expected = [
      `user ${SERVICE.username}`,
      ...rules.write.map((t) => `topic write ${t}`),
      ...rules.read.map((t) => `topic read ${t}`),
    ];
    expect(block(mosquittoAclFile(users, SERVICE))).toEqual(expected);
    const withoutService = users.filter((u) => u.role !== 'service');
    expect(mosquittoAclFile(users, SERVICE)).toBe(mosquittoAclFile(withoutService, SERVICE));
  });

  it("mosquitto's password file writes a listed service identity once, and refuses a second one by name", async () => {
    const file = await mosquittoPasswordFile(users, PASSWORDS, {
      username: SERVICE.username,
      password: undefined,
    });
    const names = file
      .trim()
      .split('\n')
      .map((line) => line.split(':')[0]);
    expect(names).toEqual(['gw-01', 'gw-02', 'ecc-1', SERVICE.username]);
    await expect(
      mosquittoPasswordFile(
        [
          ...users,
          { username: 'other-node', role: 'service', passwordHash: users[0]!.passwordHash! },
        ],
        { ...PASSWORDS, 'other-node': PASSWORDS['gw-01']! },
        { username: SERVICE.username, password: undefined },
      ),
    ).rejects.toThrow("other-node: a service identity other than 'hazardwatch-node' (--service)");
  });
});
