/**
 * Per-hop timestamps of alarms on their way from the field to the emergency
 * centre, for the e2e benchmark. Marks live in a side table keyed by alarm id
 * (nothing is added to the alarm or its payload), filled by the observer hooks
 * of the parts on the path; a part nobody observes pays one null check.
 *
 * Every mark is performance.now() in this process (the whole plant runs in one
 * process in the benchmark), so hop durations are monotonic and sub-millisecond.
 */
import type { Gateway } from '../gateway/gateway.js';
import type { MqttUplink, UplinkAlarmHop } from '../gateway/uplink/mqtt-uplink.js';
import type { CentralServer } from '../server/central-server.js';
import type { IngestAlarmHop } from '../server/ingest.js';
import type { EmergencyReceiver } from '../simulators/emergency-receiver.js';
import { type Metric, percentile, round } from './metric.js';

/** The hops in path order; each hop's duration is measured from the one before it. */
export const HOPS = [
  'changed', // the bench changed the value at the simulator
  'poll_completed', // the poll's readings reached the edge (rule evaluation starts)
  'rule_decided', // the rule engine returned the transition
  'outbox_committed', // the alarm's FULL commit (fsync) in the outbox returned
  'published', // its MQTT PUBLISH was handed to the socket
  'server_received', // the broker handed it to ingest
  'ledger_committed', // the alarm ledger committed it
  'notification_sent', // its delivery row was committed and the signed POST handed to the HTTP client
  'centre_received', // the emergency centre's receiver accepted it (signature checked)
  'centre_acknowledged', // the centre's answer reached the notifier
] as const;
export type Hop = (typeof HOPS)[number];

const UPLINK_HOPS: Record<UplinkAlarmHop, Hop> = {
  'outbox-committed': 'outbox_committed',
  published: 'published',
};
const INGEST_HOPS: Record<IngestAlarmHop, Hop> = {
  received: 'server_received',
  'ledger-committed': 'ledger_committed',
};

type Marks = Partial<Record<Hop, number>>;

export class HopTracer {
  private readonly marks = new Map<string, Marks>();
  private readonly detach: (() => void)[] = [];

  /** The first mark of a hop wins (a redelivery or a retry does not move it). */
  mark(alarmId: string, hop: Hop, at: number): void {
    let marks = this.marks.get(alarmId);
    if (!marks) {
      marks = {};
      this.marks.set(alarmId, marks);
    }
    if (marks[hop] === undefined) marks[hop] = at;
  }

  get(alarmId: string): Marks | undefined {
    return this.marks.get(alarmId);
  }

  /**
   * Hooks every part of one plant. The edge has no observer for "readings
   * arrived" and "rule decided" yet (gateway/gateway.ts is not this bench's to
   * change), so the engine's evaluate() is wrapped on this one instance.
   */
  attach(parts: { gateway: Gateway; server: CentralServer; receiver: EmergencyReceiver }): void {
    const engine = parts.gateway.engine;
    const evaluate = engine.evaluate;
    engine.evaluate = (readings) => {
      const startedAt = performance.now();
      const transitions = evaluate.call(engine, readings);
      if (transitions.length > 0) {
        const decidedAt = performance.now();
        for (const t of transitions) {
          if (t.transition !== 'raised') continue;
          this.mark(t.alarmId, 'poll_completed', startedAt);
          this.mark(t.alarmId, 'rule_decided', decidedAt);
        }
      }
      return transitions;
    };
    this.detach.push(() => {
      engine.evaluate = evaluate;
    });
    const uplink = parts.gateway.uplink as MqttUplink;
    uplink.observeAlarms((hop, alarmId, at) => this.mark(alarmId, UPLINK_HOPS[hop], at));
    this.detach.push(() => uplink.observeAlarms(null));
    const { ingest, notifier } = parts.server;
    ingest.observeAlarms((hop, event, at) => {
      if (event.transition === 'raised') this.mark(event.alarmId, INGEST_HOPS[hop], at);
    });
    this.detach.push(() => ingest.observeAlarms(null));
    const sending = (t: { alarmId: string; at: number }) =>
      this.mark(t.alarmId, 'notification_sent', t.at);
    const answered = (t: { alarmId: string; at: number }) =>
      this.mark(t.alarmId, 'centre_acknowledged', t.at);
    notifier.on('sending', sending);
    notifier.on('answered', answered);
    const received = (n: { alarmId: string }) =>
      this.mark(n.alarmId, 'centre_received', performance.now());
    parts.receiver.on('notification', received);
    this.detach.push(() => {
      notifier.off('sending', sending);
      notifier.off('answered', answered);
      parts.receiver.off('notification', received);
    });
  }

  stop(): void {
    for (const undo of this.detach.splice(0)) undo();
  }

  /**
   * One metric line per hop: p99 as the value, p50 and max beside it, over the
   * given alarms (those that have every mark).
   */
  breakdown(alarmIds: readonly string[], context: Record<string, unknown>): Metric[] {
    const complete = alarmIds
      .map((id) => this.marks.get(id))
      .filter((m): m is Marks => m !== undefined && HOPS.every((h) => m[h] !== undefined));
    const out: Metric[] = [];
    for (let i = 1; i < HOPS.length; i++) {
      const from = HOPS[i - 1]!;
      const hop = HOPS[i]!;
      const durations = complete.map((m) => m[hop]! - m[from]!).sort((a, b) => a - b);
      out.push({
        metric: 'e2e.hop_ms_p99',
        value: round(percentile(durations, 99), 2),
        unit: 'ms',
        hop,
        from,
        p50: round(percentile(durations, 50), 2),
        max: round(durations.at(-1) ?? Number.NaN, 2),
        alarms: complete.length,
        ...context,
      });
    }
    return out;
  }
}
