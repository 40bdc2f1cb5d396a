/**
 * Background telemetry for the e2e benchmark: `pointsPerS` readings per second
 * from `gateways` extra MQTT clients (QoS 1, 10 batches per second each) into
 * the same server, paced per tick with a bounded catch-up, as the platform
 * benchmark does. It shares the process and its cores with the alarm path.
 */
import mqtt from 'mqtt';
import { type TelemetryBatch, topicFor } from '../protocol/index.js';

const BATCHES_PER_S_PER_GATEWAY = 10;
const SENSORS_PER_GATEWAY = 250;
const MAX_CATCH_UP_TICKS = 3;

export class BackgroundTelemetry {
  private readonly clients: mqtt.MqttClient[] = [];
  private pacer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private pointsSent = 0;

  constructor(
    private readonly options: {
      url: string;
      enterpriseId: string;
      pointsPerS: number;
      gateways: number;
    },
  ) {}

  async start(): Promise<void> {
    const { url, enterpriseId, gateways, pointsPerS } = this.options;
    for (let g = 0; g < gateways; g++) {
      this.clients.push(await mqtt.connectAsync(url, { clientId: `bench-load-gw-${g}` }));
    }
    const perBatch = Math.round(pointsPerS / gateways / BATCHES_PER_S_PER_GATEWAY);
    const seqs = new Array<number>(gateways).fill(0);
    const tick = () => {
      const now = Date.now();
      for (let g = 0; g < gateways; g++) {
        const readings = Array.from({ length: perBatch }, (_, r) => ({
          sensorId: `S-${r % SENSORS_PER_GATEWAY}`,
          value: Math.round(Math.random() * 2_000) / 100,
          quality: 'good' as const,
          ts: now - (perBatch - r),
        }));
        const batch: TelemetryBatch = {
          v: 1,
          gatewayId: `bench-load-gw-${g}`,
          enterpriseId,
          seq: seqs[g]!++,
          sentAt: now,
          readings,
        };
        void this.clients[g]!.publishAsync(
          topicFor(enterpriseId, `bench-load-gw-${g}`, 'telemetry'),
          JSON.stringify(batch),
          { qos: 1 },
        ).catch(() => {});
        this.pointsSent += perBatch;
      }
    };
    this.startedAt = performance.now();
    let ticks = 0;
    this.pacer = setInterval(
      () => {
        const due = Math.floor(
          ((performance.now() - this.startedAt) / 1000) * BATCHES_PER_S_PER_GATEWAY,
        );
        if (due - ticks > MAX_CATCH_UP_TICKS) ticks = due - MAX_CATCH_UP_TICKS;
        for (; ticks < due; ticks++) tick();
      },
      1000 / BATCHES_PER_S_PER_GATEWAY / 2,
    );
  }

  /** Readings per second actually sent since start. */
  rate(): number {
    const seconds = (performance.now() - this.startedAt) / 1000;
    return seconds > 0 ? this.pointsSent / seconds : 0;
  }

  async stop(): Promise<void> {
    if (this.pacer) clearInterval(this.pacer);
    this.pacer = null;
    await Promise.all(this.clients.splice(0).map((c) => c.endAsync(true)));
  }
}
