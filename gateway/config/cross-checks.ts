/**
 * Rules JSON Schema cannot express, reported in the same `path: message (got value)`
 * form. Runs on data the schema accepted, with defaults applied.
 */
import { errorLine, formatPath, type PathSegment } from './errors.js';
import { isBitTable, registerCount } from './register.js';
import { MODBUS_MAX_ADDRESS, MODBUS_MAX_REGISTERS_PER_READ } from './schema.js';
import {
  type GatewayConfig,
  isModbusDevice,
  type ModbusDeviceConfig,
  type ModbusTagConfig,
  type TagBase,
} from './types.js';

export function crossCheck(config: GatewayConfig): string[] {
  const lines: string[] = [];
  checkUplinkTls(config, lines);
  const deviceIds = new Map<string, PathSegment[]>();
  const sensorIds = new Map<string, PathSegment[]>();
  /** Bus key → first device on it, for RTU bus settings and unit ids. */
  const buses = new Map<string, { path: PathSegment[]; device: ModbusDeviceConfig }[]>();

  config.devices.forEach((device, d) => {
    const devicePath: PathSegment[] = ['devices', d];
    const firstDevice = deviceIds.get(device.id);
    if (firstDevice) {
      lines.push(
        errorLine(
          [...devicePath, 'id'],
          `duplicate device id, first used at ${formatPath([...firstDevice, 'id'])}`,
          device.id,
        ),
      );
    } else {
      deviceIds.set(device.id, devicePath);
    }

    device.tags.forEach((tag, t) => {
      const tagPath: PathSegment[] = [...devicePath, 'tags', t];
      const firstSensor = sensorIds.get(tag.sensorId);
      if (firstSensor) {
        lines.push(
          errorLine(
            [...tagPath, 'sensorId'],
            `duplicate sensorId, first used at ${formatPath([...firstSensor, 'sensorId'])}`,
            tag.sensorId,
          ),
        );
      } else {
        sensorIds.set(tag.sensorId, tagPath);
      }
      checkTagBase(tag, tagPath, lines);
      if (isModbusDevice(device)) {
        checkModbusRegister(device, tag as ModbusTagConfig, tagPath, lines);
      }
    });

    if (isModbusDevice(device)) checkModbusDevice(device, devicePath, buses, lines);

    if (device.protocol === 'opcua') {
      const noneMode = device.securityMode === 'None';
      const nonePolicy = device.securityPolicy === 'None';
      if (noneMode !== nonePolicy) {
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
    }
  });
  return lines;
}

/** Poll groups, and devices sharing one RTU bus (same serial port or RTU-over-TCP host:port). */
function checkModbusDevice(
  device: ModbusDeviceConfig,
  devicePath: PathSegment[],
  buses: Map<string, { path: PathSegment[]; device: ModbusDeviceConfig }[]>,
  lines: string[],
): void {
  const groups = new Set<string>();
  device.pollGroups?.forEach((group, g) => {
    if (groups.has(group.name)) {
      lines.push(
        errorLine([...devicePath, 'pollGroups', g, 'name'], 'duplicate poll group', group.name),
      );
    }
    groups.add(group.name);
  });
  device.tags.forEach((tag, t) => {
    if (tag.pollGroup !== undefined && !groups.has(tag.pollGroup)) {
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

  if (device.protocol === 'modbus-tcp') return;
  const key =
    device.protocol === 'modbus-rtu'
      ? `serial:${device.serialPort}`
      : `rtu-tcp:${device.host}:${device.port}`;
  const onBus = buses.get(key) ?? [];
  for (const other of onBus) {
    if (other.device.unitId === device.unitId) {
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
      if (first.device[setting] !== device[setting]) {
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

function checkTagBase(tag: TagBase, path: PathSegment[], lines: string[]): void {
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
  device: ModbusDeviceConfig,
  tag: ModbusTagConfig,
  tagPath: PathSegment[],
  lines: string[],
): void {
  const register = tag.register;
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
    if (loop.rawAt4mA === loop.rawAt20mA) {
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
    if (register.scale !== 1 || register.offset !== 0) {
      lines.push(
        errorLine(
          [...path, register.scale !== 1 ? 'scale' : 'offset'],
          'cannot be used with currentLoop (rangeMin..rangeMax sets the scaling)',
          register.scale !== 1 ? register.scale : register.offset,
        ),
      );
    }
  }
  if (isBitTable(register.table)) return;

  const span = registerCount(register);
  // Modbus Application Protocol V1.1b3 §6.3/§6.4: one FC3/FC4 read carries at most 125 registers.
  const limit = Math.min(device.maxRegistersPerRead, MODBUS_MAX_REGISTERS_PER_READ);
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
function checkUplinkTls(config: GatewayConfig, lines: string[]): void {
  const tls = config.uplink.tls;
  if (!tls) return;
  const path: PathSegment[] = ['uplink', 'tls'];
  if (!/^(mqtts|wss):\/\//.test(config.uplink.url)) {
    lines.push(
      errorLine(
        ['uplink', 'url'],
        'must be an mqtts:// or wss:// url when uplink.tls is set',
        config.uplink.url,
      ),
    );
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    const missing = tls.certFile === undefined ? 'certFile' : 'keyFile';
    const other = missing === 'certFile' ? 'keyFile' : 'certFile';
    lines.push(errorLine([...path, missing], `is required with ${other}`));
  }
}
