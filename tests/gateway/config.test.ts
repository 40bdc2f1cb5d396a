import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  ConfigError,
  deviceStatusSensors,
  type GatewayConfig,
  loadGatewayConfig,
  parseGatewayConfig,
  sensorCatalogue,
} from '../../gateway/config/index.js';
import { decodeGatewayStatus } from '../../protocol/validate.js';

const examplePath = path.resolve(import.meta.dirname, '../../gateway/config/example.yaml');
const noEnv = { env: {} };

/** A minimal valid configuration as plain data; tests change one thing at a time. */
// biome-ignore lint/suspicious/noExplicitAny: raw YAML data that tests reshape freely, as users do
function baseConfig(): Record<string, any> {
  return {
    gateway: { id: 'gw-1', enterpriseId: 'ent-1' },
    uplink: { url: 'mqtt://127.0.0.1:1883' },
    devices: [
      {
        id: 'gas-1',
        protocol: 'modbus-tcp',
        host: '127.0.0.1',
        tags: [
          {
            sensorId: 'GT-1',
            name: 'Methane',
            kind: 'gas',
            gas: 'methane',
            unit: '%LEL',
            register: { table: 'input', address: 0, type: 'float32' },
          },
          {
            sensorId: 'GT-2',
            name: 'H2S',
            kind: 'gas',
            gas: 'H2S',
            unit: 'ppm',
            register: { table: 'input', address: 2, type: 'float32' },
          },
        ],
      },
      {
        id: 'tank-1',
        protocol: 'opcua',
        endpointUrl: 'opc.tcp://127.0.0.1:4840',
        tags: [
          {
            sensorId: 'TT-1',
            name: 'Tank temperature',
            kind: 'temperature',
            unit: '°C',
            nodeId: 'ns=1;s=Tank1.Temperature',
          },
        ],
      },
    ],
  };
}

function parse(data: unknown, options = noEnv): GatewayConfig {
  return parseGatewayConfig(stringify(data), 'test.yaml', options);
}

/** The error lines a configuration produces (fails the test if it is accepted). */
function errorsOf(data: unknown, options = noEnv): readonly string[] {
  try {
    parse(data, options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).lines;
  }
  throw new Error('configuration was accepted');
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('loading the example configuration', () => {
  const config = loadGatewayConfig(examplePath, noEnv);

  it('applies every default the file leaves out', () => {
    expect(config.uplink).toEqual({
      url: 'mqtt://127.0.0.1:1883',
      publishIntervalMs: 500,
      keepaliveS: 30,
    });
    expect(config.rules.drill).toBe(false);
    const modbus = config.devices[0]!;
    expect(modbus).toMatchObject({
      protocol: 'modbus-tcp',
      port: 5020,
      unitId: 1,
      pollIntervalMs: 500,
      timeoutMs: 1000,
      maxRegistersPerRead: 125,
    });
    if (modbus.protocol !== 'modbus-tcp') throw new Error('expected modbus');
    expect(modbus.tags[1]!.register).toEqual({
      table: 'input',
      address: 2,
      type: 'float32',
      wordOrder: 'ABCD',
      scale: 1,
      offset: 0,
    });
    expect(config.devices[1]).toMatchObject({
      protocol: 'opcua',
      securityMode: 'None',
      securityPolicy: 'None',
      samplingIntervalMs: 100,
    });
  });

  it("resolves rule files against the config file's folder", () => {
    expect(config.rules.files).toEqual([
      path.resolve(path.dirname(examplePath), 'rules/demo-plant.yaml'),
    ]);
  });

  it('is deeply frozen', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.devices[0]!.tags[0])).toBe(true);
    expect(() => {
      (config.uplink as { url: string }).url = 'mqtt://elsewhere';
    }).toThrow(TypeError);
  });

  it('yields a sensor catalogue the birth message schema accepts', () => {
    const sensors = sensorCatalogue(config);
    expect(sensors.map((s) => s.sensorId)).toEqual([
      'GT-101',
      'GT-102',
      'OT-103',
      'GT-104',
      'XS-105',
      'TT-201',
      'PT-202',
      'LT-203',
    ]);
    expect(sensors[0]).toEqual({
      sensorId: 'GT-101',
      name: 'Reactor hall methane detector',
      kind: 'gas',
      gas: 'methane',
      unit: '%LEL',
      installationId: 'unit-1',
      location: 'Reactor hall, east wall',
      rangeMin: 0,
      rangeMax: 100,
    });
    const status = decodeGatewayStatus(
      JSON.stringify({
        v: 1,
        gatewayId: config.gateway.id,
        enterpriseId: config.gateway.enterpriseId,
        state: 'online',
        ts: Date.UTC(2026, 0, 1),
        sensors,
      }),
    );
    expect(status.ok).toBe(true);
  });
});

