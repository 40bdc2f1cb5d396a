/**
 * The alarm path end to end, through every real part of the demo plant (poll,
 * edge rules, FULL-synced outbox, MQTT QoS 1, broker, ingest, SQLite ledger,
 * signed webhook with its durable delivery row) to the emergency centre's
 * receiver, with a per-hop breakdown (bench/e2e-trace.ts) and an in-memory
 * baseline measured on the same changes (bench/inmemory-baseline.ts).
 *
 * Processes, as deployed (bench/e2e-plant.ts): the central server in its own
 * process, started like server/main.ts; the gateway under test in its own; the
 * simulators, the in-memory flow and both HTTP receivers in the bench process;
 * background telemetry in a fourth. Both end-to-end figures (ours and the flow's) run from
 * the change at the simulator to the arrival at a receiver in the bench process,
 * so they are read on one clock and share the same process setup.
 *
 * Three phases in one plant:
 * 1. Modbus, 100 ms poll, no background load: each sample sets the methane
 *    channel from 1 to 60 %LEL and times until the receiver accepted the
 *    level-2 notification; the in-memory flow polls the same simulator at the
 *    same interval and sees the same change, so both are measured on the same
 *    samples and machine noise hits both alike. Then back to 1 %LEL, wait for
 *    the clear (and the flow's re-arm), and a random pause of up to one poll
 *    interval spreads the change over the poll cycle.
 *    e2e.alarm_to_receiver_ms_p99 (<= 115 ms), e2e.vs_inmemory_p99_ratio (<= 1.1).
 * 2. OPC UA, 100 ms sampling: tank 1's temperature from 18 to 90 °C (HH 80 °C,
 *    level 2) to the notification at the receiver. e2e.opcua_alarm_to_receiver_ms_p99 (<= 150 ms).
 * 3. Phase 1 again while other MQTT clients send 50,000 telemetry points/s into
 *    the same server: the same breakdown, to show the alarm hops do not grow
 *    with telemetry load.
 *
 * The rules are the demo's without on-delays, so the figures are the pipeline,
 * not a deliberate wait. Floor: the poll (sampling) interval, half of it on average.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ReceivedNotification } from '../simulators/emergency-receiver.js';
import { E2eLoadProcess, E2ePlant } from './e2e-plant.js';
import type { ServerHop } from './e2e-server.js';
import { GcProbe } from './e2e-stalls.js';
import { HopTracer, wallNow } from './e2e-trace.js';
import { InMemoryFlow } from './inmemory-baseline.js';
import { type Benchmark, type Metric, percentile, round } from './metric.js';

const SAMPLES = Number(process.env.BENCH_E2E_SAMPLES ?? 200);
const OPCUA_SAMPLES = Number(process.env.BENCH_E2E_OPCUA_SAMPLES ?? 100);
const LOAD_SAMPLES = Number(process.env.BENCH_E2E_LOAD_SAMPLES ?? 100);
const LOAD_POINTS_PER_S = Number(process.env.BENCH_E2E_LOAD_POINTS_PER_S ?? 50_000);
/** Writes every alarm's hop marks and the GC pauses there (JSON) at the end, to study single alarms. */
const MARKS_FILE = process.env.BENCH_E2E_MARKS_FILE;
const WARMUP = 3;
const POLL_MS = 100;
const PAGE_TIMEOUT_MS = 10_000;
const LOAD_WARMUP_MS = 2_000;
// The demo's methane rule (GB/T 50493-2019 §5.5.3 items 1-2: level 2 <= 50 %LEL; the demo uses
// 40 %LEL, deadband 2) without its on-delay, and tank 1's temperature HH (process limit, not a
// standard's) without its on-delay.
const METHANE = { setpoint: 40, deadband: 2, high: 60, low: 1 };
const TANK = { high: 90, low: 18 };
const RULES = `version: 1
rules:
  - id: GT-101-gas
    sensor: GT-101
    type: gas
    gas: methane
    measure: LEL
    level1: 20 # %LEL
    level2: ${METHANE.setpoint} # %LEL, GB/T 50493-2019 §5.5.3 item 1 allows at most 50
    deadband: ${METHANE.deadband} # %LEL
    onDelayMs: 0
  - id: TT-201-temperature
    sensor: TT-201
    type: threshold
    unit: °C
    limits:
      - { name: H, level: 1, direction: high, setpoint: 60, deadband: 1, onDelayMs: 0 }
      - { name: HH, level: 2, direction: high, setpoint: 80, deadband: 1, onDelayMs: 0 }
`;

