/**
 * The one JSON Schema of the gateway configuration file. Every key has a title and
 * a description, and a default where one is sensible (defaults.ts applies them, so
 * this file is the single source of the defaults). Rules that JSON Schema cannot
 * express live in cross-checks.ts.
 */
import { sensorInfoSchema } from '../../protocol/payloads.js';
import { ID_PATTERN } from '../../protocol/topics.js';
import {
  DEVICE_PROTOCOLS,
  OPCUA_DEADBAND_TYPES,
  OPCUA_READ_MODES,
  OPCUA_SECURITY_MODES,
  OPCUA_SECURITY_POLICIES,
  REGISTER_TABLES,
  REGISTER_TYPES,
  SERIAL_PARITIES,
  WORD_ORDERS,
} from './types.js';

/** Modbus: at most 125 registers per read (Modbus Application Protocol V1.1b3 §6.3/§6.4). */
export const MODBUS_MAX_REGISTERS_PER_READ = 125;
/** Highest Modbus data address (16-bit address field, same clauses). */
export const MODBUS_MAX_ADDRESS = 65_535;

const sensorProps = sensorInfoSchema.properties;

const tagBaseProperties = {
  sensorId: {
    ...sensorProps.sensorId,
    title: 'Sensor id',
    description:
      'Unique across the whole gateway; the id readings and alarms carry (letters, digits, _ . -).',
  },
  name: {
    ...sensorProps.name,
    minLength: 1,
    title: 'Name',
    description: 'Human name shown to operators and emergency centres.',
  },
  kind: {
    ...sensorProps.kind,
    title: 'Kind',
    description: 'What the sensor measures; gas and oxygen sensors get GB/T 50493 alarm checks.',
  },
  unit: {
    ...sensorProps.unit,
    title: 'Unit',
    description: "Engineering unit, e.g. '%LEL', 'ppm'.",
  },
  gas: {
    ...sensorProps.gas,
    minLength: 1,
    title: 'Gas',
    description: "Gas name from the gas table (e.g. 'methane', 'H2S'); required for kind gas.",
  },
  installationId: {
    ...sensorProps.installationId,
    title: 'Installation id',
    description: 'Major hazard installation (GB 18218-2018) the sensor belongs to.',
  },
  location: {
    ...sensorProps.location,
    title: 'Location',
    description: 'Where the sensor is, as an emergency responder would look for it.',
  },
  rangeMin: {
    type: 'number',
    title: 'Range minimum',
    description: 'Lower end of the measuring range, in the engineering unit.',
  },
  rangeMax: {
    type: 'number',
    title: 'Range maximum',
    description: 'Upper end of the measuring range; must exceed rangeMin.',
  },
} as const;

const tagBaseRequired = ['sensorId', 'name', 'kind', 'unit'] as const;

