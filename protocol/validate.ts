/**
 * Compiled validators for every payload of the contract. Both sides use them:
 * the server on ingest, the gateway on acknowledgements, tests on what they see.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import {
  type AlarmEvent,
  alarmEventSchema,
  type FleetCommand,
  type FleetCommandResult,
  type FleetConfigDocument,
  type FleetConfigStatus,
  type FleetHealth,
  fleetCommandResultSchema,
  fleetCommandSchema,
  fleetConfigDocumentSchema,
  fleetConfigStatusSchema,
  fleetHealthSchema,
  type GatewayCommand,
  type GatewayStatus,
  gatewayCommandSchema,
  gatewayStatusSchema,
  type StoreAck,
  storeAckSchema,
  type TelemetryBatch,
  telemetryBatchSchema,
} from './payloads.js';

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });

/** Result of decoding one MQTT payload. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

function describe(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'invalid';
  return errors
    .slice(0, 5)
    .map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}`)
    .join('; ');
}

function decoder<T>(validate: ValidateFunction<T>) {
  return (payload: Buffer | string): Decoded<T> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    } catch (err) {
      return { ok: false, error: `not JSON: ${(err as Error).message}` };
    }
    if (!validate(parsed)) return { ok: false, error: describe(validate.errors) };
    return { ok: true, value: parsed };
  };
}

export const decodeTelemetryBatch = decoder<TelemetryBatch>(
  ajv.compile<TelemetryBatch>(telemetryBatchSchema),
);
export const decodeAlarmEvent = decoder<AlarmEvent>(ajv.compile<AlarmEvent>(alarmEventSchema));
export const decodeGatewayStatus = decoder<GatewayStatus>(
  ajv.compile<GatewayStatus>(gatewayStatusSchema),
);
export const decodeStoreAck = decoder<StoreAck>(ajv.compile<StoreAck>(storeAckSchema));
export const decodeGatewayCommand = decoder<GatewayCommand>(
  ajv.compile<GatewayCommand>(gatewayCommandSchema),
);
export const decodeFleetHealth = decoder<FleetHealth>(ajv.compile<FleetHealth>(fleetHealthSchema));
export const decodeFleetConfigStatus = decoder<FleetConfigStatus>(
  ajv.compile<FleetConfigStatus>(fleetConfigStatusSchema),
);
export const decodeFleetCommandResult = decoder<FleetCommandResult>(
  ajv.compile<FleetCommandResult>(fleetCommandResultSchema),
);

/**
 * Decoding with every problem as `key.path: message`, for payloads an operator reads back (the
 * fleet agent reports a refused configuration document or command with these lines).
 */
export type DecodedWithPaths<T> = { ok: true; value: T } | { ok: false; errors: string[] };

function keyPathDecoder<T>(validate: ValidateFunction<T>) {
  return (payload: Buffer | string): DecodedWithPaths<T> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    } catch (err) {
      return { ok: false, errors: [`(payload): not JSON: ${(err as Error).message}`] };
    }
    if (validate(parsed)) return { ok: true, value: parsed };
    return {
      ok: false,
      errors: (validate.errors ?? []).map(
        (e) =>
          `${e.instancePath.slice(1).replaceAll('/', '.') || '(document)'}: ${e.message ?? 'invalid'}`,
      ),
    };
  };
}

export const decodeFleetConfigDocument = keyPathDecoder<FleetConfigDocument>(
  ajv.compile<FleetConfigDocument>(fleetConfigDocumentSchema),
);
export const decodeFleetCommand = keyPathDecoder<FleetCommand>(
  ajv.compile<FleetCommand>(fleetCommandSchema),
);
