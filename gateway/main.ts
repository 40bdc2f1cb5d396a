/**
 * The gateway as a process:
 *
 *   tsx gateway/main.ts --config gateway.yaml [--data-dir /var/lib/hazardwatch]
 *   tsx gateway/main.ts trust-server [--data-dir <folder>] [<thumbprint|file>]
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
import { dataDirOptions, Gateway } from './gateway.js';
import { runTrustServer } from './trust-server.js';

const log = createLogger('gateway.main');
const USAGE = `usage: tsx gateway/main.ts --config <gateway.yaml> [--data-dir <folder>]
       tsx gateway/main.ts trust-server [--data-dir <folder>] [--pki-dir <folder>] [<thumbprint|file>]`;

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

if (process.argv[2] === 'trust-server') process.exit(runTrustServer(process.argv.slice(3)));

let values: { config?: string; 'data-dir'?: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`, 2);
}
if (values.help) fail(USAGE, 0);
if (!values.config) fail(`--config is required\n${USAGE}`, 2);

const dataDir = values['data-dir'] ?? process.env.HAZARDWATCH_DATA_DIR ?? 'data/gateway';
let gateway: Gateway;
try {
  const config = loadGatewayConfig(values.config);
  mkdirSync(dataDir, { recursive: true });
  const files = dataDirOptions(dataDir);
  // An outbox path in the config wins over the data folder's default.
  if (config.uplink.outbox?.path) delete files.outboxPath;
  gateway = new Gateway(config, { ...files, software: 'hazardwatch-gateway' });
} catch (err) {
  if (err instanceof ConfigError || err instanceof RuleFileError) fail(err.message, 2);
  throw err;
}
await gateway.start();

process.on('SIGHUP', () => {
  // Off the alarm path: the files are read and checked in a worker, then swapped in at once.
  void gateway.reloadRulesInBackground().then((result) => {
    if (result.ok) log.info({ rules: result.rules }, 'rules reloaded on SIGHUP');
    else log.error({ problems: result.problems }, 'rule reload refused; previous rules stay');
  });
});
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    gateway.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'gateway did not stop cleanly');
        process.exit(1);
      },
    );
  });
}
