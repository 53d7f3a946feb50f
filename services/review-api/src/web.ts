// The web app (packages/web's build) at /app/, in a plugin scope of its own: its strict Content
// Security Policy and cache headers apply to its pages only, not to /docs (swagger-ui needs
// inline styles) or the JSON API. Its routes are public (the page asks for a key; the API calls
// it makes carry one) and hidden from the OpenAPI document.
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Api } from './http';

export interface WebAppOptions {
  /** The build's directory: index.html and assets/ (WEB_APP_DIR). */
  dir: string;
  logger: Logger;
}

export const WEB_APP_PREFIX = '/app/';

/** Serves the web app if it was built; the API runs without it (and says so) if not. */
export async function registerWebApp(app: Api, opts: WebAppOptions): Promise<void> {
  const indexFile = join(opts.dir, 'index.html');
  if (!existsSync(indexFile)) {
    opts.logger.warn(
      { dir: opts.dir },
      `the web app is not built, so ${WEB_APP_PREFIX} is not served: run pnpm --filter @hitl/web build, or set WEB_APP_DIR`,
    );
    return;
  }
  // Read once: a new build comes with a new deploy (or restart), like the assets it names.
  const indexHtml = readFileSync(indexFile, 'utf8');

  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => {
      route.config = { ...route.config, role: 'public' };
      route.schema = { ...route.schema, hide: true };
    });
    await scope.register(helmet, {
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'"],
          connectSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
      referrerPolicy: { policy: 'no-referrer' },
    });
    // Asset names carry their content's hash: a year, never revalidated.
    await scope.register(fastifyStatic, {
      root: join(opts.dir, 'assets'),
      prefix: `${WEB_APP_PREFIX}assets/`,
      decorateReply: false,
      index: false,
      maxAge: '365d',
      immutable: true,
    });
    // The page names the current assets, so it is checked on every load.
    scope.get(WEB_APP_PREFIX, async (_request, reply) =>
      reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(indexHtml),
    );
    // The page's asset URLs are relative to /app/.
    scope.get(WEB_APP_PREFIX.slice(0, -1), async (_request, reply) => reply.redirect(WEB_APP_PREFIX));
  });
}
