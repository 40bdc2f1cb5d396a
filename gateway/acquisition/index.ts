export { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
export {
  type CoalesceOptions,
  coalesceReads,
  type ReadBlock,
  splitBlock,
} from './modbus/coalesce.js';
export {
  type DecodedValue,
  decimalPlaces,
  decodeRegisters,
  encodeRegisters,
  roundToDecimals,
  shortestFloat32,
  toEngineering,
  wordsToBytes,
} from './modbus/decode.js';
export {
  commLostReason,
  describeConnectFailure,
  describeFailure,
  exceptionReason,
  type Failure,
  isGatewayNoTarget,
  MODBUS_EXCEPTION_NAMES,
} from './modbus/failure.js';
export {
  describeLink,
  LINK_DEFAULTS,
  LinkDownError,
  type LinkSpec,
  ModbusLink,
  ModbusLinkPool,
  ReplyMismatchError,
} from './modbus/link.js';
export {
  MODBUS_DEFAULTS,
  type ModbusCounters,
  ModbusSource,
  type ModbusSourceDeps,
} from './modbus/modbus-source.js';
export {
  type ModbusTcpCounters,
  ModbusTcpSource,
  type ModbusTcpSourceDeps,
} from './modbus/modbus-tcp-source.js';
export { countsToMilliamps, decodeCurrentLoop, type LoopReading, NE43_MA } from './modbus/ne43.js';
export {
  type OpcuaCounters,
  OpcuaSource,
  type OpcuaSourceDeps,
  qualityOf,
} from './opcua/opcua-source.js';
export { Acquisition, type AcquisitionDeps, createSource } from './registry.js';
export {
  type AcquisitionSource,
  COMM_LOST,
  type DeviceStatusEvent,
  type DeviceStatusListener,
  deviceStatusReading,
  deviceStatusSensorId,
  type ReadingSink,
} from './source.js';
export {
  type DeviceWriter,
  type DeviceWriters,
  MAX_WRITE_COILS,
  MAX_WRITE_REGISTERS,
  WriteError,
  type WriteErrorCode,
  type WriteOptions,
  type WriteResult,
} from './writer.js';
