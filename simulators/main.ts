/**
 * Starts the three simulated peers for a demo or a manual test:
 *
 *   tsx simulators/main.ts [--host 127.0.0.1] [--modbus-port 5020] [--opcua-port 4840]
 *                          [--receiver-port 8090] [--secret ...] [--scenario path|none]
 *                          [--time-scale n]
 *
 * Every flag has an environment variable (flag wins): SIM_HOST, MODBUS_PORT, OPCUA_PORT,
 * RECEIVER_PORT, RECEIVER_SECRET, SCENARIO, TIME_SCALE. Stops cleanly on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { PortInUseError } from '../common/net.js';
import { bundledScenarioPath, loadScenario, type Scenario } from './scenario.js';

const DEFAULTS = {
  host: '127.0.0.1',
  modbusPort: 5020, // 502 needs root
  opcuaPort: 4840, // IANA port for OPC UA
  receiverPort: 8090,
  secret: 'hazardwatch-demo-secret', // demo only: set RECEIVER_SECRET for anything real
  scenario: bundledScenarioPath('demo-leak'),
  timeScale: 1,
};

interface Setting {
  flag: string;
  env: string;
}

const SETTINGS = {
  host: { flag: '--host', env: 'SIM_HOST' },
  modbusPort: { flag: '--modbus-port', env: 'MODBUS_PORT' },
  opcuaPort: { flag: '--opcua-port', env: 'OPCUA_PORT' },
  receiverPort: { flag: '--receiver-port', env: 'RECEIVER_PORT' },
  secret: { flag: '--secret', env: 'RECEIVER_SECRET' },
  scenario: { flag: '--scenario', env: 'SCENARIO' },
  timeScale: { flag: '--time-scale', env: 'TIME_SCALE' },
} satisfies Record<keyof typeof DEFAULTS, Setting>;

const HELP = `Usage: tsx simulators/main.ts [options]

  --host <addr>           interface to bind            (SIM_HOST, default ${DEFAULTS.host})
  --modbus-port <n>       Modbus TCP gas detector      (MODBUS_PORT, default ${DEFAULTS.modbusPort})
  --opcua-port <n>        OPC UA tank farm             (OPCUA_PORT, default ${DEFAULTS.opcuaPort})
  --receiver-port <n>     emergency-centre receiver    (RECEIVER_PORT, default ${DEFAULTS.receiverPort})
  --secret <s>            webhook HMAC secret          (RECEIVER_SECRET, default a demo secret)
  --scenario <path|none>  gas detector scenario file   (SCENARIO, default simulators/scenarios/demo-leak.yaml)
  --time-scale <n>        run the scenario n× faster   (TIME_SCALE, default ${DEFAULTS.timeScale})
  --help
Port 0 picks a free port.`;

class UsageError extends Error {}

function hint(setting: Setting): string {
  return `${setting.flag} or ${setting.env}`;
}

function pick(value: string | undefined, setting: Setting): string | undefined {
  return value ?? process.env[setting.env];
}

function portSetting(value: string | undefined, setting: Setting, fallback: number): number {
  const raw = pick(value, setting);
  if (raw === undefined) return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${hint(setting)}: must be a port number 0..65535 (got '${raw}')`);
  }
  return port;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      'modbus-port': { type: 'string' },
      'opcua-port': { type: 'string' },
      'receiver-port': { type: 'string' },
      secret: { type: 'string' },
      scenario: { type: 'string' },
      'time-scale': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const host = pick(values.host, SETTINGS.host) ?? DEFAULTS.host;
  const modbusPort = portSetting(values['modbus-port'], SETTINGS.modbusPort, DEFAULTS.modbusPort);
  const opcuaPort = portSetting(values['opcua-port'], SETTINGS.opcuaPort, DEFAULTS.opcuaPort);
  const receiverPort = portSetting(
    values['receiver-port'],
    SETTINGS.receiverPort,
    DEFAULTS.receiverPort,
  );
  const secret = pick(values.secret, SETTINGS.secret) ?? DEFAULTS.secret;
  const timeScaleText = pick(values['time-scale'], SETTINGS.timeScale);
  const timeScale = timeScaleText === undefined ? DEFAULTS.timeScale : Number(timeScaleText);
  if (!(timeScale > 0)) {
    throw new UsageError(
      `${hint(SETTINGS.timeScale)}: must be a positive number (got '${timeScaleText}')`,
    );
  }
  const scenarioPath = pick(values.scenario, SETTINGS.scenario) ?? DEFAULTS.scenario;
  const scenario: Scenario | undefined =
    scenarioPath === 'none' ? undefined : await loadScenario(scenarioPath);

  // Loaded only now so that usage errors answer at once (node-opcua alone takes seconds to load).
  const [{ EmergencyReceiver }, { DEMO_GAS_CHANNELS, ModbusGasDetectorSimulator }, opcua] =
    await Promise.all([
      import('./emergency-receiver.js'),
      import('./modbus-gas-detector.js'),
      import('./opcua-tank.js'),
    ]);
  const { DEMO_TANK_NODE_IDS, DEMO_TANKS, OpcuaTankSimulator } = opcua;

  const receiver = new EmergencyReceiver({ host, port: receiverPort, secret });
  const detector = new ModbusGasDetectorSimulator({
    host,
    port: modbusPort,
    channels: DEMO_GAS_CHANNELS,
    ...(scenario ? { scenario } : {}),
    timeScale,
  });
  const tanks = new OpcuaTankSimulator({ host, port: opcuaPort, tanks: DEMO_TANKS });
  const peers = [
    { peer: receiver, setting: SETTINGS.receiverPort },
    { peer: detector, setting: SETTINGS.modbusPort },
    { peer: tanks, setting: SETTINGS.opcuaPort },
  ];

  const stopAll = async () => {
    await Promise.allSettled(peers.map(({ peer }) => peer.stop()));
  };
  for (const { peer, setting } of peers) {
    try {
      await peer.start();
    } catch (err) {
      await stopAll();
      if (err instanceof PortInUseError) {
        throw new PortInUseError(err.what, err.port, hint(setting), { cause: err });
      }
      throw err;
    }
  }

  receiver.on('notification', (n) => {
    console.log(
      `[receiver] ${n.drill ? 'DRILL ' : ''}level ${n.level} ${n.gas ?? ''} ${n.value ?? '—'} ${n.unit} at ${n.sensorId} (${n.enterpriseId}) raised ${n.raisedAt}`,
    );
  });
  detector.on('coilWrite', (coil, value) => {
    console.log(`[gas detector] relay coil ${coil} ${value ? 'ON' : 'OFF'}`);
  });

  // Signal handlers before the ready lines: whoever reads them may signal at once.
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      console.log(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal}: stopping simulators...`);
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  const nodeIds = Object.values(DEMO_TANK_NODE_IDS).flatMap((ids) => Object.values(ids));
  console.log('HazardWatch simulators');
  console.log(
    `  Modbus gas detector  modbus-tcp://${host}:${detector.port} unit 1, channels ${DEMO_GAS_CHANNELS.map((c) => `${c.channel}=${c.gas}`).join(' ')}`,
  );
  console.log(
    `                       scenario ${scenario ? `${scenario.name} (${scenarioPath}) ×${timeScale}` : 'none (baselines with noise)'}`,
  );
  console.log(`  OPC UA tank farm     ${tanks.endpointUrl}  ${nodeIds.join(' ')}`);
  console.log(`  Emergency receiver   ${receiver.url}/  webhook ${receiver.notifyUrl}`);
  if (secret === DEFAULTS.secret) {
    console.log('                       using the demo webhook secret (set RECEIVER_SECRET)');
  }
  console.log('Ctrl+C stops.');
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    console.error(`simulators: ${err.message}\n\n${HELP}`);
    process.exit(2);
  }
  console.error(`simulators: ${err instanceof Error ? err.message : String(err)}`);
  if (!(err instanceof PortInUseError) && err instanceof Error && err.cause) {
    console.error('  cause:', err.cause);
  }
  process.exit(1);
});
