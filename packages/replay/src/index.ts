export {
  DatasetError,
  DatasetErrorCode,
  loadLabelledFile,
  loadSpamAssassin,
  mulberry32,
  parseCsv,
  parseLabelled,
  shuffled,
  type CsvRow,
  type LabelledFileOptions,
  type LabelledInput,
  type LabelledItem,
} from './dataset';
export { runSimulatedReviewers, type ReviewerCounts, type SimulatedReviewersOptions } from './reviewers';