describe('environment overrides', () => {
  it('HAZARDWATCH_MQTT_URL replaces uplink.url', () => {
    const config = parse(baseConfig(), { env: { HAZARDWATCH_MQTT_URL: 'mqtts://broker:8883' } });
    expect(config.uplink.url).toBe('mqtts://broker:8883');
  });

  it('an invalid override is reported against uplink.url and names the variable', () => {
    expect(errorsOf(baseConfig(), { env: { HAZARDWATCH_MQTT_URL: 'broker:1883' } })).toEqual([
      "uplink.url: must match ^(mqtt|mqtts|ws|wss)://.+ (got 'broker:1883') [set by HAZARDWATCH_MQTT_URL]",
    ]);
  });
});

describe('a bad configuration names the exact key path', () => {
  it('for an unknown data type', () => {
    const data = baseConfig();
    data.devices[0].tags[1].register.type = 'int61';
    expect(errorsOf(data)).toEqual([
      "devices[0].tags[1].register.type: must be one of bool, int16, uint16, int32, uint32, float32, float64, string (got 'int61')",
    ]);
  });

  it('for an unknown protocol, by name', () => {
    const data = baseConfig();
    data.devices[1].protocol = 'bacnet';
    expect(errorsOf(data)).toEqual([
      "devices[1].protocol: must be one of modbus-tcp, modbus-rtu-tcp, modbus-rtu, opcua (got 'bacnet')",
    ]);
  });

  it('for a missing required key', () => {
    const data = baseConfig();
    delete data.devices[0].host;
    delete data.devices[0].tags[0].unit;
    expect(errorsOf(data)).toEqual([
      'devices[0].host: is required',
      'devices[0].tags[0].unit: is required',
    ]);
  });

  it('for a missing protocol', () => {
    const data = baseConfig();
    delete data.devices[0].protocol;
    expect(errorsOf(data)).toEqual(['devices[0].protocol: is required']);
  });

  it('for a misspelt key, suggesting the right one', () => {
    const data = baseConfig();
    data.devices[0].pollIntervalMS = 100;
    expect(errorsOf(data)).toEqual([
      "devices[0].pollIntervalMS: unknown key; did you mean 'pollIntervalMs'?",
    ]);
  });

  it('for an address out of range, negative or above 65535', () => {
    const data = baseConfig();
    data.devices[0].tags[0].register.address = -1;
    data.devices[0].tags[1].register.address = 65_536;
    expect(errorsOf(data)).toEqual([
      'devices[0].tags[0].register.address: must be >= 0 (got -1)',
      'devices[0].tags[1].register.address: must be <= 65535 (got 65536)',
    ]);
  });

  it('for a value running past the last address', () => {
    const data = baseConfig();
    data.devices[0].tags[0].register.address = 65_535;
    expect(errorsOf(data)).toEqual([
      'devices[0].tags[0].register.address: value spans addresses 65535..65536, beyond 65535 (got 65535)',
    ]);
  });

  it('for a tag spanning more than 125 registers, the Modbus limit per read', () => {
    const data = baseConfig();
    data.devices[0].tags[0].register = {
      table: 'holding',
      address: 10,
      type: 'string',
      count: 130,
    };
    expect(errorsOf(data)).toEqual([
      'devices[0].tags[0].register.count: spans 130 registers; one read carries at most 125 (device maxRegistersPerRead, Modbus limit 125) (got 130)',
    ]);
  });

  it('for a tag wider than the device accepts in one read', () => {
    const data = baseConfig();
    data.devices[0].maxRegistersPerRead = 1;
    expect(errorsOf(data)).toEqual([
      "devices[0].tags[0].register.type: spans 2 registers; one read carries at most 1 (device maxRegistersPerRead, Modbus limit 125) (got 'float32')",
      "devices[0].tags[1].register.type: spans 2 registers; one read carries at most 1 (device maxRegistersPerRead, Modbus limit 125) (got 'float32')",
    ]);
  });

  it('for a nodeId that is not a string', () => {
    const data = baseConfig();
    data.devices[1].tags[0].nodeId = 1234;
    expect(errorsOf(data)).toEqual(['devices[1].tags[0].nodeId: must be string (got 1234)']);
  });

  it('for a nodeId string that is not a NodeId', () => {
    const data = baseConfig();
    data.devices[1].tags[0].nodeId = 'Tank1.Temperature';
    expect(errorsOf(data)).toEqual([
      "devices[1].tags[0].nodeId: must match ^(ns=[0-9]+;|nsu=[^;]+;)?[isgb]=.+$ (got 'Tank1.Temperature')",
    ]);
  });

  it('for a duplicate sensorId across devices', () => {
    const data = baseConfig();
    data.devices[1].tags[0].sensorId = 'GT-2';
    expect(errorsOf(data)).toEqual([
      "devices[1].tags[0].sensorId: duplicate sensorId, first used at devices[0].tags[1].sensorId (got 'GT-2')",
    ]);
  });

  it('for a duplicate device id', () => {
    const data = baseConfig();
    data.devices[1].id = 'gas-1';
    expect(errorsOf(data)).toEqual([
      "devices[1].id: duplicate device id, first used at devices[0].id (got 'gas-1')",
    ]);
  });

  it('for rangeMin not below rangeMax', () => {
    const data = baseConfig();
    Object.assign(data.devices[0].tags[0], { rangeMin: 100, rangeMax: 0 });
    expect(errorsOf(data)).toEqual([
      'devices[0].tags[0].rangeMax: must be greater than rangeMin (100) (got 0)',
    ]);
  });

  it('for a non-bool type on a coil, and a gas sensor without its gas', () => {
    const data = baseConfig();
    data.devices[0].tags[0].register = { table: 'coil', address: 3, type: 'int16' };
    delete data.devices[0].tags[1].gas;
    expect(errorsOf(data)).toEqual([
      "devices[0].tags[0].register.type: must be bool: table 'coil' holds single bits (got 'int16')",
      "devices[0].tags[1].gas: is required for kind 'gas'",
    ]);
  });

  it('for a security policy that does not match the security mode', () => {
    const data = baseConfig();
    data.devices[1].securityMode = 'SignAndEncrypt';
    expect(errorsOf(data)).toEqual([
      "devices[1].securityPolicy: must not be None when securityMode is SignAndEncrypt (got 'None')",
    ]);
  });

  it('for an id that cannot appear in an MQTT topic', () => {
    const data = baseConfig();
    data.gateway.id = 'gw/1';
    expect(errorsOf(data)).toEqual(["gateway.id: must match ^[A-Za-z0-9_.-]{1,64}$ (got 'gw/1')"]);
  });

  it('reporting every problem at once, not only the first', () => {
    const data = baseConfig();
    data.uplink.keepaliveS = 0;
    data.devices[0].port = 'five-oh-two';
    data.devices[1].samplingIntervalMs = -5;
    expect(errorsOf(data)).toEqual([
      'uplink.keepaliveS: must be >= 1 (got 0)',
      "devices[0].port: must be integer (got 'five-oh-two')",
      'devices[1].samplingIntervalMs: must be >= 0 (got -5)',
    ]);
  });

  it('schema errors in the gateway config hide its cross-check errors', () => {
    // Three mistakes of a first hour, one per kind: a misspelt key (schema), a sensorId
    // used twice and an upside-down range (both cross-checks). All three in one run.
    const data = baseConfig();
    data.devices[0].pollIntervalMS = 100;
    data.devices[1].tags[0].sensorId = 'GT-2';
    Object.assign(data.devices[0].tags[0], { rangeMin: 100, rangeMax: 0 });
    expect(errorsOf(data)).toEqual([
      "devices[0].pollIntervalMS: unknown key; did you mean 'pollIntervalMs'?",
      'devices[0].tags[0].rangeMax: must be greater than rangeMin (100) (got 0)',
      "devices[1].tags[0].sensorId: duplicate sensorId, first used at devices[0].tags[1].sensorId (got 'GT-2')",
    ]);
  });

  it('cross-checks only the well-formed parts, never a value the schema already rejected', () => {
    const data = baseConfig();
    // Malformed shapes the cross-checks must step around without crashing...
    data.devices[0].tags[0].register = { table: 'coil', address: 3, type: 'int61' };
    data.devices[0].tags[1].gas = 42;
    data.devices[1].securityMode = 'Encrypt';
    data.devices.push('not a device', { id: 'x', protocol: 'bacnet', tags: 'none' });
    data.devices.push({ id: 'rtu-1', protocol: 'modbus-rtu', serialPort: '/dev/ttyS0', tags: 7 });
    // ...and two cross-check errors that must still be seen.
    data.devices.push({
      id: 'gas-1',
      protocol: 'modbus-rtu',
      serialPort: '/dev/ttyS0',
      unitId: 999,
      baudRate: 19_200,
      tags: [
        {
          sensorId: 'GT-9',
          name: 'Methane',
          kind: 'gas',
          unit: '%LEL',
          register: { table: 'holding', address: 0, type: 'int16', count: 2 },
        },
      ],
    });
    data.uplink = 'mqtt://nowhere';
    expect(errorsOf(data)).toEqual([
      "uplink: must be object (got 'mqtt://nowhere')",
      "devices[0].tags[0].register.type: must be one of bool, int16, uint16, int32, uint32, float32, float64, string (got 'int61')",
      'devices[0].tags[1].gas: must be string (got 42)',
      "devices[1].securityMode: must be one of None, Sign, SignAndEncrypt (got 'Encrypt')",
      "devices[2]: must be object (got 'not a device')",
      "devices[3].protocol: must be one of modbus-tcp, modbus-rtu-tcp, modbus-rtu, opcua (got 'bacnet')",
      'devices[4].tags: must be array (got 7)',
      'devices[5].unitId: must be <= 255 (got 999)',
      "devices[5].id: duplicate device id, first used at devices[0].id (got 'gas-1')",
      "devices[5].tags[0].gas: is required for kind 'gas'",
      "devices[5].tags[0].register.count: only allowed with type 'string' (got 2)",
      "devices[5].baudRate: must match the other devices on serial port '/dev/ttyS0' (devices[4].baudRate is 9600) (got 19200)",
    ]);
  });

  it('for a file that is not a mapping, or sections of the wrong shape, without crashing', () => {
    expect(() => parseGatewayConfig('', 'empty.yaml', noEnv)).toThrow(
      'empty.yaml: invalid gateway configuration (1 error):\n  (root): must be object (got null)',
    );
    expect(errorsOf({ gateway: [], uplink: null, devices: { id: 'x' }, rules: 'all' })).toEqual([
      'gateway: must be object (got [])',
      'uplink: must be object (got null)',
      "rules: must be object (got 'all')",
      'devices: must be array (got {"id":"x"})',
    ]);
  });

  it('for YAML syntax errors, with line and column', () => {
    expect(() => parseGatewayConfig('gateway: [unclosed\n', 'broken.yaml')).toThrow(
      /^broken\.yaml: invalid gateway configuration \(1 error\):\n {2}\(yaml\) line \d+ column \d+: /,
    );
  });
});

