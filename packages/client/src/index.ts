export { ReviewClient, type AnswerOptions, type ClaimOptions, type ReviewClientOptions } from './client';
export { ClientErrorCode, ReviewApiError } from './errors';
export { runReviewCommand, type ReviewCommandIo } from './command';
export {
  runTerminalReviewer,
  type ReviewSummary,
  type TerminalClient,
  type TerminalReviewerOptions,
} from './terminal';
export type * from './types';
