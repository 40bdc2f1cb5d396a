/**
 * The demo gateway's config file (config/demo-gateway.yaml) pointed at one run's server and
 * simulators, whose ports are only known once they started: shared by the demo plant
 * (bin/plant.ts, which parses it) and the e2e benchmark's plant (bench/e2e-plant.ts, which
 * hands the text to its gateway process).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export interface DemoGatewayWiring {
  /** Where the central server's MQTT broker and the Modbus gas detector listen. */
  host: string;
  mqttPort: number;
  modbusPort: number;
  opcuaEndpointUrl: string;
  /** Each of these, when given, replaces the file's value; absent, the file's stands. */
  ruleFiles?: string[];
  publishIntervalMs?: number;
  modbusPollIntervalMs?: number;
  opcuaSamplingIntervalMs?: number;
}

/** The config file at `file` as YAML text, rewired as `wiring` says; the rest as written. */
export function demoGatewayYaml(file: string, wiring: DemoGatewayWiring): string {
  const raw = parseYaml(readFileSync(file, 'utf8')) as {
    uplink: { url: string; publishIntervalMs?: number };
    rules?: { files?: string[] };
    devices: {
      protocol: string;
      host?: string;
      port?: number;
      endpointUrl?: string;
      pollIntervalMs?: number;
      samplingIntervalMs?: number;
    }[];
  };
  raw.uplink.url = `mqtt://${wiring.host}:${wiring.mqttPort}`;
  if (wiring.publishIntervalMs !== undefined) {
    raw.uplink.publishIntervalMs = wiring.publishIntervalMs;
  }
  if (wiring.ruleFiles !== undefined) raw.rules = { ...raw.rules, files: wiring.ruleFiles };
  for (const device of raw.devices) {
    if (device.protocol === 'modbus-tcp') {
      device.host = wiring.host;
      device.port = wiring.modbusPort;
      if (wiring.modbusPollIntervalMs !== undefined) {
        device.pollIntervalMs = wiring.modbusPollIntervalMs;
      }
    } else if (device.protocol === 'opcua') {
      device.endpointUrl = wiring.opcuaEndpointUrl;
      if (wiring.opcuaSamplingIntervalMs !== undefined) {
        device.samplingIntervalMs = wiring.opcuaSamplingIntervalMs;
      }
    }
  }
  return stringifyYaml(raw);
}
