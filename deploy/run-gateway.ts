/**
 * Container entry point of the gateway service in docker-compose.yml:
 *
 *   tsx deploy/run-gateway.ts <gateway config file>
 *
 * Loads and validates the config (HAZARDWATCH_MQTT_URL overrides uplink.url),
 * starts the gateway, and stops it cleanly on SIGINT/SIGTERM (a second signal
 * exits at once).
 */
import { createLogger } from '../common/logger.js';
import { loadGatewayConfig } from '../gateway/config/index.js';
import { Gateway } from '../gateway/gateway.js';

const log = createLogger('gateway.main');

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) {
    log.fatal('usage: tsx deploy/run-gateway.ts <gateway config file>');
    process.exitCode = 2;
    return;
  }
  let gateway: Gateway;
  try {
    gateway = new Gateway(loadGatewayConfig(file), { software: 'hazardwatch-gateway' });
  } catch (err) {
    log.fatal((err as Error).message);
    process.exitCode = 2;
    return;
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, 'stopping');
    gateway.stop().then(
      () => log.info('stopped'),
      (err: unknown) => {
        log.error({ err }, 'error while stopping');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  await gateway.start();
  log.info({ gatewayId: gateway.config.gateway.id, config: file }, 'gateway started');
}

await main();
