export {
  DatasetError,
  DatasetErrorCode,
  loadLabelledFile,
  loadSpamAssassin,
  parseCsv,
  parseLabelled,
  shuffled,
  type CsvRow,
  type LabelledFileOptions,
  type LabelledInput,
  type LabelledItem,
} from './dataset';
export { runSimulatedReviewers, type ReviewerCounts, type SimulatedReviewersOptions } from './reviewers';
export {
  runReplay,
  setReplayPolicy,
  DEFAULT_REPLAY_TOPICS,
  type ReplayOptions,
  type ReplayProgress,
  type ReplayResult,
  type ReplayTopics,
} from './replay';
export {
  learningCurve,
  renderMarkdown,
  renderSvg,
  summarize,
  type CurvePoint,
  type EventOutcome,
  type ReplaySummary,
} from './report';
export {
  ServiceSupervisor,
  SERVICE_NAMES,
  DEFAULT_HEALTH_PORTS,
  answers,
  type ServiceName,
} from './services';
export { Tracker } from './tracker';
