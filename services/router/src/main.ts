// The router's process: reads the environment, serves /healthz, /readyz and /metrics, and shuts
// down in order on SIGTERM or SIGINT.
import { createLogger, createMetricsRegistry, loadConfigOrExit, runService } from '@hitl/service-kit';
import { createRouterService } from './app';
import { loadRouterConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfigOrExit(() => loadRouterConfig(process.env));
  const logger = createLogger({ name: 'router', level: config.logLevel });
  const registry = createMetricsRegistry({ service: 'router', prefix: 'hitl_' });
  const service = createRouterService(config, { logger, registry });
  await runService({
    logger,
    registry,
    health: { port: config.httpPort },
    start: () => service.start(),
    readiness: () => service.ready(),
    steps: [{ name: 'stop router', run: () => service.stop() }],
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`router failed: ${String(error)}\n`);
  process.exit(1);
});
