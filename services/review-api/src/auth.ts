// API-key authentication. Keys are looked up by id and checked against their stored hash; the
// lookups are cached for a few seconds, and a revocation through this instance drops its entry.
import { loadKeyRecord, parseApiKey, secretMatches, type KeyRecord, type Role } from '@hitl/db';
import type { Pool } from 'pg';
import { ApiError, ApiErrorCode } from './errors';

export interface Principal {
  reviewerId: string;
  name: string;
  role: Role;
  keyId: string;
}

/** The key id of an `Authorization: Bearer hitl_<id>_<secret>` header (for rate limiting). */
export function keyIdOf(authorization: string | undefined): string | undefined {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  return token ? parseApiKey(token)?.keyId : undefined;
}

export class Authenticator {
  private readonly cache = new Map<string, { record: KeyRecord | null; until: number }>();

  constructor(
    private readonly pool: Pool,
    private readonly ttlMs = 5_000,
  ) {}

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) {
      throw new ApiError(401, ApiErrorCode.unauthenticated, 'send an API key: Authorization: Bearer hitl_…');
    }
    const parts = parseApiKey(token);
    const record = parts ? await this.lookup(parts.keyId) : null;
    if (!parts || !record || !secretMatches(record, parts.secret)) {
      throw new ApiError(401, ApiErrorCode.unauthenticated, 'unknown API key');
    }
    if (record.revoked) throw new ApiError(401, ApiErrorCode.unauthenticated, 'this API key was revoked');
    if (record.reviewer.disabledAt) {
      throw new ApiError(401, ApiErrorCode.unauthenticated, `reviewer ${record.reviewer.id} is disabled`);
    }
    return {
      reviewerId: record.reviewer.id,
      name: record.reviewer.name,
      role: record.reviewer.role,
      keyId: record.keyId,
    };
  }

  /** Forget a key (after revoking it) so the next request reads it again. */
  forget(keyId: string): void {
    this.cache.delete(keyId);
  }

  private async lookup(keyId: string): Promise<KeyRecord | null> {
    const hit = this.cache.get(keyId);
    if (hit && hit.until > Date.now()) return hit.record;
    const record = await loadKeyRecord(this.pool, keyId);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(keyId, { record, until: Date.now() + this.ttlMs });
    return record;
  }
}

/** May a principal of this role use a route that needs `required`? Admins may do what reviewers do. */
export function allowed(role: Role, required: Role): boolean {
  return required === 'reviewer' || role === 'admin';
}
