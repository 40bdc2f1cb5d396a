/**
 * Relays operator actions taken at the server (an acknowledgement in the
 * disposal loop) to the gateway that owns the alarm, as a GatewayCommand on its
 * `command` channel. The gateway applies it to its ISA-18.2 alarm engine and
 * reports the resulting transition on the `alarm` channel, so the edge and the
 * platform agree on who acknowledged what (issue: "an acknowledgement made at
 * the server reaches the edge").
 *
 * Lifecycle: start() subscribes to the event hub, stop() unsubscribes. Each
 * alarm's acknowledgement is sent once per server run, with a command id derived
 * from the alarm id so a repeated send is applied once at the gateway. The
 * command goes to the gateway of the alarm's identity (enterprise, gateway,
 * alarm id), never to another gateway that uses the same alarm id. A gateway
 * that is offline when the command is sent does not get it (QoS 1 to a clean
 * session); its local acknowledgement stays open, which errs on the safe side.
 */
import { createLogger } from '../common/logger.js';
import { type GatewayCommand, PROTOCOL_VERSION, topicFor } from '../protocol/index.js';
import type { Disposition } from './alarms/disposal.js';
import { alarmKeyString, describeAlarm } from './alarms/identity.js';
import type { AlarmLedger } from './alarms/ledger.js';
import type { EventHub } from './events.js';

const log = createLogger('server.commands');

export const OPERATOR_COMMAND_DEFAULTS = {
  rememberedAlarms: 10_000, // acknowledgements already relayed, to send each once
} as const;

export interface OperatorCommandRelayOptions {
  events: EventHub;
  ledger: Pick<AlarmLedger, 'get'>;
  publish(topic: string, payload: string): Promise<void>;
}

export class OperatorCommandRelay {
  private readonly relayed = new Set<string>();
  private readonly listener = (disposition: Disposition) => {
    this.onDisposal(disposition).catch((err: unknown) =>
      log.error({ err, alarm: describeAlarm(disposition) }, 'cannot relay the acknowledgement'),
    );
  };
  sent = 0;

  constructor(private readonly options: OperatorCommandRelayOptions) {}

  start(): void {
    this.options.events.on('disposal', this.listener);
  }

  stop(): void {
    this.options.events.off('disposal', this.listener);
  }

  private async onDisposal(disposition: Disposition): Promise<void> {
    const { alarmId, acknowledgedAt, acknowledgedBy } = disposition;
    const key = alarmKeyString(disposition);
    if (acknowledgedAt === null || this.relayed.has(key)) return;
    const alarm = await this.options.ledger.get(disposition);
    // Checked again: another disposal of the same alarm may have relayed it meanwhile.
    if (!alarm || this.relayed.has(key)) return;
    this.relayed.add(key);
    if (this.relayed.size > OPERATOR_COMMAND_DEFAULTS.rememberedAlarms) {
      const oldest = this.relayed.values().next().value;
      if (oldest !== undefined) this.relayed.delete(oldest);
    }
    const command: GatewayCommand = {
      v: PROTOCOL_VERSION,
      commandId: `ack.${alarmId}`.slice(0, 100),
      type: 'acknowledge',
      alarmId,
      by: acknowledgedBy ?? 'server',
      ts: acknowledgedAt,
    };
    const topic = topicFor(alarm.enterpriseId, alarm.gatewayId, 'command');
    this.options.publish(topic, JSON.stringify(command)).then(
      () => {
        this.sent++;
        log.info(
          { alarm: describeAlarm(alarm), by: command.by },
          'acknowledgement sent to the edge',
        );
      },
      (err: unknown) =>
        log.warn(
          { err, alarm: describeAlarm(alarm) },
          'cannot send the acknowledgement to the edge',
        ),
    );
  }
}
