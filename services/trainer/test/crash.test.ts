import { spamAssassin, stableFraction } from '@hitl/datasets';
import { listModelVersions, listTrainingRuns, requestTraining } from '@hitl/db';
import { ProcessGroup, TopicReader, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { trainingDue } from '../src';
import {
  correction,
  lifecycleOf,
  sendCorrections,
  serviceTopics,
  steps,
  testDatabase,
  testKafka,
  trainerEnv,
  type ServiceTopics,
} from './helpers';

const root = join(__dirname, '..');
const processes = new ProcessGroup();
const cleanups: (() => Promise<unknown>)[] = [];
let db: TestDatabase;
let pool: Pool;

// A database per test: outbox rows one test leaves unpublished, bound for its deleted topics, would
// otherwise hold up the relay of the next (a relay takes every unpublished row, whoever wrote it).
beforeEach(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  await processes.stopAll();
  while (cleanups.length > 0) await cleanups.pop()!();
  await pool.end();
  await db.drop();
});

const startTrainer = (env: Record<string, string>) =>
  processes.start(join(root, 'src', 'main.ts'), { cwd: root, env: { ...env, LOG_LEVEL: 'info' } });

// 1,500 SpamAssassin emails: a training of a second or two, long enough to stop a trainer in.
const EMAILS = 1_500;

async function setup(prefix: string) {
  const modelId = uniqueName(prefix);
  const t: ServiceTopics = await serviceTopics();
  cleanups.push(t.cleanup);
  const models = await TopicReader.start(t.models);
  cleanups.push(() => models.stop());
  const emails = spamAssassin()
    .sort((a, b) => stableFraction(a.id, prefix) - stableFraction(b.id, prefix))
    .slice(0, EMAILS);
  await sendCorrections(
    testKafka(),
    t.corrections,
    emails.map((e) => correction(e.id, { text: e.text }, e.label)),
  );
  // Labels never start a training here: the request that trainFirst makes once all are stored does.
  const env = trainerEnv(t, db.url, modelId, { MIN_LABELS_PER_CLASS: '1000000' });
  return { modelId, t, models, env };
}

/** Starts the first trainer and asks it to train once it has stored every email. */
async function trainFirst(modelId: string, env: Record<string, string>) {
  const first = await startTrainer({ ...env, INSTANCE_ID: 'first' });
  await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === EMAILS, {
    timeoutMs: 60_000,
    message: `${EMAILS} labels stored`,
  });
  await requestTraining(pool, modelId, 'test');
  await waitForRunning(modelId);
  return first;
}

async function waitForRunning(modelId: string): Promise<void> {
  await waitFor(async () => (await listTrainingRuns(pool, modelId))[0]?.status === 'running', {
    timeoutMs: 60_000,
    intervalMs: 20,
    message: 'a training run in progress',
  });
}

describe('trainer process', () => {
  it('leaves the run of a trainer killed mid-training to the next, which trains and promotes once', async () => {
    const { modelId, models, env } = await setup('crash');
    const first = await trainFirst(modelId, env);
    await ProcessGroup.stop(first, 'SIGKILL');
    expect((await listTrainingRuns(pool, modelId))[0]).toMatchObject({
      status: 'running',
      instance: 'first',
    });
    expect(await listModelVersions(pool, modelId)).toEqual([]);

    await startTrainer({ ...env, INSTANCE_ID: 'second' });
    await waitFor(() => steps(lifecycleOf(models, modelId)).includes('model.promoted 1'), {
      timeoutMs: 60_000,
      message: 'model.promoted 1',
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(steps(lifecycleOf(models, modelId))).toEqual([
      'model.trained 1',
      'model.evaluated 1',
      'model.promoted 1',
    ]);
    const runs = await listTrainingRuns(pool, modelId);
    expect(runs.map((r) => [r.instance, r.status, r.outcome])).toEqual([
      ['second', 'finished', 'promoted'],
      ['first', 'failed', null],
    ]);
    expect(runs[1]!.reason).toMatch(/^abandoned/);
    expect((await listModelVersions(pool, modelId)).map((v) => [v.version, v.status])).toEqual([
      [1, 'promoted'],
    ]);
  });

  it('stops a training in progress on SIGTERM, promptly, and the next trainer trains', async () => {
    const { modelId, models, env } = await setup('sigterm');
    const first = await trainFirst(modelId, env);
    const exited = new Promise<number | null>((resolve) => first.once('exit', (code) => resolve(code)));
    const stopping = Date.now();
    first.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(Date.now() - stopping).toBeLessThan(10_000);
    expect((await listTrainingRuns(pool, modelId))[0]).toMatchObject({
      status: 'aborted',
      reason: 'training aborted: the trainer is stopping',
    });

    await startTrainer({ ...env, INSTANCE_ID: 'second' });
    await waitFor(() => steps(lifecycleOf(models, modelId)).includes('model.promoted 1'), {
      timeoutMs: 60_000,
      message: 'model.promoted 1',
    });
    expect((await listTrainingRuns(pool, modelId)).map((r) => r.outcome)).toEqual(['promoted', null]);
  });
});
