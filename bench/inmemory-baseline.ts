/**
 * The in-memory baseline of the e2e benchmark: what a minimal flow (Node-RED's
 * modbus-read every 100 ms → switch → report-by-exception → HTTP POST) does,
 * against the same simulator, in the bench process beside the gateway under test. Nothing is persisted, signed,
 * validated or acknowledged end to end: poll, compare with the setpoint, POST on
 * the rising edge to a bare HTTP receiver, re-arm below setpoint − deadband.
 *
 * Its arrival time is what our path is compared with (e2e.vs_inmemory_p99_ratio).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import ModbusRTU from 'modbus-serial';
import { wallNow } from './e2e-trace.js';

export interface InMemoryFlowOptions {
  host: string;
  port: number;
  unitId: number;
  /** Input register of the float32 (ABCD) value. */
  address: number;
  setpoint: number;
  deadband: number;
  pollMs: number;
}

/**
 * A bare HTTP endpoint recording when each POST's body has arrived, in wall-clock ms
 * (wallNow(), as the e2e bench's receiver marks are). It runs in the bench process,
 * beside the emergency centre's receiver, the simulator and the gateway.
 */
class BareReceiver {
  private server: http.Server | null = null;
  private waiting: ((at: number) => void)[] = [];
  url = '';

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const at = wallNow();
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        for (const resolve of this.waiting.splice(0)) resolve(at);
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/flow`;
  }

  /** Resolves with the arrival time of the next POST. */
  next(): Promise<number> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export class InMemoryFlow {
  private readonly client = new ModbusRTU.default();
  private readonly receiver = new BareReceiver();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private above = false;
  /** True while the value is at or above the setpoint (the bench waits for the re-arm). */
  get alarmed(): boolean {
    return this.above;
  }

  constructor(private readonly options: InMemoryFlowOptions) {}

  async start(): Promise<void> {
    await this.receiver.start();
    await this.client.connectTCP(this.options.host, { port: this.options.port });
    this.client.setID(this.options.unitId);
    this.client.setTimeout(1_000);
    // modbus-serial re-emits socket errors; without a listener they would end the bench.
    this.client.on('error', () => {});
    this.timer = setInterval(() => void this.poll(), this.options.pollMs);
  }

  /** Resolves with the arrival time (wall-clock ms, wallNow()) of the next alarm POST. */
  nextArrival(): Promise<number> {
    return this.receiver.next();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await new Promise<void>((resolve) => this.client.close(() => resolve()));
    this.agent.destroy();
    await this.receiver.stop();
  }

  private async poll(): Promise<void> {
    if (this.busy) return; // a slow reply skips a cycle, as a flow's node would
    this.busy = true;
    try {
      const { buffer } = await this.client.readInputRegisters(this.options.address, 2);
      const value = buffer.readFloatBE(0);
      if (!this.above && value >= this.options.setpoint) {
        this.above = true;
        this.post(JSON.stringify({ sensorId: 'GT-101', level: 2, value, ts: Date.now() }));
      } else if (this.above && value < this.options.setpoint - this.options.deadband) {
        this.above = false;
      }
    } catch {
      // a failed poll is retried on the next cycle
    } finally {
      this.busy = false;
    }
  }

  private post(body: string): void {
    const req = http.request(this.receiver.url, {
      method: 'POST',
      agent: this.agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('response', (res) => res.resume());
    req.on('error', () => {});
    req.end(body);
  }
}
