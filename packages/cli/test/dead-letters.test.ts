import { describe, expect, it } from '@jest/globals';
import type { DeadLetterData } from '@hitl/contracts';
import {
  LatestEntries,
  matchesFilter,
  parseHitlArgs,
  readDlqRecord,
  redriveRecord,
  UsageError,
  type DlqEntry,
} from '../src/index';

const at = { partition: 1, offset: '7' };

function letter(overrides: Partial<DeadLetterData> = {}): DeadLetterData {
  return {
    source: { topic: 'hitl.events.v1', partition: 2, offset: '40', key: 'evt-1', timestamp: '1700000000000' },
    consumerGroup: 'hitl-router',
    payloadBase64: Buffer.from('{"b":1,  "a":[true]}').toString('base64'),
    payloadBytes: 20,
    payloadTruncated: false,
    headers: { trace: 'abc' },
    error: { code: 'HITL_ERR_HANDLER_FAILED', message: 'boom' },
    attempts: 5,
    ...overrides,
  };
}

const entry = (data: DeadLetterData, timestamp = 1_000): DlqEntry => ({
  kind: 'dead letter',
  at,
  timestamp,
  letter: data,
});

function refusal(data: DeadLetterData): string | undefined {
  const planned = redriveRecord('hitl.dlq.v1', entry(data));
  return planned.ok ? undefined : planned.code;
}

describe('redriveRecord', () => {
  it('sends the JSON value with the key and headers, naming the dead letter', () => {
    expect(redriveRecord('hitl.dlq.v1', entry(letter()))).toEqual({
      ok: true,
      record: {
        topic: 'hitl.events.v1',
        key: 'evt-1',
        value: { b: 1, a: [true] },
        headers: { trace: 'abc', 'hitl-redriven-from': 'hitl.dlq.v1/1/7' },
      },
    });
  });

  it('refuses what it cannot send unchanged, each with its code', () => {
    expect(refusal(letter({ payloadTruncated: true, payloadBytes: 2_000_000 }))).toBe(
      'HITL_ERR_DLQ_PAYLOAD_TRUNCATED',
    );
    expect(refusal(letter({ payloadBase64: null, payloadBytes: 0 }))).toBe('HITL_ERR_DLQ_PAYLOAD_MISSING');
    expect(refusal(letter({ payloadBase64: Buffer.from('{not json').toString('base64') }))).toBe(
      'HITL_ERR_DLQ_PAYLOAD_NOT_JSON',
    );
    expect(refusal(letter({ payloadBase64: Buffer.from([0x7b, 0xff, 0x7d]).toString('base64') }))).toBe(
      'HITL_ERR_DLQ_PAYLOAD_NOT_JSON',
    );
    expect(refusal(letter({ payloadBase64: Buffer.from('"a\\u0000b"').toString('base64') }))).toBe(
      'HITL_ERR_DLQ_PAYLOAD_NOT_JSON',
    );
    const source = letter().source;
    expect(refusal(letter({ source: { ...source, key: null } }))).toBe('HITL_ERR_DLQ_KEY_UNSENDABLE');
    expect(refusal(letter({ source: { ...source, key: '\ufffd', keyBase64: '/w==' } }))).toBe(
      'HITL_ERR_DLQ_KEY_UNSENDABLE',
    );
    expect(refusal(letter({ truncated: ['key: 5000 bytes, kept the first 1024 characters'] }))).toBe(
      'HITL_ERR_DLQ_KEY_UNSENDABLE',
    );
    expect(refusal(letter({ headersBase64: { bin: '/w==' } }))).toBe('HITL_ERR_DLQ_HEADERS_UNSENDABLE');
    expect(refusal(letter({ truncated: ['headers: 80, kept the first 64'] }))).toBe(
      'HITL_ERR_DLQ_HEADERS_UNSENDABLE',
    );
    const invalid: DlqEntry = { kind: 'invalid', at, timestamp: 0, problem: 'not JSON' };
    expect(redriveRecord('hitl.dlq.v1', invalid)).toMatchObject({
      ok: false,
      code: 'HITL_ERR_DLQ_NOT_A_DEAD_LETTER',
    });
  });
});

describe('readDlqRecord', () => {
  it('reads a dead letter, and anything else as invalid without throwing', () => {
    const value = {
      type: 'record.dead_lettered',
      version: 1,
      producedAt: '2026-01-01T00:00:00Z',
      data: letter(),
    };
    expect(readDlqRecord(at, 5, Buffer.from(JSON.stringify(value)))).toEqual(entry(letter(), 5));
    expect(readDlqRecord(at, 5, null)).toMatchObject({ kind: 'invalid', problem: 'empty value' });
    expect(readDlqRecord(at, 5, Buffer.from('{'))).toMatchObject({ kind: 'invalid', problem: /^not JSON/ });
    expect(readDlqRecord(at, 5, Buffer.from('[]'))).toMatchObject({
      kind: 'invalid',
      problem: /^not a dead letter/,
    });
  });
});