const registerSchema = {
  type: 'object',
  title: 'Modbus register',
  description: 'Where and how the value sits in the device.',
  additionalProperties: false,
  required: ['table', 'address', 'type'],
  properties: {
    table: {
      enum: REGISTER_TABLES,
      title: 'Table',
      description:
        'coil (FC1), discrete input (FC2), holding register (FC3) or input register (FC4).',
    },
    address: {
      type: 'integer',
      minimum: 0,
      maximum: MODBUS_MAX_ADDRESS,
      title: 'Address',
      description: 'Zero-based protocol address (register 30001 is input address 0).',
    },
    type: {
      enum: REGISTER_TYPES,
      title: 'Data type',
      description:
        'bool, 16/32-bit integers, IEEE 754 float32/float64, or ASCII string. float32 values read as the shortest decimal of the float32 (47.59389, not 47.59389114379883).',
    },
    wordOrder: {
      enum: WORD_ORDERS,
      default: 'ABCD',
      title: 'Byte and word order',
      description:
        'ABCD big-endian; DCBA little-endian; BADC bytes swapped in each word; CDAB words swapped.',
    },
    scale: {
      type: 'number',
      default: 1,
      title: 'Scale',
      description:
        "engineering = raw * scale + offset, kept to the decimals of raw, scale and offset (scale 0.1 on an integer: 1 decimal) unless the tag's decimals say otherwise.",
    },
    offset: {
      type: 'number',
      default: 0,
      title: 'Offset',
      description: 'engineering = raw * scale + offset.',
    },
    bit: {
      type: 'integer',
      minimum: 0,
      maximum: 15,
      title: 'Bit',
      description:
        'For type bool in a holding/input register: the bit to read (0 = least significant); without it, any non-zero register is true.',
    },
    count: {
      type: 'integer',
      minimum: 1,
      title: 'Register count',
      description: 'For type string only: registers holding the text, 2 ASCII characters each.',
    },
    currentLoop: {
      type: 'object',
      title: '4-20 mA loop counts',
      description:
        'The register holds raw 4-20 mA loop counts (int16/uint16): the value spans the tag rangeMin..rangeMax over 4..20 mA; NAMUR NE 43 sets the quality.',
      additionalProperties: false,
      required: ['rawAt4mA', 'rawAt20mA'],
      properties: {
        rawAt4mA: { type: 'number', title: 'Counts at 4 mA', description: 'Raw value at 4 mA.' },
        rawAt20mA: {
          type: 'number',
          title: 'Counts at 20 mA',
          description: 'Raw value at 20 mA; must differ from rawAt4mA.',
        },
      },
    },
  },
} as const;

const modbusTagSchema = {
  type: 'object',
  title: 'Modbus tag',
  description: 'One sensor value read from the device.',
  additionalProperties: false,
  required: [...tagBaseRequired, 'register'],
  properties: {
    ...tagBaseProperties,
    register: registerSchema,
    decimals: {
      type: 'integer',
      minimum: 0,
      maximum: 15,
      title: 'Decimals',
      description:
        "The sensor's resolution as decimal places the value is rounded to at acquisition (1 for a 0.1 %LEL detector, 0 for 1 ppm). Default: integers keep the decimals of scale and offset (scale 0.1: 1), float32 the shortest decimal that reads back as the same float32 (about 7 significant digits), float64 its full precision. Numeric types only.",
    },
    pollGroup: {
      type: 'string',
      minLength: 1,
      title: 'Poll group',
      description: "Name of one of the device's pollGroups; default the device's pollIntervalMs.",
    },
  },
} as const;

const deadbandSchema = {
  type: 'object',
  title: 'Deadband',
  description:
    'OPC UA data-change deadband (Part 4 §7.22.2), numeric items only: absolute in the engineering unit, or percent of the EURange (Part 8 §6.2); items that cannot take it are monitored without.',
  additionalProperties: false,
  // value is required for absolute and percent only (cross-checks.ts), not for none.
  required: ['type'],
  properties: {
    type: {
      enum: OPCUA_DEADBAND_TYPES,
      title: 'Deadband type',
      description: 'none, absolute or percent.',
    },
    value: {
      type: 'number',
      minimum: 0,
      title: 'Deadband value',
      description: 'Size: engineering units (absolute) or 0..100 % of the EURange (percent).',
    },
  },
} as const;

/**
 * OPC UA built-in scalar types a tag may declare (Part 6 §5.1.2). Declaring one is
 * optional: the gateway reads the node's DataType anyway; a declared type lets the
 * configuration be checked before start (a deadband on a non-numeric tag).
 */
export const OPCUA_TAG_DATA_TYPES = [
  'Boolean',
  'SByte',
  'Byte',
  'Int16',
  'UInt16',
  'Int32',
  'UInt32',
  'Int64',
  'UInt64',
  'Float',
  'Double',
  'String',
  'DateTime',
] as const;

