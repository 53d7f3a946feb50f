import type { TopicCatalog, TopicName, RecordOf } from './topics';

const at = '2026-01-15T09:30:00.000Z';
const input = { text: 'Subject: cheap meds\n\nBuy now, limited offer.' };
const prediction = {
  eventId: 'evt-0001',
  stream: 'email',
  occurredAt: at,
  input,
  model: { id: 'spam-text', version: 3 },
  classes: ['ham', 'spam'],
  label: 'spam',
  probabilities: { ham: 0.31, spam: 0.69 },
  confidence: 0.69,
  margin: 0.38,
  entropy: 0.6191,
  scoredAt: at,
};

/** One valid record per topic: documentation, API examples and test data. */
export const exampleRecords: { [K in TopicName]: RecordOf<TopicCatalog[K]> } = {
  events: {
    type: 'event.submitted',
    version: 1,
    producedAt: at,
    data: {
      eventId: 'evt-0001',
      stream: 'email',
      occurredAt: at,
      input,
      attributes: { source: 'smtp-gw-1' },
    },
  },
  predictions: { type: 'prediction.scored', version: 1, producedAt: at, data: prediction },
  reviewRequests: {
    type: 'review.requested',
    version: 1,
    producedAt: at,
    data: {
      eventId: 'evt-0001',
      prediction,
      reason: 'low_confidence',
      priority: 0.62,
      policyVersion: 4,
      requiredReviewers: 1,
      requestedAt: at,
    },
  },
  decisions: {
    type: 'decision.made',
    version: 1,
    producedAt: at,
    data: {
      eventId: 'evt-0001',
      label: 'spam',
      decidedBy: 'human',
      model: { id: 'spam-text', version: 3 },
      policyVersion: 4,
      reviewers: ['rev-7'],
      confidence: null,
      decidedAt: at,
    },
  },
  corrections: {
    type: 'correction.recorded',
    version: 1,
    producedAt: at,
    data: {
      eventId: 'evt-0001',
      stream: 'email',
      input,
      label: 'spam',
      reviewerLabels: [{ reviewerId: 'rev-7', label: 'spam' }],
      modelPrediction: { model: { id: 'spam-text', version: 3 }, label: 'spam', confidence: 0.69 },
      outcome: 'agreed',
      reviewReason: 'low_confidence',
      correctedAt: at,
    },
  },
  models: {
    type: 'model.promoted',
    version: 1,
    producedAt: at,
    data: {
      model: { id: 'spam-text', version: 4 },
      parentVersion: 3,
      classes: ['ham', 'spam'],
      inputKind: 'text',
      metrics: { accuracy: 0.97, macroF1: 0.96 },
      reason: 'macro-F1 0.96 beats champion 0.93 by 0.03',
    },
  },
  deadLetters: {
    type: 'record.dead_lettered',
    version: 1,
    producedAt: at,
    data: {
      source: {
        topic: 'hitl.events.v1',
        partition: 2,
        offset: '1041',
        key: 'evt-0002',
        timestamp: '1768469400000',
      },
      consumerGroup: 'hitl-inference',
      payloadBase64: Buffer.from('{not json').toString('base64'),
      payloadBytes: 9,
      payloadTruncated: false,
      headers: {},
      error: { code: 'HITL_ERR_DECODE', message: 'Unexpected token n in JSON at position 1' },
      attempts: 1,
    },
  },
};
