/**
 * Server config from the command line and environment (server/main.ts).
 * Ports: --http-port / --mqtt-port, else HAZARDWATCH_HTTP_PORT /
 * HAZARDWATCH_MQTT_PORT, else the config file, else the schema defaults.
 * HAZARDWATCH_NODE_ID, HAZARDWATCH_DATABASE_URL and HAZARDWATCH_BROKER_PASSWORD override
 * node.id, database.url and mqtt.password (per-node values and secrets, docs/cluster.md).
 */
import { parseArgs } from 'node:util';
import {
  environmentOverrides,
  loadServerConfig,
  parseServerConfig,
  type ServerConfig,
  withOverrides,
} from './server-config.js';

export const USAGE = 'usage: tsx server/main.ts [--config path] [--http-port n] [--mqtt-port n]';

/** A number when it looks like one, else the text, so the schema can name what is wrong. */
function portValue(text: string | undefined): number | string | undefined {
  if (text === undefined || text === '') return undefined;
  return /^\d+$/.test(text) ? Number(text) : text;
}

/** Null for --help. Throws ConfigError (or a parseArgs error) for bad input. */
export function configFromArgs(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      'http-port': { type: 'string' },
      'mqtt-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return null;
  // Per-node values and secrets from the environment first (docs/cluster.md), then the ports.
  const fromEnv = environmentOverrides(env);
  const overrides: {
    http?: { port: unknown };
    mqtt?: { port?: unknown; password?: string };
    node?: { id: string };
    database?: { url: string };
  } = { ...fromEnv };
  const httpPort = portValue(values['http-port'] ?? env.HAZARDWATCH_HTTP_PORT);
  const mqttPort = portValue(values['mqtt-port'] ?? env.HAZARDWATCH_MQTT_PORT);
  if (httpPort !== undefined) overrides.http = { port: httpPort };
  if (mqttPort !== undefined) overrides.mqtt = { ...fromEnv.mqtt, port: mqttPort };
  if (values.config) return loadServerConfig(values.config, overrides);
  return parseServerConfig(withOverrides({}, overrides), 'defaults and command line');
}