describe('loadGatewayConfig', () => {
  it('starts the error message with the file path', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hw-config-'));
    tempDirs.push(dir);
    const file = path.join(dir, 'gateway.yaml');
    const data = baseConfig();
    data.devices[0].tags[0].register.type = 'int61';
    writeFileSync(file, stringify(data));
    expect(() => loadGatewayConfig(file, noEnv)).toThrow(
      `${file}: invalid gateway configuration (1 error):\n  devices[0].tags[0].register.type: must be one of`,
    );
  });

  it('names a missing file', () => {
    const file = path.join(tmpdir(), 'hazardwatch-no-such-config.yaml');
    expect(() => loadGatewayConfig(file, noEnv)).toThrow(`${file}: invalid gateway configuration`);
    expect(() => loadGatewayConfig(file, noEnv)).toThrow(/ENOENT/);
  });
});

describe('Modbus RTU, RTU over TCP, poll groups and 4-20 mA loops', () => {
  const rtuDevice = (extra: Record<string, unknown> = {}) => ({
    id: 'rtu-1',
    protocol: 'modbus-rtu',
    serialPort: '/dev/ttyUSB0',
    tags: [
      {
        sensorId: 'PT-9',
        name: 'Pressure',
        kind: 'pressure',
        unit: 'bar',
        register: { table: 'holding', address: 0, type: 'int16' },
      },
    ],
    ...extra,
  });

  it('applies the serial defaults of Modbus over Serial Line (9600 8E1) to an RTU device', () => {
    const data = baseConfig();
    data.devices.push(rtuDevice());
    expect(parse(data).devices[2]).toMatchObject({
      protocol: 'modbus-rtu',
      baudRate: 9600,
      parity: 'even',
      dataBits: 8,
      stopBits: 1,
      unitId: 1,
      maxGapRegisters: 8,
    });
  });

  it('accepts RTU over TCP with the Modbus port by default', () => {
    const data = baseConfig();
    data.devices.push({
      ...rtuDevice(),
      protocol: 'modbus-rtu-tcp',
      serialPort: undefined,
      host: '10.0.0.9',
    });
    delete data.devices[2].serialPort;
    expect(parse(data).devices[2]).toMatchObject({ protocol: 'modbus-rtu-tcp', port: 502 });
  });

  it('names devices on one serial port that disagree on line settings or share a unit id', () => {
    const data = baseConfig();
    data.devices.push(rtuDevice(), rtuDevice({ id: 'rtu-2', baudRate: 19_200 }));
    data.devices[3].tags[0].sensorId = 'PT-10';
    expect(errorsOf(data)).toEqual([
      'devices[3].unitId: duplicate unit id on one bus, first used at devices[2].unitId (got 1)',
      "devices[3].baudRate: must match the other devices on serial port '/dev/ttyUSB0' (devices[2].baudRate is 9600) (got 19200)",
    ]);
  });

  it('names a tag whose poll group the device does not define', () => {
    const data = baseConfig();
    data.devices[0].pollGroups = [{ name: 'slow', intervalMs: 5000 }];
    data.devices[0].tags[1].pollGroup = 'fast';
    expect(errorsOf(data)).toEqual([
      "devices[0].tags[1].pollGroup: must name one of the device's pollGroups (slow) (got 'fast')",
    ]);
  });

  it('names a 4-20 mA loop on a float, or without the range it maps to', () => {
    const data = baseConfig();
    data.devices[0].tags[0].register.currentLoop = { rawAt4mA: 4000, rawAt20mA: 20_000 };
    expect(errorsOf(data)).toEqual([
      "devices[0].tags[0].register.currentLoop: only allowed with type int16 or uint16 (got 'float32')",
      'devices[0].tags[0].rangeMin: is required with register.currentLoop (4 mA is rangeMin, 20 mA is rangeMax)',
    ]);
  });

  it('names an unknown data type on an RTU device by its key path', () => {
    const data = baseConfig();
    data.devices.push(rtuDevice());
    data.devices[2].tags[0].register.type = 'int61';
    expect(errorsOf(data)).toEqual([
      "devices[2].tags[0].register.type: must be one of bool, int16, uint16, int32, uint32, float32, float64, string (got 'int61')",
    ]);
  });
});

