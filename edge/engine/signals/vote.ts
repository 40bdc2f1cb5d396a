/** `vote`: how many of the detectors are beyond the vote setpoint (k-out-of-n voting). */
import { fmt } from '../../conditions/shared.js';
import { defineSignal } from './behaviour.js';

export const voteSignal = defineSignal({
  kind: 'vote',
  code: 6,
  init(limit, signal) {
    limit.flags = new Uint8Array(signal.sensors.length);
    limit.voteSign = signal.direction === 'high' ? 1 : -1;
    limit.voteRaise = signal.direction === 'high' ? signal.setpoint : -signal.setpoint;
    limit.voteHold = limit.voteRaise - signal.deadband;
    limit.flag = signal.faultVotes;
  },
  onReading(limit, _sensor, input, v) {
    const flags = limit.flags!;
    const held = flags[input]!;
    let vote: number;
    if (Number.isNaN(v)) vote = limit.flag ? 1 : held;
    else {
      const x = limit.voteSign * v;
      vote = held === 1 ? (x >= limit.voteHold ? 1 : 0) : x >= limit.voteRaise ? 1 : 0;
    }
    if (vote !== held) {
      flags[input] = vote;
      limit.flagCount += vote === 1 ? 1 : -1;
    }
    return limit.flagCount;
  },
  raiseMessage(spec, x) {
    const signal = spec.signal as { sensors: readonly string[]; setpoint: number };
    const n = signal.sensors.length;
    return `${spec.ruleId}: ${fmt(x)} of ${n} detectors beyond ${fmt(signal.setpoint)} (${fmt(spec.setpoint)}oo${n} vote) (level ${spec.level})`;
  },
  clearMessage: (spec) => `${spec.ruleId}: ${spec.limitName} (level ${spec.level}) cleared`,
});
