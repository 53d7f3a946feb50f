// The replay command's flags: the parser on its own, and once through the command itself, whose
// usage errors exit 64 before it connects to anything.
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HELP, UsageError, parseReplayArgs } from '../src/args';
import { defaultWindow, pendingOf } from '../src/replay';

const usage = (argv: string[]) => () => parseReplayArgs(argv);

describe('pnpm replay --target-accuracy and --confidence-level', () => {
  it('has no target unless given', () => {
    const args = parseReplayArgs([]);
    expect(args.targetAccuracy).toBeNull();
    expect(args.confidenceLevel).toBeUndefined();
  });

  it('takes a target, with or without a confidence level', () => {
    expect(parseReplayArgs(['--target-accuracy', '0.99'])).toMatchObject({ targetAccuracy: 0.99 });
    expect(parseReplayArgs(['--target-accuracy', '0.99']).confidenceLevel).toBeUndefined();
    expect(parseReplayArgs(['--target-accuracy', '0.95', '--confidence-level', '0.9'])).toMatchObject({
      targetAccuracy: 0.95,
      confidenceLevel: 0.9,
    });
  });

  it.each(['0', '1', '1.5', '-0.1', 'abc', '', 'NaN', 'Infinity'])(
    'refuses %p: both must lie above 0 and below 1',
    (value) => {
      // With `=`, as a value that starts with a dash must be given.
      expect(usage([`--target-accuracy=${value}`])).toThrow(UsageError);
      expect(usage([`--target-accuracy=${value}`])).toThrow(
        '--target-accuracy must be a number above 0 and below 1',
      );
      expect(usage(['--target-accuracy', '0.9', `--confidence-level=${value}`])).toThrow(
        '--confidence-level must be a number above 0 and below 1',
      );
    },
  );

  it('refuses a confidence level without a target', () => {
    expect(usage(['--confidence-level', '0.9'])).toThrow(UsageError);
    expect(usage(['--confidence-level', '0.9'])).toThrow('give both');
  });

  it('counts a flag without its value, or an unknown flag, as a usage error', () => {
    expect(usage(['--target-accuracy'])).toThrow(UsageError);
    expect(usage(['--target-acuracy', '0.9'])).toThrow(UsageError);
  });

  it('lists both in the help', () => {
    expect(HELP).toContain('--target-accuracy X');
    expect(HELP).toContain('--confidence-level Y');
  });

  it('makes the command exit 64 with the usage error and the help', async () => {
    const tsx = join(__dirname, '../node_modules/.bin/tsx');
    // Were the flags let through, the unreadable --file would still stop the command (with another
    // message) before it starts or connects to anything.
    const argv = ['--confidence-level', '0.9', '--file', join(__dirname, 'no-such-file.csv')];
    const run = promisify(execFile)(tsx, [join(__dirname, '../src/cli.ts'), ...argv]);
    await expect(run).rejects.toMatchObject({
      code: 64,
      stderr: expect.stringContaining(
        'HITL_ERR_USAGE: --confidence-level is the confidence of a --target-accuracy',
      ),
    });
  }, 30_000);
});

describe('defaultWindow', () => {
  it('keeps a fortieth of the data set in flight, at least 1 and at most 50', () => {
    expect(defaultWindow(1)).toBe(1);
    expect(defaultWindow(178)).toBe(5);
    expect(defaultWindow(1_797)).toBe(45);
    expect(defaultWindow(2_000)).toBe(50);
    expect(defaultWindow(6_046)).toBe(50);
  });
});

describe('pnpm replay --lease-seconds and --stall-seconds', () => {
  it('waits at least twice the lease for a stalled decision, so a lost lease is not counted missing', () => {
    expect(parseReplayArgs([])).toMatchObject({ leaseSeconds: 60, stallSeconds: 120 });
    expect(parseReplayArgs(['--lease-seconds', '300'])).toMatchObject({
      leaseSeconds: 300,
      stallSeconds: 600,
    });
    expect(parseReplayArgs(['--lease-seconds', '300', '--stall-seconds', '30'])).toMatchObject({
      stallSeconds: 30,
    });
  });

  it.each(['0', '1.5', 'abc', '86401'])('refuses a lease of %p seconds', (value) => {
    expect(usage([`--lease-seconds=${value}`])).toThrow(UsageError);
  });
});

