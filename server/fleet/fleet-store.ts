/**
 * The fleet's tables in the platform database (server/db, migration 0004): enrolment tokens
 * (only their SHA-256, never the token), enrolled gateways (scrypt hash of the MQTT
 * password, the gateway's public key, revocation), and every pushed version with its
 * management-of-change record (who, when, why), plus what each gateway last reported.
 *
 * Cluster: every node reads and writes the same rows. A token is single-use across nodes
 * (consumeToken: a conditional UPDATE that exactly one enrolment wins); a status report is an
 * upsert; two nodes pushing a version to one gateway at once cannot both store the same
 * version number (its primary key refuses the second, which then fails instead of
 * overwriting the first's record).
 *
 * Lifecycle: none of its own: the database belongs to the server, which starts it before and
 * stops it after the fleet service. The constructor compiles every statement once, on the
 * database's engine, and so needs it started; each method then binds its values, runs one
 * statement or one short transaction, and rejects while the database is stopped.
 */
import { type Kysely, sql } from 'kysely';
import type { FleetConfigDocument, FleetConfigStatus } from '../../protocol/index.js';
import { type PreparedQuery, prepare, slot, slots } from '../alarms/prepared-query.js';
import type { Database } from '../db/database.js';
import type {
  FleetGatewaysTable,
  FleetStatusTable,
  FleetTokensTable,
  FleetVersionsTable,
  PlatformSchema,
} from '../db/schema.js';

export interface EnrolToken {
  tokenHash: string;
  enterpriseId: string;
  gatewayId: string | null;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  usedBy: string | null;
}

export interface EnrolledGateway {
  gatewayId: string;
  enterpriseId: string;
  passwordHash: string;
  publicKey: string;
  keyFingerprint: string;
  enrolledAt: number;
  revokedAt: number | null;
  revokedBy: string | null;
  revokeReason: string | null;
}

const toToken = (r: FleetTokensTable): EnrolToken => ({
  tokenHash: r.token_hash,
  enterpriseId: r.enterprise_id,
  gatewayId: r.gateway_id,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
  usedBy: r.used_by,
});

const toGateway = (r: FleetGatewaysTable): EnrolledGateway => ({
  gatewayId: r.gateway_id,
  enterpriseId: r.enterprise_id,
  passwordHash: r.password_hash,
  publicKey: r.public_key,
  keyFingerprint: r.key_fingerprint,
  enrolledAt: r.enrolled_at,
  revokedAt: r.revoked_at,
  revokedBy: r.revoked_by,
  revokeReason: r.revoke_reason,
});

const NEW_TOKEN_COLUMNS = [
  'token_hash',
  'enterprise_id',
  'gateway_id',
  'created_by',
  'created_at',
  'expires_at',
] as const satisfies readonly (keyof FleetTokensTable)[];
type NewTokenRow = Pick<FleetTokensTable, (typeof NEW_TOKEN_COLUMNS)[number]>;

const GATEWAY_COLUMNS = [
  'gateway_id',
  'enterprise_id',
  'password_hash',
  'public_key',
  'key_fingerprint',
  'enrolled_at',
  'revoked_at',
  'revoked_by',
  'revoke_reason',
] as const satisfies readonly (keyof FleetGatewaysTable)[];

const VERSION_COLUMNS = [
  'gateway_id',
  'version',
  'document',
] as const satisfies readonly (keyof FleetVersionsTable)[];

const STATUS_COLUMNS = [
  'gateway_id',
  'running_version',
  'last_status',
] as const satisfies readonly (keyof FleetStatusTable)[];

