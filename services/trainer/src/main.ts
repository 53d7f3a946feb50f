// The trainer's process: reads the environment, serves /healthz, /readyz and /metrics, and shuts
// down in order on SIGTERM or SIGINT.
import { runServiceMain } from '@hitl/service-kit';
import { createTrainerService } from './app';
import { loadTrainerConfig } from './config';

runServiceMain({
  name: 'trainer',
  loadConfig: () => loadTrainerConfig(process.env),
  create: createTrainerService,
});
