import {
  createValidator,
  Decision,
  exampleRecords,
  ReviewRequest,
  type PredictionData,
} from '@hitl/contracts';
import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_POLICY_SPEC,
  PolicyError,
  auditDraw,
  reviewReason,
  route,
  validatePolicySpec,
  type Policy,
} from '../src';

const policy = (overrides: Partial<Policy> = {}): Policy => ({
  ...DEFAULT_POLICY_SPEC,
  classes: ['ham', 'spam', 'fraud'],
  auditRate: 0,
  name: 'spam',
  version: 4,
  ...overrides,
});

const prediction = (overrides: Partial<PredictionData> = {}): PredictionData => ({
  ...exampleRecords.predictions.data,
  ...overrides,
});

const at = '2026-03-01T00:00:00.000Z';

describe('reviewReason', () => {
  it.each([
    { name: 'confident: the model decides', p: { label: 'spam', confidence: 0.95 }, pol: {}, reason: null },
    {
      name: 'exactly at the threshold: confident',
      p: { label: 'spam', confidence: 0.9 },
      pol: {},
      reason: null,
    },
    {
      name: 'just below the threshold: people',
      p: { label: 'spam', confidence: 0.8999999 },
      pol: {},
      reason: 'low_confidence',
    },
    {
      name: 'threshold 0: always confident',
      p: { label: 'ham', confidence: 0 },
      pol: { threshold: 0 },
      reason: null,
    },
    {
      name: 'threshold 1: only certainty stands',
      p: { label: 'ham', confidence: 0.999 },
      pol: { threshold: 1 },
      reason: 'low_confidence',
    },
    {
      name: 'a class threshold overrides the global one upwards',
      p: { label: 'spam', confidence: 0.95 },
      pol: { classThresholds: { spam: 0.97 } },
      reason: 'low_confidence',
    },
    {
      name: 'a class threshold overrides the global one downwards',
      p: { label: 'spam', confidence: 0.7 },
      pol: { classThresholds: { spam: 0.7 } },
      reason: null,
    },
    {
      name: 'another class keeps the global threshold',
      p: { label: 'ham', confidence: 0.8 },
      pol: { classThresholds: { spam: 0.5 } },
      reason: 'low_confidence',
    },
    {
      name: 'an always-review class goes to people however confident',
      p: { label: 'fraud', confidence: 1 },
      pol: { alwaysReview: ['fraud'] },
      reason: 'class_rule',
    },
    {
      name: 'the class rule wins over low confidence',
      p: { label: 'fraud', confidence: 0.1 },
      pol: { alwaysReview: ['fraud'] },
      reason: 'class_rule',
    },
    {
      name: 'no model: people',
      p: { model: null, label: null, classes: [], probabilities: {}, confidence: 0 },
      pol: {},
      reason: 'no_model',
    },
    {
      name: 'audit rate 1 samples every confident prediction',
      p: { label: 'ham', confidence: 0.99 },
      pol: { auditRate: 1 },
      reason: 'audit_sample',
    },
    {
      name: 'the audit samples only confident predictions',
      p: { label: 'ham', confidence: 0.5 },
      pol: { auditRate: 1 },
      reason: 'low_confidence',
    },
  ])('$name', ({ p, pol, reason }) => {
    expect(reviewReason(prediction(p as Partial<PredictionData>), policy(pol as Partial<Policy>))).toBe(
      reason,
    );
  });
});

describe('reviewReason with a target accuracy', () => {
  const target = policy({ targetAccuracy: 0.99, threshold: 0.5, classThresholds: { spam: 0.6 } });
  // Version 3 of the example's model has certified thresholds; version 2 was never certified.
  const certified = (model: { id: string; version: number }) =>
    model.version === 3 ? { ham: 0.97, spam: null } : null;
  const p = (label: string, confidence: number, version: number) =>
    prediction({ label, confidence, model: { id: 'spam-clf', version } });

  it('uses the certified threshold of the version that made the prediction, not the policy thresholds', () => {
    expect(reviewReason(p('ham', 0.97, 3), target, certified)).toBeNull();
    expect(reviewReason(p('ham', 0.969, 3), target, certified)).toBe('low_confidence');
  });

  it('sends a class with no certified threshold to people, however confident', () => {
    expect(reviewReason(p('spam', 1, 3), target, certified)).toBe('low_confidence');
    expect(reviewReason(p('fraud', 1, 3), target, certified)).toBe('low_confidence');
  });

  it('sends every prediction of a version without certification to people', () => {
    expect(reviewReason(p('ham', 1, 2), target, certified)).toBe('low_confidence');
    expect(reviewReason(p('ham', 1, 3), target)).toBe('low_confidence');
  });

  it('without a target, ignores certification', () => {
    const plain = { ...target, targetAccuracy: null };
    expect(reviewReason(p('ham', 0.55, 2), plain, certified)).toBeNull();
    expect(reviewReason(p('spam', 0.55, 3), plain, certified)).toBe('low_confidence');
  });

  it('still audits a share of the certified decisions', () => {
    const audited = { ...target, auditRate: 1 };
    expect(reviewReason(p('ham', 0.99, 3), audited, certified)).toBe('audit_sample');
  });
});

