/**
 * Fleet management at the server (docs/fleet.md): enrolment, revocation, versioned
 * configuration pushed with its management-of-change record, the gateways' health, and
 * remote commands with their results. Everything an administrator or operator does here,
 * and every answer a gateway gives, goes to the audit log (category 'fleet').
 *
 * Wire: a version is published retained on the gateway's `config` topic (a gateway offline
 * at push time gets it when it connects); the gateway answers on `config-status`, publishes
 * `health` every interval, and answers `fleet-command` on `fleet-result`.
 *
 * Lifecycle: the constructor stores its arguments; start() loads the enrolled gateways from
 * the platform database into memory (the broker asks `directory` on every CONNECT); stop()
 * fails pending commands. The database belongs to the server (started before, stopped after).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import {
  decodeFleetCommandResult,
  decodeFleetConfigStatus,
  decodeFleetHealth,
  type FleetCommand,
  type FleetCommandResult,
  type FleetCommandType,
  type FleetConfigDocument,
  type FleetConfigStatus,
  type FleetRuleFile,
  fleetContentHash,
  fleetTopicFor,
  PROTOCOL_VERSION,
  parseFleetTopic,
} from '../../protocol/index.js';
import type { AuditInput } from '../auth/audit-log.js';
import type { MqttUser } from '../auth/config.js';
import type { MqttUserDirectory } from '../auth/mqtt-access.js';
import type { Database } from '../db/database.js';
import {
  type Enrolled,
  EnrolmentRefused,
  type EnrolRequest,
  enrol,
  makeToken,
  type TokenRequest,
} from './enrolment.js';
import { type EnrolledGateway, FleetStore } from './fleet-store.js';
import {
  FLEET_VIEW_DEFAULTS,
  type FleetGatewayView,
  type GatewayHealthRecord,
  viewOf,
} from './fleet-view.js';

const log = createLogger('server.fleet');

export const FLEET_DEFAULTS = {
  commandTimeoutMs: 10_000, // 10 s for a gateway to answer a remote command
  maxPendingCommands: 1_000,
} as const;

export interface FleetServiceOptions {
  /** The platform database (server/db), started by the server before the fleet. */
  database: Database;
  clock?: Clock;
  publish(topic: string, payload: string, options: { retain: boolean }): Promise<void>;
  /** Closes a revoked gateway's open sessions (MqttBroker.disconnectIdentity). */
  disconnect(username: string): number;
  audit(record: AuditInput): void;
  /** Static MQTT users: their names cannot be enrolled. */
  staticUsers?: readonly string[];
  /** The MQTT url handed to an enrolled gateway, from the host name it reached the API on. */
  mqttUrl(hostname: string): string;
  limits?: Partial<typeof FLEET_VIEW_DEFAULTS>;
}

export interface EnrolResponse extends Enrolled {
  mqttUrl: string;
  /** The newest version pushed for this id before it enrolled, if any (also retained on MQTT). */
  config: FleetConfigDocument | null;
}

export interface VersionRequest {
  config: string;
  rules: FleetRuleFile[];
  reason: string;
  by: string;
}

export interface CommandRequest {
  type: FleetCommandType;
  by: string;
  level?: string;
  durationMs?: number;
  lines?: number;
}

interface PendingCommand {
  gatewayId: string;
  command: FleetCommand;
  resolve(result: FleetCommandResult): void;
  timer: NodeJS.Timeout;
}

export class FleetService {
  private store: FleetStore | null = null;
  private readonly enrolled = new Map<string, EnrolledGateway>();
  private readonly health = new Map<string, GatewayHealthRecord>();
  private statuses = new Map<string, FleetConfigStatus>();
  private readonly desired = new Map<string, number>();
  private readonly pending = new Map<string, PendingCommand>();
  private readonly clock: Clock;
  private readonly limits: typeof FLEET_VIEW_DEFAULTS;
  /** Fleet messages refused as invalid (counted, audited, never thrown). */
  rejected = 0;

