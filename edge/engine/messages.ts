/**
 * What an operator reads: the message of each transition. Kinds with their own
 * wording (stale, fault, vote, ...) give it in their signal file; value-style
 * kinds share the wording here.
 */
import { fmt } from '../conditions/shared.js';
import type { LimitState } from './state.js';
import type { CompiledLimit } from './types.js';

/** Longest message the wire contract allows (alarmEventSchema.message). */
export const MAX_MESSAGE = 500;

/** `GT-101 methane` / `TT-201`: what an operator reads first. */
export function label(spec: CompiledLimit): string {
  return spec.gas === undefined ? spec.sensorId : `${spec.sensorId} ${spec.gas}`;
}

export function raiseMessage(limit: LimitState, x: number): string {
  const spec = limit.spec;
  const own = limit.behaviour.raiseMessage(spec, x);
  if (own !== undefined) return own;
  const relation = spec.direction === 'high' ? 'at or above' : 'at or below';
  return `${label(spec)}${limit.behaviour.describe(spec)} ${fmt(x)} ${spec.unit}, ${relation} ${spec.limitName} setpoint ${fmt(spec.setpoint)} ${spec.unit} (level ${spec.level})`;
}

export function clearMessage(limit: LimitState, x: number): string {
  const spec = limit.spec;
  const own = limit.behaviour.clearMessage(spec, x);
  if (own !== undefined) return own;
  const tail = `${spec.limitName} (level ${spec.level}) cleared`;
  const returnAt =
    spec.direction === 'high' ? spec.setpoint - spec.deadband : spec.setpoint + spec.deadband;
  const relation = spec.direction === 'high' ? 'below' : 'above';
  return `${label(spec)}${limit.behaviour.describe(spec)} ${fmt(x)} ${spec.unit}, back ${relation} ${fmt(returnAt)} ${spec.unit}: ${tail}`;
}

/** Cuts a message to what the wire allows. */
export function clip(message: string): string {
  return message.length > MAX_MESSAGE ? message.slice(0, MAX_MESSAGE) : message;
}
