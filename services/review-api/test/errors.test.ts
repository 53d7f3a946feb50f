// The error catalog: every code the API can answer with has one status, chosen in one place.
import { ApiErrorCode } from '@hitl/api-contract';
import { DbError, DbErrorCode } from '@hitl/db';
import { PolicyError, PolicyErrorCode } from '@hitl/policy';
import { describe, expect, it } from '@jest/globals';
import { ApiError, ERROR_CATALOG, TaskError } from '../src/errors';
import { toApiError } from '../src/http';

describe('the error catalog', () => {
  it('gives every code of the API, @hitl/db and @hitl/policy a 4xx or 5xx status, and nothing else', () => {
    const codes = [
      ...Object.values(ApiErrorCode),
      ...Object.values(DbErrorCode),
      ...Object.values(PolicyErrorCode),
    ];
    expect(Object.keys(ERROR_CATALOG).sort()).toEqual([...new Set(codes)].sort());
    for (const code of codes) {
      const { status, meaning } = ERROR_CATALOG[code];
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
      expect(meaning.length).toBeGreaterThan(0);
    }
  });

  it('answers domain errors with the catalog’s status, and keeps their details', () => {
    for (const code of Object.values(DbErrorCode)) {
      const answered = toApiError(new DbError(code, 'x'));
      expect([answered.code, answered.statusCode]).toEqual([code, ERROR_CATALOG[code].status]);
    }
    const held = toApiError(new TaskError(ApiErrorCode.leaseLimit, 'full', { held: ['a'] }));
    expect(held).toMatchObject({ statusCode: 409, code: 'HITL_ERR_LEASE_LIMIT', details: { held: ['a'] } });
    const policy = toApiError(new PolicyError([{ field: 'threshold', problem: 'above 1' }]));
    expect(policy).toMatchObject({ statusCode: 422, details: { problems: [{ field: 'threshold' }] } });
    expect(new ApiError(ApiErrorCode.rateLimited, 'slow down').statusCode).toBe(429);
  });

  it('gives fastify’s own refusals the statuses the document names, and any other 4xx a 400', () => {
    const framework = (statusCode: number) =>
      toApiError(Object.assign(new Error('refused'), { statusCode, code: 'FST_ERR_X' }));
    expect(framework(404).code).toBe('HITL_ERR_NOT_FOUND');
    expect(framework(414)).toMatchObject({ statusCode: 414, code: 'HITL_ERR_URI_TOO_LONG' });
    expect(framework(415)).toMatchObject({ statusCode: 415, code: 'HITL_ERR_UNSUPPORTED_MEDIA_TYPE' });
    expect(framework(431)).toMatchObject({ statusCode: 400, code: 'HITL_ERR_VALIDATION' });
    expect(toApiError(new Error('a bug'))).toMatchObject({ statusCode: 500, code: 'HITL_ERR_INTERNAL' });
  });
});
