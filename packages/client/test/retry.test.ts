// The client's retry rules, against a small local HTTP server that answers as each test scripts it
// (429, 503, a broken connection, silence) before it answers as the review API would.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientErrorCode, ReviewApiError, ReviewClient, type ReviewClientOptions } from '../src';

type Step = (req: IncomingMessage, res: ServerResponse) => void;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A server that answers request n with steps[n] (the last step for every request after). */
async function scripted(...steps: Step[]): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      steps[Math.min(seen.length - 1, steps.length - 1)]!(req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Step =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
const apiError = (status: number, code: string, headers: Record<string, string> = {}) =>
  json(status, { error: { code, message: `a ${status}` } }, headers);
/** Drops the connection without an answer, after the request arrived. */
const hangUp: Step = (req) => req.socket.destroy();
/** Never answers. */
const silence: Step = () => undefined;

const me = { id: 'alice', name: 'Alice', role: 'reviewer', keyId: '0123456789abcdef' };
const answered = { eventId: 'e-1', status: 'decided', finalLabel: 'ham', answers: 1, needed: 1 };

function clientFor(url: string, opts: Partial<ReviewClientOptions> = {}): ReviewClient {
  return new ReviewClient({ baseUrl: url, apiKey: 'hitl_0123456789abcdef_secret', ...opts });
}

async function failure(call: Promise<unknown>): Promise<ReviewApiError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ReviewApiError);
  return error as ReviewApiError;
}

