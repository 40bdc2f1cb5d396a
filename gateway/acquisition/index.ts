export { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
export { type CoalesceOptions, coalesceReads, type ReadBlock } from './modbus/coalesce.js';
export {
  type DecodedValue,
  decodeRegisters,
  encodeRegisters,
  toEngineering,
  wordsToBytes,
} from './modbus/decode.js';
export {
  type ModbusTcpCounters,
  ModbusTcpSource,
  type ModbusTcpSourceDeps,
} from './modbus/modbus-tcp-source.js';
export {
  type OpcuaCounters,
  OpcuaSource,
  type OpcuaSourceDeps,
  qualityOf,
} from './opcua/opcua-source.js';
export { Acquisition, type AcquisitionDeps, createSource } from './registry.js';
export { type AcquisitionSource, COMM_LOST, type ReadingSink } from './source.js';
