/**
 * The demo gateway's config rewired to one run's ports (bin/demo-gateway-yaml.ts), as the demo
 * plant and the e2e benchmark's plant both use it: read with the gateway's own config parser.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { demoGatewayYaml } from '../../bin/demo-gateway-yaml.js';
import { parseGatewayConfig } from '../../gateway/config/index.js';

const file = fileURLToPath(new URL('../../config/demo-gateway.yaml', import.meta.url));
const parse = (yaml: string) =>
  parseGatewayConfig(yaml, file, { env: {}, baseDir: path.dirname(file) });
const ports = {
  host: '127.0.0.1',
  mqttPort: 1883,
  modbusPort: 5020,
  opcuaEndpointUrl: 'opc.tcp://127.0.0.1:4840',
};
// Rewired to ports only, through the same parser: what "the file's value stands" compares to.
const asWritten = parse(demoGatewayYaml(file, ports));

function device<P extends 'modbus-tcp' | 'opcua'>(
  config: ReturnType<typeof parse>,
  protocol: P,
): Extract<ReturnType<typeof parse>['devices'][number], { protocol: P }> {
  const found = config.devices.find((d) => d.protocol === protocol);
  if (!found) throw new Error(`demo gateway config has no ${protocol} device`);
  return found as Extract<ReturnType<typeof parse>['devices'][number], { protocol: P }>;
}

describe('demoGatewayYaml', () => {
  it('points the uplink, the Modbus controller and the OPC UA server at the given ports', () => {
    const config = parse(
      demoGatewayYaml(file, {
        host: '127.0.0.2',
        mqttPort: 41883,
        modbusPort: 45020,
        opcuaEndpointUrl: 'opc.tcp://127.0.0.2:44840',
      }),
    );
    expect(config.uplink.url).toBe('mqtt://127.0.0.2:41883');
    expect(device(config, 'modbus-tcp')).toMatchObject({ host: '127.0.0.2', port: 45020 });
    expect(device(config, 'opcua').endpointUrl).toBe('opc.tcp://127.0.0.2:44840');
  });

  it("keeps the file's intervals and rules when none are given", () => {
    expect(asWritten.uplink.publishIntervalMs).toBe(500);
    expect(device(asWritten, 'modbus-tcp').pollIntervalMs).toBe(250);
    expect(device(asWritten, 'opcua').samplingIntervalMs).toBe(250);
    expect(asWritten.rules.files).toEqual([
      path.resolve(path.dirname(file), '../rules/demo-plant.yaml'),
    ]);
  });

  it('replaces the intervals and rule files that are given, and only those', () => {
    const config = parse(
      demoGatewayYaml(file, {
        ...ports,
        ruleFiles: ['/rules/bench-no-delay.yaml'],
        publishIntervalMs: 200,
        modbusPollIntervalMs: 100,
        opcuaSamplingIntervalMs: 10,
      }),
    );
    expect(config.rules.files).toEqual(['/rules/bench-no-delay.yaml']);
    expect(config.rules.drill).toBe(asWritten.rules.drill);
    expect(config.uplink.publishIntervalMs).toBe(200);
    expect(device(config, 'modbus-tcp').pollIntervalMs).toBe(100);
    expect(device(config, 'opcua').samplingIntervalMs).toBe(10);
    expect(config.gateway).toEqual(asWritten.gateway);
    expect(device(config, 'modbus-tcp').tags).toEqual(device(asWritten, 'modbus-tcp').tags);
  });
});