describe('matchesFilter', () => {
  it('matches code, source topic and time; a record that is no dead letter only without code or topic', () => {
    const e = entry(letter(), 2_000);
    const invalid: DlqEntry = { kind: 'invalid', at, timestamp: 2_000, problem: 'x' };
    expect(matchesFilter(e, { code: 'HITL_ERR_HANDLER_FAILED', sourceTopic: 'hitl.events.v1' })).toBe(true);
    expect(matchesFilter(e, { code: 'HITL_ERR_SCHEMA' })).toBe(false);
    expect(matchesFilter(e, { sourceTopic: 'hitl.predictions.v1' })).toBe(false);
    expect(matchesFilter(e, { sinceMs: 2_001 })).toBe(false);
    expect(matchesFilter(invalid, { sinceMs: 2_000 })).toBe(true);
    expect(matchesFilter(invalid, { code: 'HITL_ERR_SCHEMA' })).toBe(false);
  });
});

describe('LatestEntries', () => {
  it('keeps the latest entries by time, whatever order they come in', () => {
    const latest = new LatestEntries(3);
    for (let i = 0; i < 100; i++) {
      latest.offer({
        kind: 'invalid',
        at: { partition: i % 3, offset: String(i) },
        timestamp: (i * 37) % 101,
        problem: '',
      });
    }
    expect(latest.offered).toBe(100);
    expect(latest.result().map((e) => e.timestamp)).toEqual([98, 99, 100]);
  });
});

describe('parseHitlArgs dlq', () => {
  const usage = (argv: string[]) => {
    try {
      parseHitlArgs(argv);
    } catch (error) {
      if (error instanceof UsageError) return error.message;
      throw error;
    }
    throw new Error('expected a UsageError');
  };

  it('parses list options', () => {
    expect(parseHitlArgs(['dlq', 'list'])).toEqual({ name: 'dlq list', limit: 50, json: false });
    expect(
      parseHitlArgs([
        'dlq',
        'list',
        '--code',
        'HITL_ERR_SCHEMA',
        '--topic',
        't',
        '--since',
        '2h',
        '--limit',
        '10000',
        '--json',
      ]),
    ).toEqual({
      name: 'dlq list',
      code: 'HITL_ERR_SCHEMA',
      sourceTopic: 't',
      since: { agoMs: 7_200_000 },
      limit: 10_000,
      json: true,
    });
    expect(parseHitlArgs(['dlq', 'list', '--since', '2026-01-31T08:00:00Z'])).toMatchObject({
      since: { at: Date.parse('2026-01-31T08:00:00Z') },
    });
    expect(usage(['dlq', 'list', '--since', 'yesterday'])).toMatch(/^--since must be an ISO time/);
    expect(usage(['dlq', 'list', '--limit', '0'])).toMatch(/^--limit must be a positive integer/);
    expect(usage(['dlq', 'list', '--limit', '10001'])).toBe('--limit must be at most 10000, got 10001');
    expect(usage(['dlq'])).toBe('hitl dlq needs one of: list, redrive');
  });

  it('parses redrive options', () => {
    expect(parseHitlArgs(['dlq', 'redrive', '--offsets', '0:12, 2:040,0:12', '--dry-run'])).toEqual({
      name: 'dlq redrive',
      offsets: [
        { partition: 0, offset: '12' },
        { partition: 2, offset: '40' },
      ],
      dryRun: true,
    });
    expect(parseHitlArgs(['dlq', 'redrive', '--code', 'HITL_ERR_SCHEMA', '--actor', 'bob'])).toEqual({
      name: 'dlq redrive',
      code: 'HITL_ERR_SCHEMA',
      dryRun: false,
      actor: 'bob',
    });
    expect(usage(['dlq', 'redrive'])).toBe('hitl dlq redrive needs --code or --offsets (one of them)');
    expect(usage(['dlq', 'redrive', '--code', 'X', '--offsets', '0:1'])).toBe(
      'hitl dlq redrive needs --code or --offsets (one of them)',
    );
    expect(usage(['dlq', 'redrive', '--offsets', '0-1'])).toMatch(
      /^--offsets must be partition:offset pairs/,
    );
  });
});
