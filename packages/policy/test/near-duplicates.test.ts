import { textNgrams } from '@hitl/model';
import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_POLICY_SPEC,
  MINHASH_BANDS,
  MINHASH_SIZE,
  PolicyError,
  estimatedSimilarity,
  lshBands,
  minHashSignature,
  ngramSet,
  signatureBytes,
  signatureFromBytes,
  validatePolicySpec,
} from '../src';

const problemsOf = (spec: unknown) => {
  try {
    validatePolicySpec(spec);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).code).toBe('HITL_ERR_POLICY_INVALID');
    return (error as PolicyError).problems;
  }
  throw new Error('the spec was accepted');
};

describe('the nearDuplicates policy field', () => {
  it('is off unless set, and comes back only when on', () => {
    expect(validatePolicySpec({ ...DEFAULT_POLICY_SPEC })).not.toHaveProperty('nearDuplicates');
    expect(validatePolicySpec({ ...DEFAULT_POLICY_SPEC, nearDuplicates: null })).not.toHaveProperty(
      'nearDuplicates',
    );
    expect(
      validatePolicySpec({ ...DEFAULT_POLICY_SPEC, nearDuplicates: { minSimilarity: 0.9 } }),
    ).toMatchObject({
      nearDuplicates: { minSimilarity: 0.9 },
    });
    expect(
      validatePolicySpec({ ...DEFAULT_POLICY_SPEC, nearDuplicates: { minSimilarity: 0.8 } }),
    ).toMatchObject({
      nearDuplicates: { minSimilarity: 0.8 },
    });
    expect(
      validatePolicySpec({ ...DEFAULT_POLICY_SPEC, nearDuplicates: { minSimilarity: 1 } }),
    ).toMatchObject({
      nearDuplicates: { minSimilarity: 1 },
    });
  });

  it.each([
    [{ minSimilarity: 0.5 }, 'nearDuplicates.minSimilarity', 'must be a number from 0.8 to 1, got 0.5'],
    [{ minSimilarity: 1.01 }, 'nearDuplicates.minSimilarity', 'must be a number from 0.8 to 1, got 1.01'],
    [{ minSimilarity: '0.9' }, 'nearDuplicates.minSimilarity', 'must be a number from 0.8 to 1, got "0.9"'],
    [{}, 'nearDuplicates.minSimilarity', 'must be a number from 0.8 to 1, got undefined'],
    [{ minSimilarity: 0.9, bands: 4 }, 'nearDuplicates.bands', 'is not a near-duplicate setting'],
    [true, 'nearDuplicates', 'must be an object { minSimilarity } or null (off), got true'],
    [[0.9], 'nearDuplicates', 'must be an object { minSimilarity } or null (off), got [0.9]'],
  ])('refuses %j with a problem on %s', (value, field, problem) => {
    expect(problemsOf({ ...DEFAULT_POLICY_SPEC, nearDuplicates: value })).toContainEqual({ field, problem });
  });
});

describe('MinHash signatures', () => {
  it('are over the n-grams the text model uses', () => {
    for (const text of [
      "Win a FREE cruise -- today's offer, 100% GUARANTEED!!",
      '  spaces\tand\nnewlines  ',
      'ÜNICODE Ärger: only ASCII letters change case',
      '',
      'one',
    ]) {
      expect([...ngramSet(text)].sort()).toEqual([...new Set(textNgrams(text))].sort());
    }
  });

  it('estimate the Jaccard similarity of the n-gram sets', () => {
    const words = Array.from({ length: 400 }, (_, i) => `w${i}`);
    const text = (ws: string[]) => ws.join(' ');
    const a = minHashSignature(text(words))!;
    expect(a).toHaveLength(MINHASH_SIZE);
    expect(estimatedSimilarity(a, minHashSignature(text(words))!)).toBe(1);
    // Punctuation and ASCII case are not n-grams: the same set.
    expect(estimatedSimilarity(a, minHashSignature(`${text(words).toUpperCase()}!!!`)!)).toBe(1);
    const jaccard = (x: Set<string>, y: Set<string>) =>
      [...x].filter((g) => y.has(g)).length / new Set([...x, ...y]).size;
    // Changing every k-th word: the estimate is within four standard errors of the truth.
    for (const k of [100, 20, 8, 3]) {
      const changed = words.map((w, i) => (i % k === 0 ? `x${i}` : w));
      const truth = jaccard(ngramSet(text(words)), ngramSet(text(changed)));
      const estimate = estimatedSimilarity(a, minHashSignature(text(changed))!);
      const error = Math.sqrt((truth * (1 - truth)) / MINHASH_SIZE);
      expect(Math.abs(estimate - truth)).toBeLessThanOrEqual(4 * error + 1e-9);
    }
    expect(minHashSignature('!!! ... ---')).toBeNull();
  });

  it('round-trip through bytes, and give bands of their scope only', () => {
    const a = minHashSignature('Cheap watches, today only')!;
    expect(signatureFromBytes(signatureBytes(a))).toEqual(a);
    expect(signatureFromBytes(new Uint8Array(12))).toBeNull();
    const bands = lshBands(a, 'email');
    expect(bands).toHaveLength(MINHASH_BANDS);
    expect(lshBands(minHashSignature('cheap WATCHES today only!')!, 'email')).toEqual(bands);
    const other = new Set(lshBands(a, 'sms'));
    expect(bands.filter((b) => other.has(b))).toEqual([]);
    // Fixed forever: stored signatures and bands are compared with new ones.
    expect([a[0], a[MINHASH_SIZE - 1], bands[0]]).toEqual([17136795, 606133556, 7097344744607756408n]);
  });
});
