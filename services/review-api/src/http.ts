// The fastify application: plugins (OpenAPI, docs, rate limit), authentication by role, the one
// error shape, and the routes. Built without listening, so tests can inject or listen as they like.
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ApiErrorCode, ErrorBody } from '@hitl/api-contract';
import { DbError, GoldImportError, StreamError, type Role } from '@hitl/db';
import { isTransientError } from '@hitl/kafka';
import { PolicyError } from '@hitl/policy';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { allowed, keyIdOf, type Authenticator, type Principal } from './auth';
import { ApiError, TaskError } from './errors';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Who may call the route: public (no key), reviewer (reviewers and admins) or admin. A route
     * that does not say is for admins only.
     */
    role?: Role | 'public';
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export type Api = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger, TypeBoxTypeProvider>;

export interface HttpOptions {
  logger: Logger;
  authenticator: Authenticator;
  rateLimitPerMinute: number;
  /**
   * Requests per minute per client address whose key is not one this instance already knows to
   * work: made-up and wrong keys, and a good key's first use. Counted before the key is looked up.
   */
  authAttemptsPerMinute: number;
  /** fastify's trustProxy: whose X-Forwarded-For gives the client address (see config.ts). */
  trustProxy: boolean | string[];
  bodyLimitBytes: number;
  version: string;
}

const FRAMEWORK_CODES = {
  404: ApiErrorCode.notFound,
  413: ApiErrorCode.bodyTooLarge,
  414: ApiErrorCode.uriTooLong,
  415: ApiErrorCode.unsupportedMediaType,
} as const;