/** The store's statements, compiled once per store (server/alarms/prepared-query.ts). */
function prepareQueries(db: Kysely<PlatformSchema>) {
  const versionsOf = db
    .selectFrom('fleet_versions')
    .select('document')
    .where('gateway_id', '=', slot<string>('gateway_id'))
    .orderBy('version', 'desc');
  return {
    addToken: prepare(
      db.insertInto('fleet_tokens').values(slots<NewTokenRow>(NEW_TOKEN_COLUMNS)),
      'add fleet token',
    ),
    token: prepare(
      db
        .selectFrom('fleet_tokens')
        .selectAll()
        .where('token_hash', '=', slot<string>('token_hash')),
      'fleet token',
    ),
    /** Matches only an unused, unexpired token: the one enrolment that wins it. */
    useToken: prepare(
      db
        .updateTable('fleet_tokens')
        .set({ used_at: slot<number>('at'), used_by: slot<string>('used_by') })
        .where('token_hash', '=', slot<string>('token_hash'))
        .where('used_at', 'is', null)
        .where('expires_at', '>', slot<number>('at')),
      'use fleet token',
    ),
    /** A re-enrolment of a revoked id replaces its row whole (revocation cleared), as before. */
    enrol: prepare(
      db
        .insertInto('fleet_gateways')
        .values(slots<FleetGatewaysTable>(GATEWAY_COLUMNS))
        .onConflict((oc) =>
          oc.column('gateway_id').doUpdateSet((eb) => ({
            enterprise_id: eb.ref('excluded.enterprise_id'),
            password_hash: eb.ref('excluded.password_hash'),
            public_key: eb.ref('excluded.public_key'),
            key_fingerprint: eb.ref('excluded.key_fingerprint'),
            enrolled_at: eb.ref('excluded.enrolled_at'),
            revoked_at: eb.ref('excluded.revoked_at'),
            revoked_by: eb.ref('excluded.revoked_by'),
            revoke_reason: eb.ref('excluded.revoke_reason'),
          })),
        ),
      'enrol fleet gateway',
    ),
    gateways: prepare(
      db.selectFrom('fleet_gateways').selectAll().orderBy('gateway_id'),
      'fleet gateways',
    ),
    gateway: prepare(
      db
        .selectFrom('fleet_gateways')
        .selectAll()
        .where('gateway_id', '=', slot<string>('gateway_id')),
      'fleet gateway',
    ),
    revoke: prepare(
      db
        .updateTable('fleet_gateways')
        .set({
          revoked_at: slot<number>('revoked_at'),
          revoked_by: slot<string>('revoked_by'),
          revoke_reason: slot<string>('revoke_reason'),
        })
        .where('gateway_id', '=', slot<string>('gateway_id'))
        .where('revoked_at', 'is', null),
      'revoke fleet gateway',
    ),
    addVersion: prepare(
      db.insertInto('fleet_versions').values(slots<FleetVersionsTable>(VERSION_COLUMNS)),
      'add fleet version',
    ),
    // A literal limit: Kysely would make a bare 1 a parameter, which prepare() refuses.
    latestVersion: prepare(versionsOf.limit(sql.lit(1)), 'latest fleet version'),
    latestVersions: prepare(
      db
        .selectFrom('fleet_versions')
        .select((eb) => ['gateway_id', eb.fn.max('version').as('version')])
        .groupBy('gateway_id'),
      'latest fleet versions',
    ),
    versions: prepare(versionsOf, 'fleet versions'),
    setStatus: prepare(
      db
        .insertInto('fleet_status')
        .values(slots<FleetStatusTable>(STATUS_COLUMNS))
        .onConflict((oc) =>
          oc.column('gateway_id').doUpdateSet((eb) => ({
            running_version: eb.ref('excluded.running_version'),
            last_status: eb.ref('excluded.last_status'),
          })),
        ),
      'set fleet status',
    ),
    statuses: prepare(
      db.selectFrom('fleet_status').select(['gateway_id', 'last_status']),
      'fleet statuses',
    ),
  } satisfies Record<string, PreparedQuery<unknown>>;
}

/** Rows an UPDATE changed, as Kysely's executeTakeFirst() counted them (0 when unreported). */
function changed(result: { numAffectedRows?: bigint }): number {
  return Number(result.numAffectedRows ?? 0n);
}

export class FleetStore {
  private readonly queries: ReturnType<typeof prepareQueries>;

  constructor(private readonly database: Database) {
    if (!database.started) {
      throw new Error(`fleet store: database '${database.where}' must be started first`);
    }
    this.queries = prepareQueries(database.db);
  }

  private get db() {
    return this.database.db;
  }

  async addToken(token: EnrolToken): Promise<void> {
    await this.db.executeQuery(
      this.queries.addToken.bind({
        token_hash: token.tokenHash,
        enterprise_id: token.enterpriseId,
        gateway_id: token.gatewayId,
        created_by: token.createdBy,
        created_at: token.createdAt,
        expires_at: token.expiresAt,
      } satisfies NewTokenRow),
    );
  }