/** The numeric ones: only these can take a data-change deadband (Part 4 §7.22.2). */
export const OPCUA_NUMERIC_DATA_TYPES: ReadonlySet<string> = new Set(
  OPCUA_TAG_DATA_TYPES.filter((t) => !['Boolean', 'String', 'DateTime'].includes(t)),
);

/** NodeId string forms of OPC UA Part 6 §5.3.1.10 (i=, s=, g=, b= with optional ns=/nsu=). */
export const NODE_ID_PATTERN = '^(ns=[0-9]+;|nsu=[^;]+;)?[isgb]=.+$';

const opcuaTagSchema = {
  type: 'object',
  title: 'OPC UA tag',
  description: 'One sensor value the gateway subscribes to.',
  additionalProperties: false,
  required: [...tagBaseRequired, 'nodeId'],
  properties: {
    ...tagBaseProperties,
    nodeId: {
      type: 'string',
      pattern: NODE_ID_PATTERN,
      title: 'Node id',
      description: "OPC UA NodeId string, e.g. 'ns=1;s=Tank1.Temperature' or 'i=2258'.",
    },
    dataType: {
      enum: OPCUA_TAG_DATA_TYPES,
      title: 'Data type',
      description:
        "The node's OPC UA DataType, when known: optional (the gateway reads it from the server), checked against the deadband at startup.",
    },
    deadband: deadbandSchema,
  },
} as const;

const deviceId = {
  type: 'string',
  pattern: ID_PATTERN,
  title: 'Device id',
  description: 'Unique device name used in logs (letters, digits, _ . -).',
} as const;

/** Keys of every Modbus device, whatever its transport. */
const modbusCommonProperties = {
  id: deviceId,
  unitId: {
    type: 'integer',
    minimum: 0,
    maximum: 255,
    default: 1,
    title: 'Unit id',
    description: 'Modbus unit (slave) id; several devices on one bus differ by unit id.',
  },
  pollIntervalMs: {
    type: 'integer',
    minimum: 10,
    maximum: 3_600_000,
    default: 1000,
    title: 'Poll interval (ms)',
    description: 'Time between polls; a poll still running when the next is due is skipped.',
  },
  timeoutMs: {
    type: 'integer',
    minimum: 10,
    maximum: 60_000,
    default: 1000,
    title: 'Timeout (ms)',
    description: 'Reply timeout of one request, and connect timeout.',
  },
  maxRegistersPerRead: {
    type: 'integer',
    minimum: 1,
    maximum: MODBUS_MAX_REGISTERS_PER_READ,
    default: MODBUS_MAX_REGISTERS_PER_READ,
    title: 'Max registers per read',
    description: 'Largest read request; Modbus allows 125, some devices accept less.',
  },
  maxGapRegisters: {
    type: 'integer',
    minimum: 0,
    maximum: MODBUS_MAX_REGISTERS_PER_READ,
    default: 8,
    title: 'Max gap (registers)',
    description:
      'Unused registers one coalesced read may span between two tags (bits: 16 times this).',
  },
  pollGroups: {
    type: 'array',
    title: 'Poll groups',
    description: 'Named intervals; a tag with pollGroup is polled at its group interval.',
    items: {
      type: 'object',
      title: 'Poll group',
      description: 'A named poll interval.',
      additionalProperties: false,
      required: ['name', 'intervalMs'],
      properties: {
        name: { type: 'string', minLength: 1, title: 'Name', description: 'Group name.' },
        intervalMs: {
          type: 'integer',
          minimum: 10,
          maximum: 3_600_000,
          title: 'Interval (ms)',
          description: 'Time between polls of this group.',
        },
      },
    },
  },
  tags: {
    type: 'array',
    minItems: 1,
    items: modbusTagSchema,
    title: 'Tags',
    description: 'Sensor values read from this device.',
  },
} as const;

