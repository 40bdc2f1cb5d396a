/**
 * The fleet's tables, in the server's SQLite file (beside the ledger's): enrolment tokens
 * (only their SHA-256, never the token), enrolled gateways (scrypt hash of the MQTT
 * password, the gateway's public key, revocation), and every pushed version with its
 * management-of-change record (who, when, why), plus what each gateway last reported.
 *
 * Lifecycle: the constructor opens the file and creates the tables; close() closes it.
 * Every method is one synchronous statement or transaction (better-sqlite3).
 */
import type { FleetConfigDocument, FleetConfigStatus } from '../../protocol/index.js';
import { openWithSchema, type SqliteDatabase } from '../store/sqlite.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS fleet_tokens (
  token_hash TEXT PRIMARY KEY,
  enterprise_id TEXT NOT NULL,
  gateway_id TEXT,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  used_by TEXT
);
CREATE TABLE IF NOT EXISTS fleet_gateways (
  gateway_id TEXT PRIMARY KEY,
  enterprise_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  public_key TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  enrolled_at INTEGER NOT NULL,
  revoked_at INTEGER,
  revoked_by TEXT,
  revoke_reason TEXT
);
CREATE TABLE IF NOT EXISTS fleet_versions (
  gateway_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  document TEXT NOT NULL,
  PRIMARY KEY (gateway_id, version)
);
CREATE TABLE IF NOT EXISTS fleet_status (
  gateway_id TEXT PRIMARY KEY,
  running_version INTEGER,
  last_status TEXT NOT NULL
);
`;

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

interface TokenRow {
  token_hash: string;
  enterprise_id: string;
  gateway_id: string | null;
  created_by: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  used_by: string | null;
}

interface GatewayRow {
  gateway_id: string;
  enterprise_id: string;
  password_hash: string;
  public_key: string;
  key_fingerprint: string;
  enrolled_at: number;
  revoked_at: number | null;
  revoked_by: string | null;
  revoke_reason: string | null;
}

const toToken = (r: TokenRow): EnrolToken => ({
  tokenHash: r.token_hash,
  enterpriseId: r.enterprise_id,
  gatewayId: r.gateway_id,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
  usedBy: r.used_by,
});

const toGateway = (r: GatewayRow): EnrolledGateway => ({
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
  private readonly db: SqliteDatabase;

  constructor(path: string) {
    this.db = openWithSchema(path, {}, SCHEMA, `fleet tables '${path}'`);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  addToken(token: EnrolToken): void {
    this.db
      .prepare(
        `INSERT INTO fleet_tokens (token_hash, enterprise_id, gateway_id, created_by, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        token.tokenHash,
        token.enterpriseId,
        token.gatewayId,
        token.createdBy,
        token.createdAt,
        token.expiresAt,
      );
  }

  token(tokenHash: string): EnrolToken | undefined {
    const row = this.db.prepare('SELECT * FROM fleet_tokens WHERE token_hash = ?').get(tokenHash) as
      | TokenRow
      | undefined;
    return row ? toToken(row) : undefined;
  }

  /**
   * Marks the token used and records the gateway in one transaction; false when another
   * enrolment used the token first (the token is single-use even under a race).
   */
  consumeToken(tokenHash: string, at: number, gateway: EnrolledGateway): boolean {
    const consume = this.db.transaction(() => {
      const used = this.db
        .prepare(
          'UPDATE fleet_tokens SET used_at = ?, used_by = ? WHERE token_hash = ? AND used_at IS NULL',
        )
        .run(at, gateway.gatewayId, tokenHash);
      if (used.changes !== 1) return false;
      this.db
        .prepare(
          `INSERT OR REPLACE INTO fleet_gateways
           (gateway_id, enterprise_id, password_hash, public_key, key_fingerprint, enrolled_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .run(
          gateway.gatewayId,
          gateway.enterpriseId,
          gateway.passwordHash,
          gateway.publicKey,
          gateway.keyFingerprint,
          gateway.enrolledAt,
        );
      return true;
    });
    return consume();
  }

  gateways(): EnrolledGateway[] {
    const rows = this.db
      .prepare('SELECT * FROM fleet_gateways ORDER BY gateway_id')
      .all() as GatewayRow[];
    return rows.map(toGateway);
  }

  revoke(gatewayId: string, at: number, by: string, reason: string): boolean {
    const result = this.db
      .prepare(
        'UPDATE fleet_gateways SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE gateway_id = ? AND revoked_at IS NULL',
      )
      .run(at, by, reason, gatewayId);
    return result.changes === 1;
  }

  addVersion(gatewayId: string, document: FleetConfigDocument): void {
    this.db
      .prepare('INSERT INTO fleet_versions (gateway_id, version, document) VALUES (?, ?, ?)')
      .run(gatewayId, document.version, JSON.stringify(document));
  }

  latestVersion(gatewayId: string): FleetConfigDocument | undefined {
    const row = this.db
      .prepare(
        'SELECT document FROM fleet_versions WHERE gateway_id = ? ORDER BY version DESC LIMIT 1',
      )
      .get(gatewayId) as { document: string } | undefined;
    return row ? (JSON.parse(row.document) as FleetConfigDocument) : undefined;
  }

  /** Every version of a gateway, newest first: the management-of-change history. */
  versions(gatewayId: string): FleetConfigDocument[] {
    const rows = this.db
      .prepare('SELECT document FROM fleet_versions WHERE gateway_id = ? ORDER BY version DESC')
      .all(gatewayId) as { document: string }[];
    return rows.map((r) => JSON.parse(r.document) as FleetConfigDocument);
  }

  setStatus(gatewayId: string, status: FleetConfigStatus): void {
    this.db
      .prepare(
        'INSERT OR REPLACE INTO fleet_status (gateway_id, running_version, last_status) VALUES (?, ?, ?)',
      )
      .run(gatewayId, status.runningVersion, JSON.stringify(status));
  }

  statuses(): Map<string, FleetConfigStatus> {
    const rows = this.db.prepare('SELECT gateway_id, last_status FROM fleet_status').all() as {
      gateway_id: string;
      last_status: string;
    }[];
    return new Map(rows.map((r) => [r.gateway_id, JSON.parse(r.last_status) as FleetConfigStatus]));
  }
}
