// API-key authentication. Keys are looked up by id and checked against their stored hash. Keys
// that work are cached; a change that can stop one (revoked, expired, its reviewer disabled) is
// announced by Postgres on a channel this instance listens to, so the copy goes at once on every
// replica. While that channel is down, a cached key is trusted for 5 s at most.
import { ApiErrorCode } from '@hitl/api-contract';
import {
  API_KEY_CHANNEL,
  loadKeyRecord,
  parseApiKey,
  secretMatches,
  touchApiKey,
  type KeyRecord,
  type Role,
} from '@hitl/db';
import { EventEmitter } from 'node:events';
import type { Notification, Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import { ApiError } from './errors';

export interface Principal {
  reviewerId: string;
  name: string;
  role: Role;
  keyId: string;
}

/** The key id of an `Authorization: Bearer hitl_<id>_<secret>` header (for rate limiting). */
export function keyIdOf(authorization: string | undefined): string | undefined {
  const token = bearer(authorization);
  return token ? parseApiKey(token)?.keyId : undefined;
}

const bearer = (authorization: string | undefined) => /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];

export interface AuthenticatorOptions {
  pool: Pool;
  logger: Logger;
  /** How long a working key is trusted without a look at the database, while listening. */
  listeningTtlMs?: number;
  /** The same while the notification channel is down. */
  fallbackTtlMs?: number;
  /** Working keys kept at most; past that the oldest entry goes. */
  maxCached?: number;
  /** last_used_at is written at most this often per key. */
  touchEveryMs?: number;
}

interface Cached {
  record: KeyRecord;
  until: number;
  touchedAt: number;
}

/**
 * Checks API keys. Events: 'invalidated' (a key id or `reviewer:<id>` whose cached keys were
 * dropped), 'listening' (the notification channel is up).
 */
export class Authenticator extends EventEmitter {
  private readonly cache = new Map<string, Cached>();
  private readonly listeningTtlMs: number;
  private readonly fallbackTtlMs: number;
  private readonly maxCached: number;
  private readonly touchEveryMs: number;
  private listener: PoolClient | undefined;
  private listening = false;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  /** Counts invalidations: a lookup that raced one must not cache what it read before it. */
  private generation = 0;

  constructor(private readonly opts: AuthenticatorOptions) {
    super();
    this.listeningTtlMs = opts.listeningTtlMs ?? 300_000;
    this.fallbackTtlMs = opts.fallbackTtlMs ?? 5_000;
    this.maxCached = opts.maxCached ?? 10_000;
    this.touchEveryMs = opts.touchEveryMs ?? 60_000;
  }

  /** Listens for key changes; keeps trying in the background when the database is away. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.listen().catch((err: unknown) => this.listenFailed(err));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.listener;
    this.listener = undefined;
    this.listening = false;
    if (client) {
      await client.query(`UNLISTEN ${API_KEY_CHANNEL}`).catch(() => undefined);
      client.release();
    }
  }

  /**
   * The principal of a header whose key is cached and still good, without touching the
   * database; undefined when authenticate() would have to look the key up.
   */
  cached(authorization: string | undefined): Principal | undefined {
    const parts = parseHeader(authorization);
    const hit = parts && this.cache.get(parts.keyId);
    if (!parts || !hit || hit.until <= Date.now() || !usable(hit.record)) return undefined;
    if (!secretMatches(hit.record, parts.secret)) return undefined;
    this.touch(hit);
    return principal(hit.record);
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const token = bearer(authorization);
    if (!token) {
      throw new ApiError(ApiErrorCode.unauthenticated, 'send an API key: Authorization: Bearer hitl_…');
    }
    const fast = this.cached(authorization);
    if (fast) return fast;
    const parts = parseApiKey(token);
    const generation = this.generation;
    // Only keys that work are cached: a flood of made-up ids must not push real keys out.
    const record = parts ? await loadKeyRecord(this.opts.pool, parts.keyId) : null;
    if (!parts || !record || !secretMatches(record, parts.secret)) {
      throw new ApiError(ApiErrorCode.unauthenticated, 'unknown API key');
    }
    if (record.revoked) throw new ApiError(ApiErrorCode.unauthenticated, 'this API key was revoked');
    if (record.expiresAt && record.expiresAt.getTime() <= Date.now()) {
      throw new ApiError(
        ApiErrorCode.unauthenticated,
        `this API key expired at ${record.expiresAt.toISOString()}`,
      );
    }
    if (record.reviewer.disabledAt) {
      throw new ApiError(ApiErrorCode.unauthenticated, `reviewer ${record.reviewer.id} is disabled`);
    }
    const entry: Cached = {
      record,
      until: Date.now() + (this.listening ? this.listeningTtlMs : this.fallbackTtlMs),
      touchedAt: 0,
    };
    if (generation === this.generation) {
      this.cache.delete(record.keyId);
      this.cache.set(record.keyId, entry);
      if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    }
    this.touch(entry);
    return principal(record);
  }

