/**
 * Starts the three simulated peers for a demo or a manual test:
 *
 *   tsx simulators/main.ts [--host 127.0.0.1] [--modbus-port 5020] [--opcua-port 4840]
 *                          [--receiver-port 8090] [--secret ...] [--scenario path|none]
 *                          [--time-scale n] [--only receiver,modbus,opcua]
 *
 * `--only receiver` runs just the emergency-centre receiver (for a real server's webhooks);
 * `--only modbus,opcua` just the field devices.
 * Every flag has an environment variable (flag wins): SIM_HOST, MODBUS_PORT, OPCUA_PORT,
 * RECEIVER_PORT, RECEIVER_SECRET, SCENARIO, TIME_SCALE, SIM_ONLY. Stops cleanly on SIGINT/SIGTERM.
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
  only: 'receiver,modbus,opcua',
};

/** The peers this command can run, by the name `--only` takes. */
const PEER_NAMES = ['receiver', 'modbus', 'opcua'] as const;
type PeerName = (typeof PEER_NAMES)[number];

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
  only: { flag: '--only', env: 'SIM_ONLY' },
} satisfies Record<keyof typeof DEFAULTS, Setting>;

const HELP = `Usage: tsx simulators/main.ts [options]

  --host <addr>           interface to bind            (SIM_HOST, default ${DEFAULTS.host})
  --modbus-port <n>       Modbus TCP gas detector      (MODBUS_PORT, default ${DEFAULTS.modbusPort})
  --opcua-port <n>        OPC UA tank farm             (OPCUA_PORT, default ${DEFAULTS.opcuaPort})
  --receiver-port <n>     emergency-centre receiver    (RECEIVER_PORT, default ${DEFAULTS.receiverPort})
  --secret <s>            webhook HMAC secret          (RECEIVER_SECRET, default a demo secret)
  --scenario <path|none>  gas detector scenario file   (SCENARIO, default simulators/scenarios/demo-leak.yaml)
  --time-scale <n>        run the scenario n× faster   (TIME_SCALE, default ${DEFAULTS.timeScale})
  --only <list>           run only these peers: receiver, modbus, opcua, comma-separated
                                                       (SIM_ONLY, default all three)
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

function parseOnly(text: string): Set<PeerName> {
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = names.filter((name) => !(PEER_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw new UsageError(
      `${hint(SETTINGS.only)}: must list some of ${PEER_NAMES.join(', ')} (got '${text}')`,
    );
  }
  return new Set(names as PeerName[]);
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
      only: { type: 'string' },
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
  const only = parseOnly(pick(values.only, SETTINGS.only) ?? DEFAULTS.only);
  const scenarioPath = pick(values.scenario, SETTINGS.scenario) ?? DEFAULTS.scenario;
  const scenario: Scenario | undefined =
    scenarioPath === 'none' ? undefined : await loadScenario(scenarioPath);

  // Loaded only now, and only what runs, so that usage errors answer at once (node-opcua alone
  // takes seconds to load).
  const receiver = only.has('receiver')
    ? new (await import('./emergency-receiver.js')).EmergencyReceiver({
        host,
        port: receiverPort,
        secret,
      })
    : undefined;
  const gas = only.has('modbus') ? await import('./modbus-gas-detector.js') : undefined;
  const detector = gas
    ? new gas.ModbusGasDetectorSimulator({
        host,
        port: modbusPort,
        channels: gas.DEMO_GAS_CHANNELS,
        ...(scenario ? { scenario } : {}),
        timeScale,
      })
    : undefined;
  const opcua = only.has('opcua') ? await import('./opcua-tank.js') : undefined;
  const tanks = opcua
    ? new opcua.OpcuaTankSimulator({ host, port: opcuaPort, tanks: opcua.DEMO_TANKS })
    : undefined;
  const peers = [
    { peer: receiver, setting: SETTINGS.receiverPort },
    { peer: detector, setting: SETTINGS.modbusPort },
    { peer: tanks, setting: SETTINGS.opcuaPort },
  ].flatMap(({ peer, setting }) => (peer ? [{ peer, setting }] : []));

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

  receiver?.on('notification', (n) => {
    console.log(
      `[receiver] ${n.drill ? 'DRILL ' : ''}level ${n.level} ${n.gas ?? ''} ${n.value ?? '—'} ${n.unit} at ${n.sensorId} (${n.enterpriseId}) raised ${n.raisedAt}`,
    );
  });
  detector?.on('coilWrite', (coil, value) => {
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

  console.log('HazardWatch simulators');
  if (detector && gas) {
    console.log(
      `  Modbus gas detector  modbus-tcp://${host}:${detector.port} unit 1, channels ${gas.DEMO_GAS_CHANNELS.map((c) => `${c.channel}=${c.gas}`).join(' ')}`,
    );
    console.log(
      `                       scenario ${scenario ? `${scenario.name} (${scenarioPath}) ×${timeScale}` : 'none (baselines with noise)'}`,
    );
  }
  if (tanks && opcua) {
    const nodeIds = Object.values(opcua.DEMO_TANK_NODE_IDS).flatMap((ids) => Object.values(ids));
    console.log(`  OPC UA tank farm     ${tanks.endpointUrl}  ${nodeIds.join(' ')}`);
  }
  if (receiver) {
    console.log(`  Emergency receiver   ${receiver.url}/  webhook ${receiver.notifyUrl}`);
    if (secret === DEFAULTS.secret) {
      console.log('                       using the demo webhook secret (set RECEIVER_SECRET)');
    }
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
