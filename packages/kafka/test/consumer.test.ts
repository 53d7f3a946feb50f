import { exampleRecords, topics, type InputEvent, type TopicName, type TopicSpec } from '@hitl/contracts';
import { waitFor } from '@hitl/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { CompressionTypes, type Kafka } from 'kafkajs';
import { Client } from 'pg';
import { Registry } from 'prom-client';
import {
  DeadLetterError,
  boundGzipInflation,
  TypedProducer,
  ValidatingConsumer,
  fetchConsumerLag,
  output,
  type ConsumedRecord,
  type ValidatingConsumerOptions,
} from '../src';
import { databaseUrl, readTopic, uniqueName } from '@hitl/testkit';
import { inputEvent, isolatedTopics, logger, readDeadLetters, testKafka, withProducer } from './helpers';

const fast = {
  retryBackoff: { initialMs: 10, maxMs: 50 },
  outageBackoff: { initialMs: 50, maxMs: 200 },
  lagIntervalMs: 0,
};

let kafka: Kafka;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(() => {
  kafka = testKafka();
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function track<C extends { stop(): Promise<void> } | { disconnect(): Promise<void> }>(client: C): C {
  cleanups.push(() => ('stop' in client ? client.stop() : client.disconnect()));
  return client;
}

type Isolated<T extends TopicSpec> = Pick<
  Awaited<ReturnType<typeof isolatedTopics<T>>>,
  'topic' | 'deadLetterTopic' | 'groupId'
>;

/** Starts a consumer on the test's own topics with fast retries; stopped after the test. */
async function consume<T extends TopicSpec>(
  { topic, deadLetterTopic, groupId }: Isolated<T>,
  options: Partial<ValidatingConsumerOptions<T>>,
): Promise<ValidatingConsumer<T>> {
  const consumer = track(
    new ValidatingConsumer({ kafka, groupId, topic, deadLetterTopic, logger, ...fast, ...options }),
  );
  await consumer.start();
  return consumer;
}

/** Sends one valid input event per id to the test's topic. */
async function sendEvents(topic: TopicSpec, ids: string[]): Promise<void> {
  const producer = track(new TypedProducer({ kafka }));
  await producer.connect();
  await producer.send(
    topic,
    ids.map((id) => ({ value: inputEvent(id) })),
  );
}

async function setup<T extends (typeof topics)[TopicName]>(spec: T, partitions = 1) {
  const isolated = await isolatedTopics(spec, partitions);
  cleanups.unshift(isolated.cleanup);
  return isolated;
}

describe('typed producer and validating consumer', () => {
  it.each(Object.keys(topics) as TopicName[])('round-trips a valid %s record', async (name) => {
    const { topic, deadLetterTopic, groupId } = await setup(topics[name]);
    const producer = track(new TypedProducer({ kafka }));
    await producer.connect();
    const record = exampleRecords[name];
    await producer.send(topic, [{ value: record, headers: { trace: 'abc' } }]);

    const received: ConsumedRecord<unknown>[] = [];
    await consume(
      { topic, deadLetterTopic, groupId },
      {
        ...fast,
        handleRecord: async (r) => {
          received.push(r);
        },
      },
    );
    await waitFor(() => received.length === 1, { message: `the ${name} record` });
    expect(received[0]!.value).toEqual(record);
    expect(received[0]!.key).toBe(topics[name].key(record as never));
    expect(received[0]!.headers).toEqual({ trace: 'abc' });
  });

  it('refuses to send a record its schema rejects', async () => {
    const producer = track(new TypedProducer({ kafka }));
    await producer.connect();
    const bad = { ...exampleRecords.events, version: 2 } as unknown as InputEvent;
    await expect(producer.send(topics.events, [{ value: bad }])).rejects.toMatchObject({
      code: 'HITL_ERR_INVALID_RECORD',
    });
  });
});

describe('dead-lettering', () => {
  it('sends malformed, schema-invalid and oversize records to the DLQ and goes on', async () => {
    const { topic, deadLetterTopic, groupId } = await setup(topics.events);
    const big = JSON.stringify(inputEvent('e-big', 'x'.repeat(5_000)));
    await withProducer(kafka, (p) =>
      p.send({
        topic: topic.name,
        messages: [
          { key: 'e-1', value: JSON.stringify(inputEvent('e-1')) },
          { key: 'e-bad-json', value: '{"type": "event.submitted", ' },
          { key: 'e-2', value: JSON.stringify(inputEvent('e-2')) },
          { key: 'e-bad-schema', value: JSON.stringify({ ...inputEvent('e-bad-schema'), version: 7 }) },
          { key: 'e-big', value: big },
          { key: 'e-3', value: JSON.stringify(inputEvent('e-3')) },
        ],
      }),
    );
    const handled: string[] = [];
    const registry = new Registry();
    await consume(
      { topic, deadLetterTopic, groupId },
      {
        registry,
        maxRecordBytes: 2_048,
        ...fast,
        handleBatch: async (records) => {
          handled.push(...records.map((r) => r.value.data.eventId));
        },
      },
    );
    await waitFor(() => handled.length === 3, { message: 'the three valid records' });
    expect(handled).toEqual(['e-1', 'e-2', 'e-3']);

    const dead = await readDeadLetters(deadLetterTopic.name, 3);
    const byKey = Object.fromEntries(dead.map((d) => [d.data.source.key ?? '', d.data] as const));
    expect(byKey['e-bad-json']).toMatchObject({
      source: { topic: topic.name, partition: 0, offset: '1' },
      consumerGroup: groupId,
      error: { code: 'HITL_ERR_DECODE' },
    });
    expect(Buffer.from(byKey['e-bad-json']!.payloadBase64 ?? '', 'base64').toString()).toBe(
      '{"type": "event.submitted", ',
    );
    expect(byKey['e-bad-schema']).toMatchObject({
      source: { topic: topic.name, partition: 0, offset: '3' },
      error: { code: 'HITL_ERR_SCHEMA' },
    });
    expect(byKey['e-bad-schema']!.error.message).toContain('/version');
    expect(byKey['e-big']).toMatchObject({
      source: { topic: topic.name, partition: 0, offset: '4' },
      payloadBytes: Buffer.byteLength(big),
      error: { code: 'HITL_ERR_OVERSIZE' },
    });
    const metrics = await registry.getSingleMetricAsString('hitl_consumer_dead_letters_total');
    expect(metrics).toMatch(/code="HITL_ERR_OVERSIZE"[^\n]* 1/);
  });

  it('dead-letters a record with a huge key and headers in a bounded dead letter that says what it cut, and goes on', async () => {
    const { topic, deadLetterTopic, groupId } = await setup(topics.events);
    const headers: Record<string, string> = { big: 'h'.repeat(700_000), ['n'.repeat(5_000)]: 'long name' };
    for (let i = 0; i < 200; i++) headers[`h${i}`] = 'v';
    // 1.4 MB in all, which gzip lets past the broker's 1 MB limit, as an attacker would send it.
    await withProducer(kafka, (p) =>
      p.send({
        topic: topic.name,
        compression: CompressionTypes.GZIP,
        messages: [
          { key: 'e-1', value: JSON.stringify(inputEvent('e-1')) },
          { key: 'k'.repeat(100_000), value: 'x'.repeat(600_000), headers },
          { key: 'e-2', value: JSON.stringify(inputEvent('e-2')) },
        ],
      }),
    );
    const handled: string[] = [];
    await consume(
      { topic, deadLetterTopic, groupId },
      {
        ...fast,
        handleBatch: async (records) => {
          handled.push(...records.map((r) => r.value.data.eventId));
        },
      },
    );
    await waitFor(() => handled.length === 2, { message: 'the records on either side of it' });
    expect(handled).toEqual(['e-1', 'e-2']);
    // Kept whole, the key, headers and payload would make a dead letter over the broker's 1 MB, which
    // no send can deliver: the partition stalled on it.
    const [raw] = await readTopic(deadLetterTopic.name, 1);
    expect(raw!.value!.length).toBeLessThan(800_000);
    const [dead] = await readDeadLetters(deadLetterTopic.name, 1);
    expect(dead!.data).toMatchObject({
      source: { offset: '1' },
      error: { code: 'HITL_ERR_DECODE' },
      payloadBytes: 600_000,
      payloadTruncated: true,
    });
    expect(dead!.data.source.key).toBe('k'.repeat(1_024));
    expect(Object.keys(dead!.data.headers)).toHaveLength(64);
    expect(dead!.data.headers['big']).toBe('h'.repeat(1_024));
    expect(dead!.data.truncated).toEqual([
      'key: 100000 bytes, kept the first 1024 characters',
      'headers: 202, kept the first 64',
      'header names: 1 longer than 256 characters, cut',
      'header values: 1 longer than 1024 characters or bytes, cut',
    ]);
  });

  it('keeps binary keys and headers intact in base64, and sends a minimal dead letter when a full one cannot be sent', async () => {
    const { topic, deadLetterTopic, groupId } = await setup(topics.events);
    const binary = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x41]);
    // 64 headers of 1,024 control characters: valid UTF-8, but 6 bytes each in JSON (\u0001), so
    // with a 600 kB payload the dead letter, bounded as it is, is over the 1 MB a record may be.
    const heavy: Record<string, string> = {};
    for (let i = 0; i < 64; i++) heavy[`h${i}`] = '\u0001'.repeat(1_024);
    await withProducer(kafka, (p) =>
      p.send({
        topic: topic.name,
        messages: [
          { key: binary, value: 'not json', headers: { trace: binary, text: 'plain' } },
          { key: 'e-1', value: 'y'.repeat(600_000), headers: heavy },
          { key: 'e-2', value: JSON.stringify(inputEvent('e-2')) },
        ],
      }),
    );
    const handled: string[] = [];
    await consume(
      { topic, deadLetterTopic, groupId },
      {
        ...fast,
        maxRecordBytes: 500_000,
        handleBatch: async (records) => {
          handled.push(...records.map((r) => r.value.data.eventId));
        },
      },
    );
    await waitFor(() => handled.length === 1, { message: 'the valid record behind them' });
    const [binaryLetter, minimal] = await readDeadLetters(deadLetterTopic.name, 2);
    expect(Buffer.from(binaryLetter!.data.source.keyBase64!, 'base64')).toEqual(binary);
    expect(Buffer.from(binaryLetter!.data.headersBase64!['trace']!, 'base64')).toEqual(binary);
    expect(binaryLetter!.data.headers['text']).toBe('plain');
    expect(binaryLetter!.data.headersBase64!['text']).toBeUndefined();
    expect(minimal!.data).toMatchObject({
      source: { offset: '1', key: null },
      error: { code: 'HITL_ERR_OVERSIZE' },
      payloadBase64: null,
      payloadBytes: 600_000,
      headers: {},
    });
    expect(minimal!.data.truncated![0]).toMatch(
      /^everything but the record's coordinates and the reason: .*bytes serialised/,
    );
  });

  it('refuses a gzip batch that inflates past the limit, and turns unready while it stands on it', async () => {
    boundGzipInflation(2_000_000);
    cleanups.push(async () => boundGzipInflation());
    const { topic, deadLetterTopic, groupId } = await setup(topics.events);
    // 8 MB of one letter is a few kB of gzip: a small record that would inflate four times past it.
    await withProducer(kafka, (p) =>
      p.send({
        topic: topic.name,
        compression: CompressionTypes.GZIP,
        messages: [{ key: 'bomb', value: 'x'.repeat(8_000_000) }],
      }),
    );
    const registry = new Registry();
    const handled: string[] = [];
    const consumer = await consume(
      { topic, deadLetterTopic, groupId },
      {
        ...fast,
        registry,
        stallAfterMs: 1_000,
        handleBatch: async (records) => {
          handled.push(...records.map((r) => r.value.data.eventId));
        },
      },
    );
    // kafkajs fails the whole fetch on it and restarts the consumer, again and again: no record
    // reaches the handler, nothing is inflated past the limit, and the consumer says it is stuck.
    await waitFor(() => !consumer.ready, { message: 'the consumer is not ready while the batch is refused' });
    expect(consumer.running).toBe(true);
    expect(handled).toEqual([]);
    const text = await registry.getSingleMetricAsString('hitl_consumer_stalled_seconds');
    expect(Number(/^hitl_consumer_stalled_seconds\{.*\} (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
  });

  it('dead-letters a record whose handler always fails after the bounded tries, and goes on', async () => {
    const { topic, deadLetterTopic, groupId } = await setup(topics.events);
    await sendEvents(topic, ['e-1', 'e-poison', 'e-2']);
    const tries = new Map<string, number>();
    const done: string[] = [];
    await consume(
      { topic, deadLetterTopic, groupId },
      {
        maxAttempts: 3,
        ...fast,
        handleRecord: async ({ value }) => {
          const id = value.data.eventId;
          tries.set(id, (tries.get(id) ?? 0) + 1);
          if (id === 'e-poison') throw new Error('cannot score this one');
          done.push(id);
        },
      },
    );
    await waitFor(() => done.length === 2, { message: 'the records around the poison one' });
    expect(done).toEqual(['e-1', 'e-2']);
    expect(tries.get('e-poison')).toBe(3);
    const [dead] = await readDeadLetters(deadLetterTopic.name, 1);
    expect(dead!.data).toMatchObject({
      source: { key: 'e-poison', offset: '1' },
      attempts: 3,
      error: { code: 'HITL_ERR_HANDLER_FAILED', message: 'cannot score this one' },
    });
  });

  it('isolates a poison record inside a failing batch', async () => {
    const { topic, deadLetterTopic, groupId } = await setup(topics.events);
    const producer = track(new TypedProducer({ kafka }));
    await producer.connect();
    const ids = Array.from({ length: 20 }, (_, i) => `e-${i}`);
    await producer.send(
      topic,
      ids.map((id) => ({ value: inputEvent(id) })),
    );
    const done = new Set<string>();
    await consume(
      { topic, deadLetterTopic, groupId },
      {
        maxAttempts: 2,
        ...fast,
        handleBatch: async (records) => {
          if (records.some((r) => r.value.data.eventId === 'e-7')) {
            throw new DeadLetterError('HITL_ERR_UNKNOWN_CLASS', 'e-7 names a class the model does not know');
          }
          for (const r of records) done.add(r.value.data.eventId);
        },
      },
    );
    await waitFor(() => done.size === 19, { message: 'every record but the poison one' });
    expect(done.has('e-7')).toBe(false);
    const [dead] = await readDeadLetters(deadLetterTopic.name, 1);
    expect(dead!.data).toMatchObject({
      source: { key: 'e-7' },
      attempts: 1,
      error: { code: 'HITL_ERR_UNKNOWN_CLASS' },
    });
  });
});

describe('rejections named by the handler', () => {
  it('dead-letters single records of a handled batch with codes the consumer is given', async () => {
    const { topic, deadLetterTopic, groupId } = await setup(topics.events);
    await withProducer(kafka, (p) =>
      p.send({
        topic: topic.name,
        messages: [
          { key: 'e-1', value: JSON.stringify(inputEvent('e-1')) },
          { key: 'e-short', value: JSON.stringify(inputEvent('e-short', 'x')) },
          // JSON.parse reads 1e999 as Infinity, which the schema refuses.
          {
            key: 'e-inf',
            value: JSON.stringify(inputEvent('e-inf')).replace(
              '"text":"text of e-inf"',
              '"features":[1e999]',
            ),
          },
          { key: 'e-2', value: JSON.stringify(inputEvent('e-2')) },
        ],
      }),
    );
    const batches: string[][] = [];
    await consume(
      { topic, deadLetterTopic, groupId },
      {
        ...fast,
        classifyInvalid: (value) =>
          (value as InputEvent).data.input.features?.some((n) => !Number.isFinite(n))
            ? { code: 'HITL_ERR_TEST_NOT_FINITE', reason: 'not finite' }
            : undefined,
        handleBatch: async (records, context) => {
          batches.push(records.map((r) => r.value.data.eventId));
          return records
            .filter((r) => r.value.data.input.text === 'x')
            .map((r) => context.deadLetter(r, 'HITL_ERR_TEST_TOO_SHORT', 'text too short'));
        },
      },
    );
    const dead = await readDeadLetters(deadLetterTopic.name, 2);
    const byKey = Object.fromEntries(dead.map((d) => [d.data.source.key ?? '', d.data] as const));
    expect(byKey['e-short']).toMatchObject({
      source: { offset: '1' },
      error: { code: 'HITL_ERR_TEST_TOO_SHORT', message: 'text too short' },
    });
    expect(byKey['e-inf']).toMatchObject({
      source: { offset: '2' },
      error: { code: 'HITL_ERR_TEST_NOT_FINITE' },
    });
    // One batch call: rejecting a record did not split the batch or retry it.
    expect(batches).toEqual([['e-1', 'e-short', 'e-2']]);
  });
});

describe('large outputs', () => {
  it('sends outputs of many megabytes in one transaction, and dead-letters a record too large to send', async () => {
    const { topic, deadLetterTopic, groupId } = await setup(topics.events);
    const out = await setup(topics.events);
    await sendEvents(topic, ['e-1', 'e-2', 'e-big', 'e-3']);
    const handled: string[] = [];
    // 100,000 features of 17 digits: about 1.8 MB of JSON, over the 1 MB a record may have.
    const huge = Array.from({ length: 100_000 }, (_, i) => 0.1234567890123 + i);
    await consume(
      { topic, deadLetterTopic, groupId },
      {
        ...fast,
        transactionalId: uniqueName('tx'),
        handleBatch: async (records) => {
          handled.push(...records.map((r) => r.value.data.eventId));
          // Five 200 kB copies of each input: over 1 MB per partition in one transaction.
          return records.flatMap((r) =>
            Array.from({ length: 5 }, (_, copy) =>
              output(out.topic, {
                ...r.value,
                data: {
                  ...r.value.data,
                  eventId: `${r.value.data.eventId}-${copy}`,
                  input:
                    r.value.data.eventId === 'e-big' ? { features: huge } : { text: 'x'.repeat(200_000) },
                },
              }),
            ),
          );
        },
      },
    );
    const [dead] = await readDeadLetters(deadLetterTopic.name, 1);
    expect(dead!.data).toMatchObject({
      source: { key: 'e-big' },
      error: { code: 'HITL_ERR_OUTPUT_TOO_LARGE' },
    });
    const written = await readTopic(out.topic.name, 15, { settleMs: 1_000 });
    expect(written.map((r) => r.key).sort()).toEqual(
      ['e-1', 'e-2', 'e-3'].flatMap((id) => [0, 1, 2, 3, 4].map((c) => `${id}-${c}`)).sort(),
    );
    expect(handled).toContain('e-big');
  });
});

describe('offsets', () => {
  it('does not advance past a record whose handler failed: a restarted consumer gets it again', async () => {
    const { topic, deadLetterTopic, groupId } = await setup(topics.events);
    await sendEvents(topic, ['e-1', 'e-2', 'e-3']);

    const firstRun: string[] = [];
    let failures = 0;
    const failing = new ValidatingConsumer({
      kafka,
      groupId,
      topic,
      deadLetterTopic,
      logger,
      ...fast,
      maxAttempts: 1_000,
      handleRecord: async ({ value }) => {
        if (value.data.eventId === 'e-2') {
          failures++;
          throw new Error('handler is broken');
        }
        firstRun.push(value.data.eventId);
      },
    });
    await failing.start();
    await waitFor(() => failures >= 3, { message: 'the handler to fail on e-2' });
    await failing.stop();
    expect(firstRun).toEqual(['e-1']);

    const admin = kafka.admin();
    await admin.connect();
    const [lag] = await fetchConsumerLag(admin, groupId, topic.name);
    await admin.disconnect();
    // Committed: e-1 done, so the group resumes at offset 1 (e-2); two records are still owed.
    expect(lag).toMatchObject({ committed: 1n, lag: 2n });

    const secondRun: string[] = [];
    const fixed = track(
      new ValidatingConsumer({
        kafka,
        groupId,
        topic,
        deadLetterTopic,
        logger,
        ...fast,
        handleRecord: async ({ value }) => {
          secondRun.push(value.data.eventId);
        },
      }),
    );
    await fixed.start();
    await waitFor(() => secondRun.length === 2, { message: 'e-2 and e-3 after the restart' });
    expect(secondRun).toEqual(['e-2', 'e-3']);
  });

  it('holds back, without dead-lettering, while the database is unreachable, and says it is stalled', async () => {
    const { topic, deadLetterTopic, groupId } = await setup(topics.events);
    await sendEvents(topic, ['e-1', 'e-2']);
    // A real connection failure: nothing listens on port 1 until the "outage" ends.
    let url = 'postgres://hitl:hitl@127.0.0.1:1/hitl';
    let refused = 0;
    const stored: string[] = [];
    const registry = new Registry();
    const stalledSeconds = async () => {
      const text = await registry.getSingleMetricAsString('hitl_consumer_stalled_seconds');
      return Number(new RegExp(`topic="${topic.name}".* (\\S+)$`, 'm').exec(text)?.[1]);
    };
    const consumer = await consume(
      { topic, deadLetterTopic, groupId },
      {
        registry,
        ...fast,
        stallAfterMs: 1_000,
        maxAttempts: 2,
        handleRecord: async ({ value }) => {
          const client = new Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
          try {
            await client.connect();
          } catch (error) {
            refused++;
            throw error;
          }
          try {
            const { rows } = await client.query<{ id: string }>('select $1::text as id', [
              value.data.eventId,
            ]);
            stored.push(rows[0]!.id);
          } finally {
            await client.end();
          }
        },
      },
    );
    await waitFor(() => refused >= 5, { message: 'several refused connections' });
    expect(stored).toEqual([]);
    expect(await registry.getSingleMetricAsString('hitl_consumer_waiting_on_dependency')).toMatch(/ 1$/m);
    // Stuck on the same record past stallAfterMs: not ready, and the gauge says for how long.
    await waitFor(() => !consumer.ready, { message: 'the consumer is not ready once stalled' });
    expect(consumer.running).toBe(true);
    expect(await stalledSeconds()).toBeGreaterThanOrEqual(1);
    url = databaseUrl();
    await waitFor(() => stored.length === 2, { message: 'both records once the database is back' });
    expect(stored).toEqual(['e-1', 'e-2']);
    expect(consumer.ready).toBe(true);
    expect(await stalledSeconds()).toBe(0);
    expect(await registry.getSingleMetricAsString('hitl_consumer_dead_letters_total')).not.toMatch(
      /HITL_ERR/,
    );
  });
});

describe('lag', () => {
  it('reports consumer lag per partition as a metric', async () => {
    const { topic, deadLetterTopic, groupId } = await setup(topics.events, 2);
    const producer = track(new TypedProducer({ kafka }));
    await producer.connect();
    await producer.send(
      topic,
      Array.from({ length: 10 }, (_, i) => ({ value: inputEvent(`e-${i}`) })),
    );
    let seen = 0;
    const registry = new Registry();
    await consume(
      { topic, deadLetterTopic, groupId },
      {
        registry,
        ...fast,
        lagIntervalMs: 200,
        handleRecord: async () => {
          seen++;
        },
      },
    );
    await waitFor(() => seen === 10);
    await waitFor(
      async () => {
        const text = await registry.getSingleMetricAsString('hitl_consumer_lag');
        const lines = text.split('\n').filter((l) => l.startsWith('hitl_consumer_lag{'));
        return lines.length === 2 && lines.every((l) => l.endsWith(' 0'));
      },
      { message: 'lag 0 on both partitions' },
    );
  });
});

afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
