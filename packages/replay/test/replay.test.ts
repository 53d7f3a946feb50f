// A short replay end to end on the real broker and database: the four services as processes (on
// topics, groups and a database of the test's own), 300 SpamAssassin emails from a cold start,
// one simulated reviewer. Every event must get exactly one decision, and the model that decides
// the later events must have been trained and promoted from the reviewer's labels.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listModelEvents, listModelVersions } from '@hitl/db';
import {
  freePort,
  testKafka,
  uniqueName,
  uniqueTestTopics,
  type TestDatabase,
  type UniqueTestTopics,
} from '@hitl/testkit';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import {
  SERVICE_NAMES,
  ServiceSupervisor,
  loadSpamAssassin,
  runReplay,
  setReplayPolicy,
  shuffled,
  type ReplayProgress,
  type ReplayResult,
} from '../src';
import { testDatabase } from './helpers';

const EVENTS = 300;

describe('a short replay on the running system', () => {
  let db: TestDatabase;
  let pool: Pool;
  let supervisor: ServiceSupervisor;
  let result: ReplayResult;
  const progress: ReplayProgress[] = [];
  const kafka = testKafka();
  let names: UniqueTestTopics<
    | 'events'
    | 'predictions'
    | 'decisions'
    | 'reviewRequests'
    | 'corrections'
    | 'models'
    | 'rescoreRequests'
    | 'rescored'
    | 'deadLetters'
  >;
  const modelId = uniqueName('replay-model');
  const runId = uniqueName('replay-run');

  beforeAll(async () => {
    ({ db, pool } = await testDatabase());
    names = await uniqueTestTopics({
      events: 3,
      predictions: 3,
      decisions: 3,
      reviewRequests: 3,
      corrections: 3,
      models: 1,
      rescoreRequests: 3,
      rescored: 3,
      deadLetters: 1,
    });
    const items = shuffled(loadSpamAssassin(), 7).slice(0, EVENTS);
    const classes = [...new Set(items.map((i) => i.label))];
    await setReplayPolicy(pool, modelId, classes, 1, runId);

    const apiPort = await freePort();
    const common = {
      DATABASE_URL: db.url,
      MODEL_ID: modelId,
      POLICY_NAME: modelId,
      OUTBOX_RELAY_ID: uniqueName('replay-relay'),
      LOG_LEVEL: 'warn',
      DLQ_TOPIC: names.deadLetters,
      MODELS_TOPIC: names.models,
      RESCORE_REQUESTS_TOPIC: names.rescoreRequests,
      RESCORED_TOPIC: names.rescored,
    };
    const env: Record<(typeof SERVICE_NAMES)[number], Record<string, string>> = {
      inference: {
        EVENTS_TOPIC: names.events,
        PREDICTIONS_TOPIC: names.predictions,
        GROUP_ID: uniqueName('replay-inference'),
        INSTANCE_ID: uniqueName('inference'),
        MODEL_POLL_MS: '1000',
      },
      router: {
        PREDICTIONS_TOPIC: names.predictions,
        DECISIONS_TOPIC: names.decisions,
        REVIEW_REQUESTS_TOPIC: names.reviewRequests,
        GROUP_ID: uniqueName('replay-router'),
        INSTANCE_ID: uniqueName('router'),
      },
      'review-api': {
        API_PORT: String(apiPort),
        REVIEW_REQUESTS_TOPIC: names.reviewRequests,
        DECISIONS_TOPIC: names.decisions,
        CORRECTIONS_TOPIC: names.corrections,
        GROUP_ID: uniqueName('replay-review-api'),
        INSTANCE_ID: uniqueName('review-api'),
      },
      trainer: {
        CORRECTIONS_TOPIC: names.corrections,
        GROUP_ID: uniqueName('replay-trainer'),
        INSTANCE_ID: uniqueName('trainer'),
        // A few hundred events: train at least every 60 labels, and promote on a small evaluation
        // split. The gate's evidence standard is tested on its own (services/trainer); here a first
        // version judged on about ten labels must not wait for significance, or on a loaded
        // machine the stream ends before any model decides.
        RETRAIN_EVERY: '60',
        MIN_EVAL_EXAMPLES: '10',
        GATE_ALPHA: '0.5',
        CHECK_INTERVAL_MS: '300',
      },
    };
    supervisor = new ServiceSupervisor(await mkdtemp(join(tmpdir(), 'hitl-replay-logs-')), process.env);
    const ports = await Promise.all(SERVICE_NAMES.map(() => freePort()));
    await Promise.all(
      SERVICE_NAMES.map((name, i) =>
        supervisor.ensure(name, { healthPort: ports[i]!, env: { ...common, ...env[name] } }),
      ),
    );

    result = await runReplay({
      kafka,
      pool,
      items,
      runId,
      stream: runId,
      modelId,
      policyName: modelId,
      topics: {
        events: names.events,
        decisions: names.decisions,
        reviewRequests: names.reviewRequests,
        models: names.models,
      },
      reviewApiUrl: `http://127.0.0.1:${apiPort}`,
      window: 30,
      stallMs: 60_000,
      progressEveryMs: 1_000,
      onProgress: (p) => progress.push(p),
    });
  }, 300_000);

  afterAll(async () => {
    await supervisor?.stopAll();
    await pool?.end();
    await db?.drop();
    await names?.cleanup();
  }, 60_000);

  it('decides every event exactly once', () => {
    expect(result.stalled).toBe(false);
    expect(result.pending).toEqual({ inReview: [], notRouted: [] });
    expect(result.summary).toMatchObject({ events: EVENTS, decisions: EVENTS, missing: 0, duplicates: 0 });
    expect(result.summary.decidedByModel + result.summary.decidedByHuman).toBe(EVENTS);
  });

  it('starts cold, trains a model from the reviewer’s labels and promotes it', async () => {
    expect(result.coldStart).toBe(true);
    // Until a model exists, everything goes to the reviewer.
    expect(result.outcomes[0]!.decisions[0]).toMatchObject({ decidedBy: 'human', modelVersion: null });
    const versions = await listModelVersions(pool, modelId);
    expect(versions.length).toBeGreaterThanOrEqual(1);
    const events = await listModelEvents(pool, modelId);
    expect(events.some((e) => e.event === 'promoted')).toBe(true);
    expect(result.summary.modelVersions).toBeGreaterThanOrEqual(1);
    expect(result.summary.decidedByModel).toBeGreaterThan(0);
    // The model's decisions come after its promotion and name a version the trainer made.
    const modelDecided = result.outcomes.flatMap((o) => o.decisions).filter((d) => d.decidedBy === 'model');
    expect(new Set(modelDecided.map((d) => d.modelVersion)).has(null)).toBe(false);
  });

  it('answers from the data set’s labels, so human decisions are right', () => {
    expect(result.summary.humanAccuracy).toBe(1);
    expect(result.reviewers).toHaveLength(1);
    // Copies of an answered email (SpamAssassin repeats a few) are decided through that answer.
    expect(result.reviewers[0]!.answered).toBe(
      result.summary.decidedByHuman - result.summary.decidedThroughGroup,
    );
    expect(result.reviewers[0]!.wrong).toBe(0);
  });

  it('reports the model’s decisions by class and, when it keeps them, the final version’s held-out figures', () => {
    expect(result.summary).toMatchObject({ targetAccuracy: null, confidenceLevel: null, targetMet: null });
    expect(result.classes.map((c) => c.label)).toEqual(['ham', 'spam']);
    expect(result.classes.reduce((n, c) => n + c.decided, 0)).toBe(result.summary.decidedByModel);
    // Model decisions carry the model's confidence.
    for (const c of result.classes.filter((c) => c.decided > 0)) expect(c.lowestConfidence).not.toBeNull();
    // Null while the version keeps no held-out predictions (versions registered before the trainer kept them).
    if (result.heldOut !== null) {
      expect(result.heldOut.modelVersion).toBe(result.summary.finalModelVersion);
      expect(result.heldOut.reliability.reduce((n, b) => n + b.examples, 0)).toBe(result.heldOut.examples);
      expect(result.heldOut.riskCoverage.at(-1)).toMatchObject({
        coverage: 1,
        decided: result.heldOut.examples,
      });
    }
  });

  it('reported progress while it ran', () => {
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toMatchObject({ produced: EVENTS, decided: EVENTS, queueDepth: 0 });
  });
});
