// The trainer's process: reads the environment, serves /healthz, /readyz and /metrics, and shuts
// down in order on SIGTERM or SIGINT.
import { createLogger, createMetricsRegistry, loadConfigOrExit, runService } from '@hitl/service-kit';
import { createTrainerService } from './app';
import { loadTrainerConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfigOrExit(() => loadTrainerConfig(process.env));
  const logger = createLogger({ name: 'trainer', level: config.logLevel });
  const registry = createMetricsRegistry({ service: 'trainer', prefix: 'hitl_' });
  const service = createTrainerService(config, { logger, registry });
  await runService({
    logger,
    registry,
    health: { port: config.httpPort },
    start: () => service.start(),
    readiness: () => service.ready(),
    steps: [{ name: 'stop trainer', run: () => service.stop() }],
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`trainer failed: ${String(error)}\n`);
  process.exit(1);
});
