/**
 * Rules JSON Schema cannot express, reported in the same `path: message (got value)`
 * form. Runs with defaults applied, on data the schema accepted, or on the parts of it
 * the schema accepted (well-formed.ts): any key may then be absent, so every check
 * first makes sure the values it compares are there.
 */

import { isTlsUrl } from '../uplink/tls.js';
import { errorLine, formatPath, type PathSegment } from './errors.js';
import { isBitTable, registerCount } from './register.js';
import {
  MODBUS_MAX_ADDRESS,
  MODBUS_MAX_REGISTERS_PER_READ,
  OPCUA_NUMERIC_DATA_TYPES,
} from './schema.js';
import type {
  DeviceConfig,
  GatewayConfig,
  ModbusDeviceConfig,
  ModbusTagConfig,
  OpcuaDeadbandConfig,
  OpcuaDeviceConfig,
  TagBase,
} from './types.js';
import type { Unchecked } from './well-formed.js';

type Device = Unchecked<DeviceConfig>;
type ModbusDevice = Unchecked<ModbusDeviceConfig>;
type Bus = Map<string, { path: PathSegment[]; device: ModbusDevice }[]>;

function isModbus(device: Device): device is ModbusDevice {
  return (
    device.protocol === 'modbus-tcp' ||
    device.protocol === 'modbus-rtu' ||
    device.protocol === 'modbus-rtu-tcp'
  );
}

/**
 * `rejected(path)` is true where the schema rejected a value (well-formed.ts): an absent
 * key there is unknown, not absent.
 */
export function crossCheck(
  config: Unchecked<GatewayConfig>,
  rejected: (path: readonly PathSegment[]) => boolean = () => false,
): string[] {
  const lines: string[] = [];
  checkUplinkTls(config, lines);
  const deviceIds = new Map<string, PathSegment[]>();
  const sensorIds = new Map<string, PathSegment[]>();
  /** Bus key → first device on it, for RTU bus settings and unit ids. */
  const buses: Bus = new Map();

  config.devices?.forEach((device, d) => {
    if (!device) return;
    const devicePath: PathSegment[] = ['devices', d];
    const firstDevice = device.id === undefined ? undefined : deviceIds.get(device.id);
    if (firstDevice) {
      lines.push(
        errorLine(
          [...devicePath, 'id'],
          `duplicate device id, first used at ${formatPath([...firstDevice, 'id'])}`,
          device.id,
        ),
      );
    } else if (device.id !== undefined) {
      deviceIds.set(device.id, devicePath);
    }

    device.tags?.forEach((tag, t) => {
      if (!tag) return;
      const tagPath: PathSegment[] = [...devicePath, 'tags', t];
      const firstSensor = tag.sensorId === undefined ? undefined : sensorIds.get(tag.sensorId);
      if (firstSensor) {
        lines.push(
          errorLine(
            [...tagPath, 'sensorId'],
            `duplicate sensorId, first used at ${formatPath([...firstSensor, 'sensorId'])}`,
            tag.sensorId,
          ),
        );
      } else if (tag.sensorId !== undefined) {
        sensorIds.set(tag.sensorId, tagPath);
      }
      checkTagBase(tag, tagPath, lines);
      if (isModbus(device)) {
        checkModbusRegister(device, tag as Unchecked<ModbusTagConfig>, tagPath, lines);
      }
    });

    if (isModbus(device)) checkModbusDevice(device, devicePath, buses, rejected, lines);

    if (device.protocol === 'opcua') {
      const noneMode = device.securityMode === 'None';
      const nonePolicy = device.securityPolicy === 'None';
      const known = device.securityMode !== undefined && device.securityPolicy !== undefined;
      if (known && noneMode !== nonePolicy) {
        lines.push(
          errorLine(
            [...devicePath, 'securityPolicy'],
            noneMode
              ? 'must be None when securityMode is None'
              : `must not be None when securityMode is ${device.securityMode}`,
            device.securityPolicy,
          ),
        );
      }
      if ((device.username === undefined) !== (device.password === undefined)) {
        const missing = device.username === undefined ? 'username' : 'password';
        const other = missing === 'username' ? 'password' : 'username';
        lines.push(errorLine([...devicePath, missing], `is required with ${other}`));
      }
      checkOpcuaDeadbands(device, devicePath, rejected, lines);
    }
  });
  return lines;
}

/**
 * OPC UA deadbands (Part 4 §7.22.2): absolute and percent need a value, percent at most
 * 100; a tag's own deadband on a tag that declares a non-numeric dataType can never
 * apply. A device-level deadband is a default for the numeric tags and is not an error
 * on a device that also has Boolean or String tags (they are monitored without it).
 */
