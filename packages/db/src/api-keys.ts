// Reviewers and their API keys. A key is `hitl_<key id>_<secret>`: shown once when created; only
// the SHA-256 of the secret is stored, so a leaked database does not leak working keys.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { DbError, DbErrorCode } from './errors';

export type Role = 'reviewer' | 'admin';
export const ROLES: readonly Role[] = ['reviewer', 'admin'];

export interface Reviewer {
  id: string;
  name: string;
  role: Role;
  createdAt: Date;
  disabledAt: Date | null;
}

export interface ApiKeyInfo {
  id: string;
  reviewerId: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

type Db = Pool | PoolClient;

const KEY_PATTERN = /^hitl_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;
export const REVIEWER_ID_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

interface ReviewerRow {
  id: string;
  name: string;
  role: Role;
  created_at: Date;
  disabled_at: Date | null;
}

const toReviewer = (r: ReviewerRow): Reviewer => ({
  id: r.id,
  name: r.name,
  role: r.role,
  createdAt: r.created_at,
  disabledAt: r.disabled_at,
});

interface KeyRow {
  id: string;
  reviewer_id: string;
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const toKey = (r: KeyRow): ApiKeyInfo => ({
  id: r.id,
  reviewerId: r.reviewer_id,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

const hash = (secret: string) => createHash('sha256').update(secret).digest();

export async function createReviewer(
  db: Db,
  input: { id: string; name: string; role: Role },
): Promise<Reviewer> {
  if (!REVIEWER_ID_PATTERN.test(input.id)) {
    throw new DbError(
      DbErrorCode.reviewerInvalid,
      `reviewer id "${input.id}" must be 1 to 100 letters, digits, '.', '_' or '-'`,
    );
  }
  if (!ROLES.includes(input.role)) {
    throw new DbError(DbErrorCode.reviewerInvalid, `role must be reviewer or admin, got "${input.role}"`);
  }
  const { rows } = await db.query<ReviewerRow>(
    `INSERT INTO reviewers (id, name, role) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO NOTHING RETURNING *`,
    [input.id, input.name || input.id, input.role],
  );
  if (!rows[0]) throw new DbError(DbErrorCode.reviewerExists, `reviewer ${input.id} already exists`);
  return toReviewer(rows[0]);
}

export async function getReviewer(db: Db, id: string): Promise<Reviewer | null> {
  const { rows } = await db.query<ReviewerRow>('SELECT * FROM reviewers WHERE id = $1', [id]);
  return rows[0] ? toReviewer(rows[0]) : null;
}

export async function listReviewers(db: Db): Promise<Reviewer[]> {
  const { rows } = await db.query<ReviewerRow>('SELECT * FROM reviewers ORDER BY id');
  return rows.map(toReviewer);
}

/** Creates a key for the reviewer; the returned `key` is the only time the secret is seen. */
export async function createApiKey(db: Db, reviewerId: string): Promise<{ key: string; info: ApiKeyInfo }> {
  const key = generateApiKey();
  const { keyId, secret } = parseApiKey(key)!;
  return { key, info: await storeKey(db, reviewerId, keyId, secret) };
}

async function storeKey(db: Db, reviewerId: string, id: string, secret: string): Promise<ApiKeyInfo> {
  const reviewer = await getReviewer(db, reviewerId);
  if (!reviewer) throw new DbError(DbErrorCode.reviewerNotFound, `no reviewer ${reviewerId}`);
  const { rows } = await db.query<KeyRow>(
    `INSERT INTO api_keys (id, reviewer_id, secret_hash) VALUES ($1, $2, $3)
     RETURNING id, reviewer_id, created_at, revoked_at, last_used_at`,
    [id, reviewerId, hash(secret)],
  );
  return toKey(rows[0]!);
}

export async function listApiKeys(db: Db, reviewerId: string): Promise<ApiKeyInfo[]> {
  const { rows } = await db.query<KeyRow>(
    `SELECT id, reviewer_id, created_at, revoked_at, last_used_at FROM api_keys
      WHERE reviewer_id = $1 ORDER BY created_at`,
    [reviewerId],
  );
  return rows.map(toKey);
}

/** Revokes a key at once; revoking it again changes nothing. */
export async function revokeApiKey(db: Db, keyId: string): Promise<ApiKeyInfo> {
  const { rows } = await db.query<KeyRow>(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
     RETURNING id, reviewer_id, created_at, revoked_at, last_used_at`,
    [keyId],
  );
  if (!rows[0]) throw new DbError(DbErrorCode.apiKeyNotFound, `no API key ${keyId}`);
  return toKey(rows[0]);
}

export interface KeyRecord {
  keyId: string;
  secretHash: Buffer;
  revoked: boolean;
  reviewer: Reviewer;
}

/** The parts of a presented key, or null when it is not shaped like one of ours. */
export function parseApiKey(key: string): { keyId: string; secret: string } | null {
  const match = KEY_PATTERN.exec(key);
  return match ? { keyId: match[1]!, secret: match[2]! } : null;
}

/** What authentication needs to know of a key id (null: unknown). */
export async function loadKeyRecord(db: Db, keyId: string): Promise<KeyRecord | null> {
  const { rows } = await db.query<
    ReviewerRow & { key_id: string; secret_hash: Buffer; revoked_at: Date | null }
  >(
    `SELECT k.id AS key_id, k.secret_hash, k.revoked_at, r.*
       FROM api_keys k JOIN reviewers r ON r.id = k.reviewer_id WHERE k.id = $1`,
    [keyId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    keyId: row.key_id,
    secretHash: row.secret_hash,
    revoked: row.revoked_at !== null,
    reviewer: toReviewer(row),
  };
}

/** True when the secret matches the stored hash (in constant time). */
export function secretMatches(record: KeyRecord, secret: string): boolean {
  const presented = hash(secret);
  return presented.length === record.secretHash.length && timingSafeEqual(presented, record.secretHash);
}

/**
 * Makes sure a configured admin key works: creates the admin reviewer and stores the key's hash
 * when missing. For bootstrapping from a deployment secret (generate it with `hitl keys generate`).
 */
export async function ensureAdminKey(db: Db, key: string, reviewerId = 'admin'): Promise<void> {
  const parts = parseApiKey(key);
  if (!parts) {
    throw new DbError(
      DbErrorCode.apiKeyInvalid,
      'the admin key is not of the form hitl_<16 hex>_<43 base64url>',
    );
  }
  const existing = await loadKeyRecord(db, parts.keyId);
  if (existing) {
    if (!secretMatches(existing, parts.secret)) {
      throw new DbError(DbErrorCode.apiKeyInvalid, `key ${parts.keyId} exists with another secret`);
    }
    return;
  }
  if (!(await getReviewer(db, reviewerId))) {
    await db.query(
      `INSERT INTO reviewers (id, name, role) VALUES ($1, $1, 'admin') ON CONFLICT (id) DO NOTHING`,
      [reviewerId],
    );
  }
  await db.query(
    `INSERT INTO api_keys (id, reviewer_id, secret_hash) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
    [parts.keyId, reviewerId, hash(parts.secret)],
  );
}

/** A new key string without storing it (for a deployment secret given to ensureAdminKey). */
export function generateApiKey(): string {
  return `hitl_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
}