describe('the resolution a value is rounded to', () => {
  it("accepts a Modbus tag's decimals and leaves them out by default", () => {
    const data = baseConfig();
    data.devices[0].tags[0].decimals = 1;
    const config = parse(data);
    expect(config.devices[0]!.tags[0]).toMatchObject({ decimals: 1 });
    expect(config.devices[0]!.tags[1]).not.toHaveProperty('decimals');
  });

  it('names decimals out of range, and decimals on a bool or string tag', () => {
    const data = baseConfig();
    data.devices[0].tags[0].decimals = 16;
    data.devices[0].tags[1].register = { table: 'coil', address: 0, type: 'bool' };
    data.devices[0].tags[1].decimals = 2;
    expect(errorsOf(data)).toEqual([
      'devices[0].tags[0].decimals: must be <= 15 (got 16)',
      "devices[0].tags[1].decimals: only allowed with a numeric type (got 'bool')",
    ]);
  });
});

describe('device status sensors', () => {
  it("lists one '<deviceId>.online' status sensor per device, valid in a birth message", () => {
    const config = parse(baseConfig());
    const sensors = deviceStatusSensors(config);
    expect(sensors.map((s) => s.sensorId)).toEqual(['gas-1.online', 'tank-1.online']);
    const status = decodeGatewayStatus(
      JSON.stringify({
        v: 1,
        gatewayId: 'gw-1',
        enterpriseId: 'ent-1',
        state: 'online',
        ts: Date.UTC(2026, 0, 1),
        sensors,
      }),
    );
    expect(status.ok).toBe(true);
  });
});

describe('OPC UA security settings', () => {
  it('defaults to refusing unknown server certificates', () => {
    const device = parse(baseConfig()).devices[1];
    expect(device).toMatchObject({ trustUnknownServer: false, queueSize: 10 });
  });

  it('names a security mode left without its policy (missing security settings)', () => {
    const data = baseConfig();
    data.devices[1].securityMode = 'SignAndEncrypt';
    expect(errorsOf(data)).toEqual([
      "devices[1].securityPolicy: must not be None when securityMode is SignAndEncrypt (got 'None')",
    ]);
  });

  it('names a username without a password', () => {
    const data = baseConfig();
    data.devices[1].username = 'operator';
    expect(errorsOf(data)).toEqual(['devices[1].password: is required with username']);
  });

  it('names an unknown deadband type', () => {
    const data = baseConfig();
    data.devices[1].deadband = { type: 'relative', value: 1 };
    expect(errorsOf(data)[0]).toMatch(
      /^devices\[1\]\.deadband\.type: must be one of none, absolute, percent/,
    );
  });
});
