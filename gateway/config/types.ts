/**
 * The gateway configuration after loading: validated against the one JSON Schema
 * (schema.ts), cross-checked (cross-checks.ts), defaults applied and deeply frozen.
 * Every optional key without a default stays absent (never `undefined`-valued).
 */
import type { SensorKind } from '../../protocol/payloads.js';
import type { OPCUA_TAG_DATA_TYPES } from './schema.js';

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
  /** Disk outbox (store-and-forward); defaults in gateway/uplink/mqtt-uplink.ts. */
  readonly outbox?: UplinkOutboxConfig;
  /** Resend an unacknowledged item after this long (default 10 s). */
  readonly ackTimeoutMs?: number;
  /** Backlog replay bound, readings per second (default 30,000). */
  readonly replayReadingsPerS?: number;
  /** Telemetry batches in flight (default 16). */
  readonly maxInFlight?: number;
  /** TLS for an mqtts:// url (server certificate check, client certificate for mTLS). */
  readonly tls?: UplinkTlsConfig;
}

/** File paths are absolute after loading (relative ones resolved against the config file's folder). */
export interface UplinkTlsConfig {
  /** CA bundle (PEM) the broker's certificate must chain to; default the system CAs. */
  readonly caFile?: string;
  /** Client certificate (PEM) for mutual TLS; its CN is the gateway id. Needs keyFile. */
  readonly certFile?: string;
  /** Private key (PEM) of certFile. */
  readonly keyFile?: string;
  /** Verify the broker's certificate (default true; false only for commissioning). */
  readonly rejectUnauthorized: boolean;
  /** Host name the broker's certificate must name, when it differs from the url's host. */
  readonly servername?: string;
}

export interface UplinkOutboxConfig {
  /** SQLite file; absent: in memory (a restart loses the backlog). */
  readonly path?: string;
  readonly telemetryMaxMB?: number;
  readonly alarmReserveMB?: number;
  readonly highWaterPct?: number;
  readonly telemetrySync?: 'full' | 'normal';
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
  /**
   * Raw 4–20 mA loop counts (int16/uint16 only): the register holds the loop current as
   * counts; the engineering value spans the tag's rangeMin..rangeMax over 4..20 mA, and
   * NAMUR NE 43 limits set the quality (acquisition/modbus/ne43.ts).
   */
  readonly currentLoop?: CurrentLoopConfig;
}

/** Raw counts the device reports at 4 mA and at 20 mA (e.g. 4000 and 20000 for µA). */
export interface CurrentLoopConfig {
  readonly rawAt4mA: number;
  readonly rawAt20mA: number;
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
  /**
   * Decimal places the value is rounded to at acquisition (the sensor's resolution);
   * absent: integers keep the decimals of scale and offset, float32 its shortest
   * decimal, float64 full precision (acquisition/modbus/decode.ts).
   */
  readonly decimals?: number;
  /** Name of one of the device's pollGroups; absent: the device's own pollIntervalMs. */
  readonly pollGroup?: string;
}

/** Tags polled at their own interval (e.g. a status word every 5 s, gas every 250 ms). */
export interface ModbusPollGroupConfig {
  readonly name: string;
  readonly intervalMs: number;
}

export interface OpcuaTagConfig extends TagBase {
  /** OPC UA NodeId string, e.g. `ns=1;s=Tank1.Temperature`. */
  readonly nodeId: string;
  /** Replaces the device's deadband for this tag. */
  readonly deadband?: OpcuaDeadbandConfig;
  /**
   * The node's DataType as the engineer knows it; when given, a deadband on a non-numeric type
   * is a startup error (OPC UA Part 4 DataChangeFilter: deadband applies to numeric values).
   */
  readonly dataType?: (typeof OPCUA_TAG_DATA_TYPES)[number];
}

/** Keys every Modbus device has, whatever its transport. */
export interface ModbusDeviceBase {
  readonly id: string;
  readonly unitId: number;
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  /** Largest register read this device accepts (Modbus allows 125, some devices less). */
  readonly maxRegistersPerRead: number;
  /** Unused registers one coalesced read may span between two tags (schema default 8). */
  readonly maxGapRegisters?: number;
  readonly pollGroups?: readonly ModbusPollGroupConfig[];
  readonly tags: readonly ModbusTagConfig[];
}