  /** Forget a key (after revoking it) so the next request reads it again. */
  forget(keyId: string): void {
    this.generation++;
    this.cache.delete(keyId);
    this.emit('invalidated', keyId);
  }

  private forgetReviewer(reviewerId: string): void {
    this.generation++;
    for (const [keyId, { record }] of this.cache) {
      if (record.reviewer.id === reviewerId) this.cache.delete(keyId);
    }
    this.emit('invalidated', `reviewer:${reviewerId}`);
  }

  /** Writes last_used_at, at most once per touchEveryMs per key, without holding up the request. */
  private touch(entry: Cached): void {
    const now = Date.now();
    if (now - entry.touchedAt < this.touchEveryMs) return;
    entry.touchedAt = now;
    touchApiKey(this.opts.pool, entry.record.keyId).catch((err: unknown) =>
      this.opts.logger.warn({ err, keyId: entry.record.keyId }, 'could not record the key’s last use'),
    );
  }

  private async listen(): Promise<void> {
    const client = await this.opts.pool.connect();
    if (this.stopped) {
      client.release();
      return;
    }
    const onNotification = (message: Notification) => {
      if (message.channel !== API_KEY_CHANNEL || !message.payload) return;
      const [kind, id] = splitOnce(message.payload);
      if (kind === 'key') this.forget(id);
      else if (kind === 'reviewer') this.forgetReviewer(id);
    };
    const onError = (err: unknown) => {
      client.off('notification', onNotification);
      client.off('error', onError);
      if (this.listener === client) this.listener = undefined;
      client.release(err instanceof Error ? err : true);
      this.listenFailed(err);
    };
    client.on('notification', onNotification);
    client.on('error', onError);
    try {
      await client.query(`LISTEN ${API_KEY_CHANNEL}`);
    } catch (err) {
      onError(err);
      return;
    }
    this.listener = client;
    // What was cached while nobody listened may have changed since: read it all again.
    this.generation++;
    this.cache.clear();
    this.listening = true;
    this.emit('listening');
  }

  private listenFailed(err: unknown): void {
    this.listening = false;
    if (this.stopped) return;
    this.opts.logger.warn({ err }, 'not listening for API key changes; cached keys are trusted for 5 s');
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.listen().catch((e: unknown) => this.listenFailed(e));
    }, 2_000);
    this.retry.unref();
  }
}

function parseHeader(authorization: string | undefined) {
  const token = bearer(authorization);
  return token ? parseApiKey(token) : null;
}

function splitOnce(payload: string): [string, string] {
  const at = payload.indexOf(':');
  return at < 0 ? [payload, ''] : [payload.slice(0, at), payload.slice(at + 1)];
}

const usable = (r: KeyRecord) =>
  !r.revoked && !r.reviewer.disabledAt && (r.expiresAt === null || r.expiresAt.getTime() > Date.now());

const principal = (r: KeyRecord): Principal => ({
  reviewerId: r.reviewer.id,
  name: r.reviewer.name,
  role: r.reviewer.role,
  keyId: r.keyId,
});

/** May a principal of this role use a route that needs `required`? Admins may do what reviewers do. */
export function allowed(role: Role, required: Role): boolean {
  return required === 'reviewer' || role === 'admin';
}