function checkOpcuaDeadbands(
  device: Unchecked<OpcuaDeviceConfig>,
  devicePath: PathSegment[],
  rejected: (path: readonly PathSegment[]) => boolean,
  lines: string[],
): void {
  const checkValue = (deadband: Unchecked<OpcuaDeadbandConfig> | undefined, at: PathSegment[]) => {
    if (!deadband || deadband.type === undefined || deadband.type === 'none') return;
    // A value the schema rejected is unknown, not missing: its own line names it.
    if (deadband.value === undefined && !rejected([...at, 'value'])) {
      lines.push(errorLine([...at, 'value'], `is required with type ${deadband.type}`));
    } else if (
      deadband.type === 'percent' &&
      deadband.value !== undefined &&
      deadband.value > 100
    ) {
      lines.push(
        errorLine([...at, 'value'], 'must be at most 100 (percent of the EURange)', deadband.value),
      );
    }
  };
  checkValue(device.deadband, [...devicePath, 'deadband']);
  device.tags?.forEach((tag, t) => {
    if (!tag) return;
    const tagPath = [...devicePath, 'tags', t];
    const own = tag.deadband;
    checkValue(own, [...tagPath, 'deadband']);
    // dataType is a key of the OPC UA tag schema (schema.ts OPCUA_TAG_DATA_TYPES).
    const dataType = (tag as { dataType?: string }).dataType;
    if (own?.type && own.type !== 'none' && dataType && !OPCUA_NUMERIC_DATA_TYPES.has(dataType)) {
      lines.push(
        errorLine(
          [...tagPath, 'deadband', 'type'],
          `a deadband applies to numeric data types only (OPC UA Part 4 §7.22.2); this tag's dataType is ${dataType}: remove the deadband or use type none`,
          own.type,
        ),
      );
    }
  });
}

/** Poll groups, and devices sharing one RTU bus (same serial port or RTU-over-TCP host:port). */
function checkModbusDevice(
  device: ModbusDevice,
  devicePath: PathSegment[],
  buses: Bus,
  rejected: (path: readonly PathSegment[]) => boolean,
  lines: string[],
): void {
  const groups = new Set<string>();
  device.pollGroups?.forEach((group, g) => {
    if (group?.name === undefined) return;
    if (groups.has(group.name)) {
      lines.push(
        errorLine([...devicePath, 'pollGroups', g, 'name'], 'duplicate poll group', group.name),
      );
    }
    groups.add(group.name);
  });
  // A poll group the schema rejected is unknown, not missing: its tags are not checked.
  const groupsKnown =
    !rejected([...devicePath, 'pollGroups']) &&
    (device.pollGroups ?? []).every((group) => group?.name !== undefined);
  device.tags?.forEach((tag, t) => {
    if (!groupsKnown || tag?.pollGroup === undefined) return;
    if (!groups.has(tag.pollGroup)) {
      const known = [...groups].join(', ') || 'none defined';
      lines.push(
        errorLine(
          [...devicePath, 'tags', t, 'pollGroup'],
          `must name one of the device's pollGroups (${known})`,
          tag.pollGroup,
        ),
      );
    }
  });

  const key = busKey(device);
  if (key === undefined) return;
  const onBus = buses.get(key) ?? [];
  for (const other of onBus) {
    if (device.unitId !== undefined && other.device.unitId === device.unitId) {
      lines.push(
        errorLine(
          [...devicePath, 'unitId'],
          `duplicate unit id on one bus, first used at ${formatPath([...other.path, 'unitId'])}`,
          device.unitId,
        ),
      );
    }
  }
  const first = onBus[0];
  if (first && device.protocol === 'modbus-rtu' && first.device.protocol === 'modbus-rtu') {
    for (const setting of ['baudRate', 'parity', 'dataBits', 'stopBits'] as const) {
      const theirs = first.device[setting];
      if (theirs !== undefined && device[setting] !== undefined && theirs !== device[setting]) {
        lines.push(
          errorLine(
            [...devicePath, setting],
            `must match the other devices on serial port '${device.serialPort}' (${formatPath([...first.path, setting])} is ${String(first.device[setting])})`,
            device[setting],
          ),
        );
      }
    }
  }
  onBus.push({ path: devicePath, device });
  buses.set(key, onBus);
}

/** The shared bus of an RTU device; undefined for TCP (a bus of its own) or an unknown bus. */
function busKey(device: ModbusDevice): string | undefined {
  if (device.protocol === 'modbus-rtu') {
    return device.serialPort === undefined ? undefined : `serial:${device.serialPort}`;
  }
  if (device.protocol === 'modbus-rtu-tcp') {
    if (device.host === undefined || device.port === undefined) return undefined;
    return `rtu-tcp:${device.host}:${device.port}`;
  }
  return undefined;
}

function checkTagBase(tag: Unchecked<TagBase>, path: PathSegment[], lines: string[]): void {
  if (tag.rangeMin !== undefined && tag.rangeMax !== undefined && !(tag.rangeMin < tag.rangeMax)) {
    lines.push(
      errorLine(
        [...path, 'rangeMax'],
        `must be greater than rangeMin (${tag.rangeMin})`,
        tag.rangeMax,
      ),
    );
  }
  // The GB/T 50493-2019 §5.5.3 setpoint checks depend on the gas: a gas sensor must name it.
  if (tag.kind === 'gas' && tag.gas === undefined) {
    lines.push(errorLine([...path, 'gas'], "is required for kind 'gas'"));
  }
}

