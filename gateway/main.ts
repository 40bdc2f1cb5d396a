/**
 * The gateway as a process:
 *
 *   tsx gateway/main.ts --config gateway.yaml [--data-dir /var/lib/hazardwatch]
 *   tsx gateway/main.ts --server https://platform.example --token <token> [--data-dir <folder>]
 *   tsx gateway/main.ts [--data-dir <folder>]          (managed: enrolled before)
 *   tsx gateway/main.ts trust-server [--data-dir <folder>] [<thumbprint|file>]
 *   node dist/gateway/main.js ...                      (the compiled build: npm run build)
 *
 * Managed by the server (docs/fleet.md): started once with the server's address and a
 * one-time token, the gateway enrols (its key pair and identity stay in
 * `<data-dir>/fleet/`, 0600), then runs the version the server pushes, reports health and
 * answers remote commands. Later starts need only the data folder. A refused token stops
 * startup (exit 2) naming why.
 *
 * `trust-server` lists the OPC UA server certificates the gateway refused, or trusts one
 * (gateway/trust-server.ts); the running gateway connects at its next attempt.
 *
 * The data folder keeps the outbox (unless the config names its own file), the
 * alarm state and the OPC UA certificates (default `data/gateway` under the
 * working directory; also HAZARDWATCH_DATA_DIR). A bad config or rule
 * file stops startup with every problem listed (exit 2). SIGHUP reloads the rule
 * files (a refused set keeps the old rules running); SIGINT/SIGTERM stop cleanly.
 */
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger } from '../common/logger.js';
import { RuleFileError } from '../edge/index.js';
import { ConfigError, loadGatewayConfig } from './config/index.js';
import { FleetAgent } from './fleet/agent.js';
import {
  absoluteTls,
  EnrolmentError,
  enrolGateway,
  readIdentity,
  writeIdentity,
} from './fleet/identity.js';
import { dataDirOptions, Gateway } from './gateway.js';
import { runTrustServer } from './trust-server.js';
import type { MqttUplinkTls } from './uplink/tls.js';

const log = createLogger('gateway.main');
const USAGE = `usage: tsx gateway/main.ts --config <gateway.yaml> [--data-dir <folder>]
       tsx gateway/main.ts --server <url> --token <enrolment token> [--gateway-id <id>] [--data-dir <folder>]
                           [--ca-file <pem>] [--cert-file <pem> --key-file <pem>]
       tsx gateway/main.ts [--data-dir <folder>]   (managed by the server: enrolled before)
       tsx gateway/main.ts trust-server [--data-dir <folder>] [--pki-dir <folder>] [<thumbprint|file>]`;

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

if (process.argv[2] === 'trust-server') process.exit(runTrustServer(process.argv.slice(3)));

let values: {
  config?: string;
  'data-dir'?: string;
  server?: string;
  token?: string;
  'gateway-id'?: string;
  'ca-file'?: string;
  'cert-file'?: string;
  'key-file'?: string;
  help?: boolean;
};
try {
  ({ values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      server: { type: 'string' },
      token: { type: 'string' },
      'gateway-id': { type: 'string' },
      // Managed gateways: the broker's private CA (and a client certificate), kept in the identity.
      'ca-file': { type: 'string' },
      'cert-file': { type: 'string' },
      'key-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`, 2);
}
if (values.help) fail(USAGE, 0);
const dataDir = values['data-dir'] ?? process.env.HAZARDWATCH_DATA_DIR ?? 'data/gateway';
const software = 'hazardwatch-gateway';

/** Runs until SIGINT/SIGTERM; SIGHUP reloads the rule files (a refused set keeps the old rules). */
function onSignals(reload: () => Promise<{ ok: boolean }>, stop: () => Promise<void>): void {
  process.on('SIGHUP', () => {
    // Off the alarm path: the files are read and checked in a worker, then swapped in at once.
    void reload().then((result) => {
      if (result.ok) log.info({ result }, 'rules reloaded on SIGHUP');
      else log.error({ result }, 'rule reload refused; previous rules stay');
    });
  });
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'gateway did not stop cleanly');
          process.exit(1);
        },
      );
    });
  }
}

/** --ca-file, --cert-file, --key-file as uplink TLS settings (undefined when none is given). */
function tlsFlags(): MqttUplinkTls | undefined {
  const tls: MqttUplinkTls = {
    ...(values['ca-file'] ? { caFile: values['ca-file'] } : {}),
    ...(values['cert-file'] ? { certFile: values['cert-file'] } : {}),
    ...(values['key-file'] ? { keyFile: values['key-file'] } : {}),
  };
  if (Object.keys(tls).length === 0) return undefined;
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    fail(`--cert-file and --key-file go together\n${USAGE}`, 2);
  }
  return tls;
}

if (values.config) {
  let gateway: Gateway;
  try {
    const config = loadGatewayConfig(values.config);
    mkdirSync(dataDir, { recursive: true });
    const files = dataDirOptions(dataDir);
    // An outbox path in the config wins over the data folder's default.
    if (config.uplink.outbox?.path) delete files.outboxPath;
    gateway = new Gateway(config, { ...files, software });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof RuleFileError) fail(err.message, 2);
    throw err;
  }
  await gateway.start();
  onSignals(
    () => gateway.reloadRulesInBackground(),
    () => gateway.stop(),
  );
} else {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let identity = readIdentity(dataDir);
  let pushed = null;
  if (!identity) {
    if (!values.server || !values.token)
      fail(
        `not enrolled in '${dataDir}': give --server and --token (or --config for an unmanaged gateway)\n${USAGE}`,
        2,
      );
    try {
      ({ identity, config: pushed } = await enrolGateway({
        serverUrl: values.server,
        token: values.token,
        dataDir,
        ...(values['gateway-id'] ? { gatewayId: values['gateway-id'] } : {}),
        ...(tlsFlags() ? { tls: tlsFlags()! } : {}),
      }));
    } catch (err) {
      if (err instanceof EnrolmentError) fail(err.message, 2);
      throw err;
    }
    log.info({ gatewayId: identity.gatewayId, enterpriseId: identity.enterpriseId }, 'enrolled');
  } else if (values.token) {
    log.warn({ gatewayId: identity.gatewayId }, 'already enrolled; --token ignored');
  }
  const tls = tlsFlags();
  if (tls && !values.token) {
    // Given again after enrolment (a renewed CA, say): kept for the next starts too.
    identity = { ...identity, tls: absoluteTls(tls) };
    writeIdentity(dataDir, identity);
    log.info({ gatewayId: identity.gatewayId }, 'fleet TLS files updated in the identity');
  }
  const agent = new FleetAgent({ identity, dataDir, software });
  await agent.start();
  if (pushed) await agent.apply(pushed);
  onSignals(
    () => agent.reloadRules(),
    () => agent.stop(),
  );
}