const tcpHostProperties = {
  host: {
    type: 'string',
    minLength: 1,
    title: 'Host',
    description: 'IP address or host name.',
  },
  port: {
    type: 'integer',
    minimum: 1,
    maximum: 65_535,
    default: 502,
    title: 'Port',
    description: 'TCP port (502 is the registered Modbus port).',
  },
} as const;

const modbusTcpDeviceSchema = {
  type: 'object',
  title: 'Modbus TCP device',
  description: 'A Modbus TCP server (PLC, gas controller, serial gateway) polled at a fixed rate.',
  additionalProperties: false,
  required: ['id', 'protocol', 'host', 'tags'],
  properties: {
    ...modbusCommonProperties,
    protocol: { const: 'modbus-tcp', title: 'Protocol', description: 'Device protocol.' },
    ...tcpHostProperties,
  },
} as const;

const modbusRtuTcpDeviceSchema = {
  type: 'object',
  title: 'Modbus RTU over TCP device',
  description:
    'RTU frames over a TCP socket (serial device server); devices naming the same host:port share one bus.',
  additionalProperties: false,
  required: ['id', 'protocol', 'host', 'tags'],
  properties: {
    ...modbusCommonProperties,
    protocol: { const: 'modbus-rtu-tcp', title: 'Protocol', description: 'Device protocol.' },
    ...tcpHostProperties,
  },
} as const;

const modbusRtuDeviceSchema = {
  type: 'object',
  title: 'Modbus RTU device',
  description:
    'RTU over a serial port; devices naming the same serialPort share one bus (requests serialised).',
  additionalProperties: false,
  required: ['id', 'protocol', 'serialPort', 'tags'],
  properties: {
    ...modbusCommonProperties,
    protocol: { const: 'modbus-rtu', title: 'Protocol', description: 'Device protocol.' },
    serialPort: {
      type: 'string',
      minLength: 1,
      title: 'Serial port',
      description: 'Serial device path, e.g. /dev/ttyUSB0.',
    },
    baudRate: {
      type: 'integer',
      enum: [1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200],
      default: 9600,
      title: 'Baud rate',
      description: 'Line speed; every device on one bus must use the same.',
    },
    parity: {
      enum: SERIAL_PARITIES,
      // Modbus over Serial Line V1.02 §2.5.1: even parity is the required default.
      default: 'even',
      title: 'Parity',
      description: 'none, even (Modbus default) or odd.',
    },
    dataBits: { enum: [7, 8], default: 8, title: 'Data bits', description: 'RTU uses 8.' },
    stopBits: {
      enum: [1, 2],
      default: 1,
      title: 'Stop bits',
      description: '1, or 2 when parity is none (Modbus over Serial Line §2.5.1).',
    },
  },
} as const;

