// Pure pieces of scoring: does an event fit the served model, and what prediction record do its
// probabilities make. No Kafka, no onnxruntime: unit-testable on their own.
import type { EventInput, InputEventData, ModelRef, Prediction } from '@hitl/contracts';

/** Stable codes of events whose payload does not fit the served model (they go to the DLQ). */
export const InputErrorCode = {
  /** A text model got an event without text. */
  noText: 'HITL_ERR_INPUT_NO_TEXT',
  /** A features model got an event without features. */
  noFeatures: 'HITL_ERR_INPUT_NO_FEATURES',
  /** A features model got a row of another width. */
  featureWidth: 'HITL_ERR_INPUT_FEATURE_WIDTH',
  /** A feature is NaN or infinite (JSON such as 1e999 reads as Infinity). */
  notFinite: 'HITL_ERR_INPUT_NOT_FINITE',
} as const;
export type InputErrorCode = (typeof InputErrorCode)[keyof typeof InputErrorCode];

/** Stable code of an event whose stream is not in the registry (it goes to the DLQ). */
export const StreamErrorCode = {
  /** The registry has streams, and not the event's. */
  unknown: 'HITL_ERR_STREAM_UNKNOWN',
} as const;
export type StreamErrorCode = (typeof StreamErrorCode)[keyof typeof StreamErrorCode];

/** Which model serves each stream, as of one registry revision. */
export interface StreamRoutes {
  /** The stream registry revision they were read at (-1: not read yet). */
  readonly revision: number;
  /** Stream id to model id. Empty: no stream is registered. */
  readonly streams: ReadonlyMap<string, string>;
}

/**
 * The model id that scores an event of `stream`: with no stream registered, the default model
 * (MODEL_ID) scores every event, as before streams existed; with streams registered, the model of
 * the event's stream, and null (the event is dead-lettered) for a stream the registry lacks. So an
 * event is never scored by another stream's model.
 */
export function modelForStream(stream: string, routes: StreamRoutes, defaultModelId: string): string | null {
  if (routes.streams.size === 0) return defaultModelId;
  return routes.streams.get(stream) ?? null;
}

export interface InputMisfit {
  code: InputErrorCode;
  reason: string;
}

/** What scoring needs to know about the served model. */
export interface ModelShape {
  ref: ModelRef;
  classes: readonly string[];
  inputKind: 'text' | 'features';
  featureWidth: number | null;
}

/** Why an event cannot be scored by this model, or null when it can. */
export function inputMisfit(input: EventInput, model: ModelShape): InputMisfit | null {
  const name = `model ${model.ref.id} version ${model.ref.version}`;
  if (model.inputKind === 'text') {
    if (typeof input.text !== 'string') {
      return { code: InputErrorCode.noText, reason: `${name} scores text; the event has no input.text` };
    }
    return null;
  }
  const { features } = input;
  if (!Array.isArray(features)) {
    return {
      code: InputErrorCode.noFeatures,
      reason: `${name} scores ${model.featureWidth} features; the event has no input.features`,
    };
  }
  if (features.length !== model.featureWidth) {
    return {
      code: InputErrorCode.featureWidth,
      reason: `${name} scores ${model.featureWidth} features; the event has ${features.length}`,
    };
  }
  const bad = features.findIndex((n) => !Number.isFinite(n));
  if (bad >= 0) {
    return { code: InputErrorCode.notFinite, reason: `input.features[${bad}] is ${features[bad]}` };
  }
  return null;
}

/**
 * For the consumer's classifyInvalid: an event that fails the schema only because a feature is
 * not finite gets its own code rather than HITL_ERR_SCHEMA.
 */
export function nonFiniteFeatures(value: unknown): InputMisfit | undefined {
  const features = (value as { data?: { input?: { features?: unknown } } } | null)?.data?.input?.features;
  if (!Array.isArray(features)) return undefined;
  const bad = features.findIndex((n) => typeof n === 'number' && !Number.isFinite(n));
  if (bad < 0) return undefined;
  return { code: InputErrorCode.notFinite, reason: `input.features[${bad}] is ${features[bad]}` };
}

export interface Scores {
  label: string;
  probabilities: Record<string, number>;
  confidence: number;
  margin: number;
  entropy: number;
}

/** Label, confidence, margin (top minus second) and entropy (nats) of one row of probabilities. */
export function summarize(classes: readonly string[], row: ArrayLike<number>): Scores {
  if (row.length !== classes.length || row.length < 2) {
    throw new Error(`expected ${classes.length} probabilities, got ${row.length}`);
  }
  const probabilities: Record<string, number> = {};
  let best = 0;
  let top = -1;
  let second = -1;
  let entropy = 0;
  for (let i = 0; i < row.length; i++) {
    const raw = row[i]!;
    if (Number.isNaN(raw)) throw new Error(`the model gave NaN for class ${classes[i]}`);
    // float32 softmax outputs can stray a hair outside [0, 1].
    const p = raw < 0 ? 0 : raw > 1 ? 1 : raw;
    probabilities[classes[i]!] = p;
    if (p > 0) entropy -= p * Math.log(p);
    if (p > top) {
      second = top;
      top = p;
      best = i;
    } else if (p > second) {
      second = p;
    }
  }
  return {
    label: classes[best]!,
    probabilities,
    confidence: top,
    margin: Math.max(0, top - second),
    entropy: Math.max(0, entropy),
  };
}

/** The prediction record of one event: scored by `model`, or with no model at all (cold start). */
export function predictionOf(
  event: InputEventData,
  scored: { model: ModelShape; scores: Scores } | null,
  scoredAt: string,
): Prediction {
  const { eventId, stream, occurredAt, input, attributes } = event;
  const base = { eventId, stream, occurredAt, input, ...(attributes ? { attributes } : {}) };
  const data = scored
    ? {
        ...base,
        model: scored.model.ref,
        classes: [...scored.model.classes],
        ...scored.scores,
        scoredAt,
      }
    : {
        ...base,
        model: null,
        classes: [],
        label: null,
        probabilities: {},
        confidence: 0,
        margin: 0,
        entropy: 0,
        scoredAt,
      };
  return { type: 'prediction.scored', version: 1, producedAt: scoredAt, data };
}
