// The review API's process: reads the environment, serves the API on API_PORT and /healthz,
// /readyz and /metrics on HTTP_PORT, and shuts down in order on SIGTERM or SIGINT.
import { runServiceMain } from '@hitl/service-kit';
import { createReviewApi } from './app';
import { loadReviewApiConfig } from './config';

runServiceMain({
  name: 'review-api',
  loadConfig: () => loadReviewApiConfig(process.env),
  create: createReviewApi,
});
