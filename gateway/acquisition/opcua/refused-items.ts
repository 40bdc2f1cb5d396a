/**
 * Monitored items the server refused, each retried alone on the live subscription until
 * the server accepts it (OPC UA source, opcua-source.ts). The good items are never
 * disturbed. Each refusal is reported through the ReadingGate as bad with the server's
 * status (once per state) and logged once with the node id; an item refused for its
 * filter (BadFilterNotAllowed and the like) is retried without the filter, never again
 * with it: the same filter would be refused forever.
 */
import type {
  ClientMonitoredItem,
  ClientSession,
  ClientSubscription,
  DataValue,
  StatusCode,
} from 'node-opcua';
import type { Clock } from '../../../common/clock.js';
import type { Logger } from '../../../common/logger.js';
import type { Reading } from '../../../protocol/payloads.js';
import type { OpcuaDeadbandConfig, OpcuaTagConfig } from '../../config/types.js';
import type { Backoff } from '../backoff.js';
import type { ReadingGate } from '../source.js';
import { isBadStatus, toReading } from './convert.js';
import { type DeadbandPlan, FILTER_REFUSED } from './deadband.js';
import { type monitoringParameters, OPCUA_DEFAULTS, type OpcuaCounters } from './options.js';

type OpcuaModule = typeof import('node-opcua');

/** What the retries need of their source; read through functions, as it changes. */
export interface RefusedItemsHost {
  running(): boolean;
  opcua(): OpcuaModule | null;
  session(): ClientSession | null;
  subscription(): ClientSubscription | null;
  readonly gate: ReadingGate;
  readonly counters: OpcuaCounters;
  readonly clock: Clock;
  readonly log: Logger;
  newBackoff(): Backoff;
  monitoringParameters(
    deadband: OpcuaDeadbandConfig | undefined,
  ): ReturnType<typeof monitoringParameters>;
  planItems(
    session: ClientSession,
    tags: readonly OpcuaTagConfig[],
  ): Promise<Map<string, DeadbandPlan>>;
  logOnce(tag: OpcuaTagConfig, key: string, level: 'warn' | 'info', message: string): void;
  forgetLogged(sensorId: string): void;
  /** Hands a fresh reading on (batched per notification). */
  enqueue(reading: Reading): void;
  /** Passes batched readings on now, before a reading that must come after them. */
  flush(): void;
}

/** A refused item retried alone until the server accepts it. */
interface ItemRetry {
  tag: OpcuaTagConfig;
  backoff: Backoff;
  timer: NodeJS.Timeout | null;
  item: ClientMonitoredItem | null;
  /** The server refused the item's filter: retry without any. */
  withoutFilter: boolean;
}

export class RefusedItems {
  private readonly items = new Map<string, ItemRetry>();

  constructor(private readonly host: RefusedItemsHost) {}

  /** True while the tag is handled here (refused, or accepted as a single item). */
  has(sensorId: string): boolean {
    return this.items.has(sensorId);
  }

  /**
   * After a reconnection: an item accepted as a single item is acquired in this
   * connection; one still waiting for its retry keeps its refusal.
   */
  reconfirm(ts: number): void {
    for (const retry of this.items.values()) {
      const status = (retry.item as unknown as { statusCode?: StatusCode } | null)?.statusCode;
      if (retry.item && status && !isBadStatus(status) && !retry.timer) {
        this.host.gate.accept(retry.tag.sensorId);
      } else {
        const reason = this.host.gate.refusal(retry.tag.sensorId);
        if (reason) this.host.gate.refuse(retry.tag.sensorId, reason, ts);
      }
    }
  }

  /** Reports the item bad with the server's status (once per state) and retries it alone. */
  refused(
    tag: OpcuaTagConfig,
    status: StatusCode,
    ts: number,
    plan: DeadbandPlan | undefined,
  ): void {
    this.host.flush();
    this.host.gate.refuse(tag.sensorId, status.name, ts);
    let retry = this.items.get(tag.sensorId);
    if (!retry) {
      retry = {
        tag,
        backoff: this.host.newBackoff(),
        timer: null,
        item: null,
        withoutFilter: false,
      };
      this.items.set(tag.sensorId, retry);
    }
    if (FILTER_REFUSED.test(status.name) && plan?.deadband && !retry.withoutFilter) {
      // The same filter would be refused at every retry: drop it for this item.
      retry.withoutFilter = true;
      this.host.counters.deadbandsDropped++;
      this.host.logOnce(
        tag,
        `filter:${status.name}`,
        'warn',
        `server refused the deadband (${status.name}); monitoring the item without deadband`,
      );
    } else {
      this.host.logOnce(
        tag,
        `refused:${status.name}`,
        'warn',
        `monitored item refused (${status.name}); retrying it alone with backoff`,
      );
    }
    this.schedule(retry);
  }

  private schedule(retry: ItemRetry): void {
    if (!this.host.running() || retry.timer) return;
    retry.timer = setTimeout(() => {
      retry.timer = null;
      void this.retry(retry);
    }, retry.backoff.next());
  }

  /** Creates one monitored item for a refused tag on the live subscription. */
  private async retry(retry: ItemRetry): Promise<void> {
    const subscription = this.host.subscription();
    const opcua = this.host.opcua();
    const session = this.host.session();
    if (
      !this.host.running() ||
      !subscription ||
      !opcua ||
      !session ||
      this.items.get(retry.tag.sensorId) !== retry
    ) {
      return;
    }
    this.host.counters.itemRetries++;
    const old = retry.item;
    retry.item = null;
    if (old) await old.terminate().catch(() => {});
    // The node may exist only now: plan its deadband again from its DataType.
    const plan = retry.withoutFilter
      ? {}
      : ((await this.host.planItems(session, [retry.tag])).get(retry.tag.sensorId) ?? {});
    if (!this.host.running() || this.host.subscription() !== subscription) return;
    const item = opcua.ClientMonitoredItem.create(
      subscription,
      { nodeId: retry.tag.nodeId, attributeId: opcua.AttributeIds.Value },
      this.host.monitoringParameters(plan.deadband),
      opcua.TimestampsToReturn.Both,
    );
    retry.item = item;
    item.on('changed', (dataValue: DataValue) => {
      if (retry.item !== item || this.host.subscription() !== subscription) return;
      this.host.enqueue(toReading(opcua, retry.tag, dataValue, this.host.clock.now()));
    });
    const status = await new Promise<StatusCode | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), OPCUA_DEFAULTS.initializeTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve((item as unknown as { statusCode?: StatusCode }).statusCode);
      };
      item.once('initialized', done);
      item.once('err', done);
    });
    if (!this.host.running() || retry.item !== item) return;
    if (status && !isBadStatus(status)) {
      // Accepted: it stays as a single item on this subscription.
      this.host.gate.accept(retry.tag.sensorId);
      this.host.forgetLogged(retry.tag.sensorId);
      this.host.log.info(
        { sensorId: retry.tag.sensorId, nodeId: retry.tag.nodeId },
        'monitored item accepted',
      );
      retry.backoff.reset();
      return;
    }
    if (status) this.refused(retry.tag, status, this.host.clock.now(), plan);
    else this.schedule(retry);
  }

  /** Cancels every retry (a new subscription starts from scratch). */
  clear(): void {
    for (const retry of this.items.values()) {
      if (retry.timer) clearTimeout(retry.timer);
      retry.timer = null;
      retry.item = null;
    }
    this.items.clear();
  }
}
