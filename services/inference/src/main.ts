// The inference service's process: reads the environment, serves /healthz, /readyz and /metrics, and shuts
// down in order on SIGTERM or SIGINT.
import { runServiceMain } from '@hitl/service-kit';
import { createInferenceService } from './app';
import { loadInferenceConfig } from './config';

runServiceMain({
  name: 'inference',
  loadConfig: () => loadInferenceConfig(process.env),
  create: createInferenceService,
});