describe('the audit sample', () => {
  it('samples the rate over 100,000 ids, within 0.2 points', () => {
    for (const rate of [0.02, 0.1, 0.5]) {
      let sampled = 0;
      for (let i = 0; i < 100_000; i++) if (auditDraw(`evt-${i}`) < rate) sampled++;
      expect(Math.abs(sampled / 100_000 - rate)).toBeLessThan(0.002);
    }
  });

  it('makes the same choice for the same event every time, and raising the rate only adds events', () => {
    const ids = Array.from({ length: 5_000 }, (_, i) => `order-${i * 7919}`);
    const pick = (rate: number) =>
      ids.filter((eventId) =>
        reviewReason(prediction({ eventId, confidence: 0.99 }), policy({ auditRate: rate })),
      );
    const low = pick(0.05);
    expect(pick(0.05)).toEqual(low);
    const high = new Set(pick(0.2));
    expect(low.every((id) => high.has(id))).toBe(true);
    expect(high.size).toBeGreaterThan(low.length);
  });
});

describe('route', () => {
  const validDecision = createValidator(Decision);
  const validRequest = createValidator(ReviewRequest);

  it('makes a valid model decision naming the model and the policy version', () => {
    const r = route(prediction({ confidence: 0.97 }), policy(), at);
    expect(r.kind).toBe('decision');
    expect(validDecision.issues(r.record)).toEqual([]);
    expect(r.record.data).toEqual({
      eventId: 'evt-0001',
      label: 'spam',
      decidedBy: 'model',
      model: { id: 'spam-text', version: 3 },
      policyVersion: 4,
      reviewers: [],
      confidence: 0.97,
      decidedAt: at,
    });
  });

  it('makes a valid review request with the reason, priority and reviewers needed', () => {
    const p = prediction({ confidence: 0.6 });
    const r = route(p, policy({ requiredReviewers: 3 }), at);
    expect(r).toMatchObject({ kind: 'review', reason: 'low_confidence' });
    expect(validRequest.issues(r.record)).toEqual([]);
    expect(r.record.data).toMatchObject({
      eventId: 'evt-0001',
      prediction: p,
      reason: 'low_confidence',
      priority: 0.4,
      policyVersion: 4,
      requiredReviewers: 3,
    });
  });

  it('puts the most uncertain first: priority falls as confidence rises, no model is most urgent', () => {
    const priority = (p: Partial<PredictionData>) => {
      const r = route(prediction(p), policy({ threshold: 1 }), at);
      return r.kind === 'review' ? r.record.data.priority : NaN;
    };
    const none = priority({ model: null, label: null, classes: [], probabilities: {}, confidence: 0 });
    expect(none).toBe(1);
    expect(priority({ confidence: 0.5 })).toBeGreaterThan(priority({ confidence: 0.7 }));
    expect(priority({ confidence: 0.7 })).toBeGreaterThan(priority({ confidence: 0.99 }));
  });
});

