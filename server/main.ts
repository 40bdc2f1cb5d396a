/**
 * Command line: `tsx server/main.ts [--config path] [--http-port n] [--mqtt-port n]`.
 *
 * Ports: --http-port / --mqtt-port, else HAZARDWATCH_HTTP_PORT /
 * HAZARDWATCH_MQTT_PORT, else the config file, else 8080 / 1883. Without
 * --config every setting has its default (SQLite at data/hazardwatch.db).
 * SIGINT or SIGTERM stops cleanly; a second one exits at once.
 */
import { createLogger } from '../common/logger.js';
import { CentralServer } from './central-server.js';
import { configFromArgs, type ServerConfig, USAGE } from './config/index.js';

const log = createLogger('server.main');

async function main(): Promise<void> {
  let config: ServerConfig | null;
  try {
    config = configFromArgs(process.argv.slice(2), process.env);
  } catch (err) {
    // A person reads these: plain text on stderr, not a JSON log line.
    process.stderr.write(`error: ${(err as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (!config) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  const server = new CentralServer(config);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without a clean stop');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    server.stop().then(
      () => log.info('stopped'),
      (err: unknown) => {
        log.error({ err }, 'error while stopping');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  try {
    await server.start();
  } catch (err) {
    log.fatal({ err }, (err as Error).message);
    process.exitCode = 1;
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
    return;
  }
  log.info(
    { dashboard: `http://${config.http.host}:${server.httpPort}/`, mqtt: server.mqttPort },
    'ready',
  );
}

await main();
