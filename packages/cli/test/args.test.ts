import { describe, expect, it } from '@jest/globals';
import { parseHitlArgs, UsageError } from '../src/index';

function usageError(argv: string[]): string {
  try {
    parseHitlArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error(`expected a UsageError for ${JSON.stringify(argv)}`);
}

describe('parseHitlArgs', () => {
  it('parses a full import', () => {
    expect(
      parseHitlArgs([
        'models',
        'import',
        '--model',
        'spam',
        '--file',
        'm.onnx',
        '--classes',
        'ham, spam,',
        '--input-kind',
        'features',
        '--feature-width',
        '16',
        '--parent',
        '2',
        '--metrics',
        '{"macroF1":0.9}',
        '--temperature',
        '1.5',
        '--promote',
        '--actor',
        'alice',
        '--reason',
        'better',
      ]),
    ).toEqual({
      name: 'models import',
      modelId: 'spam',
      file: 'm.onnx',
      classes: ['ham', 'spam'],
      inputKind: 'features',
      featureWidth: 16,
      parentVersion: 2,
      metrics: { macroF1: 0.9 },
      temperature: 1.5,
      promote: true,
      actor: 'alice',
      reason: 'better',
    });
  });

  it('needs only --model and --file, and does not promote unless asked', () => {
    const command = parseHitlArgs(['models', 'import', '--model', 'spam', '--file', 'm.onnx']);
    expect(command).toEqual({ name: 'models import', modelId: 'spam', file: 'm.onnx', promote: false });
  });

  it('parses promote, rollback, list and outbox relay', () => {
    expect(parseHitlArgs(['models', 'promote', '--model', 'spam', '--version', '3'])).toEqual({
      name: 'models promote',
      modelId: 'spam',
      version: 3,
    });
    expect(parseHitlArgs(['models', 'rollback', '--model', 'spam', '--reason', 'drift'])).toEqual({
      name: 'models rollback',
      modelId: 'spam',
      reason: 'drift',
    });
    expect(parseHitlArgs(['models', 'list', '--model=spam'])).toEqual({
      name: 'models list',
      modelId: 'spam',
    });
    expect(parseHitlArgs(['outbox', 'relay'])).toEqual({ name: 'outbox relay' });
    expect(parseHitlArgs(['models', 'list', '-h'])).toEqual({ name: 'help' });
  });

  it.each([
    [['models', 'import', '--model', 'm', '--file', 'f', '--input-kind', 'image'], '--input-kind must be'],
    [['models', 'import', '--model', 'm', '--file', 'f', '--feature-width', '0'], '--feature-width must be'],
    [['models', 'import', '--model', 'm', '--file', 'f', '--parent', '1.5'], '--parent must be'],
    [['models', 'import', '--model', 'm', '--file', 'f', '--metrics', '[1]'], '--metrics must be'],
    [['models', 'import', '--model', 'm', '--file', 'f', '--metrics', '{'], '--metrics must be'],
    [
      ['models', 'import', '--model', 'm', '--file', 'f', '--temperature', '0'],
      '--temperature must be a number above 0',
    ],
    [
      ['models', 'import', '--model', 'm', '--file', 'f', '--temperature', 'hot'],
      '--temperature must be a number',
    ],
    [['models', 'import', '--model', '', '--file', 'f'], '--model is required'],
    [['models', 'import', '--model', 'm', '--file'], "Option '--file <value>' argument missing"],
    [['models', 'promote', '--model', 'm', '--version', '1', 'extra'], "Unexpected argument 'extra'"],
    [['outbox'], 'hitl outbox needs one of: relay'],
    [['model', 'list'], 'unknown command: hitl model list'],
  ])('refuses %j', (argv, message) => {
    expect(usageError(argv)).toContain(message);
  });
});