  async token(tokenHash: string): Promise<EnrolToken | undefined> {
    const { rows } = await this.db.executeQuery(this.queries.token.bind({ token_hash: tokenHash }));
    return rows[0] ? toToken(rows[0]) : undefined;
  }

  /**
   * Marks the token used and records the gateway in one transaction; false when another
   * enrolment (on this node or any other) used the token first, or it expired meanwhile. The
   * UPDATE only matches an unused token: on PostgreSQL a racing UPDATE waits for the winner's
   * commit, re-reads the row, no longer matches and changes nothing.
   */
  async consumeToken(tokenHash: string, at: number, gateway: EnrolledGateway): Promise<boolean> {
    const { useToken, enrol } = this.queries;
    return this.db.transaction().execute(async (trx) => {
      const used = await trx.executeQuery(
        useToken.bind({ token_hash: tokenHash, at, used_by: gateway.gatewayId }),
      );
      if (changed(used) !== 1) return false;
      await trx.executeQuery(
        enrol.bind({
          gateway_id: gateway.gatewayId,
          enterprise_id: gateway.enterpriseId,
          password_hash: gateway.passwordHash,
          public_key: gateway.publicKey,
          key_fingerprint: gateway.keyFingerprint,
          enrolled_at: gateway.enrolledAt,
          revoked_at: null,
          revoked_by: null,
          revoke_reason: null,
        } satisfies FleetGatewaysTable),
      );
      return true;
    });
  }

  async gateways(): Promise<EnrolledGateway[]> {
    const { rows } = await this.db.executeQuery(this.queries.gateways.bind({}));
    return rows.map(toGateway);
  }

  async gateway(gatewayId: string): Promise<EnrolledGateway | undefined> {
    const { rows } = await this.db.executeQuery(
      this.queries.gateway.bind({ gateway_id: gatewayId }),
    );
    return rows[0] ? toGateway(rows[0]) : undefined;
  }

  async revoke(gatewayId: string, at: number, by: string, reason: string): Promise<boolean> {
    const result = await this.db.executeQuery(
      this.queries.revoke.bind({
        gateway_id: gatewayId,
        revoked_at: at,
        revoked_by: by,
        revoke_reason: reason,
      }),
    );
    return changed(result) === 1;
  }

  async addVersion(gatewayId: string, document: FleetConfigDocument): Promise<void> {
    await this.db.executeQuery(
      this.queries.addVersion.bind({
        gateway_id: gatewayId,
        version: document.version,
        document: JSON.stringify(document),
      } satisfies FleetVersionsTable),
    );
  }

  async latestVersion(gatewayId: string): Promise<FleetConfigDocument | undefined> {
    const { rows } = await this.db.executeQuery(
      this.queries.latestVersion.bind({ gateway_id: gatewayId }),
    );
    return rows[0] ? (JSON.parse(rows[0].document) as FleetConfigDocument) : undefined;
  }

  /** The newest version number of every gateway that has one. */
  async latestVersions(): Promise<Map<string, number>> {
    const { rows } = await this.db.executeQuery(this.queries.latestVersions.bind({}));
    return new Map(rows.map((r) => [r.gateway_id, Number(r.version)]));
  }

  /** Every version of a gateway, newest first: the management-of-change history. */
  async versions(gatewayId: string): Promise<FleetConfigDocument[]> {
    const { rows } = await this.db.executeQuery(
      this.queries.versions.bind({ gateway_id: gatewayId }),
    );
    return rows.map((r) => JSON.parse(r.document) as FleetConfigDocument);
  }

  async setStatus(gatewayId: string, status: FleetConfigStatus): Promise<void> {
    await this.db.executeQuery(
      this.queries.setStatus.bind({
        gateway_id: gatewayId,
        running_version: status.runningVersion,
        last_status: JSON.stringify(status),
      } satisfies FleetStatusTable),
    );
  }

  async statuses(): Promise<Map<string, FleetConfigStatus>> {
    const { rows } = await this.db.executeQuery(this.queries.statuses.bind({}));
    return new Map(rows.map((r) => [r.gateway_id, JSON.parse(r.last_status) as FleetConfigStatus]));
  }
}
