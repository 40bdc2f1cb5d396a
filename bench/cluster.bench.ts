/**
 * Cluster mode (issue 14, docs/cluster.md) against the embedded single process, on the same
 * machine in the same run. Every server runs in its own process (tests/cluster/pg-node-child.ts), the way
 * separate machines would, and the single-process server does too, so both sides pay the same.
 *
 * - cluster.ingest_points_per_s: two nodes in external-broker mode behind Debian's mosquitto 2
 *   (password and ACL files generated from the users file), platform state on PostgreSQL 15,
 *   telemetry on InfluxDB (VictoriaMetrics), 20 gateways at max rate with 4 unacknowledged
 *   batches each (bench/ingest's throughput load), counted at the gateway's StoreAck.
 * - cluster.vs_single_ratio: that rate ÷ the rate of one embedded server (aedes, the same
 *   VictoriaMetrics) under the same load. The two are measured in alternating rounds
 *   (single, cluster, cluster, single), each with gateways of its own, so drift in the shared
 *   machine's load hits both alike. Target ≥ 0.7: the cluster should cost little.
 * - cluster.failover_alarm_ms_max: three nodes on one PostgreSQL page an emergency centre's
 *   webhook; a real gateway (gateway/gateway.ts with its outbox) raises a level-2 alarm every
 *   200 ms beside 1,000 readings/s; one node is killed with SIGKILL, then the leader. The
 *   longest time from publishAlarms at the gateway to the page at the receiver over the alarms
 *   raised from 2 s before the first kill to the end: target < 5,000 ms.
 * - cluster.lost (alarms never paged) and cluster.duplicate_pages (pages beyond one per
 *   notification id), over every alarm of the failover run: both must be 0.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AlarmTransitionPayload } from '../gateway/uplink/uplink.js';
import {
  backlog,
  type Cleanup,
  PASSWORDS,
  readingsFor,
  startGateway,
  testUsers,
} from '../tests/cluster/harness.js';
import { startPageReceiver } from '../tests/support/page-receiver.js';
import { type PostgresServer, startPostgres } from '../tests/support/postgres.js';
import {
  type BenchNode,
  clusterNodeConfig,
  credentialsOf,
  leaderOf,
  singleConfig,
  spawnNode,
  startBenchMosquitto,
} from './cluster-support.js';
import {
  type BenchGateway,
  GatewayLoad,
  makeGateways,
  sleep,
  startVictoriaMetrics,
} from './ingest-support.js';
import { type Benchmark, type Metric, percentile, round } from './metric.js';

const INGEST = {
  gateways: 20, // per round, as bench/ingest's throughput
  readingsPerBatch: 1_000,
  sensorsPerGateway: 100,
  window: 4, // unacknowledged batches per gateway
  warmupMs: 3_000,
  measureMs: 10_000,
  /** Alternating rounds: drift in the machine's load falls on both sides alike. */
  rounds: ['single', 'cluster', 'cluster', 'single'] as const,
  nodes: 2,
  poolSize: 4, // PostgreSQL connections per node (telemetry does not touch the state much)
} as const;

const FAILOVER = {
  nodes: 3,
  alarmEveryMs: 200,
  tickMs: 20,
  readingsPerSensorPerTick: 4, // 5 sensors × 4 readings every 20 ms = 1,000 readings/s
  warmupMs: 3_000,
  /** Between killing a follower and killing the leader. */
  betweenKillsMs: 4_000,
  /** Alarms go on after the leader's kill for this long. */
  afterKillsMs: 6_000,
  /** Alarms raised this long before the first kill count as raised during the kills. */
  windowBeforeMs: 2_000,
  /**
   * The gateway resends what has no StoreAck after this long (the cluster tests' value; the
   * gateway default is 10 s, which alone would exceed the 5 s target for an alarm a dying node
   * took).
   */
  ackTimeoutMs: 1_000,
  /**
   * mosquitto keeps giving a dead node's session its turns of the shared subscription until
   * the session expires (docs/cluster.md "A dead node's session"): an alarm sent there waits an
   * ack timeout, and its resend may land in a dead session again. With the default 300 s that
   * goes on for minutes; a trial run with 3 s still held one alarm 6.3 s (resent five times
   * while two sessions were dead in turn). 2 s: a node restart slower than that leaves its
   * queued share to the gateways' resends, which is harmless.
   */
  sessionExpirySeconds: 2,
  /** Missing pages are waited for this long before they count as lost (leases are seconds). */
  drainMs: 90_000,
  targetMs: 5_000,
} as const;