describe('retries', () => {
  it('waits as Retry-After says after a 429, then succeeds', async () => {
    const { url, seen } = await scripted(
      apiError(429, 'HITL_ERR_RATE_LIMITED', { 'retry-after': '1' }),
      json(200, me),
    );
    const started = Date.now();
    expect(await clientFor(url).me()).toEqual(me);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers.authorization).toBe('Bearer hitl_0123456789abcdef_secret');
  });

  it('caps the wait Retry-After asks for', async () => {
    const { url, seen } = await scripted(
      apiError(429, 'HITL_ERR_RATE_LIMITED', { 'retry-after': '3600' }),
      json(200, me),
    );
    const started = Date.now();
    expect(await clientFor(url, { maxRetryDelayMs: 100 }).me()).toEqual(me);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(seen).toHaveLength(2);
  });

  it('retries a 503 for every method, even one that is never repeated after a broken connection', async () => {
    const promoted = { modelId: 'spam', version: 1, status: 'promoted' };
    const { url, seen } = await scripted(
      apiError(503, 'HITL_ERR_UNAVAILABLE', { 'retry-after': '0' }),
      json(200, promoted),
    );
    expect(await clientFor(url).rollback('spam', 'precision dropped')).toEqual(promoted);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /v1/admin/models/spam/rollback',
      'POST /v1/admin/models/spam/rollback',
    ]);
    expect(JSON.parse(seen[1]!.body)).toEqual({ reason: 'precision dropped' });
  });

  it('gives up after maxRetries with the last error', async () => {
    const { url, seen } = await scripted(apiError(429, 'HITL_ERR_RATE_LIMITED', { 'retry-after': '0' }));
    const error = await failure(clientFor(url, { maxRetries: 3 }).me());
    expect(error).toMatchObject({ status: 429, code: 'HITL_ERR_RATE_LIMITED', message: 'a 429' });
    expect(seen).toHaveLength(4);
  });

  it.each([
    [400, 'HITL_ERR_VALIDATION'],
    [401, 'HITL_ERR_UNAUTHENTICATED'],
    [404, 'HITL_ERR_NOT_FOUND'],
    [409, 'HITL_ERR_LEASE_NOT_HELD'],
    [422, 'HITL_ERR_LABEL_UNKNOWN'],
    [500, 'HITL_ERR_INTERNAL'],
  ])('does not retry a %i', async (status, code) => {
    const { url, seen } = await scripted(apiError(status, code), json(200, answered));
    expect(await failure(clientFor(url).answer('e-1', { label: 'ham' }))).toMatchObject({ status, code });
    expect(seen).toHaveLength(1);
  });

  it('retries a refused connection with backoff, then says the server is unreachable', async () => {
    const { url } = await scripted(json(200, me));
    const port = new URL(url).port;
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
    let tries = 0;
    const counting: typeof fetch = (input, init) => {
      tries++;
      return fetch(input, init);
    };
    const started = Date.now();
    const error = await failure(
      clientFor(`http://127.0.0.1:${port}`, {
        fetch: counting,
        maxRetries: 3,
        connectDeadlineMs: 0,
      }).rollback('spam'),
    );
    expect(error).toMatchObject({ status: 0, code: ClientErrorCode.unreachable });
    expect(error.message).toContain('ECONNREFUSED');
    expect(tries).toBe(4);
    // Backoff of about 250 ms, 500 ms and 1 s, each with jitter down to half.
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
  });

  it('keeps trying a refused connection past maxRetries until the API is back, within its deadline', async () => {
    const { url } = await scripted(json(200, me));
    const port = Number(new URL(url).port);
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
    let refused = 0;
    let restarted = false;
    // The API "restarts": it listens again on the same port after the client was refused 3 times.
    const counting: typeof fetch = async (input, init) => {
      try {
        return await fetch(input, init);
      } catch (error) {
        if (++refused === 3 && !restarted) {
          restarted = true;
          const server = createServer((_req, res) => json(200, me)(_req, res));
          servers.push(server);
          await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
        }
        throw error;
      }
    };
    expect(await clientFor(`http://127.0.0.1:${port}`, { fetch: counting, maxRetries: 1 }).me()).toEqual(me);
    expect(refused).toBe(3);
  });

  it('gives up on a refused connection at its deadline, saying how long it tried', async () => {
    const { url } = await scripted(json(200, me));
    const port = new URL(url).port;
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
    const started = Date.now();
    const error = await failure(
      clientFor(`http://127.0.0.1:${port}`, { maxRetries: 0, connectDeadlineMs: 1_500 }).me(),
    );
    expect(error).toMatchObject({ status: 0, code: ClientErrorCode.unreachable });
    expect(error.message).toMatch(/ECONNREFUSED.* after \d+ tries in \d+ ms$/);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(500);
    expect(took).toBeLessThan(1_500 + 2_000);
  });

  it('repeats an answer after a broken connection with the same idempotency key', async () => {
    const { url, seen } = await scripted(hangUp, json(200, answered));
    expect(await clientFor(url).answer('e-1', { label: 'ham', comment: 'fine' })).toEqual(answered);
    expect(seen).toHaveLength(2);
    const keys = seen.map((s) => s.headers['idempotency-key']);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(seen.map((s) => JSON.parse(s.body) as unknown)).toEqual([
      { label: 'ham', comment: 'fine' },
      { label: 'ham', comment: 'fine' },
    ]);
  });

  it('gives each answer a key of its own unless one is given', async () => {
    const { url, seen } = await scripted(json(200, answered));
    const client = clientFor(url);
    await client.answer('e-1', { label: 'ham' });
    await client.answer('e-1', { label: 'ham' });
    await client.answer('e-1', { label: 'ham' }, { idempotencyKey: 'mine' });
    const keys = seen.map((s) => s.headers['idempotency-key']);
    expect(new Set(keys).size).toBe(3);
    expect(keys[2]).toBe('mine');
  });

  it('does not repeat what a repeat would do twice (rollback, setPolicy, createKey) after a broken connection', async () => {
    const { url, seen } = await scripted(hangUp, json(200, {}));
    const client = clientFor(url);
    const spec = {
      classes: ['ham', 'spam'],
      threshold: 0.9,
      classThresholds: {},
      alwaysReview: [],
      auditRate: 0.02,
      requiredReviewers: 1,
    };
    for (const call of [
      () => client.rollback('spam'),
      () => client.setPolicy(spec),
      () => client.createKey('bob'),
    ]) {
      seen.length = 0;
      const error = await failure(call());
      expect(error).toMatchObject({ status: 0, code: ClientErrorCode.unreachable });
      expect(seen).toHaveLength(1);
    }
  });

  it('times out a try that gets no answer, and repeats it when that is safe', async () => {
    const { url, seen } = await scripted(silence, json(200, me));
    const client = clientFor(url, { timeoutMs: 300 });
    expect(await client.me()).toEqual(me);
    expect(seen).toHaveLength(2);

    const quiet = await scripted(silence);
    const error = await failure(clientFor(quiet.url, { timeoutMs: 200 }).rollback('spam'));
    expect(error).toMatchObject({ status: 0, code: ClientErrorCode.timeout });
    expect(quiet.seen).toHaveLength(1);
  });
});

