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
