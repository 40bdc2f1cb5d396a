/**
 * The gateway configuration after loading: validated against the one JSON Schema
 * (schema.ts), cross-checked (cross-checks.ts), defaults applied and deeply frozen.
 * Every optional key without a default stays absent (never `undefined`-valued).
 */
import type { SensorKind } from '../../protocol/payloads.js';

export interface GatewayIdentity {
  /** Gateway id; appears in MQTT topics (protocol/topics.ts ID_PATTERN). */
  readonly id: string;
  /** Enterprise the gateway belongs to; appears in MQTT topics. */
  readonly enterpriseId: string;
  readonly name?: string;
}

export interface UplinkConfig {
  /** Broker URL; `HAZARDWATCH_MQTT_URL` overrides the file. */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** Telemetry batching interval. */
  readonly publishIntervalMs: number;
  /** MQTT keepalive. */
  readonly keepaliveS: number;
}

export interface RulesConfig {
  /** Rule files, resolved to absolute paths (relative ones against the config file's folder). */
  readonly files: readonly string[];
  /** Drill mode: alarms are tagged drill end to end and never page an emergency centre. */
  readonly drill: boolean;
}

export const REGISTER_TABLES = ['coil', 'discrete', 'holding', 'input'] as const;
export type RegisterTable = (typeof REGISTER_TABLES)[number];

export const REGISTER_TYPES = [
  'bool',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'float32',
  'float64',
  'string',
] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];

/** Byte order of a value as the device sends it; A is the most significant byte. */
export const WORD_ORDERS = ['ABCD', 'DCBA', 'BADC', 'CDAB'] as const;
export type WordOrder = (typeof WORD_ORDERS)[number];

export interface ModbusRegisterConfig {
  readonly table: RegisterTable;
  /** Zero-based protocol address (0..65535). */
  readonly address: number;
  readonly type: RegisterType;
  readonly wordOrder: WordOrder;
  /** engineering = raw * scale + offset (numeric types only). */
  readonly scale: number;
  readonly offset: number;
  /** For type bool on holding/input registers: the bit (0 = least significant) to read. */
  readonly bit?: number;
  /** For type string: registers holding the text (2 ASCII characters each). */
  readonly count?: number;
}

/** What every tag says about its sensor (mirrors protocol SensorInfo). */
export interface TagBase {
  readonly sensorId: string;
  readonly name: string;
  readonly kind: SensorKind;
  readonly unit: string;
  readonly gas?: string;
  readonly installationId?: string;
  readonly location?: string;
  readonly rangeMin?: number;
  readonly rangeMax?: number;
}

export interface ModbusTagConfig extends TagBase {
  readonly register: ModbusRegisterConfig;
}

export interface OpcuaTagConfig extends TagBase {
  /** OPC UA NodeId string, e.g. `ns=1;s=Tank1.Temperature`. */
  readonly nodeId: string;
}

export interface ModbusTcpDeviceConfig {
  readonly id: string;
  readonly protocol: 'modbus-tcp';
  readonly host: string;
  readonly port: number;
  readonly unitId: number;
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  /** Largest register read this device accepts (Modbus allows 125, some devices less). */
  readonly maxRegistersPerRead: number;
  readonly tags: readonly ModbusTagConfig[];
}

export const OPCUA_SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export type OpcuaSecurityMode = (typeof OPCUA_SECURITY_MODES)[number];

/**
 * Policies offered. Basic128Rsa15 and Basic256 are left out on purpose: they need
 * RSA PKCS#1 v1.5 decryption, which Node 20 blocks since its fix for CVE-2023-46809.
 */
export const OPCUA_SECURITY_POLICIES = [
  'None',
  'Basic256Sha256',
  'Aes128_Sha256_RsaOaep',
  'Aes256_Sha256_RsaPss',
] as const;
export type OpcuaSecurityPolicy = (typeof OPCUA_SECURITY_POLICIES)[number];

export interface OpcuaDeviceConfig {
  readonly id: string;
  readonly protocol: 'opcua';
  readonly endpointUrl: string;
  readonly securityMode: OpcuaSecurityMode;
  readonly securityPolicy: OpcuaSecurityPolicy;
  readonly samplingIntervalMs: number;
  readonly tags: readonly OpcuaTagConfig[];
}

export type DeviceConfig = ModbusTcpDeviceConfig | OpcuaDeviceConfig;
export type DeviceProtocol = DeviceConfig['protocol'];
/** Every protocol name the registry knows; an unknown name fails validation by name. */
export const DEVICE_PROTOCOLS = [
  'modbus-tcp',
  'opcua',
] as const satisfies readonly DeviceProtocol[];

export type TagConfig = ModbusTagConfig | OpcuaTagConfig;

export interface GatewayConfig {
  readonly gateway: GatewayIdentity;
  readonly uplink: UplinkConfig;
  readonly rules: RulesConfig;
  readonly devices: readonly DeviceConfig[];
}
