// Exact-duplicate groups: tasks whose inputs are the same after normalisation share a group key,
// and one human decision of the group decides its unanswered copies (tasks.ts).
import type { ReviewReason, ReviewRequestData } from '@hitl/contracts';
import { createHash } from 'node:crypto';

/**
 * Reasons whose tasks join groups. An audit-sample task measures the model on that very event,
 * and a class rule says every item of the class needs a person: both always stay on their own.
 */
export const GROUPED_REASONS: readonly ReviewReason[] = ['low_confidence', 'no_model'];

/** Text as the group compares it: NFKC, lower case, whitespace runs as one space, trimmed. */
export function normaliseText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * The group key of a request (SHA-256 hex), or null when its task stays alone. It covers the
 * stream and the set of classes offered, so a label one copy takes is one every copy can take, and
 * the input: the normalised text and the numeric features as their exact JSON array.
 */
export function groupKey(request: ReviewRequestData, classes: readonly string[]): string | null {
  if (!GROUPED_REASONS.includes(request.reason)) return null;
  const { text, features } = request.prediction.input;
  const kind = [text !== undefined && 'text', features !== undefined && 'features'].filter(Boolean).join('+');
  const identity = JSON.stringify([
    'hitl-group-v1',
    kind,
    request.prediction.stream,
    [...new Set(classes)].sort(),
    text === undefined ? null : normaliseText(text),
    features ?? null,
  ]);
  return createHash('sha256').update(identity).digest('hex');
}
