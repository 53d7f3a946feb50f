// The client without the terminal reviewer: what runs in a browser (no Node built-ins).
export { ReviewClient, type AnswerOptions, type ClaimOptions, type ReviewClientOptions } from './client';
export { ClientErrorCode, ReviewApiError } from './errors';
export type * from './types';
