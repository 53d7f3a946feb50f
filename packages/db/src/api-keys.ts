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
  /** The groups it belongs to: a stream open to a group is open to its members. */
  groups: string[];
  createdAt: Date;
  disabledAt: Date | null;
}

/** At most this many groups a reviewer; each named as a reviewer id is. */
export const MAX_REVIEWER_GROUPS = 100;

export interface ApiKeyInfo {
  id: string;
  reviewerId: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  /** After this the key no longer works (null: never). */
  expiresAt: Date | null;
  /** The reviewer (an admin) who made it; null when made outside the API (the hitl command). */
  createdBy: string | null;
}

type Db = Pool | PoolClient;

const KEY_PATTERN = /^hitl_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;
export const REVIEWER_ID_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

interface ReviewerRow {
  id: string;
  name: string;
  role: Role;
  groups: string[];
  created_at: Date;
  disabled_at: Date | null;
}

const toReviewer = (r: ReviewerRow): Reviewer => ({
  id: r.id,
  name: r.name,
  role: r.role,
  groups: r.groups,
  createdAt: r.created_at,
  disabledAt: r.disabled_at,
});

interface KeyRow {
  id: string;
  reviewer_id: string;
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
  expires_at: Date | null;
  created_by: string | null;
}

const KEY_COLUMNS = 'id, reviewer_id, created_at, revoked_at, last_used_at, expires_at, created_by';

const toKey = (r: KeyRow): ApiKeyInfo => ({
  id: r.id,
  reviewerId: r.reviewer_id,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
  expiresAt: r.expires_at,
  createdBy: r.created_by,
});

const hash = (secret: string) => createHash('sha256').update(secret).digest();

export async function createReviewer(
  db: Db,
  input: { id: string; name: string; role: Role; groups?: readonly string[] },
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
  const groups = checkedGroups(input.groups ?? []);
  const { rows } = await db.query<ReviewerRow>(
    `INSERT INTO reviewers (id, name, role, groups) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO NOTHING RETURNING *`,
    [input.id, input.name || input.id, input.role, groups],
  );
  if (!rows[0]) throw new DbError(DbErrorCode.reviewerExists, `reviewer ${input.id} already exists`);
  return toReviewer(rows[0]);
}

/** Distinct group names, each a valid name, at most MAX_REVIEWER_GROUPS; throws reviewerInvalid. */
function checkedGroups(groups: readonly string[]): string[] {
  const distinct = [...new Set(groups)];
  if (distinct.length > MAX_REVIEWER_GROUPS) {
    throw new DbError(
      DbErrorCode.reviewerInvalid,
      `a reviewer belongs to at most ${MAX_REVIEWER_GROUPS} groups, got ${distinct.length}`,
    );
  }
  const bad = distinct.find((g) => typeof g !== 'string' || !REVIEWER_ID_PATTERN.test(g));
  if (bad !== undefined) {
    throw new DbError(
      DbErrorCode.reviewerInvalid,
      `group "${String(bad)}" must be 1 to 100 letters, digits, '.', '_' or '-'`,
    );
  }
  return distinct;
}

