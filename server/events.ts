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
import type { AlarmTransition, Reading } from '../protocol/index.js';
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

/**
 * The ledger holds an alarm transition: a new one (`changed`), or one a gateway resent because
 * no node acknowledged it (not `changed`: the node that committed it may have died before its
 * channels ran, so they are asked again; each records insert-if-absent).
 */
export interface CommittedAlarm {
  alarm: AlarmRecord;
  transition: AlarmTransition;
  changed: boolean;
  /**
   * 'gateway': a gateway's rule raised it (ingest); 'server': the server raised it itself
   * (gateway offline, ledger integrity): a record for regulators, which the emergency channels
   * do not page (docs/durability.md, Presence).
   */
  source: 'gateway' | 'server';
}

/**
 * An emergency channel (the webhook notifier, the MQTT linkage) or a bookkeeper of alarms (the
 * disposal ledger). Resolves once what it owes for the alarm is durably recorded; `true` when it
 * also started sending a page, so its request gets an event-loop turn before anything else.
 */
export type CommittedAlarmListener = (committed: CommittedAlarm) => boolean | Promise<boolean>;

export interface ChannelOutcome {
  /** Some listener started sending a page (and its request had a turn to leave). */
  paging: boolean;
  /** What the listeners that failed threw (the gateway's StoreAck is then withheld). */
  failures: unknown[];
}

export type ServerEventName = keyof ServerEvents;
export type ServerEventListener<K extends ServerEventName> = (payload: ServerEvents[K]) => void;

export class EventHub {
  private readonly emitter = new EventEmitter();
  private committedListeners: readonly CommittedAlarmListener[] = [];

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

  /**
   * Subscribes to committed alarms (see {@link CommittedAlarm}). Listeners run in subscription
   * order, so the server subscribes the webhook notifier first: its page leaves before the
   * others' bookkeeping (issue 19). Returns the unsubscribe.
   */
  onAlarmCommitted(listener: CommittedAlarmListener): () => void {
    this.committedListeners = [...this.committedListeners, listener];
    return () => {
      this.committedListeners = this.committedListeners.filter((l) => l !== listener);
    };
  }

  /**
   * Tells the committed-alarm listeners one after the other, in subscription order. A listener
   * that started a page (resolved true) gets one event-loop turn for its request to leave before
   * the next one runs: run side by side, the next listener's database work interleaved with the
   * page's and delayed it by a millisecond or more (issue 19). Ingest acknowledges the gateway
   * only when no listener failed: a StoreAck means the alarm and what every channel owes for it
   * are committed.
   */
  async emitAlarmCommitted(committed: CommittedAlarm): Promise<ChannelOutcome> {
    const outcome: ChannelOutcome = { paging: false, failures: [] };
    for (const listener of this.committedListeners) {
      try {
        if (await listener(committed)) {
          outcome.paging = true;
          await nextTurn();
        }
      } catch (err) {
        outcome.failures.push(err);
      }
    }
    return outcome;
  }

  listenerCount(event: ServerEventName): number {
    return this.emitter.listenerCount(event);
  }
}

/**
 * For alarms the server raises itself (gateway offline, ledger integrity), which no gateway
 * resends: tells the committed-alarm listeners and logs what failed, since there is no StoreAck
 * to withhold.
 */
export async function announceCommitted(
  events: EventHub,
  alarm: AlarmRecord,
  transition: AlarmTransition,
  logger: { error(details: object, message: string): void },
): Promise<void> {
  const outcome = await events.emitAlarmCommitted({
    alarm,
    transition,
    changed: true,
    source: 'server',
  });
  for (const err of outcome.failures) {
    logger.error({ err, alarmId: alarm.alarmId, transition }, 'an alarm channel failed');
  }
}

/** Resolves after the event loop's next turn (I/O callbacks, then check phase). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
