// The inference service's process: reads the environment, serves /healthz, /readyz and /metrics,
// and shuts down in order on SIGTERM or SIGINT.
import { createLogger, createMetricsRegistry, loadConfigOrExit, runService } from '@hitl/service-kit';
import { createInferenceService } from './app';
import { loadInferenceConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfigOrExit(() => loadInferenceConfig(process.env));
  const logger = createLogger({ name: 'inference', level: config.logLevel });
  const registry = createMetricsRegistry({ service: 'inference', prefix: 'hitl_' });
  const service = createInferenceService(config, { logger, registry });
  await runService({
    logger,
    registry,
    health: { port: config.httpPort },
    start: () => service.start(),
    readiness: () => service.ready(),
    steps: [{ name: 'stop inference', run: () => service.stop() }],
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`inference failed: ${String(error)}\n`);
  process.exit(1);
});