describe('validatePolicySpec', () => {
  it('accepts the default and a full policy', () => {
    expect(validatePolicySpec(DEFAULT_POLICY_SPEC)).toEqual(DEFAULT_POLICY_SPEC);
    const full = {
      classes: ['ham', 'spam'],
      threshold: 0.8,
      classThresholds: { spam: 0.95 },
      alwaysReview: ['spam'],
      auditRate: 0.05,
      requiredReviewers: 2,
    };
    expect(validatePolicySpec(full)).toEqual({
      ...full,
      targetAccuracy: null,
      confidenceLevel: 0.95,
      hideSuggestion: false,
      featureNames: [],
      goldRate: 0,
      consensusConfidence: null,
    });
    const target = {
      ...full,
      targetAccuracy: 0.99,
      confidenceLevel: 0.9,
      hideSuggestion: true,
      featureNames: ['alcohol', 'malic acid'],
      goldRate: 0.5,
      consensusConfidence: 0.99,
      consensusUsesModel: true,
    };
    expect(validatePolicySpec(target)).toEqual(target);
    // Off is the field's absence.
    expect(validatePolicySpec({ ...target, consensusUsesModel: false })).not.toHaveProperty(
      'consensusUsesModel',
    );
  });

  it.each([
    { change: { threshold: 1.5 }, field: 'threshold' },
    { change: { threshold: -0.01 }, field: 'threshold' },
    { change: { threshold: '0.9' }, field: 'threshold' },
    { change: { auditRate: 2 }, field: 'auditRate' },
    { change: { auditRate: NaN }, field: 'auditRate' },
    { change: { classThresholds: { eggs: 0.5 } }, field: 'classThresholds.eggs' },
    { change: { classThresholds: { spam: 7 } }, field: 'classThresholds.spam' },
    { change: { alwaysReview: ['eggs'] }, field: 'alwaysReview' },
    { change: { requiredReviewers: 0 }, field: 'requiredReviewers' },
    { change: { requiredReviewers: 1.5 }, field: 'requiredReviewers' },
    { change: { requiredReviewers: 26 }, field: 'requiredReviewers' },
    { change: { classes: ['only'] }, field: 'classes' },
    { change: { classes: ['a', 'a'] }, field: 'classes' },
    { change: { colour: 'blue' }, field: 'colour' },
    { change: { targetAccuracy: 1 }, field: 'targetAccuracy' },
    { change: { targetAccuracy: 0 }, field: 'targetAccuracy' },
    { change: { targetAccuracy: '0.99' }, field: 'targetAccuracy' },
    { change: { confidenceLevel: 1 }, field: 'confidenceLevel' },
    { change: { confidenceLevel: null }, field: 'confidenceLevel' },
    { change: { hideSuggestion: 'true' }, field: 'hideSuggestion' },
    { change: { hideSuggestion: null }, field: 'hideSuggestion' },
    { change: { featureNames: 'a,b' }, field: 'featureNames' },
    { change: { featureNames: null }, field: 'featureNames' },
    { change: { featureNames: ['a', ''] }, field: 'featureNames.1' },
    { change: { featureNames: ['x'.repeat(201)] }, field: 'featureNames.0' },
    { change: { featureNames: ['a', 7] }, field: 'featureNames.1' },
    { change: { featureNames: ['a', 'b', 'a'] }, field: 'featureNames' },
    { change: { featureNames: Array.from({ length: 4_097 }, (_, i) => `f${i}`) }, field: 'featureNames' },
    { change: { goldRate: 0.51 }, field: 'goldRate' },
    { change: { goldRate: -0.1 }, field: 'goldRate' },
    { change: { goldRate: '0.1' }, field: 'goldRate' },
    { change: { goldRate: null }, field: 'goldRate' },
    { change: { consensusConfidence: 1 }, field: 'consensusConfidence' },
    { change: { consensusConfidence: 0 }, field: 'consensusConfidence' },
    { change: { consensusConfidence: '0.99' }, field: 'consensusConfidence' },
    { change: { consensusConfidence: 0.99, consensusUsesModel: 'yes' }, field: 'consensusUsesModel' },
    { change: { consensusConfidence: 0.99, consensusUsesModel: null }, field: 'consensusUsesModel' },
    { change: { consensusUsesModel: true }, field: 'consensusUsesModel' },
  ])('refuses $change with a problem on $field', ({ change, field }) => {
    const spec = { ...DEFAULT_POLICY_SPEC, classes: ['ham', 'spam'], ...change };
    let error: unknown;
    try {
      validatePolicySpec(spec);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).code).toBe('HITL_ERR_POLICY_INVALID');
    expect((error as PolicyError).problems.map((p) => p.field)).toContain(field);
  });

  it('refuses class rules when the policy declares no classes, and says how to fix it', () => {
    expect(() => validatePolicySpec({ ...DEFAULT_POLICY_SPEC, alwaysReview: ['spam'] })).toThrow(
      'declares no classes (set classes first)',
    );
  });

  it('takes feature names up to the bounds, and copies them', () => {
    const names = Array.from({ length: 4_096 }, (_, i) => `f${i}`.padEnd(200, '.'));
    const spec = validatePolicySpec({ ...DEFAULT_POLICY_SPEC, featureNames: names });
    expect(spec.featureNames).toEqual(names);
    expect(spec.featureNames).not.toBe(names);
  });

  it('says which feature name is twice, and how many are too many', () => {
    expect(() => validatePolicySpec({ ...DEFAULT_POLICY_SPEC, featureNames: ['a', 'b', 'a'] })).toThrow(
      'featureNames: names feature "a" twice',
    );
    expect(() =>
      validatePolicySpec({ ...DEFAULT_POLICY_SPEC, featureNames: Array.from({ length: 5_000 }, String) }),
    ).toThrow('featureNames: must name at most 4096 features, got 5000');
  });

  it('lists every problem at once', () => {
    expect(() => validatePolicySpec({ ...DEFAULT_POLICY_SPEC, threshold: 3, auditRate: 3 })).toThrow(
      /threshold: .*; auditRate: /,
    );
  });
});