/** Replaces the groups a reviewer belongs to; the reviewer as it is now. */
export async function setReviewerGroups(db: Db, id: string, groups: readonly string[]): Promise<Reviewer> {
  const { rows } = await db.query<ReviewerRow>('UPDATE reviewers SET groups = $2 WHERE id = $1 RETURNING *', [
    id,
    checkedGroups(groups),
  ]);
  if (!rows[0]) throw new DbError(DbErrorCode.reviewerNotFound, `no reviewer ${id}`);
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

/**
 * Disables a reviewer (their keys stop working, on every replica at once) or enables them again.
 * Disabling gives back the tasks they hold. Doing it twice changes nothing.
 */
export async function setReviewerDisabled(db: Db, id: string, disabled: boolean): Promise<Reviewer> {
  const { rows } = await db.query<ReviewerRow>(
    disabled
      ? `WITH reviewer AS (
           UPDATE reviewers SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1 RETURNING *
         ), released AS (
           UPDATE review_tasks SET lease_owner = NULL, lease_expires_at = NULL
            WHERE lease_owner IN (SELECT id FROM reviewer)
         )
         SELECT * FROM reviewer`
      : 'UPDATE reviewers SET disabled_at = NULL WHERE id = $1 RETURNING *',
    [id],
  );
  if (!rows[0]) throw new DbError(DbErrorCode.reviewerNotFound, `no reviewer ${id}`);
  return toReviewer(rows[0]);
}

/** The longest a key may be made to live for (ten years). */
export const MAX_KEY_DAYS = 3_650;

export interface NewKeyOptions {
  /** The key stops working this many days from now (default: never). */
  expiresInDays?: number;
  /** Who makes it (an admin's reviewer id). */
  createdBy?: string;
}

/** Creates a key for the reviewer; the returned `key` is the only time the secret is seen. */
export async function createApiKey(
  db: Db,
  reviewerId: string,
  options: NewKeyOptions = {},
): Promise<{ key: string; info: ApiKeyInfo }> {
  const days = options.expiresInDays;
  if (days !== undefined && !(Number.isFinite(days) && days > 0 && days <= MAX_KEY_DAYS)) {
    throw new DbError(
      DbErrorCode.apiKeyInvalid,
      `a key expires after more than 0 and at most ${MAX_KEY_DAYS} days, got ${days}`,
    );
  }
  const key = generateApiKey();
  const { keyId, secret } = parseApiKey(key)!;
  const reviewer = await getReviewer(db, reviewerId);
  if (!reviewer) throw new DbError(DbErrorCode.reviewerNotFound, `no reviewer ${reviewerId}`);
  const { rows } = await db.query<KeyRow>(
    `INSERT INTO api_keys (id, reviewer_id, secret_hash, expires_at, created_by)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4::float8 * 86400), $5)
     RETURNING ${KEY_COLUMNS}`,
    [keyId, reviewerId, hash(secret), days ?? null, options.createdBy ?? null],
  );
  return { key, info: toKey(rows[0]!) };
}

export async function listApiKeys(db: Db, reviewerId: string): Promise<ApiKeyInfo[]> {
  const { rows } = await db.query<KeyRow>(
    `SELECT ${KEY_COLUMNS} FROM api_keys WHERE reviewer_id = $1 ORDER BY created_at`,
    [reviewerId],
  );
  return rows.map(toKey);
}

/** Revokes a key at once; revoking it again changes nothing. */
export async function revokeApiKey(db: Db, keyId: string): Promise<ApiKeyInfo> {
  const { rows } = await db.query<KeyRow>(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${KEY_COLUMNS}`,
    [keyId],
  );
  if (!rows[0]) throw new DbError(DbErrorCode.apiKeyNotFound, `no API key ${keyId}`);
  return toKey(rows[0]);
}

/** Records that a key was used just now (callers throttle this: it is a write). */
export async function touchApiKey(db: Db, keyId: string): Promise<void> {
  await db.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [keyId]);
}

/** The channel on which changes that can stop keys from working are announced (see migrations). */
export const API_KEY_CHANNEL = 'hitl_api_keys';

export interface KeyRecord {
  keyId: string;
  secretHash: Buffer;
  revoked: boolean;
  expiresAt: Date | null;
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
    ReviewerRow & { key_id: string; secret_hash: Buffer; revoked_at: Date | null; expires_at: Date | null }
  >(
    `SELECT k.id AS key_id, k.secret_hash, k.revoked_at, k.expires_at, r.*
       FROM api_keys k JOIN reviewers r ON r.id = k.reviewer_id WHERE k.id = $1`,
    [keyId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    keyId: row.key_id,
    secretHash: row.secret_hash,
    revoked: row.revoked_at !== null,
    expiresAt: row.expires_at,
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
