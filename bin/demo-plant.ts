/**
 * `npm start`: the whole demo plant on embedded defaults (no external broker or
 * database). Flags win over environment variables:
 *
 *   --http-port     HAZARDWATCH_HTTP_PORT   dashboard and API        (8080)
 *   --mqtt-port     HAZARDWATCH_MQTT_PORT   embedded MQTT broker     (1883)
 *   --modbus-port   MODBUS_PORT             simulated gas detectors  (5020)
 *   --opcua-port    OPCUA_PORT              simulated tank farm      (4840)
 *   --receiver-port RECEIVER_PORT           simulated emergency centre (8090)
 *   --time-scale    TIME_SCALE              run the leak scenario n× faster (1)
 *   --store         HAZARDWATCH_STORE       SQLite file (data/hazardwatch.db)
 */
import { parseArgs } from 'node:util';
import { PortInUseError } from '../common/net.js';
import { demoAlarmTimes } from './demo-timings.js';
import { DEMO_PLANT_DEFAULTS, DemoPlant, type DemoPlantOptions } from './plant.js';

const flags = {
  'http-port': { env: 'HAZARDWATCH_HTTP_PORT', key: 'httpPort' },
  'mqtt-port': { env: 'HAZARDWATCH_MQTT_PORT', key: 'mqttPort' },
  'modbus-port': { env: 'MODBUS_PORT', key: 'modbusPort' },
  'opcua-port': { env: 'OPCUA_PORT', key: 'opcuaPort' },
  'receiver-port': { env: 'RECEIVER_PORT', key: 'receiverPort' },
} as const;

function usage(): string {
  return `usage: npm start -- [--http-port n] [--mqtt-port n] [--modbus-port n] [--opcua-port n] [--receiver-port n] [--time-scale n] [--store path]
defaults: http ${DEMO_PLANT_DEFAULTS.httpPort}, mqtt ${DEMO_PLANT_DEFAULTS.mqttPort}, modbus ${DEMO_PLANT_DEFAULTS.modbusPort}, opcua ${DEMO_PLANT_DEFAULTS.opcuaPort}, receiver ${DEMO_PLANT_DEFAULTS.receiverPort}; 0 picks a free port`;
}

function parseOptions(): DemoPlantOptions {
  const { values } = parseArgs({
    options: {
      'http-port': { type: 'string' },
      'mqtt-port': { type: 'string' },
      'modbus-port': { type: 'string' },
      'opcua-port': { type: 'string' },
      'receiver-port': { type: 'string' },
      'time-scale': { type: 'string' },
      store: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const options: DemoPlantOptions = {};
  for (const [flag, { env, key }] of Object.entries(flags)) {
    const text = values[flag as keyof typeof flags] ?? process.env[env];
    if (text === undefined || text === '') continue;
    const port = Number(text);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new Error(`--${flag} (or ${env}): must be a port number 0..65535 (got '${text}')`);
    }
    options[key] = port;
  }
  const timeScale = values['time-scale'] ?? process.env.TIME_SCALE;
  if (timeScale !== undefined) {
    const n = Number(timeScale);
    if (!(n > 0)) throw new Error(`--time-scale (or TIME_SCALE): must be > 0 (got '${timeScale}')`);
    options.timeScale = n;
  }
  const store = values.store ?? process.env.HAZARDWATCH_STORE;
  if (store) options.storePath = store;
  return options;
}

let options: DemoPlantOptions;
try {
  options = parseOptions();
} catch (err) {
  console.error(`error: ${(err as Error).message}\n${usage()}`);
  process.exit(2);
}

const plant = new DemoPlant(options);
try {
  await plant.start();
} catch (err) {
  if (err instanceof PortInUseError) {
    console.error(`error: ${err.message}`);
  } else {
    console.error('error: the demo plant did not start:', err);
  }
  process.exit(1);
}

// Signal handlers before the banner: whoever reads it may press Ctrl-C at once.
let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the demo plant...`);
  const force = setTimeout(() => {
    console.error('did not stop within 10 s; exiting');
    process.exit(1);
  }, 10_000);
  force.unref();
  try {
    await plant.stop();
    // The last line, written before exit so that a terminal (or a wrapper such as npm) that
    // stops reading when the process ends still shows that everything stopped.
    process.stdout.write('HazardWatch demo plant stopped.\n', () => process.exit(0));
  } catch (err) {
    console.error('error while stopping:', err);
    process.exit(1);
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

console.log(`
HazardWatch demo plant is running.
  Dashboard (regulators):        ${plant.dashboardUrl}      (?lang=en for English)
  Regulator platform:            ${plant.dashboardUrl}platform  (login regulator / demo-regulator)
  API documentation:             ${plant.dashboardUrl}docs
  Health:                        ${plant.dashboardUrl}api/v1/health
  Emergency-centre receiver:     ${plant.receiver.url}/
  MQTT broker (gateway uplink):  mqtt://127.0.0.1:${plant.server?.mqttPort}
  Modbus gas detectors:          127.0.0.1:${plant.gasDetector.port}
  OPC UA tank farm:              ${plant.tankFarm.endpointUrl}
${leakLine()}
Ctrl-C stops everything.
`);

/** The leak's timings, computed from the scenario and rule files (bin/demo-timings.ts). */
function leakLine(): string {
  if (options.scenario === null) return 'No leak scenario: the detectors show their baselines.';
  const scale = options.timeScale ?? 1;
  const { level1S, level2S, rule } = demoAlarmTimes(undefined, undefined, scale);
  return `A scripted methane leak raises a level-1 alarm (${rule.level1} %LEL) about ${Math.round(level1S)} s from now and a
level-2 alarm (${rule.level2} %LEL, which pages the emergency centre) about ${Math.round(level2S)} s from now.`;
}