describe('exportLabels', () => {
  const line = (eventId: string) => `${JSON.stringify({ eventId, label: 'ham' })}\n`;

  it('reads lines as they come, however long the stream lasts, and retries only until it starts', async () => {
    const { url, seen } = await scripted(
      apiError(503, 'HITL_ERR_UNAVAILABLE', { 'retry-after': '0' }),
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        // A line split across writes, and a pause longer than the client's timeout.
        res.write(line('e-1').slice(0, 5));
        setTimeout(() => res.write(line('e-1').slice(5) + line('e-2')), 50);
        setTimeout(() => res.end(line('e-3').trimEnd()), 600);
      },
    );
    const got = [];
    for await (const l of clientFor(url, { timeoutMs: 300 }).exportLabels({ stream: 'email' }))
      got.push(l.eventId);
    expect(got).toEqual(['e-1', 'e-2', 'e-3']);
    expect(seen.map((s) => s.url)).toEqual(['/v1/export?stream=email', '/v1/export?stream=email']);
  });

  it('says how far it got when the stream breaks off', async () => {
    const { url } = await scripted((req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(line('e-1') + line('e-2'));
      setTimeout(() => req.socket.destroy(), 50);
    });
    const got: string[] = [];
    const error = await failure(
      (async () => {
        for await (const l of clientFor(url).exportLabels()) got.push(l.eventId);
      })(),
    );
    expect(got).toEqual(['e-1', 'e-2']);
    expect(error).toMatchObject({ status: 0, code: ClientErrorCode.unreachable });
    expect(error.message).toContain('after 2 lines');
  });
});

describe('responses', () => {
  it('turns a 204 into null and sends JSON only with a body', async () => {
    const { url, seen } = await scripted((_req, res) => res.writeHead(204).end());
    const client = clientFor(url);
    expect(await client.claim()).toBeNull();
    await client.skip('e/1');
    await client.releaseLease('e 1');
    expect(seen.map((s) => [s.method, s.url, s.headers['content-type'], s.body])).toEqual([
      ['POST', '/v1/tasks/claim', 'application/json', '{}'],
      ['POST', '/v1/tasks/e%2F1/skip', undefined, ''],
      ['DELETE', '/v1/tasks/e%201/lease', undefined, ''],
    ]);
  });

  it('keeps a base URL path prefix', async () => {
    const { url, seen } = await scripted(json(200, me));
    await clientFor(`${url}/review/`).me();
    expect(seen[0]!.url).toBe('/review/v1/me');
  });

  it('reports an answer that is not the API’s, with its status', async () => {
    const { url } = await scripted((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad gateway</html>');
    });
    const error = await failure(clientFor(url).me());
    expect(error).toMatchObject({ status: 502, code: ClientErrorCode.badResponse });
    expect(error.message).toContain('Bad gateway');
  });

  it('refuses a base URL that is not http(s) and an empty key', () => {
    expect(() => new ReviewClient({ baseUrl: 'ftp://x', apiKey: 'k' })).toThrow('http or https');
    expect(() => new ReviewClient({ baseUrl: 'not a url', apiKey: 'k' })).toThrow();
    expect(() => new ReviewClient({ baseUrl: 'http://x', apiKey: '' })).toThrow('apiKey');
  });
});
