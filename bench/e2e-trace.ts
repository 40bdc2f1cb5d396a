/**
 * Per-hop timestamps of alarms on their way from the field to the emergency
 * centre, for the e2e benchmark. Marks live in a side table keyed by alarm id
 * (nothing is added to the alarm or its payload), filled by the observer hooks
 * of the parts on the path; a part nobody observes pays one null check.
 *
 * Every mark is wall-clock milliseconds, `performance.timeOrigin + performance.now()`
 * (wallNow() below): the central server runs in its own process (bench/e2e-server.ts)
 * and the monotonic clocks of two processes have different origins, so the two
 * cross-process hops (published → server_received, notification_sent →
 * centre_received) are read on the wall clock both processes share. Hops within a
 * process keep performance.now()'s sub-millisecond resolution (the origin is a
 * constant); a cross-process hop also carries the error of the two processes'
 * timeOrigin readings (microseconds on one machine) and any NTP step in between.
 */
import type { Gateway } from '../gateway/gateway.js';
import type { MqttUplink, UplinkAlarmHop } from '../gateway/uplink/mqtt-uplink.js';
import type { EmergencyReceiver } from '../simulators/emergency-receiver.js';
import type { ServerHop } from './e2e-server.js';
import type { GcPause } from './e2e-stalls.js';
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
const SERVER_HOPS: Record<ServerHop['hop'], Hop> = {
  received: 'server_received',
  'ledger-committed': 'ledger_committed',
  sending: 'notification_sent',
  answered: 'centre_acknowledged',
};

const origin = performance.timeOrigin;

/** An edge hop of a raised alarm, as the gateway process reports it. */
export interface EdgeHop {
  hop: 'poll_completed' | 'rule_decided' | 'outbox_committed' | 'published';
  alarmId: string;
  /** Wall-clock ms. */
  at: number;
}

/**
 * Hooks one gateway (in the process it runs in) and reports its raised alarms'
 * edge hops. The edge has no observer for "readings arrived" and "rule decided"
 * yet, so the engine's evaluate() is wrapped on this one instance. Returns the undo.
 */
export function observeGateway(gateway: Gateway, report: (hop: EdgeHop) => void): () => void {
  const engine = gateway.engine;
  const evaluate = engine.evaluate;
  const raised = new Set<string>();
  engine.evaluate = (readings) => {
    const startedAt = wallNow();
    const transitions = evaluate.call(engine, readings);
    if (transitions.length > 0) {
      const decidedAt = wallNow();
      for (const t of transitions) {
        if (t.transition !== 'raised') continue;
        raised.add(t.alarmId);
        report({ hop: 'poll_completed', alarmId: t.alarmId, at: startedAt });
        report({ hop: 'rule_decided', alarmId: t.alarmId, at: decidedAt });
      }
    }
    return transitions;
  };
  const uplink = gateway.uplink as MqttUplink;
  // The uplink reports every transition it sends; only the raise's first hops are traced.
  uplink.observeAlarms((hop, alarmId, at) => {
    if (!raised.has(alarmId)) return;
    const edge = UPLINK_HOPS[hop] as EdgeHop['hop'];
    report({ hop: edge, alarmId, at: origin + at });
    if (edge === 'published') raised.delete(alarmId);
  });
  return () => {
    engine.evaluate = evaluate;
    uplink.observeAlarms(null);
  };
}
/** Wall-clock ms with performance.now()'s resolution: comparable across processes. */
export const wallNow = (): number => origin + performance.now();

type Marks = Partial<Record<Hop, number>>;

export class HopTracer {
  private readonly marks = new Map<string, Marks>();
  private readonly detach: (() => void)[] = [];
  private readonly gcPauses: GcPause[] = [];

  /** A GC pause of the bench or the server process, to attribute slow hops (breakdown()). */
  gcPause(pause: GcPause): void {
    this.gcPauses.push(pause);
  }

  /** The processes with a GC pause overlapping [from, to] (wall-clock ms). */
  private gcDuring(from: number, to: number): Set<string> {
    const hit = new Set<string>();
    for (const p of this.gcPauses) if (p.at < to && p.at + p.ms > from) hit.add(p.process);
    return hit;
  }

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

  /** Every alarm's marks and every GC pause, for a look at single slow alarms. */
  dump(): { marks: Record<string, Marks>; gcPauses: GcPause[] } {
    return { marks: Object.fromEntries(this.marks), gcPauses: [...this.gcPauses] };
  }

  /** Hooks the emergency centre's receiver (in the bench process). */
  attach(parts: { receiver: EmergencyReceiver }): void {
    const received = (n: { alarmId: string }) => this.mark(n.alarmId, 'centre_received', wallNow());
    parts.receiver.on('notification', received);
    this.detach.push(() => parts.receiver.off('notification', received));
  }

  /** A hop reported by the gateway process (wall clock; raises only, see observeGateway). */
  edgeHop(hop: EdgeHop): void {
    this.mark(hop.alarmId, hop.hop, hop.at);
  }

  /** A hop reported by the server process (wall clock); only the raise is traced. */
  serverHop(hop: ServerHop): void {
    if (hop.transition === 'raised') this.mark(hop.alarmId, SERVER_HOPS[hop.hop], hop.at);
  }

  stop(): void {
    for (const undo of this.detach.splice(0)) undo();
  }

  /**
   * One metric line per hop: p99 as the value, p50 and max beside it, over the
   * given alarms (those that have every mark); `slow` counts the hops over 3x the
   * median and over 5 ms, `slow_with_*_gc` those of them a GC pause of that
   * process overlapped (bench/e2e-stalls.ts).
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
      // Slow: over 3x the median and over 5 ms; how many of those overlapped a GC pause.
      const p50 = percentile(durations, 50);
      const slowAbove = Math.max(5, 3 * p50);
      let slow = 0;
      let slowGcServer = 0;
      let slowGcBench = 0;
      let slowGcGateway = 0;
      for (const m of complete) {
        if (m[hop]! - m[from]! <= slowAbove) continue;
        slow++;
        const gc = this.gcDuring(m[from]!, m[hop]!);
        if (gc.has('server')) slowGcServer++;
        if (gc.has('bench')) slowGcBench++;
        if (gc.has('gateway')) slowGcGateway++;
      }
      out.push({
        metric: 'e2e.hop_ms_p99',
        value: round(percentile(durations, 99), 2),
        unit: 'ms',
        hop,
        from,
        p50: round(p50, 2),
        max: round(durations.at(-1) ?? Number.NaN, 2),
        alarms: complete.length,
        slow,
        slow_with_server_gc: slowGcServer,
        slow_with_bench_gc: slowGcBench,
        slow_with_gateway_gc: slowGcGateway,
        ...context,
      });
    }
    return out;
  }
}
