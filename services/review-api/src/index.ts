export { createReviewApi, type ReviewApi, type ReviewApiDeps } from './app';
export { Authenticator, type Principal } from './auth';
export { loadReviewApiConfig, reviewApiConfigSpec, type ReviewApiConfig } from './config';
export { reviewApiMetrics, type ReviewApiMetrics } from './metrics';
export { cohensKappa, consensus, fleissKappa, type Answer, type Consensus } from './consensus';
export { ApiError } from './errors';
export { TaskStore, type DecidedTask } from './tasks';
