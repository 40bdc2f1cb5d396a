/**
 * Starts simulated Modbus devices from a device scenario file (modbus-device.ts), for
 * manual tests, fault drills and benchmarks that want the devices in another process:
 *
 *   tsx simulators/modbus-devices-main.ts --scenario simulators/scenarios/flaky-bus.yaml
 *        [--devices 1] [--host 127.0.0.1] [--port 0]
 *
 * `--devices n` starts n copies (each on its own port: --port, --port+1, ...; 0 = free
 * ports). Prints one line `{"ports":[...]}` once all listen. Stops on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { deviceFromScenario, loadDeviceScenario } from './modbus-device.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    devices: { type: 'string', default: '1' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
  },
});
if (!values.scenario) {
  process.stderr.write(
    'usage: tsx simulators/modbus-devices-main.ts --scenario <file> [--devices n] [--port p]\n',
  );
  process.exit(2);
}
const scenario = await loadDeviceScenario(values.scenario);
const count = Number(values.devices);
const basePort = Number(values.port);
const devices = Array.from({ length: count }, (_, i) =>
  deviceFromScenario(scenario, { host: values.host, port: basePort === 0 ? 0 : basePort + i }),
);
await Promise.all(devices.map((d) => d.start()));
process.stdout.write(`${JSON.stringify({ ports: devices.map((d) => d.port) })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) process.exit(1);
  stopping = true;
  await Promise.all(devices.map((d) => d.stop()));
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
