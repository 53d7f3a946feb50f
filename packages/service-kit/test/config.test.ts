import { describe, expect, it } from '@jest/globals';
import {
  bool,
  ConfigError,
  int,
  list,
  loadConfigOrExit,
  num,
  oneOf,
  parseConfig,
  str,
  url,
} from '../src/index';

const spec = {
  kafkaBrokers: list('KAFKA_BROKERS'),
  databaseUrl: url('DATABASE_URL', { protocols: ['postgres:', 'postgresql:'], secret: true }),
  port: int('PORT', { default: 8080, min: 1, max: 65535 }),
  threshold: num('CONFIDENCE_THRESHOLD', { default: 0.9, min: 0, max: 1 }),
  auditEnabled: bool('AUDIT_ENABLED', { default: false }),
  logLevel: oneOf('LOG_LEVEL', ['debug', 'info', 'warn'], { default: 'info' }),
  modelPath: str('MODEL_PATH', { optional: true }),
};

const valid = { KAFKA_BROKERS: 'a:9092, b:9092', DATABASE_URL: 'postgres://u:p@db:5432/hitl' };

function problemsOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('applies defaults and coerces values to their types', () => {
    const config = parseConfig(spec, valid);
    expect(config).toEqual({
      kafkaBrokers: ['a:9092', 'b:9092'],
      databaseUrl: 'postgres://u:p@db:5432/hitl',
      port: 8080,
      threshold: 0.9,
      auditEnabled: false,
      logLevel: 'info',
      modelPath: undefined,
    });
    const port: number = config.port;
    const level: 'debug' | 'info' | 'warn' = config.logLevel;
    expect([port, level]).toEqual([8080, 'info']);

    const set = parseConfig(spec, {
      ...valid,
      PORT: '9000',
      CONFIDENCE_THRESHOLD: '0.75',
      AUDIT_ENABLED: '1',
      MODEL_PATH: '/m',
    });
    expect([set.port, set.threshold, set.auditEnabled, set.modelPath]).toEqual([9000, 0.75, true, '/m']);
  });

  it('names a missing variable', () => {
    const error = problemsOf(() => parseConfig(spec, { DATABASE_URL: valid.DATABASE_URL }));
    expect(error.code).toBe('HITL_ERR_CONFIG');
    expect(error.message).toContain('KAFKA_BROKERS: is required but not set');
  });

  it('treats an empty or all-commas value as unset', () => {
    const error = problemsOf(() => parseConfig(spec, { ...valid, KAFKA_BROKERS: ' , ' }));
    expect(error.problems).toEqual([{ variable: 'KAFKA_BROKERS', problem: 'is required but not set' }]);
    expect(parseConfig(spec, { ...valid, PORT: '' }).port).toBe(8080);
  });

  it('collects every malformed variable into one message', () => {
    const error = problemsOf(() =>
      parseConfig(spec, {
        DATABASE_URL: 'mysql://root:secret@db/hitl',
        PORT: '80a',
        CONFIDENCE_THRESHOLD: '1.5',
        AUDIT_ENABLED: 'yes',
        LOG_LEVEL: 'loud',
      }),
    );
    expect(error.problems.map((p) => p.variable)).toEqual([
      'KAFKA_BROKERS',
      'DATABASE_URL',
      'PORT',
      'CONFIDENCE_THRESHOLD',
      'AUDIT_ENABLED',
      'LOG_LEVEL',
    ]);
    expect(error.message).toContain('Invalid configuration (6 problems)');
    expect(error.message).toContain('PORT: must be an integer, got "80a"');
    expect(error.message).toContain('CONFIDENCE_THRESHOLD: must be at most 1, got "1.5"');
    expect(error.message).toContain('AUDIT_ENABLED: must be one of true, false, 1, 0, got "yes"');
    expect(error.message).toContain('LOG_LEVEL: must be one of debug, info, warn, got "loud"');
    expect(error.message).toContain('DATABASE_URL: must use one of postgres:, postgresql:, got "mysql:"');
    expect(error.message).not.toContain('secret');
  });

  it('hides secret values and rejects non-URLs', () => {
    const error = problemsOf(() => parseConfig(spec, { ...valid, DATABASE_URL: '//hitl:hunter2@db/hitl' }));
    expect(error.message).toContain('DATABASE_URL: must be an absolute URL, got (value hidden)');
    expect(error.message).not.toContain('hunter2');
  });

  it('rejects integers outside the range and unsafe integers', () => {
    expect(problemsOf(() => parseConfig(spec, { ...valid, PORT: '0' })).message).toContain(
      'PORT: must be at least 1, got "0"',
    );
    expect(problemsOf(() => parseConfig(spec, { ...valid, PORT: '1.5' })).message).toContain(
      'PORT: must be an integer',
    );
    const big = { n: int('N') };
    expect(problemsOf(() => parseConfig(big, { N: '99999999999999999999' })).message).toContain(
      'N: must be an integer',
    );
  });

  it('runs cross-field checks once the fields parse', () => {
    const windows = {
      minBatch: int('MIN_BATCH', { default: 1 }),
      maxBatch: int('MAX_BATCH', { default: 100 }),
    };
    const check = (c: { minBatch: number; maxBatch: number }) =>
      c.minBatch <= c.maxBatch
        ? []
        : [{ variable: 'MIN_BATCH', problem: `must not exceed MAX_BATCH (${c.maxBatch})` }];
    expect(parseConfig(windows, {}, { check })).toEqual({ minBatch: 1, maxBatch: 100 });
    expect(problemsOf(() => parseConfig(windows, { MIN_BATCH: '200' }, { check })).message).toContain(
      'MIN_BATCH: must not exceed MAX_BATCH (100)',
    );
  });
});

describe('loadConfigOrExit', () => {
  it('prints the problems and exits 78 on a ConfigError', () => {
    const output: string[] = [];
    const exit = (code: number): never => {
      throw new Error(`exit ${code}`);
    };
    expect(() =>
      loadConfigOrExit(() => parseConfig(spec, {}), { stderr: (t) => output.push(t), exit }),
    ).toThrow('exit 78');
    expect(output.join('')).toContain('KAFKA_BROKERS: is required but not set');
    expect(loadConfigOrExit(() => parseConfig(spec, valid), { exit }).port).toBe(8080);
  });
});
