export { parseHitlArgs, UsageError, USAGE, type HitlCommand, type Since } from './args';
export {
  certifiedLine,
  compactThresholds,
  promotedCertification,
  type PromotedCertification,
} from './certification';
export { checkServableModel } from './check-model';
export {
  dlqJsonLine,
  formatDlqLine,
  LatestEntries,
  matchesFilter,
  readDlqRecord,
  REDRIVEN_FROM_HEADER,
  redriveRecord,
  RedriveRefusalCode,
  type DlqEntry,
  type DlqFilter,
  type RedriveRefusal,
} from './dead-letters';
export { readDeadLetterTopic, type ReadDlqOptions } from './dlq';
export { runHitl, type HitlIo } from './commands';
export { loadHitlConfig, type HitlConfig, type LoadHitlConfigOptions } from './config';
export { CliError, CliErrorCode, ExitCode } from './errors';
export { applyPolicyChanges, type PolicyChanges } from './policy-changes';
export { OUTBOX_ID_HEADER, publishOutbox } from './relay';
