import type { Prediction } from '@hitl/contracts';
import { ProcessGroup, TopicReader, uniqueName, type TestDatabase } from '@hitl/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { Pool } from 'pg';
import {
  inputEvent,
  registerAndPromote,
  sendEvents,
  serviceEnv,
  serviceTopics,
  testDatabase,
  testKafka,
  textModel,
  texts,
} from './helpers';

const root = join(__dirname, '..');
const processes = new ProcessGroup();
const cleanups: (() => Promise<unknown>)[] = [];
let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  await processes.stopAll();
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

const startService = (env: Record<string, string>) =>
  processes.start(join(root, 'src', 'main.ts'), { cwd: root, env: { ...env, LOG_LEVEL: 'info' } });

describe('inference service process', () => {
  it('loses and doubles no prediction across kill -9 and restart', async () => {
    const modelId = uniqueName('crash');
    await registerAndPromote(pool, { modelId, onnx: textModel(modelId, 3), classes: ['ham', 'spam'] });
    const t = await serviceTopics();
    cleanups.push(t.cleanup);
    const env = serviceEnv(t, db.url, modelId, { BATCH_SIZE: '100' });
    const predictions = await TopicReader.start(t.predictions);
    cleanups.push(() => predictions.stop());
    const kafka = testKafka();
    const corpus = texts(['ham', 'spam'], 100, 11);
    const total = 4_000;
    const events = Array.from({ length: total }, (_, i) =>
      inputEvent(`crash-${i}`, { text: corpus[i % corpus.length]!.text }),
    );

    const first = await startService(env);
    let sent = 0;
    const sending = (async () => {
      for (; sent < total; sent += 100) {
        await sendEvents(kafka, t.events, events.slice(sent, sent + 100));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await predictions.waitForCount(500);
    await ProcessGroup.stop(first, 'SIGKILL');
    const seenAtKill = predictions.records.length;
    await sending;
    expect(seenAtKill).toBeLessThan(total);

    await startService(env);
    await predictions.waitForCount(total, { timeoutMs: 60_000, settleMs: 3_000 });
    const counts = new Map<string, number>();
    for (const p of predictions.values<Prediction>()) {
      counts.set(p.data.eventId, (counts.get(p.data.eventId) ?? 0) + 1);
    }
    const doubled = [...counts].filter(([, n]) => n > 1);
    expect(doubled).toEqual([]);
    expect(counts.size).toBe(total);
    expect(predictions.records.length).toBe(total);
  });
});