  /** What the broker asks on each CONNECT (MqttAccess asks after its static users). */
  readonly directory: MqttUserDirectory = {
    find: (username) => {
      const gateway = this.enrolled.get(username);
      if (!gateway) return undefined;
      if (gateway.revokedAt !== null) return 'revoked';
      const user: MqttUser = {
        username: gateway.gatewayId,
        role: 'gateway',
        enterpriseId: gateway.enterpriseId,
        passwordHash: gateway.passwordHash,
      };
      return user;
    },
  };

  constructor(private readonly options: FleetServiceOptions) {
    this.clock = options.clock ?? systemClock;
    this.limits = { ...FLEET_VIEW_DEFAULTS, ...options.limits };
  }

  async start(): Promise<void> {
    if (this.store) return;
    this.store = new FleetStore(this.options.database);
    try {
      await this.refresh();
    } catch (err) {
      this.store = null;
      throw err;
    }
  }

  /**
   * Reloads the enrolled gateways, their newest versions and statuses from the database: in a
   * cluster another node may have enrolled, revoked or pushed since (the API calls this before
   * it answers about the fleet; the memory copy serves the broker's CONNECT checks).
   */
  async refresh(): Promise<void> {
    const store = this.db;
    const [gateways, desired, statuses] = await Promise.all([
      store.gateways(),
      store.latestVersions(),
      store.statuses(),
    ]);
    this.enrolled.clear();
    for (const gateway of gateways) this.enrolled.set(gateway.gatewayId, gateway);
    this.desired.clear();
    for (const [gatewayId, version] of desired) {
      if (this.enrolled.has(gatewayId)) this.desired.set(gatewayId, version);
    }
    this.statuses = statuses;
  }