const opcuaDeviceSchema = {
  type: 'object',
  title: 'OPC UA device',
  description: 'An OPC UA server; tags are monitored items of one subscription.',
  additionalProperties: false,
  required: ['id', 'protocol', 'endpointUrl', 'tags'],
  properties: {
    id: deviceId,
    protocol: { const: 'opcua', title: 'Protocol', description: 'Device protocol.' },
    endpointUrl: {
      type: 'string',
      pattern: '^opc\\.tcp://.+',
      title: 'Endpoint URL',
      description: "Server endpoint, e.g. 'opc.tcp://10.0.0.5:4840'.",
    },
    securityMode: {
      enum: OPCUA_SECURITY_MODES,
      default: 'None',
      title: 'Security mode',
      description: 'Message security mode; None must be paired with security policy None.',
    },
    securityPolicy: {
      enum: OPCUA_SECURITY_POLICIES,
      default: 'None',
      title: 'Security policy',
      description: 'Security policy (Sha256 policies only: Node 20 blocks RSA PKCS#1 v1.5).',
    },
    username: {
      type: 'string',
      minLength: 1,
      title: 'Username',
      description: 'User identity token; needs password. Without it the session is anonymous.',
    },
    password: {
      type: 'string',
      title: 'Password',
      description: 'Password of username.',
    },
    trustUnknownServer: {
      type: 'boolean',
      default: false,
      title: 'Trust unknown server',
      description:
        'false: the server certificate must be in pkiDir/trusted/certs; true accepts and stores any (commissioning only).',
    },
    pkiDir: {
      type: 'string',
      minLength: 1,
      title: 'PKI folder',
      description:
        "Client certificate (created once, kept) and trust lists; default the gateway's opcuaPkiDir.",
    },
    readMode: {
      enum: OPCUA_READ_MODES,
      default: 'subscribe',
      title: 'Read mode',
      description:
        'subscribe: monitored items (polling Read is the automatic fallback when the server refuses subscriptions); poll: Read every samplingIntervalMs.',
    },
    queueSize: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: 10,
      title: 'Queue size',
      description: 'Values the server keeps per item between publishes.',
    },
    deadband: deadbandSchema,
    samplingIntervalMs: {
      type: 'integer',
      minimum: 0,
      maximum: 3_600_000,
      default: 500,
      title: 'Sampling interval (ms)',
      description:
        'Server-side sampling interval (poll interval with readMode poll). The gateway asks for publishing 10x as often; the server may revise both, and the granted publishing interval is logged.',
    },
    tags: {
      type: 'array',
      minItems: 1,
      items: opcuaTagSchema,
      title: 'Tags',
      description: 'Sensor values monitored on this server.',
    },
  },
} as const;

