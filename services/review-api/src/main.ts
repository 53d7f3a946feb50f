// The review API's process: reads the environment, serves the API on API_PORT and /healthz,
// /readyz and /metrics on HTTP_PORT, and shuts down in order on SIGTERM or SIGINT.
import { createLogger, createMetricsRegistry, loadConfigOrExit, runService } from '@hitl/service-kit';
import { createReviewApi } from './app';
import { loadReviewApiConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfigOrExit(() => loadReviewApiConfig(process.env));
  const logger = createLogger({ name: 'review-api', level: config.logLevel });
  const registry = createMetricsRegistry({ service: 'review-api', prefix: 'hitl_' });
  const api = await createReviewApi(config, { logger, registry });
  await runService({
    logger,
    registry,
    health: { port: config.httpPort },
    start: () => api.start(),
    readiness: () => api.ready(),
    steps: [{ name: 'stop review API', run: () => api.stop() }],
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`review-api failed: ${String(error)}\n`);
  process.exit(1);
});
