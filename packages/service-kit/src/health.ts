import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ServiceKitErrorCode } from './errors';
import type { Logger } from './logger';

export interface CreateHealthServerOptions {
  /** 0 picks a free port (tests); read it back from `port` after start(). */
  port: number;
  /** Defaults to all interfaces, as the kubelet and Prometheus connect from outside the pod. */
  host?: string;
  registry: Registry;
  /** Whether the service can take work now (connected, assigned, model loaded...). */
  readiness: () => boolean | Promise<boolean>;
  logger: Logger;
  /** A readiness check slower than this answers 503. Default 2000. */
  readinessTimeoutMs?: number;
}

export interface HealthServer {
  start(): Promise<void>;
  /** From now on /readyz answers 503 whatever readiness() says; the first step of a shutdown. */
  markNotReady(): void;
  close(): Promise<void>;
  /** The bound port; throws before start(). */
  readonly port: number;
}

async function isReady(opts: CreateHealthServerOptions, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve().then(opts.readiness), timeout]);
  } catch (error) {
    opts.logger.warn({ err: error }, 'readiness check failed');
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** /healthz, /readyz and /metrics on node:http, for services that have no HTTP server of their own. */
export function createHealthServer(opts: CreateHealthServerOptions): HealthServer {
  const readinessTimeoutMs = opts.readinessTimeoutMs ?? 2_000;
  let draining = false;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/healthz':
        // Liveness stays 200 while draining: a restart then would cut the drain short.
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const ready = !draining && (await isReady(opts, readinessTimeoutMs));
        res
          .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
          .end(ready ? 'ready\n' : 'not ready\n');
        return;
      }
      case '/metrics': {
        const body = await opts.registry.metrics();
        res.writeHead(200, { 'content-type': opts.registry.contentType }).end(body);
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      opts.logger.error({ err: error, url: req.url }, 'health endpoint failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.requestTimeout = 10_000;

  return {
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port, opts.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      opts.logger.info({ port: (server.address() as AddressInfo).port }, 'health server listening');
    },
    markNotReady() {
      draining = true;
    },
    async close() {
      if (!server.listening) return;
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // A scraper's keep-alive connection would otherwise hold close() open until it times out.
        server.closeAllConnections();
      });
    },
    get port() {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        throw Object.assign(new Error('health server is not listening; call start() first'), {
          code: ServiceKitErrorCode.healthServerNotListening,
        });
      }
      return address.port;
    },
  };
}