describe('pendingOf', () => {
  it('sorts the undecided events into those with people and those never routed', () => {
    const outcome = (eventId: string, decided: boolean) => ({
      eventId,
      truth: 'ham',
      decisions: decided
        ? [{ label: 'ham', decidedBy: 'human' as const, modelVersion: null, confidence: null }]
        : [],
    });
    const outcomes = [outcome('a', true), outcome('b', false), outcome('c', false), outcome('d', true)];
    expect(pendingOf(outcomes, new Set(['b', 'd']))).toEqual({ inReview: ['b'], notRouted: ['c'] });
    expect(pendingOf([outcome('a', true)], new Set())).toEqual({ inReview: [], notRouted: [] });
  });
});

describe('pnpm replay --free-ports', () => {
  it('uses services already running unless asked to start its own on free ports', () => {
    expect(parseReplayArgs([]).freePorts).toBe(false);
    expect(parseReplayArgs(['--free-ports']).freePorts).toBe(true);
    expect(HELP).toContain('--free-ports');
  });
});

describe('pnpm replay --reviewer-error-rates', () => {
  it('makes one reviewer per rate, each with its own; without it, --error-rate for each of --reviewers', () => {
    expect(parseReplayArgs(['--reviewer-error-rates', '0.02,0.05,0.3'])).toMatchObject({
      reviewers: 3,
      reviewerErrorRates: [0.02, 0.05, 0.3],
    });
    expect(parseReplayArgs(['--reviewer-error-rates', ' 0, 1 '])).toMatchObject({
      reviewers: 2,
      reviewerErrorRates: [0, 1],
    });
    expect(parseReplayArgs(['--reviewers', '2', '--error-rate', '0.1'])).toMatchObject({
      reviewers: 2,
      errorRate: 0.1,
      reviewerErrorRates: [0.1, 0.1],
    });
    expect(parseReplayArgs([]).reviewerErrorRates).toEqual([0]);
  });

  it('takes the model as the prior only with weighted consensus', () => {
    expect(parseReplayArgs([]).consensusUsesModel).toBe(false);
    expect(
      parseReplayArgs(['--consensus-confidence', '0.99', '--consensus-uses-model']).consensusUsesModel,
    ).toBe(true);
    expect(usage(['--consensus-uses-model'])).toThrow('give --consensus-confidence X too');
  });

  it('adds an admin for escalated tasks, as careful as the best reviewer unless told', () => {
    expect(parseReplayArgs(['--reviewer-error-rates', '0.02,0.05,0.3']).adminErrorRate).toBe(0.02);
    expect(parseReplayArgs(['--error-rate', '0.1']).adminErrorRate).toBe(0.1);
    expect(
      parseReplayArgs(['--reviewer-error-rates', '0.02,0.3', '--admin-error-rate', '0']).adminErrorRate,
    ).toBe(0);
    expect(parseReplayArgs(['--admin-error-rate', 'none']).adminErrorRate).toBeNull();
    for (const bad of ['-0.1', '1.5', 'often']) {
      expect(usage(['--admin-error-rate', bad])).toThrow('--admin-error-rate');
    }
    expect(HELP).toContain('--admin-error-rate');
  });

  it('goes with --reviewers-per-task up to the number of rates', () => {
    expect(
      parseReplayArgs(['--reviewer-error-rates', '0.02,0.05,0.3', '--reviewers-per-task', '3']),
    ).toMatchObject({ reviewers: 3, reviewersPerTask: 3 });
    expect(usage(['--reviewer-error-rates', '0.02,0.05', '--reviewers-per-task', '3'])).toThrow(
      'needs at least that many --reviewers (got 2)',
    );
  });

  it.each([
    ['--reviewers', '3'],
    ['--error-rate', '0.1'],
  ])('refuses it with %s', (flag, value) => {
    expect(usage(['--reviewer-error-rates', '0.1,0.2', flag, value])).toThrow(UsageError);
    expect(usage(['--reviewer-error-rates', '0.1,0.2', flag, value])).toThrow('not both');
  });

  it.each(['', '0.1,', ',0.1', '0.1,,0.2', '1.5', '-0.1', 'abc', '0.1;0.2', Array(101).fill('0').join(',')])(
    'refuses %p: 1 to 100 rates from 0 to 1',
    (value) => {
      expect(usage([`--reviewer-error-rates=${value}`])).toThrow(
        '--reviewer-error-rates must be 1 to 100 numbers from 0 to 1',
      );
    },
  );

  it('is in the help', () => {
    expect(HELP).toContain('--reviewer-error-rates');
  });
});

