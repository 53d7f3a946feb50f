import { describe, expect, it } from '@jest/globals';
import { boundedKeyAndHeaders } from '../src/consumer';

describe('boundedKeyAndHeaders', () => {
  it('keeps a small key and headers as they are, and says nothing was cut', () => {
    expect(
      boundedKeyAndHeaders({
        key: Buffer.from('e-1'),
        headers: { trace: Buffer.from('abc'), many: ['a', 'b'] },
      }),
    ).toEqual({ key: 'e-1', headers: { trace: 'abc', many: 'a,b' }, truncated: [] });
    expect(boundedKeyAndHeaders({ key: null, headers: {} })).toEqual({
      key: null,
      headers: {},
      truncated: [],
    });
  });

  it('keeps a header named __proto__ as a header, not as the prototype of the result', () => {
    const headers = JSON.parse('{"__proto__": "x", "ok": "y"}') as Record<string, string>;
    const bounded = boundedKeyAndHeaders({ key: null, headers });
    expect(Object.getPrototypeOf(bounded.headers)).toBe(Object.prototype);
    expect(Object.keys(bounded.headers).sort()).toEqual(['__proto__', 'ok']);
    expect(JSON.parse(JSON.stringify(bounded.headers))).toEqual(headers);
  });
});