export const gatewayConfigSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'HazardWatch gateway configuration',
  type: 'object',
  additionalProperties: false,
  required: ['gateway', 'uplink', 'devices'],
  properties: {
    gateway: {
      type: 'object',
      title: 'Gateway',
      description: 'Who this gateway is.',
      additionalProperties: false,
      required: ['id', 'enterpriseId'],
      properties: {
        id: {
          type: 'string',
          pattern: ID_PATTERN,
          title: 'Gateway id',
          description: 'Appears in MQTT topics: letters, digits, _ . - (1-64 characters).',
        },
        enterpriseId: {
          type: 'string',
          pattern: ID_PATTERN,
          title: 'Enterprise id',
          description: 'Enterprise the plant belongs to; appears in MQTT topics.',
        },
        name: {
          type: 'string',
          maxLength: 200,
          title: 'Name',
          description: 'Human name of the gateway.',
        },
      },
    },
    uplink: {
      type: 'object',
      title: 'Uplink',
      description: 'MQTT connection to the regulator platform.',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: {
          type: 'string',
          pattern: '^(mqtt|mqtts|ws|wss)://.+',
          title: 'Broker URL',
          description: 'mqtt://, mqtts://, ws:// or wss:// URL; HAZARDWATCH_MQTT_URL overrides it.',
        },
        username: { type: 'string', title: 'Username', description: 'MQTT username.' },
        password: { type: 'string', title: 'Password', description: 'MQTT password.' },
        publishIntervalMs: {
          type: 'integer',
          minimum: 10,
          maximum: 60_000,
          default: 500,
          title: 'Publish interval (ms)',
          description: 'Telemetry is batched and published at this interval.',
        },
        keepaliveS: {
          type: 'integer',
          minimum: 1,
          maximum: 65_535,
          default: 30,
          title: 'Keepalive (s)',
          description: 'MQTT keepalive interval.',
        },
        outbox: {
          type: 'object',
          title: 'Outbox',
          description:
            'Disk outbox holding telemetry and alarms until the server acknowledges them (docs/durability.md). Without a path the outbox lives in memory and a restart loses the backlog.',
          additionalProperties: false,
          properties: {
            path: {
              type: 'string',
              minLength: 1,
              title: 'Outbox file',
              description: 'SQLite file of the outbox, e.g. /var/lib/hazardwatch/outbox.db.',
            },
            telemetryMaxMB: {
              type: 'integer',
              minimum: 1,
              maximum: 1_048_576,
              title: 'Telemetry bound (MiB)',
              description:
                'Telemetry backlog bound; about 60 bytes per reading, so 256 MiB holds about 12 h at 100 readings/s. Default 256.',
            },
            alarmReserveMB: {
              type: 'integer',
              minimum: 1,
              maximum: 65_536,
              title: 'Alarm reserve (MiB)',
              description:
                'Space kept for alarms outside the telemetry bound; alarms are never shed. Default 16.',
            },
            highWaterPct: {
              type: 'integer',
              minimum: 1,
              maximum: 100,
              title: 'High-water mark (%)',
              description: 'Telemetry fill that raises the high-water event. Default 80.',
            },
            telemetrySync: {
              enum: ['full', 'normal'],
              title: 'Telemetry fsync',
              description:
                "full: each telemetry batch is fsynced (survives power loss); normal: survives a crash, a power cut may lose the last batches. Alarms are always 'full'. Default full.",
            },
          },
        },
        ackTimeoutMs: {
          type: 'integer',
          minimum: 100,
          maximum: 600_000,
          title: 'Ack timeout (ms)',
          description:
            'An item the server has not acknowledged within this time is sent again. Default 10000.',
        },
        replayReadingsPerS: {
          type: 'integer',
          minimum: 100,
          title: 'Replay rate (readings/s)',
          description:
            'Bound on the rate the telemetry backlog is replayed at after an outage; live data and alarms go first. Keep it at least 3 times the live rate. Default 30000.',
        },
        maxInFlight: {
          type: 'integer',
          minimum: 1,
          maximum: 1_000,
          title: 'In-flight window',
          description: 'Telemetry batches sent and not yet acknowledged. Default 16.',
        },
        tls: {
          type: 'object',
          title: 'TLS',
          description:
            "TLS for an mqtts:// url; with certFile and keyFile, mutual TLS (the certificate's CN is the gateway id). Relative paths are resolved against this file's folder.",
          additionalProperties: false,
          properties: {
            caFile: {
              type: 'string',
              minLength: 1,
              title: 'CA file',
              description:
                "CA bundle (PEM) the broker's certificate must chain to; default the system CAs.",
            },
            certFile: {
              type: 'string',
              minLength: 1,
              title: 'Client certificate',
              description: 'Client certificate (PEM) for mutual TLS; needs keyFile.',
            },
            keyFile: {
              type: 'string',
              minLength: 1,
              title: 'Client key',
              description: 'Private key (PEM) of certFile.',
            },
            rejectUnauthorized: {
              type: 'boolean',
              default: true,
              title: 'Verify the broker',
              description:
                'Refuse a broker whose certificate does not chain to caFile or name the host; false only for commissioning.',
            },
            servername: {
              type: 'string',
              minLength: 1,
              title: 'Server name',
              description:
                "Host name (SNI and certificate check) when it differs from the url's host.",
            },
          },
        },
      },
    },
    rules: {
      type: 'object',
      title: 'Rules',
      description: 'Edge alarm rules.',
      additionalProperties: false,
      default: {},
      properties: {
        files: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          title: 'Rule files',
          description: "Rule files; relative paths are resolved against this file's folder.",
        },
        drill: {
          type: 'boolean',
          default: false,
          title: 'Drill mode',
          description: 'Tag every alarm as a drill; drill alarms never page an emergency centre.',
        },
      },
    },
    devices: {
      type: 'array',
      title: 'Devices',
      description: 'Field devices the gateway acquires from.',
      items: {
        type: 'object',
        title: 'Device',
        description: `One device; protocol is one of ${DEVICE_PROTOCOLS.join(', ')}.`,
        discriminator: { propertyName: 'protocol' },
        oneOf: [
          modbusTcpDeviceSchema,
          modbusRtuTcpDeviceSchema,
          modbusRtuDeviceSchema,
          opcuaDeviceSchema,
        ],
      },
    },
  },
} as const;
