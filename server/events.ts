/**
 * In-process event hub: ingest publishes what it committed, the API's live
 * stream (and later escalation) subscribes. Events are emitted only after the
 * store or ledger committed, so a subscriber never shows what a restart would lose.
 *
 * Listeners run synchronously inside the emit; a throwing listener is logged
 * and does not stop the others or the ingest that emitted.
 */
import { EventEmitter } from 'node:events';
import { createLogger } from '../common/logger.js';
import type { Reading } from '../protocol/index.js';
import type { Disposition } from './alarms/disposal.js';
import type { AlarmKey } from './alarms/identity.js';
import type { AlarmRecord } from './alarms/ledger.js';
import type { EscalationNotice, GatewayPresence } from './model.js';

const log = createLogger('server.events');

export interface ReadingsEvent {
  gatewayId: string;
  enterpriseId: string;
  readings: readonly Reading[];
}

export interface ServerEvents {
  readings: ReadingsEvent;
  /** An alarm after the ledger committed a change to it. */
  alarm: AlarmRecord;
  /** A gateway's presence changed (online/offline, catalogue). */
  gateway: GatewayPresence;
  /** An alarm's disposal state changed (acknowledged, assigned, measure, closed, escalated). */
  disposal: Disposition;
  /** An alarm escalated one level (each level once). */
  escalation: EscalationNotice;
  /** An operator acknowledged an alarm at the edge (the gateway's HMI or its own engine). */
  edgeAcknowledged: AlarmKey & { by: string };
  /**
   * Live streams may have missed events (cluster mode: the relay's bus had a gap, or an event
   * was too big to relay; server/cluster/event-relay.ts): their clients reload from the store.
   * `enterpriseId` null: every client.
   */
  resync: { reason: string; enterpriseId: string | null };
}

export type ServerEventName = keyof ServerEvents;
export type ServerEventListener<K extends ServerEventName> = (payload: ServerEvents[K]) => void;

export class EventHub {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per live-stream connection: no fixed bound is meaningful.
    this.emitter.setMaxListeners(0);
  }

  on<K extends ServerEventName>(event: K, listener: ServerEventListener<K>): () => void {
    this.emitter.on(event, listener as (payload: unknown) => void);
    return () => this.off(event, listener);
  }

  off<K extends ServerEventName>(event: K, listener: ServerEventListener<K>): void {
    this.emitter.off(event, listener as (payload: unknown) => void);
  }

  emit<K extends ServerEventName>(event: K, payload: ServerEvents[K]): void {
    for (const listener of this.emitter.listeners(event)) {
      try {
        (listener as ServerEventListener<K>)(payload);
      } catch (err) {
        log.error({ err, event }, 'event listener failed');
      }
    }
  }

  listenerCount(event: ServerEventName): number {
    return this.emitter.listenerCount(event);
  }
}
