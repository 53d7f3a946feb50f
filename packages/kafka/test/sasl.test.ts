// The secured listener of deploy/local/stack.sh (SASL_PLAINTEXT, SCRAM-SHA-512, ACLs enforced),
// reached the way a service reaches it: KAFKA_SASL_* read by loadKafkaConnectionConfig and given
// to createKafka. Needs HITL_TEST_KAFKA_SASL_BROKERS (printed by `stack.sh env`) beside
// KAFKA_BROKERS, the plaintext listener of the same stack, through which the test makes its
// own SCRAM login (`stack.sh scram-user`) and ACLs.
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createTestTopics, deleteTestTopics, kafkaBrokers, readTopic, uniqueName } from '@hitl/testkit';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  ResourcePatternTypes,
  type Admin,
  type Kafka,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createKafka } from '../src/client';
import { loadKafkaConnectionConfig } from '../src/security';
import { logger, testKafka } from './helpers';

const STACK_SH = join(resolve(__dirname, '../../..'), 'deploy/local/stack.sh');
const saslBrokers = (process.env['HITL_TEST_KAFKA_SASL_BROKERS'] ?? '')
  .split(',')
  .map((broker) => broker.trim())
  .filter((broker) => broker.length > 0);

/** Creates the login through the stack's plaintext listener (its port taken from KAFKA_BROKERS). */
function createScramLogin(username: string, password: string): Promise<void> {
  const port = kafkaBrokers()[0]!.split(':').pop()!;
  return new Promise((done, fail) => {
    const child = execFile(
      'bash',
      [STACK_SH, 'scram-user', username],
      { env: { ...process.env, KAFKA_PORT: port }, timeout: 150_000 },
      (error, _stdout, stderr) =>
        error ? fail(new Error(`stack.sh scram-user ${username} failed: ${stderr}`)) : done(),
    );
    child.stdin?.end(`${password}\n`);
  });
}

/** retries 0 by default: a refusal should show at once, not after kafkajs' backoff. */
function saslClient(username: string, password: string, retries = 0): Kafka {
  const config = loadKafkaConnectionConfig({
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: username,
    KAFKA_SASL_PASSWORD: password,
  });
  return createKafka({
    brokers: saslBrokers,
    clientId: 'hitl-sasl-test',
    logger,
    kafkaLogLevel: 'error',
    config: { ...config, retry: { retries }, connectionTimeout: 5_000 },
  });
}

/** The kafkajs error type (e.g. TOPIC_AUTHORIZATION_FAILED) of a failure or of its causes. */
function errorTypes(error: unknown): string[] {
  const types: string[] = [];
  for (
    let e = error as { type?: unknown; cause?: unknown; name?: unknown } | undefined, depth = 0;
    e && depth < 8;
    depth++
  ) {
    if (typeof e.type === 'string') types.push(e.type);
    if (typeof e.name === 'string') types.push(e.name);
    e = e.cause as typeof e;
  }
  return types;
}

const describeListener = saslBrokers.length > 0 ? describe : describe.skip;
const reason =
  saslBrokers.length > 0
    ? ''
    : ' (skipped: HITL_TEST_KAFKA_SASL_BROKERS is not set; `eval "$(bash deploy/local/stack.sh env)"` on a stack started by this stack.sh sets it)';
// jest's summary names no skipped suite: say why here, once.
if (reason) console.warn(`sasl.test.ts: the SASL listener tests${reason}`);

