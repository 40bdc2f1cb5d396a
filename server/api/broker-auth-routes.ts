/**
 * EMQX's HTTP authentication and authorization hook (cluster mode, docs/cluster.md "EMQX auth
 * hook"): the broker asks these routes at every CONNECT and at every publish and subscribe it
 * has not cached, and they answer from the same users file and the same topic rules the
 * embedded broker applies (server/auth/mqtt-access.ts), so no gateway gains a permission it
 * did not have there. Unlike mosquitto's files, this binds the client id to the username
 * (a gateway cannot take over another's session) and refuses a SUBSCRIBE it would not deliver.
 *
 *   POST /api/v1/broker/authenticate  { clientid, username, password }
 *        → 200 { result: 'allow' | 'deny', is_superuser: false }
 *   POST /api/v1/broker/authorize     { clientid, username, topic, action: publish|subscribe }
 *        → 200 { result: 'allow' | 'deny' }
 *
 * Only the brokers may ask: every request carries the shared secret (config
 * `mqtt.authHookSecret`, or HAZARDWATCH_BROKER_HOOK_SECRET) in the `x-hazardwatch-hook-secret`
 * header, compared in constant time; without it: 401. A body that breaks the schema: 400.
 * EMQX reads any answer but 200/204 as "ignore", so its config must end the chain in deny
 * (`authorization.no_match = deny`; docs/cluster.md): an unreachable or refusing hook then
 * denies, it never opens the broker.
 *
 * Wiring (left to the lead), in server/api/app.ts after the platform routes, one line:
 *   if (deps.brokerAuth) void app.register(brokerAuthPlugin, { prefix: '/api/v1/broker', ...deps.brokerAuth });
 * with `AppDeps.brokerAuth?: BrokerAuthOptions`, which the central server builds in external
 * mode when the secret is set:
 *   brokerAuth: {
 *     access: brokerHookAccess(config.mqtt.auth, {
 *       shareGroup: config.mqtt.shareGroup ?? EXTERNAL_BROKER_DEFAULTS.shareGroup,
 *       emergencyTopic: config.platform.emergencyTopic, anchorTopic: config.ledger.anchorTopic,
 *     }, this.fleet.directory),
 *     secret: config.mqtt.authHookSecret,
 *     onRefusal: (e) => this.audit.record({ category: 'broker', ...e }),
 *   }
 * The service identity is then a user of the users file with role 'service' (its username is
 * mqtt.username), and the routes are `public` for the platform's token hook: the secret is
 * their authentication.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MqttAuthConfig } from '../auth/config.js';
import {
  ConnectRefused,
  loadUsersFile,
  MqttAccess,
  type MqttUserDirectory,
  type ServiceTopics,
} from '../auth/mqtt-access.js';
import { errorBody, errorBodySchema } from './errors.js';
import type { FromSchema, RoutePlugin } from './typed.js';

export const BROKER_AUTH_DEFAULTS = {
  header: 'x-hazardwatch-hook-secret',
  minSecretLength: 32, // characters: a generated secret (hash-password.ts prints 256 bits)
} as const;

/** A refusal, for the audit log (category 'broker'). */
export interface BrokerHookRefusal {
  event: 'connect-refused' | 'publish-refused' | 'subscribe-refused' | 'hook-unauthorized';
  reason: string;
  clientId?: string;
  username?: string;
  topic?: string;
  remoteAddress?: string;
}

export interface BrokerAuthOptions {
  access: MqttAccess;
  /** The shared secret every request carries in `x-hazardwatch-hook-secret`. */
  secret: string;
  onRefusal?: (refusal: BrokerHookRefusal) => void;
}

/**
 * The MqttAccess the hook decides with: the configured users and users file (read now, as the
 * embedded broker reads it at start), the fleet's enrolled gateways, and the service topics.
 * Throws on mode 'none' (a hook that allows everything), naming it.
 */
export function brokerHookAccess(
  auth: MqttAuthConfig,
  service: ServiceTopics,
  directory?: MqttUserDirectory,
): MqttAccess {
  if (auth.mode === 'none') {
    throw new Error(
      "the EMQX auth hook needs mqtt.auth.mode 'password' or 'mtls'; 'none' would let every client in",
    );
  }
  const users = [...auth.users];
  if (auth.usersFile) users.push(...loadUsersFile(auth.usersFile, auth.mode));
  return new MqttAccess({
    mode: auth.mode,
    users,
    service,
    ...(directory ? { directory } : {}),
  });
}

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

// MQTT 5 caps a client id, username or topic at 65,535 bytes [MQTT-1.5.4]; no real one nears it.
const text = (maxLength: number) => ({ type: 'string', maxLength }) as const;