const RECEIVER_SECRET = 'bench-centre-secret';
const T0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

function load(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
}

async function withCleanups<T>(body: (cleanups: Cleanup[]) => Promise<T>): Promise<T> {
  const cleanups: Cleanup[] = [];
  try {
    return await body(cleanups);
  } finally {
    while (cleanups.length > 0) {
      try {
        await cleanups.pop()!();
      } catch (err) {
        process.stderr.write(`cluster bench cleanup: ${(err as Error).message}\n`);
      }
    }
  }
}

async function tempDir(cleanups: Cleanup[], prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface RoundResult {
  side: 'single' | 'cluster';
  pointsPerS: number;
  acked: number;
  seconds: number;
  latenciesMs: number[];
  errors: number;
}

async function measureRound(
  side: 'single' | 'cluster',
  url: string,
  gateways: BenchGateway[],
): Promise<RoundResult> {
  const gatewayLoad = new GatewayLoad({
    url,
    gateways,
    mode: 'max',
    readingsPerBatch: INGEST.readingsPerBatch,
    sensorsPerGateway: INGEST.sensorsPerGateway,
    window: INGEST.window,
  });
  try {
    await gatewayLoad.connected();
    gatewayLoad.go();
    await sleep(INGEST.warmupMs);
    await gatewayLoad.sample();
    const started = performance.now();
    await sleep(INGEST.measureMs);
    const stats = await gatewayLoad.sample();
    const seconds = (performance.now() - started) / 1000;
    const result: RoundResult = {
      side,
      pointsPerS: stats.ackedReadings / seconds,
      acked: stats.ackedReadings,
      seconds,
      latenciesMs: stats.latenciesMs,
      errors: stats.errors.length,
    };
    process.stderr.write(
      `cluster bench: ${side} round ${round(result.pointsPerS, 0)} points/s (load ${load()})\n`,
    );
    return result;
  } finally {
    await gatewayLoad.stop();
  }
}

async function ingest(postgres: PostgresServer): Promise<Metric[]> {
  return withCleanups(async (cleanups) => {
    const loadBefore = load();
    const dir = await tempDir(cleanups, 'hw-bench-cluster-');
    const vm = await startVictoriaMetrics();
    cleanups.push(() => vm.stop());
    const { gateways, users } = await makeGateways(INGEST.gateways * INGEST.rounds.length);
    const broker = await startBenchMosquitto(users, credentialsOf(gateways));
    cleanups.push(() => broker.stop());
    const databaseUrl = await postgres.createDatabase('hw_bench_cluster_ingest');

    const single = await spawnNode(
      singleConfig({ users, influxUrl: vm.url, storePath: path.join(dir, 'single.db') }),
      'single',
      dir,
    );
    cleanups.push(() => single.stop());
    const nodes: BenchNode[] = [];
    for (let i = 1; i <= INGEST.nodes; i++) {
      const node = await spawnNode(
        clusterNodeConfig(
          {
            brokerUrl: broker.url,
            databaseUrl,
            poolSize: INGEST.poolSize,
            influxUrl: vm.url,
          },
          `node-${i}`,
          path.join(dir, `node-${i}.db`),
        ),
        `node-${i}`,
        dir,
      );
      cleanups.push(() => node.stop());
      nodes.push(node);
    }

    const rounds: RoundResult[] = [];
    for (const [i, side] of INGEST.rounds.entries()) {
      const slice = gateways.slice(i * INGEST.gateways, (i + 1) * INGEST.gateways);
      const url = side === 'single' ? `mqtt://127.0.0.1:${single.mqttPort}` : broker.url;
      rounds.push(await measureRound(side, url, slice));
      for (const node of [single, ...nodes]) {
        if (!node.alive()) throw new Error(`${node.name} died during the ${side} round`);
      }
    }
    const total = (side: 'single' | 'cluster') => {
      const of = rounds.filter((r) => r.side === side);
      const acked = of.reduce((s, r) => s + r.acked, 0);
      const seconds = of.reduce((s, r) => s + r.seconds, 0);
      const latencies = of.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
      return {
        pointsPerS: acked / seconds,
        rounds: of.map((r) => round(r.pointsPerS, 0)),
        p50: round(percentile(latencies, 50), 1),
        p99: round(percentile(latencies, 99), 1),
        errors: of.reduce((s, r) => s + r.errors, 0),
      };
    };
    const cluster = total('cluster');
    const singleTotal = total('single');
    const common = {
      gateways: INGEST.gateways,
      readingsPerBatch: INGEST.readingsPerBatch,
      windowPerGateway: INGEST.window,
      secondsPerRound: INGEST.measureMs / 1000,
      loadAverage: `${loadBefore} → ${load()}`,
      note: 'loaded: shared 2-core machine; every server in its own process; gateways in a child process on the same cores; counted at StoreAck',
    };
    return [
      {
        metric: 'cluster.ingest_points_per_s',
        value: round(cluster.pointsPerS, 0),
        unit: 'points/s',
        setup: `${INGEST.nodes} nodes, mosquitto 2 (shared subscriptions, generated password/ACL files), PostgreSQL 15 state (pool ${INGEST.poolSize}), influxdb client → victoria-metrics`,
        rounds: cluster.rounds,
        ackLatencyP50Ms: cluster.p50,
        ackLatencyP99Ms: cluster.p99,
        errors: cluster.errors,
        ...common,
      },
      {
        metric: 'cluster.vs_single_ratio',
        value: round(cluster.pointsPerS / singleTotal.pointsPerS, 3),
        unit: 'ratio',
        target: 0.7,
        singlePointsPerS: round(singleTotal.pointsPerS, 0),
        singleRounds: singleTotal.rounds,
        singleAckLatencyP99Ms: singleTotal.p99,
        singleSetup: 'embedded aedes, SQLite state, influxdb client → victoria-metrics',
        order: INGEST.rounds.join(', '),
        ...common,
      },
    ];
  });
}

function levelTwo(n: number): AlarmTransitionPayload {
  const sensorId = `S00${n % 5}`;
  return {
    alarmId: `${sensorId}-gas.L2.bench-${n}`,
    ruleId: `${sensorId}-gas`,
    sensorId,
    level: 2,
    transition: 'raised',
    value: 55,
    unit: '%LEL',
    setpoint: 50, // GB/T 50493-2019 §5.5.3 item 1: level 2 at most 50 %LEL
    ts: Date.now(),
    drill: false,
    message: `cluster bench alarm ${n}`,
  } as AlarmTransitionPayload;
}

async function failover(postgres: PostgresServer): Promise<Metric[]> {
  return withCleanups(async (cleanups) => {
    const loadBefore = load();
    const dir = await tempDir(cleanups, 'hw-bench-failover-');
    const databaseUrl = await postgres.createDatabase('hw_bench_cluster_failover');
    const broker = await startBenchMosquitto(await testUsers(), PASSWORDS);
    cleanups.push(() => broker.stop());
    const receiver = await startPageReceiver();
    cleanups.push(() => receiver.close());
    const nodes: BenchNode[] = [];
    for (let i = 1; i <= FAILOVER.nodes; i++) {
      const node = await spawnNode(
        clusterNodeConfig(
          {
            brokerUrl: broker.url,
            databaseUrl,
            receiver: { url: receiver.url, secret: RECEIVER_SECRET },
            sessionExpirySeconds: FAILOVER.sessionExpirySeconds,
          },
          `node-${i}`,
          path.join(dir, `node-${i}.db`),
        ),
        `node-${i}`,
        dir,
      );
      cleanups.push(() => node.kill());
      nodes.push(node);
    }
    const gateway = await startGateway(cleanups, broker.url, dir, FAILOVER.ackTimeoutMs);
    const connectDeadline = Date.now() + 30_000;
    while (!gateway.uplink.health!().connected) {
      if (Date.now() > connectDeadline) throw new Error('the gateway did not connect');
      await sleep(50);
    }

    // The load: readings every tick, a level-2 alarm every alarmEveryMs, stamped at publish.
    const raisedAt = new Map<string, number>();
    let k = 0;
    let ticks = 0;
    const ticksPerAlarm = Math.round(FAILOVER.alarmEveryMs / FAILOVER.tickMs);
    const timer = setInterval(() => {
      gateway.uplink.publishReadings(readingsFor(T0, k, k + FAILOVER.readingsPerSensorPerTick));
      k += FAILOVER.readingsPerSensorPerTick;
      if (ticks++ % ticksPerAlarm === 0) {
        const alarm = levelTwo(raisedAt.size);
        raisedAt.set(alarm.alarmId, Date.now());
        gateway.uplink.publishAlarms!([alarm]);
      }
    }, FAILOVER.tickMs);
    cleanups.push(() => clearInterval(timer));

    await sleep(FAILOVER.warmupMs);
    const firstLeader = await leaderOf(nodes);
    const follower = nodes.find((n) => n !== firstLeader)!;
    const firstKillAt = Date.now();
    await follower.kill();
    process.stderr.write(`cluster bench: killed follower ${follower.name}\n`);
    await sleep(FAILOVER.betweenKillsMs);
    const leader = await leaderOf(nodes);
    const leaderKilledAt = Date.now();
    await leader.kill();
    process.stderr.write(`cluster bench: killed leader ${leader.name}\n`);
    const newLeader = await leaderOf(nodes);
    const takeoverMs = Date.now() - leaderKilledAt;
    await sleep(FAILOVER.afterKillsMs);
    clearInterval(timer);
    const raisedUntil = Date.now();

    const drainDeadline = Date.now() + FAILOVER.drainMs;
    const paged = () => new Set(receiver.pages.map((p) => p.alarmId));
    while (paged().size < raisedAt.size && Date.now() < drainDeadline) await sleep(100);
    const outboxLeft = backlog(gateway);

    const firstPage = new Map<string, number>();
    for (const page of receiver.pages) {
      if (!firstPage.has(page.alarmId)) firstPage.set(page.alarmId, page.at);
    }
    const windowFrom = firstKillAt - FAILOVER.windowBeforeMs;
    const during: number[] = [];
    const all: number[] = [];
    let lost = 0;
    for (const [alarmId, at] of raisedAt) {
      const pagedAt = firstPage.get(alarmId);
      if (pagedAt === undefined) {
        lost++;
        continue;
      }
      all.push(pagedAt - at);
      if (at >= windowFrom && at <= raisedUntil) during.push(pagedAt - at);
    }
    during.sort((a, b) => a - b);
    all.sort((a, b) => a - b);
    const notificationIds = new Set(receiver.pages.map((p) => p.notificationId));
    const duplicatePages = receiver.pages.length - notificationIds.size;
    const common = {
      nodes: FAILOVER.nodes,
      killed: `${follower.name} (follower) at +0 s, ${leader.name} (leader) at +${round((leaderKilledAt - firstKillAt) / 1000, 1)} s`,
      newLeader: newLeader.name,
      leaderTakeoverMs: takeoverMs,
      alarmsRaised: raisedAt.size,
      loadAverage: `${loadBefore} → ${load()}`,
      note: 'loaded: shared 2-core machine; real gateway (outbox, ack timeout 1 s), mosquitto 2, PostgreSQL 15, webhook receiver; nodes in their own processes',
    };
    return [
      {
        metric: 'cluster.failover_alarm_ms_max',
        value: round(during.at(-1) ?? Number.NaN, 0),
        unit: 'ms',
        target: FAILOVER.targetMs,
        alarmsInWindow: during.length,
        p50Ms: round(percentile(during, 50), 0),
        p99Ms: round(percentile(during, 99), 0),
        maxAllAlarmsMs: round(all.at(-1) ?? Number.NaN, 0),
        window: `raised from ${FAILOVER.windowBeforeMs / 1000} s before the first kill to ${FAILOVER.afterKillsMs / 1000} s after the leader's`,
        ackTimeoutMs: FAILOVER.ackTimeoutMs,
        sessionExpirySeconds: FAILOVER.sessionExpirySeconds,
        ...common,
      },
      {
        metric: 'cluster.lost',
        value: lost,
        unit: 'alarms',
        target: 0,
        waitedMs: FAILOVER.drainMs,
        gatewayOutboxLeft: outboxLeft,
        ...common,
      },
      {
        metric: 'cluster.duplicate_pages',
        value: duplicatePages,
        unit: 'pages',
        target: 0,
        pages: receiver.pages.length,
        followUps: receiver.followUps.length,
        unparsable: receiver.unparsable.length,
        ...common,
      },
    ];
  });
}

const bench: Benchmark = {
  name: 'cluster',
  async *run(): AsyncIterable<Metric> {
    const postgres = await startPostgres();
    try {
      for (const metric of await ingest(postgres)) yield metric;
      for (const metric of await failover(postgres)) yield metric;
    } finally {
      await postgres.stop();
    }
  },
};

export default bench;