describe('pnpm replay --gold, --gold-rate and --consensus-confidence', () => {
  it('has no gold and a majority unless given', () => {
    expect(parseReplayArgs([])).toMatchObject({ gold: 0, goldRate: 0, consensusConfidence: null });
  });

  it('hands out gold tasks at 5% of claims by default when there are gold items', () => {
    expect(parseReplayArgs(['--gold', '200'])).toMatchObject({ gold: 200, goldRate: 0.05 });
    expect(parseReplayArgs(['--gold', '200', '--gold-rate', '0.5'])).toMatchObject({ goldRate: 0.5 });
    expect(parseReplayArgs(['--gold', '0'])).toMatchObject({ gold: 0, goldRate: 0 });
  });

  it('refuses a gold rate without gold items, of 0, or past the policy’s 0.5', () => {
    expect(usage(['--gold-rate', '0.05'])).toThrow('give --gold N too');
    expect(usage(['--gold', '0', '--gold-rate', '0.05'])).toThrow('give --gold N too');
    expect(usage(['--gold', '10', '--gold-rate', '0'])).toThrow('must be above 0 with --gold');
    expect(usage(['--gold', '10', '--gold-rate', '0.6'])).toThrow('--gold-rate must be a number');
    expect(usage(['--gold', '10', '--gold-rate=-0.1'])).toThrow(UsageError);
  });

  it.each(['-1', '1.5', 'abc', '100001'])('refuses --gold %p', (value) => {
    expect(usage([`--gold=${value}`])).toThrow(UsageError);
  });

  it('takes a consensus confidence above 0 and below 1', () => {
    expect(parseReplayArgs(['--consensus-confidence', '0.99'])).toMatchObject({
      consensusConfidence: 0.99,
    });
    for (const value of ['0', '1', 'abc', '1.2']) {
      expect(usage([`--consensus-confidence=${value}`])).toThrow(
        '--consensus-confidence must be a number above 0 and below 1',
      );
    }
  });

  it('lists them in the help', () => {
    for (const flag of ['--gold N', '--gold-rate X', '--consensus-confidence X'])
      expect(HELP).toContain(flag);
  });
});

describe('pnpm replay --also', () => {
  it('is empty unless given, and repeatable', () => {
    expect(parseReplayArgs([]).also).toEqual([]);
    expect(parseReplayArgs(['--also', 'a.csv', '--also', 'b.jsonl']).also).toEqual(['a.csv', 'b.jsonl']);
    expect(parseReplayArgs(['--file', 'x.csv', '--text', 't', '--also', 'a.csv']).also).toEqual(['a.csv']);
  });

  it('takes at most 9 more data sets', () => {
    expect(usage(Array.from({ length: 10 }, (_, i) => ['--also', `${i}.csv`]).flat())).toThrow(UsageError);
  });

  it('is in the help', () => {
    expect(HELP).toContain('--also PATH');
  });
});
