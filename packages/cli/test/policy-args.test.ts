import { describe, expect, it } from '@jest/globals';
import { DEFAULT_POLICY_SPEC, PolicyError } from '@hitl/policy';
import { applyPolicyChanges, loadHitlConfig, parseHitlArgs, UsageError } from '../src/index';

function usageError(argv: string[]): string {
  try {
    parseHitlArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error(`expected a UsageError for ${JSON.stringify(argv)}`);
}

describe('parseHitlArgs: policy', () => {
  it('parses a full policy set', () => {
    expect(
      parseHitlArgs([
        'policy',
        'set',
        '--name',
        'spam',
        '--file',
        'spec.json',
        '--classes',
        'ham, spam,',
        '--threshold',
        '0.85',
        '--class-threshold',
        'spam=0.95',
        '--class-threshold',
        'ham = .9',
        '--clear-class-threshold',
        'eggs',
        '--always-review',
        'spam',
        '--audit-rate=-0.1',
        '--reviewers',
        '2',
        '--target-accuracy',
        '0.99',
        '--confidence-level',
        '.9',
        '--actor',
        'alice',
        '--reason',
        'fewer reviews',
      ]),
    ).toEqual({
      name: 'policy set',
      policyName: 'spam',
      file: 'spec.json',
      changes: {
        classes: ['ham', 'spam'],
        threshold: 0.85,
        classThresholds: { spam: 0.95, ham: 0.9 },
        clearClassThresholds: ['eggs'],
        alwaysReview: ['spam'],
        // Out of range, but a number: the policy's validation refuses it, not the parser.
        auditRate: -0.1,
        requiredReviewers: 2,
        targetAccuracy: 0.99,
        confidenceLevel: 0.9,
      },
      actor: 'alice',
      reason: 'fewer reviews',
    });
  });

  it('needs only --name for set; an empty list clears it', () => {
    expect(parseHitlArgs(['policy', 'set', '--name', 'spam'])).toEqual({
      name: 'policy set',
      policyName: 'spam',
      changes: {},
    });
    expect(parseHitlArgs(['policy', 'set', '--name', 'spam', '--always-review', ''])).toMatchObject({
      changes: { alwaysReview: [] },
    });
  });

  it('parses show and history; a class label may contain "="', () => {
    expect(parseHitlArgs(['policy', 'show', '--name', 'spam'])).toEqual({
      name: 'policy show',
      policyName: 'spam',
    });
    expect(parseHitlArgs(['policy', 'show', '--name', 'spam', '--version', '3'])).toEqual({
      name: 'policy show',
      policyName: 'spam',
      version: 3,
    });
    expect(parseHitlArgs(['policy', 'history', '--name=spam'])).toEqual({
      name: 'policy history',
      policyName: 'spam',
    });
    expect(parseHitlArgs(['policy', 'set', '--name', 'p', '--class-threshold', 'a=b=0.5'])).toMatchObject({
      changes: { classThresholds: { 'a=b': 0.5 } },
    });
  });

  it('takes none for no target accuracy, and leaves the range of either figure to the policy', () => {
    expect(parseHitlArgs(['policy', 'set', '--name', 'p', '--target-accuracy', 'none'])).toEqual({
      name: 'policy set',
      policyName: 'p',
      changes: { targetAccuracy: null },
    });
    expect(
      parseHitlArgs(['policy', 'set', '--name', 'p', '--target-accuracy=1', '--confidence-level', '1.5']),
    ).toMatchObject({ changes: { targetAccuracy: 1, confidenceLevel: 1.5 } });
  });

  it('takes the reviewer settings: true or false, and a list of feature names (empty clears it)', () => {
    expect(
      parseHitlArgs(['policy', 'set', '--name', 'p', '--hide-suggestion', 'true', '--feature-names', 'a, b']),
    ).toMatchObject({ changes: { hideSuggestion: true, featureNames: ['a', 'b'] } });
    expect(
      parseHitlArgs(['policy', 'set', '--name', 'p', '--hide-suggestion=false', '--feature-names=']),
    ).toMatchObject({ changes: { hideSuggestion: false, featureNames: [] } });
    expect(parseHitlArgs(['policy', 'set', '--name', 'p', '--consensus-uses-model', 'true'])).toMatchObject({
      changes: { consensusUsesModel: true },
    });
    expect(() => parseHitlArgs(['policy', 'set', '--name', 'p', '--hide-suggestion', 'yes'])).toThrow(
      '--hide-suggestion must be true or false, got "yes"',
    );
  });

  it('takes a near-duplicate similarity, or none to turn them off', () => {
    expect(parseHitlArgs(['policy', 'set', '--name', 'p', '--near-duplicates', '0.9'])).toMatchObject({
      changes: { nearDuplicates: { minSimilarity: 0.9 } },
    });
    expect(parseHitlArgs(['policy', 'set', '--name', 'p', '--near-duplicates=none'])).toMatchObject({
      changes: { nearDuplicates: null },
    });
    expect(() => parseHitlArgs(['policy', 'set', '--name', 'p', '--near-duplicates', 'high'])).toThrow(
      '--near-duplicates must be a number (the least similarity) or none, got "high"',
    );
  });

  it.each([
    [['policy'], 'hitl policy needs one of: show, set, history'],
    [['policy', 'show'], '--name is required'],
    [['policy', 'show', '--name', 'p', '--version', '0'], '--version must be a positive integer'],
    [['policy', 'set', '--threshold', '0.9'], '--name is required'],
    [['policy', 'set', '--name', 'p', '--threshold', 'abc'], '--threshold must be a number, got "abc"'],
    [['policy', 'set', '--name', 'p', '--threshold', '0x1'], '--threshold must be a number'],
    [['policy', 'set', '--name', 'p', '--threshold', ''], '--threshold must be a number'],
    [['policy', 'set', '--name', 'p', '--audit-rate', 'Infinity'], '--audit-rate must be a number'],
    [['policy', 'set', '--name', 'p', '--reviewers', '1.5'], '--reviewers must be an integer'],
    [
      ['policy', 'set', '--name', 'p', '--target-accuracy', '99%'],
      '--target-accuracy must be a number or none, got "99%"',
    ],
    [
      ['policy', 'set', '--name', 'p', '--target-accuracy', 'None'],
      '--target-accuracy must be a number or none',
    ],
    [['policy', 'set', '--name', 'p', '--target-accuracy', ''], '--target-accuracy must be a number or none'],
    [['policy', 'set', '--name', 'p', '--confidence-level', 'high'], '--confidence-level must be a number'],
    [['policy', 'set', '--name', 'p', '--confidence-level', 'none'], '--confidence-level must be a number'],
    [
      ['policy', 'set', '--name', 'p', '--class-threshold', 'spam'],
      '--class-threshold must be <class>=<number>',
    ],
    [
      ['policy', 'set', '--name', 'p', '--class-threshold', '=0.9'],
      '--class-threshold must be <class>=<number>',
    ],
    [['policy', 'set', '--name', 'p', '--class-threshold', 'spam=high'], '--class-threshold must be'],
    [
      ['policy', 'set', '--name', 'p', '--class-threshold', 'a=0.9', '--class-threshold', 'a=0.8'],
      '--class-threshold names class a twice',
    ],
    [
      ['policy', 'set', '--name', 'p', '--class-threshold', 'a=0.9', '--clear-class-threshold', 'a'],
      '--class-threshold and --clear-class-threshold both name class a',
    ],
    [
      ['policy', 'set', '--name', 'p', '--clear-class-threshold', ' '],
      '--clear-class-threshold needs a class',
    ],
    [['policy', 'set', '--name', 'p', '--audit-rate', '-0.1'], "'--audit-rate'"],
    [['policy', 'set', '--name', 'p', '--model', 'spam'], "Unknown option '--model'"],
  ])('refuses %j', (argv, message) => {
    expect(usageError(argv)).toContain(message);
  });
});

describe('applyPolicyChanges', () => {
  const base = {
    ...DEFAULT_POLICY_SPEC,
    classes: ['ham', 'spam'],
    classThresholds: { spam: 0.95 },
  };

  it('changes only what is given, leaving the base untouched', () => {
    const changed = applyPolicyChanges(base, {
      threshold: 0.8,
      classThresholds: { ham: 0.7 },
      alwaysReview: ['spam'],
      requiredReviewers: 3,
    });
    expect(changed).toEqual({
      ...base,
      threshold: 0.8,
      classThresholds: { spam: 0.95, ham: 0.7 },
      alwaysReview: ['spam'],
      requiredReviewers: 3,
    });
    expect(base.classThresholds).toEqual({ spam: 0.95 });
    expect(applyPolicyChanges(base, {})).toEqual(base);
  });

  it('clears a class threshold, and refuses to clear one that is not set', () => {
    expect(applyPolicyChanges(base, { clearClassThresholds: ['spam'] })).toMatchObject({
      classThresholds: {},
    });
    expect(() => applyPolicyChanges(base, { clearClassThresholds: ['ham'] })).toThrow(PolicyError);
    expect(() => applyPolicyChanges(base, { clearClassThresholds: ['ham'] })).toThrow(
      'classThresholds.ham: is not set',
    );
  });

  it('sets and clears a target accuracy and sets the confidence level', () => {
    const targeted = applyPolicyChanges(base, { targetAccuracy: 0.99, confidenceLevel: 0.9 });
    expect(targeted).toEqual({ ...base, targetAccuracy: 0.99, confidenceLevel: 0.9 });
    expect(applyPolicyChanges(targeted, { targetAccuracy: null })).toEqual({
      ...base,
      targetAccuracy: null,
      confidenceLevel: 0.9,
    });
    expect(applyPolicyChanges(base, { hideSuggestion: true, featureNames: ['f1'] })).toEqual({
      ...base,
      hideSuggestion: true,
      featureNames: ['f1'],
    });
    const near = applyPolicyChanges(base, { nearDuplicates: { minSimilarity: 0.9 } });
    expect(near).toEqual({ ...base, nearDuplicates: { minSimilarity: 0.9 } });
    expect(applyPolicyChanges(near, { nearDuplicates: null })).toEqual(base);
    const prior = applyPolicyChanges(base, { consensusConfidence: 0.99, consensusUsesModel: true });
    expect(prior).toEqual({ ...base, consensusConfidence: 0.99, consensusUsesModel: true });
    expect(applyPolicyChanges(prior, { consensusUsesModel: false })).toEqual({
      ...base,
      consensusConfidence: 0.99,
    });
    // A file without them stays without them: validation gives the defaults.
    const { targetAccuracy: _t, confidenceLevel: _c, ...older } = base;
    expect(applyPolicyChanges(older, { threshold: 0.5 })).toEqual({ ...older, threshold: 0.5 });
  });

  it('leaves a base that is not an object for validation to refuse', () => {
    expect(applyPolicyChanges([1], { threshold: 0.5 })).toEqual([1]);
  });
});

describe('loadHitlConfig', () => {
  const databaseOnly = { DATABASE_URL: 'postgres://localhost/hitl' };

  it('requires KAFKA_BROKERS unless told the command does not publish', () => {
    expect(() => loadHitlConfig(databaseOnly)).toThrow('KAFKA_BROKERS: is required but not set');
    expect(loadHitlConfig(databaseOnly, { kafka: false })).toEqual({
      databaseUrl: 'postgres://localhost/hitl',
      logLevel: 'warn',
    });
    expect(loadHitlConfig({ ...databaseOnly, KAFKA_BROKERS: 'a:9092, b:9092' })).toEqual({
      databaseUrl: 'postgres://localhost/hitl',
      logLevel: 'warn',
      kafka: {
        brokers: ['a:9092', 'b:9092'],
        clientId: 'hitl-cli',
        outboxRelayId: 'hitl-outbox-relay',
        dlqTopic: 'hitl.dlq.v1',
        connection: {},
      },
    });
    // TLS and SASL settings are checked as the services check them.
    expect(() =>
      loadHitlConfig({ ...databaseOnly, KAFKA_BROKERS: 'a:9092', KAFKA_SASL_MECHANISM: 'scram-sha-512' }),
    ).toThrow(/KAFKA_SASL/);
    expect(
      loadHitlConfig({
        ...databaseOnly,
        KAFKA_BROKERS: 'a:9092',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'cli',
        KAFKA_SASL_PASSWORD: 'secret',
      }).kafka?.connection,
    ).toEqual({ sasl: { mechanism: 'scram-sha-512', username: 'cli', password: 'secret' } });
  });
});