async function waitUntil(done: () => boolean, what: string, timeoutMs = PAGE_TIMEOUT_MS) {
  const deadline = performance.now() + timeoutMs;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`e2e bench: ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const pause = () => new Promise((r) => setTimeout(r, Math.floor(Math.random() * POLL_MS)));

function stats(sorted: readonly number[]) {
  return {
    p50: round(percentile(sorted, 50), 1),
    p99: round(percentile(sorted, 99), 1),
    max: round(sorted.at(-1) ?? Number.NaN, 1),
  };
}

interface Run {
  ours: number[];
  baseline: number[];
  alarmIds: string[];
  /** A page did not reach the receiver within PAGE_TIMEOUT_MS and the phase stopped there. */
  timedOut: boolean;
}

class E2eRunner {
  private readonly seen = new Set<string>();

  constructor(
    private readonly plant: E2ePlant,
    private readonly tracer: HopTracer,
    private readonly flow: InMemoryFlow | null,
    /** Alarm ids whose clear the server's ledger committed (reported by the server process). */
    private readonly clearedIds: ReadonlySet<string>,
  ) {}

  private async page(sensorId: string): Promise<ReceivedNotification> {
    const page = await this.plant.receiver.waitFor(
      (n) => n.level === 2 && n.sensorId === sensorId && !this.seen.has(n.alarmId),
      PAGE_TIMEOUT_MS,
    );
    this.seen.add(page.alarmId);
    return page;
  }

  private async cleared(page: ReceivedNotification): Promise<void> {
    await waitUntil(() => this.clearedIds.has(page.alarmId), `alarm ${page.alarmId} did not clear`);
  }

  private latency(page: ReceivedNotification, changedAt: number): number {
    this.tracer.mark(page.alarmId, 'changed', changedAt);
    const at = this.tracer.get(page.alarmId)?.centre_received;
    if (at === undefined) throw new Error(`e2e bench: no receive mark for ${page.alarmId}`);
    return at - changedAt;
  }

  /**
   * With `stopOnTimeout` (the loaded phase), a page or a clear that does not
   * reach its end within PAGE_TIMEOUT_MS ends the phase with the samples it has
   * and says so (Run.timedOut) instead of failing the whole bench: a server that
   * falls behind its telemetry is the figure that phase is there to show.
   */
  async modbus(samples: number, stopOnTimeout = false): Promise<Run> {
    const run: Run = { ours: [], baseline: [], alarmIds: [], timedOut: false };
    const detector = this.plant.gasDetector;
    try {
      for (let i = 0; i < samples + WARMUP; i++) {
        const flowArrival = this.flow?.nextArrival();
        const changedAt = wallNow();
        detector.setValue(0, METHANE.high);
        const [page, flowAt] = await Promise.all([this.page('GT-101'), flowArrival]);
        if (i >= WARMUP) {
          run.ours.push(this.latency(page, changedAt));
          run.alarmIds.push(page.alarmId);
          if (flowAt !== undefined) run.baseline.push(flowAt - changedAt);
        }
        detector.setValue(0, METHANE.low);
        await this.cleared(page);
        if (this.flow) await waitUntil(() => !this.flow!.alarmed, 'in-memory flow did not re-arm');
        await pause();
      }
    } catch (err) {
      if (!stopOnTimeout) throw err;
      process.stderr.write(`e2e bench: loaded phase stopped early: ${(err as Error).message}\n`);
      run.timedOut = true;
      detector.setValue(0, METHANE.low);
    }
    return run;
  }

  async opcua(samples: number): Promise<Run> {
    const run: Run = { ours: [], baseline: [], alarmIds: [], timedOut: false };
    const tanks = this.plant.tankFarm;
    for (let i = 0; i < samples + WARMUP; i++) {
      const changedAt = wallNow();
      tanks.setValue('Tank1', 'Temperature', TANK.high);
      const page = await this.page('TT-201');
      if (i >= WARMUP) {
        run.ours.push(this.latency(page, changedAt));
        run.alarmIds.push(page.alarmId);
      }
      tanks.setValue('Tank1', 'Temperature', TANK.low);
      await this.cleared(page);
      await pause();
    }
    return run;
  }
}

const bench: Benchmark = {
  name: 'e2e',
  async *run(): AsyncIterable<Metric> {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'hw-bench-e2e-'));
    const rules = path.join(tmp, 'rules.yaml');
    await writeFile(rules, RULES);
    const tracer = new HopTracer();
    const clearedIds = new Set<string>();
    const plant = new E2ePlant({
      dir: tmp,
      pollMs: POLL_MS,
      ruleFiles: [rules],
      onServerGc: (pause) => tracer.gcPause(pause),
      onGatewayGc: (pause) => tracer.gcPause(pause),
      onEdgeHop: (hop) => tracer.edgeHop(hop),
      onServerHop: (hop: ServerHop) => {
        tracer.serverHop(hop);
        if (hop.hop === 'ledger-committed' && hop.transition === 'cleared') {
          clearedIds.add(hop.alarmId);
        }
      },
    });
    const gc = new GcProbe('bench', (pause) => tracer.gcPause(pause));
    let flow: InMemoryFlow | null = null;
    let load: E2eLoadProcess | null = null;
    const metrics: Metric[] = [];
    const machine = { cores: os.cpus().length, loadAverage1mAtStart: round(os.loadavg()[0]!, 2) };
    try {
      await plant.start();
      gc.start();
      tracer.attach({ receiver: plant.receiver });
      flow = new InMemoryFlow({
        host: '127.0.0.1',
        port: plant.gasDetector.port,
        unitId: 1,
        address: 0, // GT-101: channel 0, float32 ABCD (config/demo-gateway.yaml)
        setpoint: METHANE.setpoint,
        deadband: METHANE.deadband,
        pollMs: POLL_MS,
      });
      await flow.start();
      const runner = new E2eRunner(plant, tracer, flow, clearedIds);

      // Phase 1: Modbus and the in-memory flow on the same changes, no background load.
      const quiet = await runner.modbus(SAMPLES);
      const ours = [...quiet.ours].sort((a, b) => a - b);
      const base = [...quiet.baseline].sort((a, b) => a - b);
      const ctx = {
        samples: ours.length,
        poll_interval_ms: POLL_MS,
        on_delay_ms: 0,
        background_points_per_s: 0,
        ...machine,
      };
      const o = stats(ours);
      const b = stats(base);
      metrics.push(
        { metric: 'e2e.alarm_to_receiver_ms_p50', value: o.p50, unit: 'ms', ...ctx },
        {
          metric: 'e2e.alarm_to_receiver_ms_p99',
          value: o.p99,
          unit: 'ms',
          target: '<= 115',
          ...ctx,
        },
        { metric: 'e2e.alarm_to_receiver_ms_max', value: o.max, unit: 'ms', ...ctx },
        {
          metric: 'e2e.inmemory_baseline_ms_p99',
          value: b.p99,
          unit: 'ms',
          p50: b.p50,
          max: b.max,
          ...ctx,
        },
        {
          metric: 'e2e.vs_inmemory_p99_ratio',
          value: round(o.p99 / b.p99, 3),
          unit: 'ratio',
          target: '<= 1.1',
          p50_ratio: round(o.p50 / b.p50, 3),
          ...ctx,
        },
        ...tracer.breakdown(quiet.alarmIds, { path: 'modbus', background_points_per_s: 0 }),
      );
      for (const m of metrics) yield m;
      metrics.length = 0;

      // Phase 2: OPC UA subscription at 100 ms sampling.
      if (OPCUA_SAMPLES > 0) {
        const opc = await runner.opcua(OPCUA_SAMPLES);
        const sorted = [...opc.ours].sort((a, b) => a - b);
        const s = stats(sorted);
        yield {
          metric: 'e2e.opcua_alarm_to_receiver_ms_p99',
          value: s.p99,
          unit: 'ms',
          target: '<= 150',
          p50: s.p50,
          max: s.max,
          samples: sorted.length,
          sampling_interval_ms: POLL_MS,
          ...machine,
        };
        for (const m of tracer.breakdown(opc.alarmIds, {
          path: 'opcua',
          background_points_per_s: 0,
        }))
          yield m;
      }

      // Phase 3: Phase 1 again with background telemetry into the same server.
      if (LOAD_SAMPLES > 0 && LOAD_POINTS_PER_S > 0) {
        load = new E2eLoadProcess();
        await load.start({
          url: `mqtt://127.0.0.1:${plant.server!.mqttPort}`,
          enterpriseId: plant.gateway!.enterpriseId,
          pointsPerS: LOAD_POINTS_PER_S,
          gateways: 4,
        });
        await new Promise((r) => setTimeout(r, LOAD_WARMUP_MS));
        const before = await plant.server!.stats();
        const loaded = await runner.modbus(LOAD_SAMPLES, true);
        const after = await plant.server!.stats();
        const rate = await load.stop();
        load = null;
        const sorted = [...loaded.ours].sort((a, b) => a - b);
        const sortedBase = [...loaded.baseline].sort((a, b) => a - b);
        const s = stats(sorted);
        const sb = stats(sortedBase);
        const loadCtx = { background_points_per_s: round(rate, 0), ...machine };
        yield {
          metric: 'e2e.loaded_alarm_to_receiver_ms_p99',
          value: s.p99,
          unit: 'ms',
          p50: s.p50,
          max: s.max,
          inmemory_p99: sb.p99,
          vs_inmemory_p99_ratio: round(s.p99 / sb.p99, 3),
          samples: sorted.length,
          ...loadCtx,
        };
        yield {
          metric: 'e2e.loaded_phase_stopped_early',
          value: loaded.timedOut ? 1 : 0,
          unit: 'count',
          timeout_ms: PAGE_TIMEOUT_MS,
          // The phase stops at the first page or clear later than the timeout: the samples before it.
          samples_before: sorted.length,
          samples_planned: LOAD_SAMPLES,
          ...loadCtx,
        };
        // Whether the server kept up: readings it stored per second during the phase against
        // what the load sent (a server behind its telemetry delays the alarms behind it).
        yield {
          metric: 'e2e.loaded_server_stored_points_per_s',
          value: round(((after.readings - before.readings) / (after.at - before.at)) * 1000, 0),
          unit: 'points/s',
          heap_used_mb_before: before.heapUsedMb,
          heap_used_mb_after: after.heapUsedMb,
          rss_mb_after: after.rssMb,
          ...loadCtx,
        };
        // How busy the server's one event loop was in the phase: an alarm that arrives at a loop
        // busy a fraction u of the time waits behind the work in front of it (queueing grows
        // like u / (1 - u)), so this is what the server_received hop follows under load.
        const activeMs = after.loop.active - before.loop.active;
        const idleMs = after.loop.idle - before.loop.idle;
        yield {
          metric: 'e2e.loaded_server_loop_utilization',
          value: round(activeMs / (activeMs + idleMs), 3),
          unit: 'ratio',
          server_cpu_core_share: round(
            (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) /
              1000 /
              (after.at - before.at),
            3,
          ),
          ...loadCtx,
        };
        for (const m of tracer.breakdown(loaded.alarmIds, { path: 'modbus', ...loadCtx })) yield m;
      }
      yield {
        metric: 'e2e.load_average_1m_at_end',
        value: round(os.loadavg()[0]!, 2),
        unit: 'load',
        ...machine,
      };
    } finally {
      if (MARKS_FILE) await writeFile(MARKS_FILE, JSON.stringify(tracer.dump()));
      gc.stop();
      tracer.stop();
      await load?.stop();
      await flow?.stop();
      await plant.stop();
      await rm(tmp, { recursive: true, force: true });
    }
  },
};

export default bench;
