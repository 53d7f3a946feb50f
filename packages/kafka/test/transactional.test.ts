import { topics } from '@hitl/contracts';
import {
  createTestTopics,
  deleteTestTopics,
  kafkaBrokers,
  readTopic,
  uniqueName,
  waitFor,
} from '@hitl/testkit';
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { TypedProducer } from '../src';
import { inputEvent, testKafka } from './helpers';

// The worker runs in node itself (tsx as a loader, not the tsx wrapper process), so that the
// SIGKILL below lands on the process doing the work.
const nodeArgs = ['--import', 'tsx', join(__dirname, 'fixtures', 'relay-worker.ts')];
const children: ChildProcess[] = [];
const created: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  await deleteTestTopics(created.splice(0));
});

function startWorker(settings: object): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeArgs, JSON.stringify(settings)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('started')) resolve(child);
    });
  });
}

async function committedOutputs(topic: string, expected: number): Promise<Map<string, number>> {
  // read_committed (kafkajs' default): records of aborted transactions are not seen.
  const records = await readTopic(topic, expected, { timeoutMs: 60_000, settleMs: 3_000 });
  const counts = new Map<string, number>();
  for (const r of records) {
    const id = (JSON.parse(r.value!.toString()) as { data: { eventId: string } }).data.eventId;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('exactly-once mode (transactions)', () => {
  it('writes one output per input across kill -9 and restart of the worker', async () => {
    const input = uniqueName('eos-in');
    const out = uniqueName('eos-out');
    const deadLetters = uniqueName('eos-dlq');
    created.push(input, out, deadLetters);
    await createTestTopics([
      { topic: input, numPartitions: 3 },
      { topic: out, numPartitions: 3 },
      { topic: deadLetters, numPartitions: 1 },
    ]);
    const total = 600;
    const producer = new TypedProducer({ kafka: testKafka() });
    await producer.connect();
    await producer.send(
      { ...topics.events, name: input },
      Array.from({ length: total }, (_, i) => ({ value: inputEvent(`e-${i}`) })),
    );
    await producer.disconnect();

    const settings = {
      brokers: kafkaBrokers(),
      input,
      output: out,
      deadLetters,
      groupId: uniqueName('eos-group'),
      transactionalId: uniqueName('eos-tx'),
      delayMs: 40,
    };
    const stage = (name: string) => process.env.TEST_TRACE && console.error(new Date().toISOString(), name);
    stage('starting worker');
    const first = await startWorker(settings);
    stage('worker started');
    // Let it commit some transactions, then kill it without warning mid-stream.
    const admin = testKafka().admin();
    await admin.connect();
    const written = async () => (await admin.fetchTopicOffsets(out)).reduce((n, p) => n + Number(p.high), 0);
    await waitFor(async () => (await written()) > 100, {
      timeoutMs: 30_000,
      message: 'some outputs before the kill',
    });
    stage('killing');
    const exited = new Promise((resolve) => first.once('exit', resolve));
    first.kill('SIGKILL');
    // Offsets count transaction markers too, so this over-counts outputs: the kill was mid-stream.
    expect(await written()).toBeLessThan(total);
    await admin.disconnect();
    await exited;

    stage('restarting');
    await startWorker({ ...settings, delayMs: 0 });
    stage('restarted');
    const counts = await committedOutputs(out, total);
    expect(counts.size).toBe(total);
    expect([...counts].filter(([, n]) => n !== 1)).toEqual([]);
  }, 120_000);
});
