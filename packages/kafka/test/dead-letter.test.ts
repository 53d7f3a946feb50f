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

  it('gives a key or header value that is not UTF-8 in base64 too, bounded in bytes', () => {
    const binary = Buffer.from([0xc3, 0x28, 0xff]);
    const long = Buffer.alloc(3_000, 0xff);
    const bounded = boundedKeyAndHeaders({
      key: long,
      headers: { raw: binary, many: [binary, Buffer.from('a')] },
    });
    expect(Buffer.from(bounded.keyBase64!, 'base64')).toEqual(long.subarray(0, 1_024));
    expect(bounded.key).toBe('\ufffd'.repeat(1_024));
    expect(Buffer.from(bounded.headersBase64!['raw']!, 'base64')).toEqual(binary);
    expect(Buffer.from(bounded.headersBase64!['many']!, 'base64')).toEqual(
      Buffer.from([0xc3, 0x28, 0xff, 0x2c, 0x61]),
    );
    expect(bounded.truncated).toEqual(['key: 3000 bytes, kept the first 1024 bytes']);
    // Valid UTF-8 of several bytes a character is cut in characters and has no base64.
    const text = boundedKeyAndHeaders({ key: Buffer.from('é'.repeat(2_000)), headers: {} });
    expect(text).toEqual({
      key: 'é'.repeat(1_024),
      headers: {},
      truncated: ['key: 4000 bytes, kept the first 1024 characters'],
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
