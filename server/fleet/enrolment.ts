/**
 * Enrolment: one-time tokens made by an administrator (bound to an enterprise, optionally to a
 * gateway id, expiring), exchanged once by a new gateway for its identity and MQTT password.
 *
 * The token is 256 random bits shown once; the server keeps only its SHA-256, so a copy of the
 * database enrols nobody. The gateway proves it holds the private key of the public key it
 * registers by signing the token and that key (ECDSA P-256, SHA-256): the key is bound to the
 * identity from the first exchange (docs/fleet.md: what it is for, and the mTLS step left).
 */
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { isValidId } from '../../protocol/index.js';
import { generateSecret, hashPassword } from '../auth/password.js';
import type { EnrolledGateway, FleetStore } from './fleet-store.js';

export const ENROLMENT_DEFAULTS = {
  tokenTtlMs: 24 * 60 * 60_000, // 24 h unless the administrator says otherwise
  maxTokenTtlMs: 30 * 24 * 60 * 60_000, // 30 days at most: a token is a bearer secret
  // Gateway ids of enrolled gateways leave room for the fleet client id suffix ':fleet' within
  // the broker's 64-character client id limit (server/broker.ts maxClientIdLength).
  maxGatewayIdLength: 58,
} as const;

/** Why an enrolment was refused; `status` is the HTTP status the API answers. */
export class EnrolmentRefused extends Error {
  constructor(
    readonly status: 400 | 401 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'EnrolmentRefused';
  }
}

export interface EnrolRequest {
  token: string;
  /** SPKI PEM of the gateway's own key pair (ECDSA P-256). */
  publicKeyPem: string;
  /** base64 ECDSA-SHA256 signature of {@link enrolmentProofData}. */
  proof: string;
  /** The id the gateway asks for; a token that names an id wins. */
  gatewayId?: string;
}

export interface Enrolled {
  gatewayId: string;
  enterpriseId: string;
  username: string;
  password: string;
  keyFingerprint: string;
  enrolledAt: number;
}

/** What the gateway signs: the token and the key it registers, so neither can be swapped. */
export function enrolmentProofData(token: string, publicKeyPem: string): Buffer {
  return Buffer.from(`hazardwatch-enrol\0${token}\0${publicKeyPem.trim()}`, 'utf8');
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface TokenRequest {
  enterpriseId: string;
  gatewayId?: string;
  ttlMs?: number;
  by: string;
}

export async function makeToken(
  store: FleetStore,
  clock: Clock,
  request: TokenRequest,
): Promise<{ token: string; expiresAt: number }> {
  if (!isValidId(request.enterpriseId))
    throw new EnrolmentRefused(400, `enterpriseId: invalid id '${request.enterpriseId}'`);
  if (request.gatewayId !== undefined) checkGatewayId(request.gatewayId, 'gatewayId');
  const ttlMs = request.ttlMs ?? ENROLMENT_DEFAULTS.tokenTtlMs;
  if (!(ttlMs > 0 && ttlMs <= ENROLMENT_DEFAULTS.maxTokenTtlMs))
    throw new EnrolmentRefused(
      400,
      `ttlMs: must be between 1 and ${ENROLMENT_DEFAULTS.maxTokenTtlMs} (got ${ttlMs})`,
    );
  const token = `hwe_${randomBytes(32).toString('base64url')}`;
  const createdAt = clock.now();
  const expiresAt = createdAt + ttlMs;
  await store.addToken({
    tokenHash: tokenHash(token),
    enterpriseId: request.enterpriseId,
    gatewayId: request.gatewayId ?? null,
    createdBy: request.by,
    createdAt,
    expiresAt,
    usedAt: null,
    usedBy: null,
  });
  return { token, expiresAt };
}

function checkGatewayId(id: string, key: string): void {
  if (!isValidId(id) || id.length > ENROLMENT_DEFAULTS.maxGatewayIdLength)
    throw new EnrolmentRefused(
      400,
      `${key}: must match [A-Za-z0-9_.-] and be at most ${ENROLMENT_DEFAULTS.maxGatewayIdLength} characters (got '${id.slice(0, 80)}')`,
    );
}

/**
 * Checks the token and the proof, then consumes the token and records the gateway in one
 * transaction. `taken(id)` says whether an active gateway (enrolled or a static MQTT user)
 * already holds the id.
 */
export async function enrol(
  store: FleetStore,
  clock: Clock,
  request: EnrolRequest,
  taken: (gatewayId: string) => boolean,
): Promise<Enrolled> {
  const hash = tokenHash(request.token);
  const token = await store.token(hash);
  const now = clock.now();
  // One answer for unknown and used: a probe learns nothing about which tokens exist.
  if (!token || token.usedAt !== null)
    throw new EnrolmentRefused(401, 'enrolment token unknown or already used');
  if (now >= token.expiresAt)
    throw new EnrolmentRefused(
      401,
      `enrolment token expired at ${new Date(token.expiresAt).toISOString()}`,
    );
  let fingerprint: string;
  try {
    const key = createPublicKey(request.publicKeyPem);
    const ok = verify(
      'sha256',
      enrolmentProofData(request.token, request.publicKeyPem),
      key,
      Buffer.from(request.proof, 'base64'),
    );
    if (!ok) throw new Error('signature does not verify');
    fingerprint = createHash('sha256')
      .update(key.export({ type: 'spki', format: 'der' }))
      .digest('hex');
  } catch (err) {
    throw new EnrolmentRefused(
      400,
      `publicKeyPem/proof: the gateway's key does not sign the token (${(err as Error).message})`,
    );
  }
  const gatewayId = token.gatewayId ?? request.gatewayId ?? `gw-${randomBytes(5).toString('hex')}`;
  checkGatewayId(gatewayId, 'gatewayId');
  if (taken(gatewayId))
    throw new EnrolmentRefused(409, `gatewayId: '${gatewayId}' is already enrolled and active`);
  const password = generateSecret();
  const gateway: EnrolledGateway = {
    gatewayId,
    enterpriseId: token.enterpriseId,
    passwordHash: await hashPassword(password),
    publicKey: request.publicKeyPem.trim(),
    keyFingerprint: fingerprint,
    enrolledAt: now,
    revokedAt: null,
    revokedBy: null,
    revokeReason: null,
  };
  if (!(await store.consumeToken(hash, now, gateway)))
    throw new EnrolmentRefused(401, 'enrolment token unknown or already used');
  return {
    gatewayId,
    enterpriseId: token.enterpriseId,
    username: gatewayId,
    password,
    keyFingerprint: fingerprint,
    enrolledAt: now,
  };
}
