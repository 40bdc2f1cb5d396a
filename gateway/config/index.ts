export { deviceStatusSensors, sensorCatalogue } from './catalogue.js';
export { ConfigError } from './errors.js';
export { ENV_OVERRIDES, loadGatewayConfig, type ParseOptions, parseGatewayConfig } from './load.js';
export { isBitTable, REGISTER_WIDTH, registerCount } from './register.js';
export {
  gatewayConfigSchema,
  MODBUS_MAX_ADDRESS,
  MODBUS_MAX_REGISTERS_PER_READ,
  NODE_ID_PATTERN,
} from './schema.js';
export * from './types.js';
