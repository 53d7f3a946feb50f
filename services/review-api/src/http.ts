// The fastify application: plugins (OpenAPI, docs, rate limit), authentication by role, the one
// error shape, and the routes. Built without listening, so tests can inject or listen as they like.
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DbError, type Role } from '@hitl/db';
import { isTransientError } from '@hitl/kafka';
import { PolicyError } from '@hitl/policy';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { allowed, keyIdOf, type Authenticator, type Principal } from './auth';
import { ApiError, ApiErrorCode, ErrorBody } from './errors';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route: public (no key), reviewer (reviewers and admins) or admin. */
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
  bodyLimitBytes: number;
  version: string;
}

const DB_STATUS: Record<string, number> = {
  HITL_ERR_MODEL_NOT_FOUND: 404,
  HITL_ERR_POLICY_NOT_FOUND: 404,
  HITL_ERR_REVIEWER_NOT_FOUND: 404,
  HITL_ERR_API_KEY_NOT_FOUND: 404,
  HITL_ERR_REVIEWER_EXISTS: 409,
  HITL_ERR_MODEL_NO_PREVIOUS: 409,
  HITL_ERR_MODEL_ROLLED_BACK: 409,
};

/** Any error as the status and body the API answers with. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof PolicyError)
    return new ApiError(422, error.code, error.message, { problems: error.problems });
  if (error instanceof DbError) return new ApiError(DB_STATUS[error.code] ?? 422, error.code, error.message);
  const e = error as FastifyError;
  if (e.validation) {
    return new ApiError(400, ApiErrorCode.validation, e.message, {
      issues: e.validation,
      context: e.validationContext,
    });
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ApiError(413, ApiErrorCode.bodyTooLarge, e.message);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new ApiError(
      e.statusCode,
      e.statusCode === 404 ? ApiErrorCode.notFound : ApiErrorCode.validation,
      e.message,
    );
  }
  // A training request the trainer's request store refused (an empty model id).
  if (e.code === 'HITL_ERR_TRAINING_REQUEST_INVALID') return new ApiError(400, e.code, e.message);
  // Backstop for what the schemas let through: SQLSTATE class 22 is a value Postgres cannot take
  // (a NUL byte in text, an integer or a date out of range), the caller's input, never a fault.
  if (isPgDataException(error)) {
    return new ApiError(400, ApiErrorCode.invalidValue, `a value the database cannot take: ${error.message}`);
  }
  if (isTransientError(error)) {
    return new ApiError(503, ApiErrorCode.unavailable, 'a dependency is unavailable; retry shortly');
  }
  return new ApiError(500, ApiErrorCode.internal, 'internal error');
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
    // An event id may be 256 characters, up to 12 bytes each once percent-encoded; fastify's
    // default of 100 refused such ids with its own 414 after they were routed and claimed.
    routerOptions: { maxParamLength: 4_096 },
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
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, {
    max: opts.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => keyIdOf(request.headers.authorization) ?? request.ip,
    errorResponseBuilder: (_request, context) =>
      new ApiError(
        429,
        ApiErrorCode.rateLimited,
        `more than ${context.max} requests per minute; retry in ${context.after}`,
      ),
  });

  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const role = request.routeOptions.config.role ?? 'public';
    if (role === 'public') return;
    const principal = await opts.authenticator.authenticate(request.headers.authorization);
    if (!allowed(principal.role, role)) {
      throw new ApiError(
        403,
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
    return reply.status(apiError.statusCode).send(apiError.toBody());
  });
  app.setNotFoundHandler(async (request, reply) =>
    reply
      .status(404)
      .send(new ApiError(404, ApiErrorCode.notFound, `no route ${request.method} ${request.url}`).toBody()),
  );

  app.get('/openapi.json', { config: { role: 'public' }, schema: { hide: true } }, async () => app.swagger());
  return app;
}

/** The principal of an authenticated route (set by the onRequest hook). */
export function principalOf(request: { principal: Principal | null }): Principal {
  if (!request.principal) throw new ApiError(401, ApiErrorCode.unauthenticated, 'not authenticated');
  return request.principal;
}

/** Error responses every authenticated route may give, for the OpenAPI document. */
export const errorResponses = {
  400: { $ref: 'ErrorBody#' },
  401: { $ref: 'ErrorBody#' },
  403: { $ref: 'ErrorBody#' },
  429: { $ref: 'ErrorBody#' },
} as const;
