/** Validators for the fleet payloads the gateway receives (schemas in protocol/payloads.ts). */
import { Ajv } from 'ajv';
import {
  type FleetCommand,
  type FleetConfigDocument,
  fleetCommandSchema,
  fleetConfigDocumentSchema,
} from '../../protocol/index.js';

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validateDocument = ajv.compile<FleetConfigDocument>(fleetConfigDocumentSchema);
const validateCommand = ajv.compile<FleetCommand>(fleetCommandSchema);

export type Decoded<T> = { ok: true; value: T } | { ok: false; errors: string[] };

function decode<T>(
  payload: Buffer,
  validate: typeof validateDocument | typeof validateCommand,
): Decoded<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { ok: false, errors: [`(payload): not JSON: ${(err as Error).message}`] };
  }
  if (validate(parsed)) return { ok: true, value: parsed as T };
  return {
    ok: false,
    errors: (validate.errors ?? []).map(
      (e) =>
        `${e.instancePath.slice(1).replaceAll('/', '.') || '(document)'}: ${e.message ?? 'invalid'}`,
    ),
  };
}

export const decodeConfigDocument = (payload: Buffer): Decoded<FleetConfigDocument> =>
  decode<FleetConfigDocument>(payload, validateDocument);
export const decodeFleetCommand = (payload: Buffer): Decoded<FleetCommand> =>
  decode<FleetCommand>(payload, validateCommand);
