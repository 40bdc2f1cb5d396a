/**
 * Polling Read for the OPC UA source (readMode 'poll', or a server that refuses
 * subscriptions): every tag in one Read each samplingIntervalMs. Each poll is a fresh
 * read through the source's ReadingGate, so a value from a request made before a
 * connection loss is never emitted after it.
 */
import type { ClientSession } from 'node-opcua';
import type { Clock } from '../../../common/clock.js';
import type { Logger } from '../../../common/logger.js';
import type { OpcuaDeviceConfig, OpcuaTagConfig } from '../../config/types.js';
import type { ReadingGate } from '../source.js';
import { toReading } from './convert.js';

type OpcuaModule = typeof import('node-opcua');

/** What polling needs of its source; read through functions, as it changes. */
export interface OpcuaPollerHost {
  readonly device: OpcuaDeviceConfig;
  running(): boolean;
  opcua(): OpcuaModule | null;
  session(): ClientSession | null;
  readonly gate: ReadingGate;
  readonly clock: Clock;
  readonly log: Logger;
  logOnce(tag: OpcuaTagConfig, key: string, level: 'warn' | 'info', message: string): void;
  /** sensorId → what was last logged about it (shared with the source's logOnce). */
  readonly logged: Map<string, string>;
}

export class OpcuaPoller {
  private timer: NodeJS.Timeout | null = null;
  private failing = false;

  constructor(private readonly host: OpcuaPollerHost) {}

  /**
   * Starts reading every tag each samplingIntervalMs (readMode 'poll', or subscriptions refused).
   * Each poll is a fresh read: no catch-up read after a reconnection (it would repeat the
   * poll), and a value the server reports with an unchanged source timestamp is one
   * reading, not one per poll (the gate drops the repeat). A node that reads bad is
   * logged once by node id, and its recovery once; a failing Read request likewise.
   */
  start(): void {
    if (this.timer) return;
    let busy = false;
    const poll = async () => {
      const session = this.host.session();
      const opcua = this.host.opcua();
      if (!this.host.running() || !session || !opcua || busy) return;
      busy = true;
      const generation = this.host.gate.generation;
      try {
        const values = await session.read(
          this.host.device.tags.map((tag) => ({
            nodeId: tag.nodeId,
            attributeId: opcua.AttributeIds.Value,
          })),
          0,
        );
        if (!this.host.running() || this.host.session() !== session) return;
        if (this.failing) this.host.log.info('polling read works again');
        this.failing = false;
        const now = this.host.clock.now();
        const readings = this.host.device.tags.map((tag, i) => {
          const reading = toReading(opcua, tag, values[i]!, now);
          if (reading.quality === 'bad') {
            this.host.logOnce(
              tag,
              `bad:${reading.reason}`,
              'warn',
              `node reads bad: ${reading.reason}`,
            );
          } else if (this.host.logged.get(tag.sensorId)?.startsWith('bad:')) {
            this.host.logged.delete(tag.sensorId);
            this.host.log.info(
              { sensorId: tag.sensorId, nodeId: tag.nodeId },
              'node reads good again',
            );
          }
          return reading;
        });
        this.host.gate.fresh(generation, readings);
      } catch (err) {
        if (!this.failing) {
          this.host.log.warn(
            { err: (err as Error).message, nodeIds: this.host.device.tags.map((t) => t.nodeId) },
            'polling read failed; retrying every sampling interval',
          );
        }
        this.failing = true;
      } finally {
        busy = false;
      }
    };
    this.timer = setInterval(() => void poll(), Math.max(this.host.device.samplingIntervalMs, 10));
    void poll();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
