// A typed client for every route of the review API. Failed calls throw ReviewApiError with the
// server's stable code; calls the server turned away (429, 503) or never received are retried
// with backoff, and so are calls it may have acted on when repeating them changes nothing.
// It runs wherever fetch and Web Crypto do: Node 20 and browsers (the web app, packages/web).
import { ClientErrorCode, ReviewApiError } from './errors';
import type {
  AnswerBody,
  AnswerResult,
  ApiKeyInfo,
  ClaimFilters,
  CreatedKey,
  ExportedLabel,
  ExportQuery,
  GoldImportResult,
  GoldItemLine,
  GoldItemView,
  Learning,
  Lease,
  Me,
  ModelVersionSummary,
  TrainingRequested,
  TrainingRun,
  NewReviewer,
  PolicySpec,
  Reviewer,
  ReviewStats,
  StoredPolicy,
  Stream,
  StreamChange,
  StreamList,
  NewStream,
  Task,
  TaskListQuery,
  TaskPage,
} from './types';

export interface ReviewClientOptions {
  /** Where the review API listens, e.g. http://127.0.0.1:8080 (a path prefix is kept). */
  baseUrl: string;
  /** hitl_<id>_<secret>, as an admin created it. */
  apiKey: string;
  /** The fetch to call (default: the global one). */
  fetch?: typeof fetch;
  /** Tries after the first one (default 4). */
  maxRetries?: number;
  /** How long one try may take, answer body included (default 10 s; for exportLabels, until the stream starts). */
  timeoutMs?: number;
  /** The longest wait between tries, whatever Retry-After asks for (default 30 s). */
  maxRetryDelayMs?: number;
  /**
   * A connection that cannot be made (refused while the API restarts, no route) is tried again,
   * about every second, beyond maxRetries until this long after the first try (default 30 s),
   * as a person would keep reloading; the request cannot have reached the server.
   */
  connectDeadlineMs?: number;
}

export interface ClaimOptions {
  /**
   * A key of this claim (sent as Idempotency-Key): a repeat with the same key gets the same task
   * while its lease lasts, and a new key a new task, for fetching the next task ahead. Without
   * one, a claim returns the task you already hold, if one fits the filters.
   */
  claimKey?: string;
}

export interface AnswerOptions {
  /** The same key for the same answer: a repeat returns the first result. Default: a new UUID. */
  idempotencyKey?: string;
}

interface Call {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** A body sent as it is, with its own content type (instead of `body` as JSON). */
  raw?: { text: string; contentType: string };
  headers?: Record<string, string>;
  /**
   * May the call be sent again when the server may already have acted on it (the connection broke
   * after the request went out, or no answer came in time)? Yes when a second run changes nothing
   * the first did not, even if it answers differently (a skip repeated is refused with 409).
   */
  repeatable: boolean;
}

/** Why a try failed without an answer, and whether the request may have reached the server. */
type Failure = { kind: 'unsent' | 'maybe-sent' | 'final'; code: ClientErrorCode; error: unknown };

