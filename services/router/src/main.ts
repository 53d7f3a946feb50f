// The router's process: reads the environment, serves /healthz, /readyz and /metrics, and shuts
// down in order on SIGTERM or SIGINT.
import { runServiceMain } from '@hitl/service-kit';
import { createRouterService } from './app';
import { loadRouterConfig } from './config';

runServiceMain({
  name: 'router',
  loadConfig: () => loadRouterConfig(process.env),
  create: createRouterService,
});
