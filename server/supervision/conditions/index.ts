/** Every condition type, registered once (a pack names one by its `condition`). */
import type { ConditionName } from '../packs.js';
import { alarmChattering } from './alarm-chattering.js';
import { alarmNotHandled } from './alarm-not-handled.js';
import { detectorNotWorking } from './detector-not-working.js';
import { gatewayOutage } from './gateway-outage.js';
import { interlockBypassed } from './interlock-bypassed.js';
import { noGasDetector } from './no-gas-detector.js';
import { setpointLooserThanStandard } from './setpoint-looser.js';
import { storageOverRegistered } from './storage-over-registered.js';
import type { ConditionType } from './types.js';

export const CONDITION_TYPES: Readonly<Record<ConditionName, ConditionType>> = {
  'detector-not-working': detectorNotWorking,
  'setpoint-looser-than-standard': setpointLooserThanStandard,
  'no-gas-detector': noGasDetector,
  'interlock-bypassed': interlockBypassed,
  'storage-over-registered': storageOverRegistered,
  'alarm-not-handled': alarmNotHandled,
  'alarm-chattering': alarmChattering,
  'gateway-outage': gatewayOutage,
};

export type { ConditionResult, ConditionType, Finding, ScreeningContext } from './types.js';