export interface ModbusTcpDeviceConfig extends ModbusDeviceBase {
  readonly protocol: 'modbus-tcp';
  readonly host: string;
  readonly port: number;
}

/** RTU frames over a TCP socket (serial device servers); one host:port is one bus. */
export interface ModbusRtuTcpDeviceConfig extends ModbusDeviceBase {
  readonly protocol: 'modbus-rtu-tcp';
  readonly host: string;
  readonly port: number;
}

export const SERIAL_PARITIES = ['none', 'even', 'odd'] as const;
export type SerialParity = (typeof SERIAL_PARITIES)[number];

/** RTU over a serial port; one port is one bus, shared by every device naming it. */
export interface ModbusRtuDeviceConfig extends ModbusDeviceBase {
  readonly protocol: 'modbus-rtu';
  /** Serial port path, e.g. /dev/ttyUSB0. */
  readonly serialPort: string;
  readonly baudRate: number;
  readonly parity: SerialParity;
  readonly dataBits: 7 | 8;
  readonly stopBits: 1 | 2;
}

export type ModbusDeviceConfig =
  | ModbusTcpDeviceConfig
  | ModbusRtuTcpDeviceConfig
  | ModbusRtuDeviceConfig;

/** True for every Modbus transport. */
export function isModbusDevice(device: DeviceConfig): device is ModbusDeviceConfig {
  return (
    device.protocol === 'modbus-tcp' ||
    device.protocol === 'modbus-rtu' ||
    device.protocol === 'modbus-rtu-tcp'
  );
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

export const OPCUA_READ_MODES = ['subscribe', 'poll'] as const;
export type OpcuaReadMode = (typeof OPCUA_READ_MODES)[number];

export const OPCUA_DEADBAND_TYPES = ['none', 'absolute', 'percent'] as const;
export type OpcuaDeadbandType = (typeof OPCUA_DEADBAND_TYPES)[number];

/** OPC UA Part 4 §7.22.2 DataChangeFilter deadband (percent needs the node's EURange). */
export interface OpcuaDeadbandConfig {
  readonly type: OpcuaDeadbandType;
  /** Required for absolute and percent; `type: none` needs none. */
  readonly value?: number;
}

export interface OpcuaDeviceConfig {
  readonly id: string;
  readonly protocol: 'opcua';
  readonly endpointUrl: string;
  readonly securityMode: OpcuaSecurityMode;
  readonly securityPolicy: OpcuaSecurityPolicy;
  /** Username/password identity; both or neither (anonymous). */
  readonly username?: string;
  readonly password?: string;
  /**
   * false (schema default; absent means false): the server certificate must be in the trust list (pkiDir/trusted);
   * an unknown one is refused and left in pkiDir/rejected for an engineer to move.
   */
  readonly trustUnknownServer?: boolean;
  /** Folder of the client certificate and trust lists; default from AcquisitionDeps. */
  readonly pkiDir?: string;
  readonly samplingIntervalMs: number;
  /**
   * 'subscribe' (schema default): monitored items, with polling Read as the automatic
   * fallback when the server refuses subscriptions; 'poll': Read every samplingIntervalMs.
   */
  readonly readMode?: OpcuaReadMode;
  /** Values kept per item between publishes (schema default 10). */
  readonly queueSize?: number;
  readonly deadband?: OpcuaDeadbandConfig;
  readonly tags: readonly OpcuaTagConfig[];
}

export type DeviceConfig = ModbusDeviceConfig | OpcuaDeviceConfig;
export type DeviceProtocol = DeviceConfig['protocol'];
/** Every protocol name the registry knows; an unknown name fails validation by name. */
export const DEVICE_PROTOCOLS = [
  'modbus-tcp',
  'modbus-rtu-tcp',
  'modbus-rtu',
  'opcua',
] as const satisfies readonly DeviceProtocol[];

export type TagConfig = ModbusTagConfig | OpcuaTagConfig;

export interface GatewayConfig {
  readonly gateway: GatewayIdentity;
  readonly uplink: UplinkConfig;
  readonly rules: RulesConfig;
  readonly devices: readonly DeviceConfig[];
}
