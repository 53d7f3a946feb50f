// Corrections as labelled examples: which split an event belongs to, and how a label that arrives
// for an event already labelled is merged. Pure: the store applies what these decide.
import { stableFraction } from '@hitl/datasets';
import type { CorrectionData, EventInput, ReviewReason } from '@hitl/contracts';

/** The salt of the evaluation split: the same event is held out by every trainer, every run. */
export const EVAL_SPLIT_SALT = 'hitl.eval';

export type Split = 'train' | 'eval';

export interface ReviewerLabel {
  reviewerId: string;
  label: string;
}

/** One consensus label of an event, as a correction carried it. */
export interface LabelVersion {
  label: string;
  reviewerLabels: ReviewerLabel[];
  /** ISO-8601. */
  correctedAt: string;
}

/** A label that is no longer the example's: replaced by a later one, or arrived after it. */
export interface HistoryEntry extends LabelVersion {
  /** When the trainer set it aside (ISO-8601). */
  supersededAt: string;
}

/** A labelled example as stored: the current label and the lineage of earlier ones. */
export interface LabelledExample extends LabelVersion {
  eventId: string;
  stream: string;
  input: EventInput;
  split: Split;
  history: HistoryEntry[];
  /**
   * How sure the current label is (the correction's posterior under weighted consensus), in
   * (0, 1]; absent: it came without one. It weighs the example in training.
   */
  confidence?: number;
  /**
   * Why the event went to people and what the model had predicted, as its first correction said;
   * absent on examples read back from the store, which keeps the first ones it was given.
   */
  origin?: { reviewReason: ReviewReason; modelPrediction: CorrectionData['modelPrediction'] };
}

/** Held out for evaluation (never trained on) when the event id's stable fraction is below evalShare. */
export function splitOf(eventId: string, evalShare: number): Split {
  return stableFraction(eventId, EVAL_SPLIT_SALT) < evalShare ? 'eval' : 'train';
}

/**
 * The split of a newly labelled event. An audit-sample event is always held out: the audit is the
 * only unbiased sample of the predictions the model decides alone, so its labels are what
 * certifies (and keeps checking) the accuracy of those decisions, which a model that trained on
 * them could not do.
 */
export function splitOfCorrection(correction: CorrectionData, evalShare: number): Split {
  return correction.reviewReason === 'audit_sample' ? 'eval' : splitOf(correction.eventId, evalShare);
}

/** The example a correction makes, before any earlier label of the same event is considered. */
export function exampleOf(correction: CorrectionData, evalShare: number): LabelledExample {
  return {
    eventId: correction.eventId,
    stream: correction.stream,
    input: correction.input,
    label: correction.label,
    reviewerLabels: correction.reviewerLabels.map(({ reviewerId, label }) => ({ reviewerId, label })),
    correctedAt: new Date(correction.correctedAt).toISOString(),
    split: splitOfCorrection(correction, evalShare),
    history: [],
    ...(correction.confidence === undefined ? {} : { confidence: correction.confidence }),
    origin: { reviewReason: correction.reviewReason, modelPrediction: correction.modelPrediction },
  };
}

function sameVersion(a: LabelVersion, b: LabelVersion): boolean {
  return (
    Date.parse(a.correctedAt) === Date.parse(b.correctedAt) &&
    a.label === b.label &&
    a.reviewerLabels.length === b.reviewerLabels.length &&
    a.reviewerLabels.every(
      (r, i) => r.reviewerId === b.reviewerLabels[i]!.reviewerId && r.label === b.reviewerLabels[i]!.label,
    )
  );
}

function byCorrectedAt(a: LabelVersion, b: LabelVersion): number {
  return Date.parse(a.correctedAt) - Date.parse(b.correctedAt);
}

function versionOf(v: LabelVersion): LabelVersion {
  return { label: v.label, reviewerLabels: v.reviewerLabels, correctedAt: v.correctedAt };
}

/**
 * What a label arriving for an already labelled event does:
 * - `duplicate`: the same correction again (a redelivery), or one already in the history;
 * - `replaced`: it is later than the current label and takes its place; the current one goes to
 *   the history. `labelChanged` says whether the class changed (a relabel the model must learn)
 *   or only the reviewers and time did (a confirmation);
 * - `late`: it is not later than the current label (out of order, or a tie): the current label
 *   stays, and the late one joins the history so that the lineage is complete.
 */
export type LabelMerge =
  | { kind: 'duplicate' }
  | { kind: 'replaced'; example: LabelledExample; labelChanged: boolean }
  | { kind: 'late'; example: LabelledExample };

export function mergeLabel(stored: LabelledExample, incoming: LabelledExample, at: string): LabelMerge {
  if (sameVersion(stored, incoming) || stored.history.some((h) => sameVersion(h, incoming))) {
    return { kind: 'duplicate' };
  }
  if (Date.parse(incoming.correctedAt) > Date.parse(stored.correctedAt)) {
    const history = [...stored.history, { ...versionOf(stored), supersededAt: at }].sort(byCorrectedAt);
    return {
      kind: 'replaced',
      // The split stays the one fixed when the event was first seen, whatever EVAL_SHARE is now.
      example: { ...incoming, split: stored.split, history },
      labelChanged: incoming.label !== stored.label,
    };
  }
  const history = [...stored.history, { ...versionOf(incoming), supersededAt: at }].sort(byCorrectedAt);
  return { kind: 'late', example: { ...stored, history } };
}
