/**
 * Former name of the Modbus source, kept for existing imports: ModbusSource handles
 * TCP, RTU and RTU over TCP alike (modbus-source.ts).
 */
export {
  type ModbusCounters as ModbusTcpCounters,
  ModbusSource as ModbusTcpSource,
  type ModbusSourceDeps as ModbusTcpSourceDeps,
} from './modbus-source.js';
