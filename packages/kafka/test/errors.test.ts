import { describe, expect, it } from '@jest/globals';
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import { DeadLetterError, TransientError, backoffDelay, isTransientError } from '../src';

describe('isTransientError', () => {
  it.each([
    ['a TransientError', new TransientError('db down')],
    ['a kafkajs connection error', new KafkaJSConnectionError('broker gone')],
    [
      'kafkajs retries exhausted',
      new KafkaJSNumberOfRetriesExceeded(new Error('x'), { retryCount: 5, retryTime: 1 }),
    ],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a pg connection exception', Object.assign(new Error('connection failure'), { code: '08006' })],
    ['a pg shutdown', Object.assign(new Error('terminating connection'), { code: '57P01' })],
    [
      'a wrapped outage',
      new Error('could not store', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }),
    ],
  ])('treats %s as an outage', (_, error) => {
    expect(isTransientError(error)).toBe(true);
  });

  it.each([
    ['a plain bug', new TypeError('undefined is not a function')],
    ['a constraint violation', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['a DeadLetterError', new DeadLetterError('HITL_ERR_UNKNOWN_CLASS', 'no such class')],
    ['a string', 'oops'],
  ])('treats %s as a record failure', (_, error) => {
    expect(isTransientError(error)).toBe(false);
  });
});

describe('backoffDelay', () => {
  const options = { initialMs: 100, maxMs: 1_000 };
  it('doubles per attempt up to the cap, with jitter in the upper half', () => {
    expect(backoffDelay(1, options, () => 0)).toBe(50);
    expect(backoffDelay(1, options, () => 1)).toBe(100);
    expect(backoffDelay(3, options, () => 1)).toBe(400);
    expect(backoffDelay(10, options, () => 1)).toBe(1_000);
    expect(backoffDelay(10, options, () => 0)).toBe(500);
  });
});
