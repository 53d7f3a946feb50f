export { ServiceKitErrorCode } from './errors';
export {
  ConfigError,
  parseConfig,
  str,
  int,
  num,
  bool,
  list,
  url,
  oneOf,
  type ConfigOf,
  type ConfigProblem,
  type ConfigSpec,
  type ConfigVar,
  type ParseConfigOptions,
} from './config';
export { createLogger, LOG_LEVELS, type CreateLoggerOptions, type Logger, type LogLevel } from './logger';
export {
  createMetricsRegistry,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CreateMetricsRegistryOptions,
} from './metrics';
export { createHealthServer, type CreateHealthServerOptions, type HealthServer } from './health';
export {
  createShutdown,
  signalExitCode,
  type CreateShutdownOptions,
  type Shutdown,
  type ShutdownStep,
  type SignalSource,
} from './shutdown';
export {
  CONFIG_EXIT_CODE,
  loadConfigOrExit,
  runService,
  runServiceMain,
  type RunningService,
  type RunServiceOptions,
  type ServiceMainOptions,
  type ServiceProcess,
} from './run-service';
export { SERVICE_NODE_FLAGS } from './node-flags';
