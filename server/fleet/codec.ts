/** Validators for the fleet payloads the server receives (schemas in protocol/payloads.ts). */
import { Ajv, type ValidateFunction } from 'ajv';
import {
  type FleetCommandResult,
  type FleetConfigStatus,
  type FleetHealth,
  fleetCommandResultSchema,
  fleetConfigStatusSchema,
  fleetHealthSchema,
} from '../../protocol/index.js';

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

function decoder<T>(validate: ValidateFunction<T>): (payload: Buffer) => Decoded<T> {
  return (payload) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return { ok: false, error: `not JSON: ${(err as Error).message}` };
    }
    if (validate(parsed)) return { ok: true, value: parsed };
    const errors = (validate.errors ?? []).slice(0, 5);
    return {
      ok: false,
      error: errors.map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}`).join('; '),
    };
  };
}

export const decodeFleetHealth = decoder<FleetHealth>(ajv.compile<FleetHealth>(fleetHealthSchema));
export const decodeFleetConfigStatus = decoder<FleetConfigStatus>(
  ajv.compile<FleetConfigStatus>(fleetConfigStatusSchema),
);
export const decodeFleetCommandResult = decoder<FleetCommandResult>(
  ajv.compile<FleetCommandResult>(fleetCommandResultSchema),
);