describeListener(`the SASL/SCRAM listener with ACLs${reason}`, () => {
  jest.setTimeout(180_000);
  const username = uniqueName('hitl-sasl-writer');
  const password = `pw-${uniqueName('x')}`;
  const allowed = uniqueName('hitl.events.v1');
  const forbidden = uniqueName('hitl.events.v1');
  // The shape of a transactional service's rights (README, "Kafka authentication and ACLs"):
  // read its input with its group, write its output, its transactional ids by prefix.
  const output = uniqueName('hitl.predictions.v1');
  const groupId = uniqueName('hitl-sasl-group');
  const transactionalPrefix = uniqueName('hitl-sasl-tx');
  // Made in beforeAll: a skipped suite still runs this body, where KAFKA_BROKERS may be unset.
  let admin: Admin;
  const grant = (
    resourceType: AclResourceTypes,
    resourceName: string,
    operation: AclOperationTypes,
    resourcePatternType = ResourcePatternTypes.LITERAL,
  ) => ({
    resourceType,
    resourceName,
    resourcePatternType,
    principal: `User:${username}`,
    host: '*',
    operation,
    permissionType: AclPermissionTypes.ALLOW,
  });
  const acls = [
    grant(AclResourceTypes.TOPIC, allowed, AclOperationTypes.WRITE),
    grant(AclResourceTypes.TOPIC, allowed, AclOperationTypes.READ),
    grant(AclResourceTypes.GROUP, groupId, AclOperationTypes.READ),
    grant(AclResourceTypes.TOPIC, output, AclOperationTypes.WRITE),
    grant(
      AclResourceTypes.TRANSACTIONAL_ID,
      transactionalPrefix,
      AclOperationTypes.WRITE,
      ResourcePatternTypes.PREFIXED,
    ),
  ];

  beforeAll(async () => {
    admin = testKafka().admin();
    await admin.connect();
    await createTestTopics([
      { topic: allowed, numPartitions: 1 },
      { topic: forbidden, numPartitions: 1 },
      { topic: output, numPartitions: 1 },
    ]);
    await createScramLogin(username, password);
    await admin.createAcls({ acl: acls });
  });

  afterAll(async () => {
    await admin.deleteAcls({ filters: acls }).catch(() => undefined);
    await deleteTestTopics([allowed, forbidden, output]);
    await admin.disconnect();
  });

  it('refuses a wrong password', async () => {
    const producer = saslClient(username, `${password}-wrong`).producer();
    const failure = await producer.connect().then(
      () => null,
      (error: unknown) => error,
    );
    await producer.disconnect();
    expect(errorTypes(failure)).toContain('KafkaJSSASLAuthenticationError');
  });

  it('lets the principal write the topic its ACL names, and no other (TOPIC_AUTHORIZATION_FAILED)', async () => {
    const producer = saslClient(username, password).producer();
    await producer.connect();
    try {
      await producer.send({ topic: allowed, messages: [{ key: 'k', value: 'written over SASL' }] });
      const failure = await producer.send({ topic: forbidden, messages: [{ value: 'refused' }] }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(errorTypes(failure)).toContain('TOPIC_AUTHORIZATION_FAILED');
    } finally {
      await producer.disconnect();
    }
    const [record] = await readTopic(allowed, 1);
    expect(record?.value?.toString()).toBe('written over SASL');
  });
  it('reads with its group and writes with its offsets in one transaction, with only those ACLs', async () => {
    // Retries: an idempotent producer refuses to exist without them.
    const kafka = saslClient(username, password, 5);
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    const producer = kafka.producer({
      transactionalId: `${transactionalPrefix}-0`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await Promise.all([consumer.connect(), producer.connect()]);
    let processed = '';
    try {
      await producer.transaction().then(async (input) => {
        await input.send({ topic: allowed, messages: [{ value: 'input' }] });
        await input.commit();
      });
      await consumer.subscribe({ topic: allowed, fromBeginning: true });
      // The offset goes in the transaction, as a service's does, never by auto-commit.
      const seen = new Promise<{ partition: number; offset: string }>((done) => {
        void consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => done({ partition, offset: message.offset }),
        });
      });
      const { partition, offset } = await seen;
      const transaction = await producer.transaction();
      await transaction.send({ topic: output, messages: [{ value: `processed ${offset}` }] });
      await transaction.sendOffsets({
        consumerGroupId: groupId,
        topics: [{ topic: allowed, partitions: [{ partition, offset: String(Number(offset) + 1) }] }],
      });
      await transaction.commit();
      processed = offset;
    } finally {
      await Promise.all([consumer.disconnect(), producer.disconnect()]);
    }
    const [record] = await readTopic(output, 1);
    expect(record?.value?.toString()).toBe(`processed ${processed}`);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [allowed] });
    expect(committed?.partitions[0]?.offset).toBe(String(Number(processed) + 1));
  });
});
