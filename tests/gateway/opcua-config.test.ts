/** The OPC UA part of the gateway configuration: deadbands and declared data types. */

import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseGatewayConfig } from '../../gateway/config/index.js';

const noEnv = { env: {} };

function config(device: Record<string, unknown>, tags: Record<string, unknown>[]) {
  return {
    gateway: { id: 'gw-1', enterpriseId: 'ent-1' },
    uplink: { url: 'mqtt://127.0.0.1:1883' },
    devices: [
      {
        id: 'tank-1',
        protocol: 'opcua',
        endpointUrl: 'opc.tcp://127.0.0.1:4840',
        ...device,
        tags: tags.map((extra, i) => ({
          sensorId: `T-${i}`,
          name: `Tag ${i}`,
          kind: 'other',
          unit: '',
          nodeId: `ns=1;s=Tag${i}`,
          ...extra,
        })),
      },
    ],
  };
}

const parse = (data: unknown) => parseGatewayConfig(stringify(data), 'test.yaml', noEnv);

/** The error lines of a configuration that must be refused. */
function errorsOf(data: unknown): string[] {
  try {
    parse(data);
  } catch (err) {
    return [...(err as { lines: string[] }).lines];
  }
  throw new Error('configuration was accepted');
}

describe('OPC UA deadband configuration', () => {
  it('accepts deadband type none without a value, on the device and on a tag', () => {
    const parsed = parse(config({ deadband: { type: 'none' } }, [{ deadband: { type: 'none' } }]));
    expect(parsed.devices[0]).toMatchObject({ deadband: { type: 'none' } });
  });

  it('needs a value for absolute and percent, at the key path', () => {
    expect(
      errorsOf(config({ deadband: { type: 'absolute' } }, [{ deadband: { type: 'percent' } }])),
    ).toEqual([
      'devices[0].deadband.value: is required with type absolute',
      'devices[0].tags[0].deadband.value: is required with type percent',
    ]);
  });

  it('refuses a percent above 100', () => {
    expect(errorsOf(config({ deadband: { type: 'percent', value: 150 } }, [{}]))).toEqual([
      'devices[0].deadband.value: must be at most 100 (percent of the EURange) (got 150)',
    ]);
  });

  it("refuses a tag's deadband on a tag that declares a non-numeric data type, naming the key", () => {
    const lines = errorsOf(
      config({}, [
        { dataType: 'Double', deadband: { type: 'absolute', value: 0.5 } },
        { dataType: 'Boolean', deadband: { type: 'absolute', value: 1 } },
        { dataType: 'String', deadband: { type: 'none' } },
      ]),
    );
    expect(lines).toEqual([
      "devices[0].tags[1].deadband.type: a deadband applies to numeric data types only (OPC UA Part 4 §7.22.2); this tag's dataType is Boolean: remove the deadband or use type none (got 'absolute')",
    ]);
  });

  it('lets a device deadband stand over Boolean tags: they are monitored without it', () => {
    const parsed = parse(
      config({ deadband: { type: 'absolute', value: 0.5 } }, [
        { dataType: 'Double' },
        { dataType: 'Boolean' },
      ]),
    );
    expect(parsed.devices[0]?.tags).toHaveLength(2);
  });

  it('refuses a data type OPC UA does not have', () => {
    expect(errorsOf(config({}, [{ dataType: 'Real' }]))[0]).toMatch(
      /^devices\[0\]\.tags\[0\]\.dataType: must be one of Boolean, SByte/,
    );
  });
});
