export { createReviewApi, type ReviewApi, type ReviewApiDeps } from './app';
export { Authenticator, type Principal } from './auth';
export { loadReviewApiConfig, type ReviewApiConfig } from './config';
export { cohensKappa, consensus, fleissKappa, type Answer, type Consensus } from './consensus';
export { ApiError, ApiErrorCode, ErrorBody } from './errors';
export * as schemas from './schemas';
export { TaskStore } from './tasks';