const authenticateSchema = {
  description:
    "EMQX HTTP authentication: whether this CONNECT may open a session (same users and rules as the embedded broker; the client id must be the user's).",
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['clientid', 'username', 'password'],
    properties: {
      clientid: text(256),
      username: text(256),
      password: text(1024),
      /** mtls: the verified client certificate's CN (EMQX `${cert_common_name}`). */
      cert_common_name: text(256),
      peerhost: text(64),
    },
  },
  response: {
    200: {
      type: 'object',
      additionalProperties: false,
      required: ['result', 'is_superuser'],
      properties: {
        result: { type: 'string', enum: ['allow', 'deny'] },
        is_superuser: { type: 'boolean', enum: [false] },
      },
    },
    400: errorBodySchema,
    401: errorBodySchema,
  },
} as const;

const authorizeSchema = {
  description:
    'EMQX HTTP authorization: whether this client may publish to or subscribe to this topic (wildcards and $-topics only as the rules grant).',
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['clientid', 'username', 'topic', 'action'],
    properties: {
      clientid: text(256),
      username: text(256),
      topic: { type: 'string', minLength: 1, maxLength: 1024 },
      action: { type: 'string', enum: ['publish', 'subscribe'] },
      peerhost: text(64),
      qos: { type: ['integer', 'string'] },
      retain: { type: ['boolean', 'string'] },
    },
  },
  response: {
    200: {
      type: 'object',
      additionalProperties: false,
      required: ['result'],
      properties: { result: { type: 'string', enum: ['allow', 'deny'] } },
    },
    400: errorBodySchema,
    401: errorBodySchema,
  },
} as const;

type AuthenticateReply = FromSchema<(typeof authenticateSchema.response)[200]>;
type AuthorizeReply = FromSchema<(typeof authorizeSchema.response)[200]>;

export const brokerAuthPlugin: RoutePlugin<BrokerAuthOptions> = (app, options, done) => {
  if (options.secret.length < BROKER_AUTH_DEFAULTS.minSecretLength) {
    done(
      new Error(
        `broker auth hook: the shared secret must be at least ${BROKER_AUTH_DEFAULTS.minSecretLength} characters (got ${options.secret.length})`,
      ),
    );
    return;
  }
  const { access } = options;
  const refuse = (refusal: BrokerHookRefusal) => options.onRefusal?.(refusal);

  // Encapsulated: only the hook's routes ask for the secret.
  app.addHook('onRequest', async (request, reply) => {
    const given = request.headers[BROKER_AUTH_DEFAULTS.header];
    if (typeof given === 'string' && sameSecret(given, options.secret)) return;
    refuse({
      event: 'hook-unauthorized',
      reason: `${given === undefined ? 'no' : 'wrong'} ${BROKER_AUTH_DEFAULTS.header} header`,
      remoteAddress: request.ip,
    });
    return reply
      .code(401)
      .send(
        errorBody(
          401,
          'HW_UNAUTHORIZED',
          `the broker hook needs the shared secret in ${BROKER_AUTH_DEFAULTS.header}`,
        ),
      );
  });

  app.post(
    '/authenticate',
    { schema: authenticateSchema, config: { public: true } },
    async (request): Promise<AuthenticateReply> => {
      const b = request.body;
      try {
        await access.authenticate(
          b.clientid,
          b.username,
          Buffer.from(b.password, 'utf8'),
          b.cert_common_name,
        );
        return { result: 'allow', is_superuser: false };
      } catch (err) {
        if (!(err instanceof ConnectRefused)) throw err;
        refuse({
          event: 'connect-refused',
          reason: err.reason,
          clientId: b.clientid,
          username: b.username,
          ...(b.peerhost ? { remoteAddress: b.peerhost } : {}),
        });
        return { result: 'deny', is_superuser: false };
      }
    },
  );

  app.post(
    '/authorize',
    { schema: authorizeSchema, config: { public: true } },
    async (request): Promise<AuthorizeReply> => {
      const b = request.body;
      const identity = access.identify(b.clientid, b.username);
      const allowed =
        identity !== null &&
        (b.action === 'publish'
          ? access.mayPublish(identity, b.topic)
          : access.maySubscribe(identity, b.topic));
      if (allowed) return { result: 'allow' };
      refuse({
        event: b.action === 'publish' ? 'publish-refused' : 'subscribe-refused',
        reason:
          identity === null
            ? `'${b.username.slice(0, 64)}' with client id '${b.clientid.slice(0, 64)}' is no identity of the users file`
            : `'${identity.username}' may not ${b.action} here`,
        clientId: b.clientid,
        username: b.username,
        topic: b.topic,
        ...(b.peerhost ? { remoteAddress: b.peerhost } : {}),
      });
      return { result: 'deny' };
    },
  );
  done();
};