  async stop(): Promise<void> {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve(this.noAnswer(p.command, 'the server stopped before the gateway answered'));
      this.pending.delete(id);
    }
    this.store = null;
  }

  private get db(): FleetStore {
    if (!this.store) throw new Error('fleet service is not started');
    return this.store;
  }

  async createToken(request: TokenRequest): Promise<{ token: string; expiresAt: number }> {
    const made = await makeToken(this.db, this.clock, request);
    this.options.audit({
      category: 'fleet',
      event: 'token-created',
      reason: `enrolment token for enterprise '${request.enterpriseId}'`,
      username: request.by,
      ...(request.gatewayId ? { gatewayId: request.gatewayId } : {}),
      detail: `expires ${new Date(made.expiresAt).toISOString()}`,
    });
    return made;
  }

  /** Exchanges a token for an identity; throws {@link EnrolmentRefused} (audited). */
  async enrol(request: EnrolRequest, hostname: string): Promise<EnrolResponse> {
    let enrolled: Enrolled;
    try {
      enrolled = await enrol(this.db, this.clock, request, (id) => {
        const known = this.enrolled.get(id);
        return (
          (known !== undefined && known.revokedAt === null) ||
          (this.options.staticUsers ?? []).includes(id)
        );
      });
    } catch (err) {
      if (err instanceof EnrolmentRefused) {
        this.options.audit({
          category: 'fleet',
          event: 'enrol-refused',
          reason: err.message,
          ...(request.gatewayId ? { gatewayId: request.gatewayId } : {}),
        });
      }
      throw err;
    }
    const gateway = await this.db.gateway(enrolled.gatewayId);
    if (gateway) this.enrolled.set(gateway.gatewayId, gateway);
    this.options.audit({
      category: 'fleet',
      event: 'enrolled',
      reason: `gateway enrolled for enterprise '${enrolled.enterpriseId}'`,
      gatewayId: enrolled.gatewayId,
      detail: `key sha256 ${enrolled.keyFingerprint}`,
    });
    log.info({ gatewayId: enrolled.gatewayId, enterpriseId: enrolled.enterpriseId }, 'enrolled');
    return {
      ...enrolled,
      mqttUrl: this.options.mqttUrl(hostname),
      config: (await this.db.latestVersion(enrolled.gatewayId)) ?? null,
    };
  }

  /** Revokes: the broker refuses it from now on and its open sessions are closed. */
  async revoke(gatewayId: string, by: string, reason: string): Promise<boolean> {
    const gateway = this.enrolled.get(gatewayId);
    if (!gateway || gateway.revokedAt !== null) return false;
    const at = this.clock.now();
    await this.db.revoke(gatewayId, at, by, reason);
    this.enrolled.set(gatewayId, {
      ...gateway,
      revokedAt: at,
      revokedBy: by,
      revokeReason: reason,
    });
    const closed = this.options.disconnect(gatewayId);
    // The retained version is withdrawn: a revoked identity keeps nothing on the broker.
    await this.options.publish(fleetTopicFor(gateway.enterpriseId, gatewayId, 'config'), '', {
      retain: true,
    });
    this.options.audit({
      category: 'fleet',
      event: 'revoked',
      reason,
      username: by,
      gatewayId,
      detail: `${closed} open session(s) closed`,
    });
    return true;
  }

  gateway(gatewayId: string): EnrolledGateway | undefined {
    return this.enrolled.get(gatewayId);
  }

  /** Stores a new version (version = last + 1) with its record, and pushes it (retained). */
  async pushVersion(gatewayId: string, request: VersionRequest): Promise<FleetConfigDocument> {
    const gateway = this.enrolled.get(gatewayId);
    if (!gateway) throw new Error(`gateway '${gatewayId}' is not enrolled`);
    const previous = await this.db.latestVersion(gatewayId);
    const document: FleetConfigDocument = {
      v: PROTOCOL_VERSION,
      version: (previous?.version ?? 0) + 1,
      hash: fleetContentHash(request.config, request.rules),
      config: request.config,
      rules: request.rules,
      by: request.by,
      reason: request.reason,
      issuedAt: this.clock.now(),
    };
    await this.db.addVersion(gatewayId, document);
    this.desired.set(gatewayId, document.version);
    this.options.audit({
      category: 'fleet',
      event: 'version-pushed',
      reason: request.reason,
      username: request.by,
      gatewayId,
      detail: `version ${document.version} sha256 ${document.hash}`,
    });
    await this.options.publish(
      fleetTopicFor(gateway.enterpriseId, gatewayId, 'config'),
      JSON.stringify(document),
      { retain: true },
    );
    return document;
  }

  /**
   * True while a version pushed to this gateway has not been reported on (applied, refused or
   * rolled back): the gateway is expected to restart, and its presence monitor holds the
   * offline alarm for that long.
   */
  applyExpected(gatewayId: string): boolean {
    const desired = this.desired.get(gatewayId);
    if (desired === undefined) return false;
    return (this.statuses.get(gatewayId)?.version ?? 0) < desired;
  }

  async versions(gatewayId: string): Promise<FleetConfigDocument[]> {
    return this.db.versions(gatewayId);
  }

  /** Sends a remote command and resolves with the gateway's answer (or a timeout, ok false). */
  command(gatewayId: string, request: CommandRequest): Promise<FleetCommandResult> {
    const gateway = this.enrolled.get(gatewayId);
    if (!gateway) throw new Error(`gateway '${gatewayId}' is not enrolled`);
    if (this.pending.size >= FLEET_DEFAULTS.maxPendingCommands)
      throw new Error(`${this.pending.size} remote commands already wait for an answer`);
    const command: FleetCommand = {
      v: PROTOCOL_VERSION,
      commandId: randomUUID(),
      type: request.type,
      by: request.by,
      ts: this.clock.now(),
      ...(request.level !== undefined ? { level: request.level } : {}),
      ...(request.durationMs !== undefined ? { durationMs: request.durationMs } : {}),
      ...(request.lines !== undefined ? { lines: request.lines } : {}),
    };
    this.options.audit({
      category: 'fleet',
      event: 'command-sent',
      reason: request.type,
      username: request.by,
      gatewayId,
      detail: JSON.stringify({ commandId: command.commandId, ...request }),
    });
    return new Promise<FleetCommandResult>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(command.commandId);
        const result = this.noAnswer(
          command,
          `no answer within ${FLEET_DEFAULTS.commandTimeoutMs} ms`,
        );
        this.auditResult(gatewayId, command, result);
        resolve(result);
      }, FLEET_DEFAULTS.commandTimeoutMs);
      this.pending.set(command.commandId, { gatewayId, command, resolve, timer });
      this.options
        .publish(
          fleetTopicFor(gateway.enterpriseId, gatewayId, 'fleet-command'),
          JSON.stringify(command),
          { retain: false },
        )
        .catch((err: unknown) => {
          log.warn({ err, gatewayId }, 'cannot send the remote command');
        });
    });
  }

  /** The fleet, each gateway with its flags; `enterprises` limits it to a caller's scope. */
  view(enterprises: Set<string> | null = null): FleetGatewayView[] {
    const now = this.clock.now();
    return [...this.enrolled.values()]
      .filter((g) => enterprises === null || enterprises.has(g.enterpriseId))
      .map((g) =>
        viewOf(
          g,
          this.desired.get(g.gatewayId) ?? null,
          this.statuses.get(g.gatewayId),
          this.health.get(g.gatewayId),
          now,
          this.limits,
        ),
      );
  }

  /** Handles a fleet topic; false for anything else (ingest's). Never throws on bad input. */
  handleMqtt(topic: string, payload: Buffer): boolean {
    const parsed = parseFleetTopic(topic);
    if (!parsed) return false;
    const { gatewayId, channel } = parsed;
    const reject = (error: string) => {
      this.rejected++;
      this.options.audit({
        category: 'fleet',
        event: 'rejected',
        reason: `invalid ${channel}: ${error}`,
        gatewayId,
        topic,
      });
    };
    if (channel === 'health') {
      const decoded = decodeFleetHealth(payload);
      if (!decoded.ok) {
        reject(decoded.error);
        return true;
      }
      const receivedAt = this.clock.now();
      this.health.set(gatewayId, {
        health: decoded.value,
        receivedAt,
        clockOffsetMs: decoded.value.ts - receivedAt,
      });
    } else if (channel === 'config-status') {
      const decoded = decodeFleetConfigStatus(payload);
      if (!decoded.ok) {
        reject(decoded.error);
        return true;
      }
      const status = decoded.value;
      this.statuses.set(gatewayId, status);
      // The memory copy above answers at once; the row is for restarts and the other nodes.
      this.store?.setStatus(gatewayId, status).catch((err: unknown) => {
        log.error({ err, gatewayId }, 'cannot store the configuration status');
      });
      this.options.audit({
        category: 'fleet',
        event: `version-${status.state}`,
        reason:
          status.errors.slice(0, 5).join(' | ') || `version ${status.version} ${status.state}`,
        gatewayId,
        detail: `version ${status.version}, running ${status.runningVersion ?? 'none'}`,
      });
    } else if (channel === 'fleet-result') {
      const decoded = decodeFleetCommandResult(payload);
      if (!decoded.ok) {
        reject(decoded.error);
        return true;
      }
      const pending = this.pending.get(decoded.value.commandId);
      if (!pending || pending.gatewayId !== gatewayId) return true;
      clearTimeout(pending.timer);
      this.pending.delete(decoded.value.commandId);
      this.auditResult(gatewayId, pending.command, decoded.value);
      pending.resolve(decoded.value);
    }
    // `config` and `fleet-command` are the server's own publishes coming back: nothing to do.
    return true;
  }

  private noAnswer(command: FleetCommand, why: string): FleetCommandResult {
    return {
      v: PROTOCOL_VERSION,
      commandId: command.commandId,
      ok: false,
      ts: this.clock.now(),
      output: [why],
    };
  }

  private auditResult(gatewayId: string, command: FleetCommand, result: FleetCommandResult): void {
    this.options.audit({
      category: 'fleet',
      event: result.ok ? 'command-done' : 'command-failed',
      reason: command.type,
      username: command.by,
      gatewayId,
      detail: `${command.commandId}: ${result.output.slice(0, 20).join('\n')}`,
    });
  }
}
