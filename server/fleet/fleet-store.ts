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
 * stops it after the fleet service. Every method is one statement or one short transaction.
 */
import type { FleetConfigDocument, FleetConfigStatus } from '../../protocol/index.js';
import type { Database } from '../db/database.js';
import type { FleetGatewaysTable, FleetTokensTable } from '../db/schema.js';

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

export class FleetStore {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  async addToken(token: EnrolToken): Promise<void> {
    await this.db
      .insertInto('fleet_tokens')
      .values({
        token_hash: token.tokenHash,
        enterprise_id: token.enterpriseId,
        gateway_id: token.gatewayId,
        created_by: token.createdBy,
        created_at: token.createdAt,
        expires_at: token.expiresAt,
      })
      .execute();
  }

  async token(tokenHash: string): Promise<EnrolToken | undefined> {
    const row = await this.db
      .selectFrom('fleet_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row ? toToken(row) : undefined;
  }

  /**
   * Marks the token used and records the gateway in one transaction; false when another
   * enrolment (on this node or any other) used the token first, or it expired meanwhile. The
   * UPDATE only matches an unused token: on PostgreSQL a racing UPDATE waits for the winner's
   * commit, re-reads the row, no longer matches and changes nothing.
   */
  async consumeToken(tokenHash: string, at: number, gateway: EnrolledGateway): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const used = await trx
        .updateTable('fleet_tokens')
        .set({ used_at: at, used_by: gateway.gatewayId })
        .where('token_hash', '=', tokenHash)
        .where('used_at', 'is', null)
        .where('expires_at', '>', at)
        .executeTakeFirst();
      if (Number(used.numUpdatedRows) !== 1) return false;
      // A re-enrolment of a revoked id replaces its row whole (revocation cleared), as before.
      await trx
        .insertInto('fleet_gateways')
        .values({
          gateway_id: gateway.gatewayId,
          enterprise_id: gateway.enterpriseId,
          password_hash: gateway.passwordHash,
          public_key: gateway.publicKey,
          key_fingerprint: gateway.keyFingerprint,
          enrolled_at: gateway.enrolledAt,
          revoked_at: null,
          revoked_by: null,
          revoke_reason: null,
        })
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
        )
        .execute();
      return true;
    });
  }

  async gateways(): Promise<EnrolledGateway[]> {
    const rows = await this.db
      .selectFrom('fleet_gateways')
      .selectAll()
      .orderBy('gateway_id')
      .execute();
    return rows.map(toGateway);
  }

  async gateway(gatewayId: string): Promise<EnrolledGateway | undefined> {
    const row = await this.db
      .selectFrom('fleet_gateways')
      .selectAll()
      .where('gateway_id', '=', gatewayId)
      .executeTakeFirst();
    return row ? toGateway(row) : undefined;
  }

  async revoke(gatewayId: string, at: number, by: string, reason: string): Promise<boolean> {
    const result = await this.db
      .updateTable('fleet_gateways')
      .set({ revoked_at: at, revoked_by: by, revoke_reason: reason })
      .where('gateway_id', '=', gatewayId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async addVersion(gatewayId: string, document: FleetConfigDocument): Promise<void> {
    await this.db
      .insertInto('fleet_versions')
      .values({
        gateway_id: gatewayId,
        version: document.version,
        document: JSON.stringify(document),
      })
      .execute();
  }

  async latestVersion(gatewayId: string): Promise<FleetConfigDocument | undefined> {
    const row = await this.db
      .selectFrom('fleet_versions')
      .select('document')
      .where('gateway_id', '=', gatewayId)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? (JSON.parse(row.document) as FleetConfigDocument) : undefined;
  }

  /** The newest version number of every gateway that has one. */
  async latestVersions(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('fleet_versions')
      .select((eb) => ['gateway_id', eb.fn.max('version').as('version')])
      .groupBy('gateway_id')
      .execute();
    return new Map(rows.map((r) => [r.gateway_id, Number(r.version)]));
  }

  /** Every version of a gateway, newest first: the management-of-change history. */
  async versions(gatewayId: string): Promise<FleetConfigDocument[]> {
    const rows = await this.db
      .selectFrom('fleet_versions')
      .select('document')
      .where('gateway_id', '=', gatewayId)
      .orderBy('version', 'desc')
      .execute();
    return rows.map((r) => JSON.parse(r.document) as FleetConfigDocument);
  }

  async setStatus(gatewayId: string, status: FleetConfigStatus): Promise<void> {
    await this.db
      .insertInto('fleet_status')
      .values({
        gateway_id: gatewayId,
        running_version: status.runningVersion,
        last_status: JSON.stringify(status),
      })
      .onConflict((oc) =>
        oc.column('gateway_id').doUpdateSet((eb) => ({
          running_version: eb.ref('excluded.running_version'),
          last_status: eb.ref('excluded.last_status'),
        })),
      )
      .execute();
  }

  async statuses(): Promise<Map<string, FleetConfigStatus>> {
    const rows = await this.db
      .selectFrom('fleet_status')
      .select(['gateway_id', 'last_status'])
      .execute();
    return new Map(rows.map((r) => [r.gateway_id, JSON.parse(r.last_status) as FleetConfigStatus]));
  }
}