/** Any error as the status and body the API answers with. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  // Domain errors carry a code of the catalog; it gives the status.
  if (error instanceof TaskError) return new ApiError(error.code, error.message, error.details);
  if (error instanceof PolicyError)
    return new ApiError(error.code, error.message, { problems: error.problems });
  if (error instanceof GoldImportError)
    return new ApiError(error.code, error.message, { problems: error.problems });
  if (error instanceof StreamError)
    return new ApiError(error.code, error.message, { problems: error.problems });
  if (error instanceof DbError) return new ApiError(error.code, error.message);
  const e = error as FastifyError;
  if (e.validation) {
    return new ApiError(ApiErrorCode.validation, e.message, {
      issues: e.validation,
      context: e.validationContext,
    });
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ApiError(ApiErrorCode.bodyTooLarge, e.message);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // fastify's own refusals: the statuses the document names keep theirs, the rest are a 400.
    const code = FRAMEWORK_CODES[e.statusCode as keyof typeof FRAMEWORK_CODES] ?? ApiErrorCode.validation;
    return new ApiError(code, e.message);
  }
  // Backstop for what the schemas let through: SQLSTATE class 22 is a value Postgres cannot take
  // (a NUL byte in text, an integer or a date out of range), the caller's input, never a fault.
  if (isPgDataException(error)) {
    return new ApiError(ApiErrorCode.invalidValue, `a value the database cannot take: ${error.message}`);
  }
  if ((error as { code?: unknown } | null)?.code === '57014') {
    // The statement ran past STATEMENT_TIMEOUT_MS (or was cancelled): the database is too busy.
    return new ApiError(ApiErrorCode.unavailable, 'the database did not answer in time; retry shortly');
  }
  if (isTransientError(error)) {
    return new ApiError(ApiErrorCode.unavailable, 'a dependency is unavailable; retry shortly');
  }
  return new ApiError(ApiErrorCode.internal, 'internal error');
}

function isPgDataException(error: unknown): error is Error {
  const e = error as { code?: unknown; severity?: unknown } | null;
  return (
    error instanceof Error &&
    typeof e?.severity === 'string' &&
    typeof e.code === 'string' &&
    /^22[0-9A-Z]{3}$/.test(e.code)
  );
}

export async function createHttp(opts: HttpOptions): Promise<Api> {
  const app = Fastify({
    // Request logs (info) would be two lines per call; warnings and errors still come through.
    loggerInstance: opts.logger.child({ component: 'http' }, { level: 'warn' }),
    bodyLimit: opts.bodyLimitBytes,
    trustProxy: opts.trustProxy,
    // An event id may be 256 characters, up to 12 bytes each once percent-encoded; fastify's
    // default of 100 refused such ids with its own 414 after they were routed and claimed.
    routerOptions: { maxParamLength: 4_096 },
    // The request line and headers together: a query the OpenAPI document allows (a 1,000-character
    // cursor and 200-character filters, each character up to 12 bytes once percent-encoded) can pass
    // Node's default of 16 KiB, which refused it with an undocumented 431 before any route saw it.
    http: { maxHeaderSize: 64 * 1024 },
    // Errors fastify meets before routing (a path parameter too long, a malformed URL) get the
    // API's error shape like every other.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      void sendError(reply, toApiError(error));
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addSchema(ErrorBody);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'hitl review API',
        version: opts.version,
        description:
          'Human reviewers claim review tasks, answer them, and so make the final decisions; admins manage reviewers, keys, the routing policy and models. Every error has the ErrorBody shape with a stable code.',
      },
      components: {
        securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'hitl_<id>_<secret>' } },
      },
      security: [{ apiKey: [] }],
    },
  });
  // The documentation pages are public; every other route says who may call it, or is admins'.
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/')) {
      route.config = { ...route.config, role: 'public' };
    }
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, {
    max: opts.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => keyIdOf(request.headers.authorization) ?? request.ip,
    errorResponseBuilder: (_request, context) =>
      new ApiError(
        ApiErrorCode.rateLimited,
        `more than ${context.max} requests per minute; retry in ${context.after}`,
      ),
  });

  // Keys this instance has not seen work cost a database lookup each; they are limited per client
  // address before the lookup, so a flood of made-up keys is refused without reaching Postgres and
  // without slowing the keys that work.
  const authAttempts = app.createRateLimit({
    max: opts.authAttemptsPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => `auth:${request.ip}`,
  });

  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request, reply) => {
    // No route: the not-found handler answers 404, whoever asks.
    if (request.is404) return;
    const role = request.routeOptions.config.role ?? 'admin';
    if (role === 'public') return;
    const { authorization } = request.headers;
    let principal = opts.authenticator.cached(authorization);
    if (!principal) {
      const attempts = await authAttempts(request);
      if (!attempts.isAllowed && attempts.isExceeded) {
        void reply.header('retry-after', String(attempts.ttlInSeconds));
        throw new ApiError(
          ApiErrorCode.rateLimited,
          `more than ${attempts.max} requests per minute from ${request.ip} with keys not yet checked; retry in ${attempts.ttlInSeconds} s`,
        );
      }
      principal = await opts.authenticator.authenticate(authorization);
    }
    if (!allowed(principal.role, role)) {
      throw new ApiError(
        ApiErrorCode.forbidden,
        `this needs the ${role} role; your key is a ${principal.role}'s`,
      );
    }
    request.principal = principal;
  });

  app.setErrorHandler(async (error, request, reply) => {
    const apiError = toApiError(error);
    if (apiError.statusCode >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
    if (apiError.statusCode === 503) void reply.header('retry-after', '1');
    return sendError(reply, apiError);
  });
  app.setNotFoundHandler(async (request, reply) =>
    sendError(reply, new ApiError(ApiErrorCode.notFound, `no route ${request.method} ${request.url}`)),
  );

  app.get('/openapi.json', { config: { role: 'public' }, schema: { hide: true } }, async () => app.swagger());
  return app;
}

/**
 * Answers with an error: its status, and its body as JSON, also when a handler had set another
 * type (the export's JSON lines) before it failed.
 */
function sendError(reply: FastifyReply, apiError: ApiError) {
  return reply.status(apiError.statusCode).type('application/json; charset=utf-8').send(apiError.toBody());
}

/** The principal of an authenticated route (set by the onRequest hook). */
export function principalOf(request: { principal: Principal | null }): Principal {
  if (!request.principal) throw new ApiError(ApiErrorCode.unauthenticated, 'not authenticated');
  return request.principal;
}

/** Error responses every authenticated route may give, for the OpenAPI document. */
export const errorResponses = {
  400: { $ref: 'ErrorBody#' },
  401: { $ref: 'ErrorBody#' },
  403: { $ref: 'ErrorBody#' },
  429: { $ref: 'ErrorBody#' },
} as const;

/**
 * And those of a route whose method carries a body (POST, PUT, DELETE), declared or not: fastify
 * reads any body sent, so one over BODY_LIMIT_BYTES is a 413 and one of a media type it has no
 * parser for a 415.
 */
export const bodyErrorResponses = {
  413: { $ref: 'ErrorBody#' },
  415: { $ref: 'ErrorBody#' },
} as const;

/**
 * And those of a route with path parameters: a value that takes the path off the route (`..`) is
 * a 404 before any handler runs, and one over the router's 4,096 characters a 414.
 */
export const pathErrorResponses = {
  404: { $ref: 'ErrorBody#' },
  414: { $ref: 'ErrorBody#' },
} as const;
