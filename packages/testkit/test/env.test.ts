import { afterEach, describe, expect, it } from '@jest/globals';
import { databaseUrl, kafkaBrokers } from '../src/index';

const saved = { KAFKA_BROKERS: process.env['KAFKA_BROKERS'], DATABASE_URL: process.env['DATABASE_URL'] };

function restore(name: keyof typeof saved): void {
  const value = saved[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

afterEach(() => {
  restore('KAFKA_BROKERS');
  restore('DATABASE_URL');
});

describe('connection settings', () => {
  it('splits KAFKA_BROKERS on commas', () => {
    process.env['KAFKA_BROKERS'] = ' 127.0.0.1:9092, 127.0.0.1:9094 ,';
    expect(kafkaBrokers()).toEqual(['127.0.0.1:9092', '127.0.0.1:9094']);
  });

  it('names the local-stack commands when a variable is unset', () => {
    delete process.env['KAFKA_BROKERS'];
    delete process.env['DATABASE_URL'];
    expect(() => kafkaBrokers()).toThrow(/KAFKA_BROKERS is not set.*bash deploy\/local\/stack\.sh up/);
    expect(() => databaseUrl()).toThrow('eval "$(bash deploy/local/stack.sh env)"');
  });
});
