import type { Registry } from 'prom-client';
import { ConfigError } from './config';
import { createHealthServer, type HealthServer } from './health';
import { createLogger, type Logger, type LogLevel } from './logger';
import { createMetricsRegistry } from './metrics';
import { createShutdown, type CreateShutdownOptions, type Shutdown, type ShutdownStep } from './shutdown';

// sysexits' EX_CONFIG, so an operator can tell a bad setting from a crash in the restart reason.
export const CONFIG_EXIT_CODE = 78;

/**
 * Calls load (typically `() => loadConfig(process.env)`) and, on a ConfigError, prints its message
 * to stderr and exits: config is read before the logger exists, whose level it sets.
 */
export function loadConfigOrExit<C>(
  load: () => C,
  io: { stderr?: (text: string) => void; exit?: (code: number) => never } = {},
): C {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    (io.stderr ?? ((text) => process.stderr.write(text)))(`${error.message}\n`);
    return (io.exit ?? ((code) => process.exit(code)))(CONFIG_EXIT_CODE);
  }
}

export interface RunServiceOptions {
  logger: Logger;
  registry: Registry;
  health: { port: number; host?: string };
  /** Connects and starts consuming; a throw runs the shutdown steps and exits 1. */
  start: () => Promise<void>;
  readiness: () => boolean | Promise<boolean>;
  /**
   * The service's own steps, in order: stop intake, drain in-flight work, flush producers, close
   * pools. runService marks /readyz 503 before them and closes the health server after them.
   */
  steps: readonly ShutdownStep[];
  deadlineMs?: number;
  signalSource?: CreateShutdownOptions['signalSource'];
  exit?: CreateShutdownOptions['exit'];
}

export interface RunningService {
  health: HealthServer;
  shutdown: Shutdown;
}

/** The whole life of a service for its main.ts: health endpoints, start, and one shutdown sequence. */
export async function runService(opts: RunServiceOptions): Promise<RunningService> {
  const { logger } = opts;
  const health = createHealthServer({
    port: opts.health.port,
    host: opts.health.host,
    registry: opts.registry,
    readiness: opts.readiness,
    logger,
  });
  const shutdown = createShutdown({
    logger,
    deadlineMs: opts.deadlineMs,
    signalSource: opts.signalSource,
    exit: opts.exit,
    steps: [
      { name: 'mark not ready', run: () => health.markNotReady() },
      ...opts.steps,
      { name: 'close health server', run: () => health.close() },
    ],
  });
  // The health server comes up first so Kubernetes sees a live, not-yet-ready pod during start.
  await health.start();
  try {
    await opts.start();
    logger.info('service started');
  } catch (error) {
    logger.fatal({ err: error }, 'service failed to start');
    await shutdown.trigger('start failed', 1);
  }
  return { health, shutdown };
}

/** What a service's main runs: built from its config, started, probed and stopped. */
export interface ServiceProcess {
  start(): Promise<void>;
  ready(): boolean;
  stop(): Promise<void>;
}

export interface ServiceMainOptions<C extends { logLevel: LogLevel; httpPort: number }> {
  /** The service's name in logs, metrics (`service` label) and its stop step. */
  name: string;
  /** Reads the environment, typically `() => loadConfig(process.env)` (a ConfigError exits with CONFIG_EXIT_CODE). */
  loadConfig: () => C;
  create: (
    config: C,
    deps: { logger: Logger; registry: Registry },
  ) => ServiceProcess | Promise<ServiceProcess>;
}

/**
 * A service's whole main.ts: reads the environment, builds the service, serves /healthz, /readyz
 * and /metrics on HTTP_PORT, and shuts down in order on SIGTERM or SIGINT. A failure before the
 * service runs is printed and exits 1.
 */
export function runServiceMain<C extends { logLevel: LogLevel; httpPort: number }>(
  opts: ServiceMainOptions<C>,
): void {
  const main = async () => {
    const config = loadConfigOrExit(opts.loadConfig);
    const logger = createLogger({ name: opts.name, level: config.logLevel });
    const registry = createMetricsRegistry({ service: opts.name, prefix: 'hitl_' });
    const service = await opts.create(config, { logger, registry });
    await runService({
      logger,
      registry,
      health: { port: config.httpPort },
      start: () => service.start(),
      readiness: () => service.ready(),
      steps: [{ name: `stop ${opts.name}`, run: () => service.stop() }],
    });
  };
  main().catch((error: unknown) => {
    process.stderr.write(`${opts.name} failed: ${String(error)}\n`);
    process.exit(1);
  });
}