// The connection was never made: the server cannot have seen the request.
const UNSENT = new Set([
  'ECONNREFUSED',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
// The connection broke or went quiet: the server may have acted before it did.
const MAYBE_SENT = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const RETRY_STATUSES = new Set([429, 503]);
const BACKOFF_BASE_MS = 250;

export class ReviewClient {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly fetchImpl: typeof fetch;
  private readonly maxRetries: number;
  private readonly timeoutMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly connectDeadlineMs: number;

  constructor(opts: ReviewClientOptions) {
    const url = new URL(opts.baseUrl); // throws on a malformed URL, here rather than on the first call
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`baseUrl must be http or https, not ${url.protocol}`);
    }
    if (!opts.apiKey) throw new TypeError('apiKey is required');
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.apiKey = opts.apiKey;
    // Called through a wrapper: a browser's fetch throws "Illegal invocation" as a method of another object.
    this.fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
    this.maxRetries = opts.maxRetries ?? 4;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 30_000;
    this.connectDeadlineMs = opts.connectDeadlineMs ?? 30_000;
  }

  // ---- reviewers ----------------------------------------------------------------------------

  /** Who this key belongs to. */
  me(): Promise<Me> {
    return this.call('GET', '/v1/me');
  }

  /**
   * Leases the most urgent waiting task; null when none is waiting for you. Safe to repeat: a
   * repeat after a broken connection gets the task the first try leased (see ClaimOptions).
   */
  async claim(filters: ClaimFilters = {}, opts: ClaimOptions = {}): Promise<Task | null> {
    return this.call<Task | null>('POST', '/v1/tasks/claim', {
      body: filters,
      headers: opts.claimKey === undefined ? {} : { 'idempotency-key': opts.claimKey },
      repeatable: true,
    });
  }

  getTask(eventId: string): Promise<Task> {
    return this.call('GET', `/v1/tasks/${enc(eventId)}`);
  }

  /** Renews your lease on a task for another lease period. */
  extendLease(eventId: string): Promise<Lease> {
    return this.call('POST', `/v1/tasks/${enc(eventId)}/lease`, { repeatable: true });
  }

  /** Gives a task back to the queue. */
  async releaseLease(eventId: string): Promise<void> {
    await this.call('DELETE', `/v1/tasks/${enc(eventId)}/lease`, { repeatable: true });
  }

  /** Gives a task back; you will not be offered it again. */
  async skip(eventId: string): Promise<void> {
    await this.call('POST', `/v1/tasks/${enc(eventId)}/skip`, { repeatable: true });
  }

  /** Answers a task you hold. Every try of one call carries the same idempotency key. */
  answer(eventId: string, body: AnswerBody, opts: AnswerOptions = {}): Promise<AnswerResult> {
    return this.call('POST', `/v1/tasks/${enc(eventId)}/answers`, {
      body,
      headers: { 'idempotency-key': opts.idempotencyKey ?? crypto.randomUUID() },
      repeatable: true,
    });
  }

  /** A page of tasks, newest first; pass nextCursor as cursor for the next page (null: the last). */
  listTasks(query: TaskListQuery = {}): Promise<TaskPage> {
    return this.call('GET', '/v1/tasks', { query, repeatable: true });
  }

  /** Queue depth, decisions per hour, per-reviewer counts and agreement. */
  stats(): Promise<ReviewStats> {
    return this.call('GET', '/v1/stats');
  }

  // ---- admins -------------------------------------------------------------------------------

  /**
   * The labelled data, oldest decision first, one object per decided task, read as the server
   * streams it. Retried until the stream starts; if it breaks off later this throws
   * HITL_ERR_CLIENT_UNREACHABLE, and a new export from the last decidedAt goes on from there
   * (repeating the tasks decided at that instant).
   */
  async *exportLabels(query: ExportQuery = {}): AsyncGenerator<ExportedLabel> {
    const path = '/v1/export';
    const response = await this.send('GET', path, { query, repeatable: true }, async (r) => r);
    if (!response.body) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = '';
    let lines = 0;
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          throw new ReviewApiError(
            0,
            ClientErrorCode.unreachable,
            `GET ${path}: the stream broke off after ${lines} lines`,
            undefined,
            { cause: error },
          );
        }
        if (chunk.done) break;
        rest += chunk.value;
        const complete = rest.split('\n');
        rest = complete.pop()!;
        for (const line of complete) {
          if (line.trim() === '') continue;
          lines++;
          yield parse(line, response.status) as ExportedLabel;
        }
      }
      if (rest.trim() !== '') yield parse(rest, response.status) as ExportedLabel;
    } finally {
      // Also when the caller stops early: the server stops reading the database.
      await reader.cancel().catch(() => undefined);
    }
  }

  listReviewers(): Promise<Reviewer[]> {
    return this.call('GET', '/v1/admin/reviewers');
  }

  createReviewer(reviewer: NewReviewer): Promise<Reviewer> {
    return this.call('POST', '/v1/admin/reviewers', { body: reviewer, repeatable: true });
  }

  listKeys(reviewerId: string): Promise<ApiKeyInfo[]> {
    return this.call('GET', `/v1/admin/reviewers/${enc(reviewerId)}/keys`);
  }

  /** A new key for a reviewer; `key` is in this answer only. Not repeated: a repeat makes a second key. */
  createKey(reviewerId: string, opts: { expiresInDays?: number } = {}): Promise<CreatedKey> {
    return this.call('POST', `/v1/admin/reviewers/${enc(reviewerId)}/keys`, {
      body: opts.expiresInDays === undefined ? {} : { expiresInDays: opts.expiresInDays },
      repeatable: false,
    });
  }

  /** Stops every key of the reviewer at once and gives back the tasks they hold. */
  disableReviewer(reviewerId: string): Promise<Reviewer> {
    return this.call('POST', `/v1/admin/reviewers/${enc(reviewerId)}/disable`, { repeatable: true });
  }

  enableReviewer(reviewerId: string): Promise<Reviewer> {
    return this.call('POST', `/v1/admin/reviewers/${enc(reviewerId)}/enable`, { repeatable: true });
  }

  revokeKey(keyId: string): Promise<ApiKeyInfo> {
    return this.call('DELETE', `/v1/admin/keys/${enc(keyId)}`, { repeatable: true });
  }

  /** The routing policy in force (HITL_ERR_POLICY_NOT_FOUND before the first version). */
  getPolicy(): Promise<StoredPolicy> {
    return this.call('GET', '/v1/admin/policy');
  }

  /** Every version of the routing policy, oldest first. */
  policyHistory(): Promise<StoredPolicy[]> {
    return this.call('GET', '/v1/admin/policy/history');
  }

  /** Makes the whole spec the policy's next version. Not repeated: a repeat makes another version. */
  setPolicy(spec: PolicySpec, reason?: string): Promise<StoredPolicy> {
    return this.call('PUT', '/v1/admin/policy', {
      body: { spec, ...(reason === undefined ? {} : { reason }) },
      repeatable: false,
    });
  }

  listModelVersions(modelId: string): Promise<ModelVersionSummary[]> {
    return this.call('GET', `/v1/admin/models/${enc(modelId)}`);
  }

  /** Promotes a version; promoting the promoted version changes nothing. */
  promote(modelId: string, version: number, reason?: string): Promise<ModelVersionSummary> {
    return this.call('POST', `/v1/admin/models/${enc(modelId)}/versions/${version}/promote`, {
      body: reason === undefined ? {} : { reason },
      repeatable: true,
    });
  }

  /**
   * Rolls the promoted version back to the one promoted before it. Not repeated after a broken
   * connection: a second rollback would go back one more version.
   */
  rollback(modelId: string, reason?: string): Promise<ModelVersionSummary> {
    return this.call('POST', `/v1/admin/models/${enc(modelId)}/rollback`, {
      body: reason === undefined ? {} : { reason },
      repeatable: false,
    });
  }

  /** Asks the trainer to train a new version now (it takes the request up within seconds). */
  requestTraining(modelId: string): Promise<TrainingRequested> {
    return this.call('POST', `/v1/admin/models/${enc(modelId)}/train`, { repeatable: true });
  }

  /** The model's most recent training runs, newest first. */
  listTrainings(modelId: string): Promise<TrainingRun[]> {
    return this.call('GET', `/v1/admin/models/${enc(modelId)}/trainings`);
  }

  /**
   * The model's and people's decisions per bucket of `bucketMinutes` (a minute up to a day: the
   * server picks the smallest that gives at most 200 from the first activity on), the audit
   * sample's verdict on the model, and the promotions, over the last `days` days (1 to 90; the
   * server's default, 14, without one).
   */
  learning(days?: number): Promise<Learning> {
    return this.call('GET', '/v1/admin/learning', {
      ...(days === undefined ? {} : { query: { days } }),
      repeatable: true,
    });
  }

  /**
   * Imports gold items (known answers, mixed into reviewers' queues and scored), all or none;
   * `stream` fills an item without one. Items already there (same stream and id, or same content)
   * are left as they are, so a retry changes nothing.
   */
  importGold(items: readonly GoldItemLine[], opts: { stream?: string } = {}): Promise<GoldImportResult> {
    return this.call('POST', '/v1/admin/gold', {
      ...(opts.stream === undefined ? {} : { query: { stream: opts.stream } }),
      raw: {
        text: items.map((item) => JSON.stringify(item)).join('\n'),
        contentType: 'application/x-ndjson',
      },
      repeatable: true,
    });
  }

  /** Gold items, newest first, with how often each was answered and answered right. */
  listGold(limit?: number): Promise<GoldItemView[]> {
    return this.call('GET', '/v1/admin/gold', {
      ...(limit === undefined ? {} : { query: { limit } }),
      repeatable: true,
    });
  }

  /** Stops handing a gold item to reviewers (its scores stay). */
  async disableGold(id: number): Promise<void> {
    await this.call('POST', `/v1/admin/gold/${id}/disable`, { repeatable: true });
  }

  /** Hands a gold item to reviewers again. */
  async enableGold(id: number): Promise<void> {
    await this.call('POST', `/v1/admin/gold/${id}/enable`, { repeatable: true });
  }

  /**
   * Adds a stream (HITL_ERR_STREAM_EXISTS when its id is taken, HITL_ERR_STREAM_INVALID when it
   * does not fit its reviewers, model or policy). Not repeated: a repeat would be refused as taken.
   */
  addStream(stream: NewStream): Promise<Stream> {
    return this.call('POST', '/v1/admin/streams', { body: stream, repeatable: false });
  }

  /** Every stream, by id, with the registry revision they are at. */
  listStreams(): Promise<StreamList> {
    return this.call('GET', '/v1/admin/streams');
  }

  getStream(id: string): Promise<Stream> {
    return this.call('GET', `/v1/admin/streams/${enc(id)}`);
  }

  /**
   * Changes the fields given as the stream's next version; a change that changes nothing makes
   * none, so a repeat is safe (with expectedVersion, a repeat of a change that went through is
   * refused with HITL_ERR_STREAM_VERSION_CONFLICT).
   */
  updateStream(id: string, change: StreamChange): Promise<Stream> {
    return this.call('PATCH', `/v1/admin/streams/${enc(id)}`, { body: change, repeatable: true });
  }

  // ---- transport ----------------------------------------------------------------------------

  private async call<T>(method: string, path: string, call: Call = { repeatable: true }): Promise<T> {
    const { status, text } = await this.send(method, path, call, async (response) => ({
      status: response.status,
      text: response.status === 204 ? '' : await response.text(),
    }));
    return (text === '' ? null : parse(text, status)) as T;
  }

  /**
   * Sends a request until it succeeds, retrying as the class comment says, and returns what
   * `read` makes of the 2xx response. The timeout covers `read` too: a body that stops half-way
   * is a failed try.
   */
  private async send<R>(
    method: string,
    path: string,
    { query, body, raw, headers = {}, repeatable }: Call,
    read: (response: Response) => Promise<R>,
  ): Promise<R> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) search.set(name, String(value));
    }
    const url = `${this.baseUrl}${path}${search.size > 0 ? `?${search.toString()}` : ''}`;
    const init: RequestInit = {
      method,
      headers: {
        accept: 'application/json',
        authorization: `Bearer ${this.apiKey}`,
        // No content type without a body: the server refuses an empty JSON body.
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(raw === undefined ? {} : { 'content-type': raw.contentType }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(raw === undefined ? {} : { body: raw.text }),
    };
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.maxRetries;
      const abort = new AbortController();
      const timer = setTimeout(
        () => abort.abort(new DOMException(`no answer within ${this.timeoutMs} ms`, 'TimeoutError')),
        this.timeoutMs,
      );
      let refusal: { status: number; text: string; retryAfter: string | null };
      try {
        const response = await this.fetchImpl(url, { ...init, signal: abort.signal });
        if (response.ok) return await read(response);
        refusal = {
          status: response.status,
          text: await response.text(),
          retryAfter: response.headers.get('retry-after'),
        };
      } catch (error) {
        const failure = classify(error);
        if (!failure) throw error;
        const unsent = failure.kind === 'unsent';
        // Unsent: about a second apart (the API is likely restarting), while the deadline allows.
        const delay = unsent ? this.backoff(Math.min(attempt, 2)) : this.backoff(attempt);
        const inDeadline = unsent && performance.now() + delay - started <= this.connectDeadlineMs;
        if (
          (last && !inDeadline) ||
          failure.kind === 'final' ||
          (failure.kind === 'maybe-sent' && !repeatable)
        ) {
          const took = unsent ? ` in ${Math.round(performance.now() - started)} ms` : '';
          throw new ReviewApiError(
            0,
            failure.code,
            `${method} ${path}: ${failureText(failure)} after ${attempt + 1} ${attempt === 0 ? 'try' : 'tries'}${took}`,
            undefined,
            { cause: failure.error },
          );
        }
        await sleep(delay);
        continue;
      } finally {
        clearTimeout(timer);
      }
      const error = toError(method, path, refusal.status, refusal.text);
      // 429 comes before any work and 503 after a dependency failed it (rolled back): repeat any call.
      if (last || !RETRY_STATUSES.has(refusal.status)) throw error;
      await sleep(this.retryDelay(refusal.retryAfter, attempt));
    }
  }

  /** Retry-After (seconds or an HTTP date) when given, capped; exponential backoff otherwise. */
  private retryDelay(retryAfter: string | null, attempt: number): number {
    if (retryAfter !== null) {
      const seconds = Number(retryAfter);
      const ms = Number.isFinite(seconds) ? seconds * 1_000 : Date.parse(retryAfter) - Date.now();
      if (Number.isFinite(ms)) return Math.min(Math.max(ms, 0), this.maxRetryDelayMs);
    }
    return this.backoff(attempt);
  }

  /** 250 ms, 500 ms, 1 s, … with jitter (half to all of it), capped. */
  private backoff(attempt: number): number {
    const ms = BACKOFF_BASE_MS * 2 ** attempt;
    return Math.min(ms / 2 + (Math.random() * ms) / 2, this.maxRetryDelayMs);
  }
}

