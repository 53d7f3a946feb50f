import { topics } from '@hitl/contracts';
import {
  KafkaApiKeys,
  createTestTopics,
  deleteTestTopics,
  faultyNetwork,
  readTopic,
  uniqueName,
} from '@hitl/testkit';
import { afterEach, describe, expect, it } from '@jest/globals';
import { encodeOutputs } from '../src';
import { TransactionBatcher } from '../src/transactions';
import { inputEvent, logger, testKafka } from './helpers';

const created: string[] = [];
afterEach(async () => {
  await deleteTestTopics(created.splice(0));
});

describe('TransactionBatcher', () => {
  it('replaces a producer that a broker failure during a commit left unable to begin a transaction', async () => {
    const out = uniqueName('tx-out');
    const input = uniqueName('tx-in');
    created.push(out, input);
    await createTestTopics([
      { topic: out, numPartitions: 1 },
      { topic: input, numPartitions: 1 },
    ]);
    const network = faultyNetwork();
    const kafka = testKafka({
      socketFactory: network.socketFactory,
      retry: { retries: 2, initialRetryTime: 50 },
    });
    const transactionalId = uniqueName('tx-id');
    const batcher = new TransactionBatcher(
      () =>
        kafka.producer({
          transactionalId,
          idempotent: true,
          maxInFlightRequests: 1,
          retry: { retries: 2, initialRetryTime: 50 },
        }),
      uniqueName('tx-group'),
      logger,
    );
    const part = (n: number) => ({
      encoded: encodeOutputs([{ topic: { ...topics.events, name: out }, value: inputEvent(`e-${n}`) }]),
      offsets: new Map([[input, new Map([[0, String(n)]])]]),
    });
    await batcher.connect();
    try {
      await batcher.commit(part(1).encoded, part(1).offsets);

      // The broker "dies" while the second transaction commits.
      network.state.cutAt = KafkaApiKeys.EndTxn;
      await expect(batcher.commit(part(2).encoded, part(2).offsets)).rejects.toThrow();
      // It comes back. The old producer would now refuse every transaction ("Cannot call
      // beginTransaction in state COMMITTING"); a new one with the same id goes on.
      network.state.down = false;
      await batcher.commit(part(3).encoded, part(3).offsets);
      expect(batcher.producerReplacements).toBe(1);
      await batcher.commit(part(4).encoded, part(4).offsets);
    } finally {
      await batcher.disconnect();
    }
    // The transaction cut before its commit reached the broker was aborted: read_committed sees
    // the other three.
    const values = (await readTopic(out, 3, { settleMs: 2_000 })).map(
      (r) => (JSON.parse(r.value!.toString()) as { data: { eventId: string } }).data.eventId,
    );
    expect(values).toEqual(['e-1', 'e-3', 'e-4']);
  }, 60_000);
});
