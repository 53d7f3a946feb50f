import { describe, expect, it } from '@jest/globals';
import { certifyHeldOut, type CertifiedThresholds, type HeldOutDecisions } from '@hitl/policy';
import { certifiedLine, compactThresholds, promotedCertification } from '../src/index';

const figures = { predicted: 300, decisions: 0, correct: 0, lowerBound: null, reason: 'r' };

// Keys in jsonb's order (shorter first), not the model's.
const certified: CertifiedThresholds = {
  targetAccuracy: 0.99,
  confidenceLevel: 0.95,
  examples: 900,
  perClass: {
    ham: { ...figures, threshold: 0.931249, decisions: 412, correct: 412, lowerBound: 0.99275 },
    spam: { ...figures, threshold: null },
    phish: { ...figures, threshold: 0.999996, decisions: 300, correct: 300, lowerBound: 0.99 },
  },
};
const version = { modelId: 'spam', version: 3, classes: ['phish', 'ham', 'spam'], thresholds: certified };

describe('compactThresholds and certifiedLine', () => {
  it('gives each class in the model’s order, in four decimals but never a rounded-up 1', () => {
    expect(compactThresholds(version.classes, certified)).toBe('phish≥0.999996 ham≥0.9312 spam:people');
    expect(certifiedLine(version)).toEqual({
      targetAccuracy: 0.99,
      confidenceLevel: 0.95,
      thresholds: 'phish≥0.999996 ham≥0.9312 spam:people',
    });
    expect(certifiedLine({ ...version, thresholds: null })).toBeNull();
  });
});

describe('promotedCertification', () => {
  const policy = { targetAccuracy: 0.99, confidenceLevel: 0.95 };
  // 400 right ham predictions from 0.9 up and 50 spam ones: too few for spam to reach 0.95 at 95%.
  const heldOut: HeldOutDecisions = {
    classes: ['ham', 'spam'],
    decisions: [
      ...Array.from({ length: 400 }, (_, i): [number, number, 0 | 1] => [0, 0.9 + i / 4000, 1]),
      ...Array.from({ length: 50 }, (): [number, number, 0 | 1] => [1, 0.99, 1]),
    ],
  };

  it('gives the figures by class and says who decides what, for the policy’s own target', () => {
    const shown = promotedCertification(policy, version, heldOut);
    expect(shown).toEqual({
      modelId: 'spam',
      version: 3,
      certifiedFor: { targetAccuracy: 0.99, confidenceLevel: 0.95, examples: 900 },
      perClass: {
        phish: { threshold: 0.999996, decisions: 300, correct: 300, lowerBound: 0.99 },
        ham: { threshold: 0.931249, decisions: 412, correct: 412, lowerBound: 0.99275 },
        spam: { threshold: null, decisions: 0, correct: 0, lowerBound: null },
      },
      note: "spam version 3, the promoted one, is certified for the policy's accuracy 0.99 with 95% confidence on 900 held-out examples: the model decides phish at 0.999996 or above, ham at 0.9312 or above; people decide spam",
    });
    expect(Object.keys(shown.perClass)).toEqual(['phish', 'ham', 'spam']);
    const none = { ...certified, perClass: { ham: { ...figures, threshold: null } } };
    expect(promotedCertification(policy, { ...version, thresholds: none }, null).note).toMatch(
      /: people decide every class$/,
    );
  });

  it('certifies again from the held-out predictions, as the router does, for another target or level', () => {
    const classes = ['ham', 'spam'];
    for (const other of [
      { targetAccuracy: 0.95, confidenceLevel: 0.95 },
      { targetAccuracy: 0.99, confidenceLevel: 0.9 },
    ]) {
      const shown = promotedCertification(other, { ...version, classes }, heldOut);
      const again = certifyHeldOut(heldOut, other);
      expect(shown.certifiedFor).toMatchObject({ targetAccuracy: 0.99, confidenceLevel: 0.95 });
      expect(shown.perClass).toEqual({
        ham: expect.objectContaining({ threshold: again.perClass.ham!.threshold, decisions: 400 }),
        spam: expect.objectContaining({ threshold: null }),
      });
      expect(again.perClass.ham!.threshold).not.toBeNull();
      expect(shown.note).toBe(
        `spam version 3, the promoted one, was certified for accuracy 0.99 with 95% confidence, not for the policy's accuracy ${other.targetAccuracy} with ${other.confidenceLevel * 100}% confidence; the router certifies it for the policy's target from the 450 held-out predictions it keeps: the model decides ham at ${String(again.perClass.ham!.threshold)} or above; people decide spam`,
      );
    }
    const without = promotedCertification({ targetAccuracy: 0.95, confidenceLevel: 0.95 }, version, null);
    expect(without).toMatchObject({ certifiedFor: { targetAccuracy: 0.99 }, perClass: {} });
    expect(without.note).toBe(
      "spam version 3, the promoted one, was certified for accuracy 0.99 with 95% confidence, not for the policy's accuracy 0.95 with 95% confidence, and keeps no held-out predictions to certify it from: people decide everything it predicts",
    );
  });

  it('says so when the version has no certification, or the policy no target', () => {
    const uncertified = { ...version, thresholds: null };
    expect(promotedCertification(policy, uncertified, null)).toEqual({
      modelId: 'spam',
      version: 3,
      certifiedFor: null,
      perClass: {},
      note: 'spam version 3, the promoted one, has no certified thresholds, and keeps no held-out predictions to certify it from: people decide everything it predicts',
    });
    expect(promotedCertification(policy, { ...uncertified, classes: ['ham', 'spam'] }, heldOut).note).toMatch(
      /^spam version 3, the promoted one, has no certified thresholds; the router certifies it for the policy's target from the 450 held-out predictions it keeps: /,
    );
    const noTarget = { targetAccuracy: null, confidenceLevel: 0.95 };
    expect(promotedCertification(noTarget, uncertified, heldOut)).toMatchObject({
      perClass: {},
      note: 'spam version 3, the promoted one, has no certified thresholds; the policy sets no target accuracy, so its own thresholds apply',
    });
    expect(promotedCertification(noTarget, version, heldOut)).toMatchObject({
      perClass: { ham: { threshold: 0.931249 } },
      note: 'spam version 3, the promoted one, was certified for accuracy 0.99 with 95% confidence; the policy sets no target accuracy, so its own thresholds apply',
    });
  });
});
