/**
 * A chattering alarm left unfixed for days: one rule on one gateway raised at least
 * `options.raisesPerDay` times on each of the last `options.days` days (today included). An
 * alarm-management finding (ISA-18.2 "chattering alarm"); the thresholds are ours.
 */
import type { ConditionType } from './types.js';
import { none } from './types.js';

export const DAY_MS = 24 * 60 * 60_000;

export const alarmChattering: ConditionType = {
  name: 'alarm-chattering',
  evaluate(ctx, rule) {
    const perDay = typeof rule.options.raisesPerDay === 'number' ? rule.options.raisesPerDay : 10;
    const days = typeof rule.options.days === 'number' ? rule.options.days : 3;
    const today = Math.floor(ctx.now / DAY_MS);
    const result = none();
    for (const [key, counts] of ctx.raisesByDay) {
      let ok = true;
      for (let d = today - days + 1; d <= today && ok; d++) ok = (counts.get(d) ?? 0) >= perDay;
      if (!ok) continue;
      const [enterpriseId = '', gatewayId = '', ruleId = ''] = key.split('\u0000');
      result.findings.push({
        subject: `${gatewayId}/${ruleId}`,
        enterpriseId,
        installationId: null,
        since: (today - days + 1) * DAY_MS,
        evidence: {
          gatewayId,
          ruleId,
          raisesPerDay: Array.from(
            { length: days },
            (_, i) => counts.get(today - days + 1 + i) ?? 0,
          ),
          threshold: perDay,
        },
      });
    }
    return result;
  },
};