function checkModbusRegister(
  device: ModbusDevice,
  tag: Unchecked<ModbusTagConfig>,
  tagPath: PathSegment[],
  lines: string[],
): void {
  const register = tag.register;
  // Table and type decide every check below; without both there is nothing to compare.
  if (register?.table === undefined || register.type === undefined) return;
  const path: PathSegment[] = [...tagPath, 'register'];
  if (isBitTable(register.table) && register.type !== 'bool') {
    lines.push(
      errorLine(
        [...path, 'type'],
        `must be bool: table '${register.table}' holds single bits`,
        register.type,
      ),
    );
  }
  if (register.bit !== undefined && (register.type !== 'bool' || isBitTable(register.table))) {
    lines.push(
      errorLine(
        [...path, 'bit'],
        'only allowed with type bool on a holding or input register',
        register.bit,
      ),
    );
  }
  if (tag.decimals !== undefined && (register.type === 'bool' || register.type === 'string')) {
    lines.push(
      errorLine([...tagPath, 'decimals'], 'only allowed with a numeric type', register.type),
    );
  }
  if (register.type === 'string' && register.count === undefined) {
    lines.push(errorLine([...path, 'count'], "is required for type 'string'"));
  }
  if (register.type !== 'string' && register.count !== undefined) {
    lines.push(errorLine([...path, 'count'], "only allowed with type 'string'", register.count));
  }
  if (register.currentLoop !== undefined) {
    const loop = register.currentLoop;
    if (register.type !== 'int16' && register.type !== 'uint16') {
      lines.push(
        errorLine(
          [...path, 'currentLoop'],
          'only allowed with type int16 or uint16',
          register.type,
        ),
      );
    }
    if (loop.rawAt4mA !== undefined && loop.rawAt4mA === loop.rawAt20mA) {
      lines.push(
        errorLine(
          [...path, 'currentLoop', 'rawAt20mA'],
          'must differ from rawAt4mA',
          loop.rawAt20mA,
        ),
      );
    }
    if (tag.rangeMin === undefined || tag.rangeMax === undefined) {
      lines.push(
        errorLine(
          [...tagPath, tag.rangeMin === undefined ? 'rangeMin' : 'rangeMax'],
          'is required with register.currentLoop (4 mA is rangeMin, 20 mA is rangeMax)',
        ),
      );
    }
    const scale = register.scale ?? 1;
    const offset = register.offset ?? 0;
    if (scale !== 1 || offset !== 0) {
      lines.push(
        errorLine(
          [...path, scale !== 1 ? 'scale' : 'offset'],
          'cannot be used with currentLoop (rangeMin..rangeMax sets the scaling)',
          scale !== 1 ? scale : offset,
        ),
      );
    }
  }
  if (isBitTable(register.table)) return;

  const span = registerCount({ type: register.type, count: register.count });
  // Modbus Application Protocol V1.1b3 §6.3/§6.4: one FC3/FC4 read carries at most 125 registers.
  const limit = Math.min(
    device.maxRegistersPerRead ?? MODBUS_MAX_REGISTERS_PER_READ,
    MODBUS_MAX_REGISTERS_PER_READ,
  );
  if (span > limit) {
    const key = register.type === 'string' ? 'count' : 'type';
    const value = register.type === 'string' ? register.count : register.type;
    lines.push(
      errorLine(
        [...path, key],
        `spans ${span} registers; one read carries at most ${limit} (device maxRegistersPerRead, Modbus limit ${MODBUS_MAX_REGISTERS_PER_READ})`,
        value,
      ),
    );
  }
  if (register.address === undefined) return;
  const last = register.address + span - 1;
  if (last > MODBUS_MAX_ADDRESS) {
    lines.push(
      errorLine(
        [...path, 'address'],
        `value spans addresses ${register.address}..${last}, beyond ${MODBUS_MAX_ADDRESS}`,
        register.address,
      ),
    );
  }
}

/** uplink.tls: only with a TLS url, and a client certificate always with its key. */
function checkUplinkTls(config: Unchecked<GatewayConfig>, lines: string[]): void {
  const tls = config.uplink?.tls;
  if (!tls) return;
  const path: PathSegment[] = ['uplink', 'tls'];
  const url = config.uplink?.url;
  if (url !== undefined && !isTlsUrl(url)) {
    lines.push(
      errorLine(['uplink', 'url'], 'must be an mqtts:// or wss:// url when uplink.tls is set', url),
    );
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    const missing = tls.certFile === undefined ? 'certFile' : 'keyFile';
    const other = missing === 'certFile' ? 'keyFile' : 'certFile';
    lines.push(errorLine([...path, missing], `is required with ${other}`));
  }
}
