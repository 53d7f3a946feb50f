import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { allTopics, createValidator, exampleRecords, topicJsonSchemas, topics, type TopicName } from '../src';

describe('topic catalog', () => {
  it('names every topic of the design, versioned', () => {
    expect(allTopics.map((t) => t.name).sort()).toEqual([
      'hitl.corrections.v1',
      'hitl.decisions.v1',
      'hitl.dlq.v1',
      'hitl.events.v1',
      'hitl.models.v1',
      'hitl.predictions.v1',
      'hitl.rescore-requests.v1',
      'hitl.rescored.v1',
      'hitl.review-requests.v1',
    ]);
  });

  it.each(Object.keys(topics) as TopicName[])('accepts the example record of %s and keys it', (name) => {
    const spec = topics[name];
    const record = exampleRecords[name];
    const validator = createValidator(spec.schema);
    expect(validator.issues(record)).toEqual([]);
    expect(validator.check(record)).toBe(true);
    expect(spec.key(record as never).length).toBeGreaterThan(0);
  });

  it('keys event records by event id', () => {
    expect(topics.decisions.key(exampleRecords.decisions)).toBe('evt-0001');
    expect(topics.models.key(exampleRecords.models)).toBe('spam-text');
  });
});

describe('validation', () => {
  const events = createValidator(topics.events.schema);

  it('rejects a wrong version, naming the path', () => {
    const bad = { ...exampleRecords.events, version: 2 };
    expect(events.check(bad)).toBe(false);
    expect(events.issues(bad).map((i) => i.path)).toContain('/version');
  });

  it('rejects unknown fields, an empty input and a malformed timestamp', () => {
    const base = exampleRecords.events;
    expect(events.check({ ...base, extra: 1 })).toBe(false);
    expect(events.check({ ...base, data: { ...base.data, input: {} } })).toBe(false);
    expect(events.check({ ...base, data: { ...base.data, occurredAt: 'yesterday' } })).toBe(false);
    expect(events.check({ ...base, data: { ...base.data, occurredAt: '2026-13-45T99:00:00Z' } })).toBe(false);
  });

  it('accepts numeric features instead of text', () => {
    const base = exampleRecords.events;
    expect(events.check({ ...base, data: { ...base.data, input: { features: [0.1, 2, -3] } } })).toBe(true);
  });

  it('requires dead-letter codes in the HITL_ERR_ namespace', () => {
    const dlq = createValidator(topics.deadLetters.schema);
    const base = exampleRecords.deadLetters;
    expect(dlq.check({ ...base, data: { ...base.data, error: { code: 'oops', message: 'x' } } })).toBe(false);
  });
});

describe('JSON Schema export', () => {
  it('matches the committed schemas/ files (run `pnpm schemas` after changing a schema)', () => {
    for (const [name, schema] of Object.entries(topicJsonSchemas())) {
      const committed = readFileSync(join(__dirname, '..', 'schemas', `${name}.json`), 'utf8');
      expect(JSON.parse(committed)).toEqual(JSON.parse(JSON.stringify(schema)));
    }
  });
});
