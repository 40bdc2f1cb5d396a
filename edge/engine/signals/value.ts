/** `value`: the sensor's value itself (gas, oxygen, threshold). Evaluated inline by the engine. */
import { defineSignal } from './behaviour.js';

export const valueSignal = defineSignal({
  kind: 'value',
  code: 0,
  init() {},
  onReading: (_limit, _sensor, _input, v) => v,
});