const enc = encodeURIComponent;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parse(text: string, status: number): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ReviewApiError(
      status,
      ClientErrorCode.badResponse,
      `expected JSON, got: ${text.slice(0, 200)}`,
    );
  }
}

function toError(method: string, path: string, status: number, text: string): ReviewApiError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // Not the API's answer (a proxy's page, say): described below.
  }
  const error = (body as { error?: unknown } | undefined)?.error as Record<string, unknown> | undefined;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    return new ReviewApiError(status, error.code as ReviewApiError['code'], error.message, error.details);
  }
  return new ReviewApiError(
    status,
    ClientErrorCode.badResponse,
    `${method} ${path}: HTTP ${status} without an error body: ${text.slice(0, 200)}`,
  );
}

/** Why fetch failed, or undefined for an error that is not about the connection (a bug, say). */
function classify(error: unknown): Failure | undefined {
  // AbortSignal.timeout's DOMException (by name: it need not be an instance of this realm's Error).
  if ((error as { name?: unknown } | null)?.name === 'TimeoutError') {
    return { kind: 'maybe-sent', code: ClientErrorCode.timeout, error };
  }
  const code = errorCode(error);
  if (code && UNSENT.has(code)) return { kind: 'unsent', code: ClientErrorCode.unreachable, error };
  if (code && MAYBE_SENT.has(code)) return { kind: 'maybe-sent', code: ClientErrorCode.unreachable, error };
  // Any other socket error (an unknown host, say) will not go away by retrying.
  if (code && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code))
    return { kind: 'final', code: ClientErrorCode.unreachable, error };
  return undefined;
}

/** The system or undici error code behind fetch's "fetch failed", wherever it is in the causes. */
function errorCode(error: unknown, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 5) return undefined;
  const e = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string') return e.code;
  // Connecting to every address of a name fails with an AggregateError of each attempt's error.
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const code = errorCode(inner, depth + 1);
      if (code) return code;
    }
  }
  return errorCode(e.cause, depth + 1);
}

function failureText(failure: Failure): string {
  if (failure.code === ClientErrorCode.timeout) return 'no answer in time';
  const code = errorCode(failure.error) ?? 'connection failed';
  return failure.kind === 'maybe-sent' ? `the connection broke (${code})` : `could not connect (${code})`;
}
