import { describe, expect, it } from '@jest/globals';
import { uniqueIdentifier, uniqueName } from '../src/index';

describe('uniqueName', () => {
  it('keeps the prefix and is valid as a Kafka topic or group name', () => {
    const name = uniqueName('hitl.events/test run');
    expect(name.startsWith('hitl.events-test-run-')).toBe(true);
    expect(name).toMatch(/^[A-Za-z0-9._-]{1,249}$/);
  });

  it('differs between calls in the same millisecond', () => {
    const names = new Set(Array.from({ length: 100 }, () => uniqueName('t')));
    expect(names.size).toBe(100);
  });
});

describe('uniqueIdentifier', () => {
  it('is a lowercase unquoted Postgres identifier of at most 63 characters', () => {
    for (const prefix of ['hitl_test', 'Review-API', '9lives', 'x'.repeat(100)]) {
      expect(uniqueIdentifier(prefix)).toMatch(/^[a-z_][a-z0-9_]{0,62}$/);
    }
    expect(uniqueIdentifier('Review-API').startsWith('review_api_')).toBe(true);
  });
});
