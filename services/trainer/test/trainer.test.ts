import type { Prediction } from '@hitl/contracts';
import {
  createPolicyVersion,
  getCertification,
  getModelVersion,
  getPromotedVersion,
  listModelVersions,
  listTrainingRequests,
  listTrainingRuns,
  promoteModelVersion,
  registerModelVersion,
  requestTraining,
  rollbackModel,
} from '@hitl/db';
import { createInferenceService, loadInferenceConfig, type InferenceService } from '@hitl/inference';
import {
  loadOnnxClassifier,
  toOnnx,
  trainTextClassifier,
  withTemperature,
  type TemperatureFit,
} from '@hitl/model';
import { DEFAULT_POLICY_SPEC, certifyHeldOut } from '@hitl/policy';
import { TopicReader, kafkaBrokers, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import {
  buildTrainingSet,
  checkCertification,
  countLabelledExamples,
  createTrainerService,
  epochsFor,
  regularization,
  getLabelledExample,
  runTrainingRound,
  trainExportVerify,
  trainerMetrics,
  trainingDue,
  trackCertification,
  type TrainerService,
} from '../src';
import { loadTrainingExamples } from '../src/store';
import {
  correction,
  eventIds,
  inputEvent,
  lifecycleOf,
  logger,
  sendCorrections,
  sendEvents,
  serviceTopics,
  steps,
  testDatabase,
  testKafka,
  textCorrections,
  texts,
  trainerConfig,
  type ServiceTopics,
} from './helpers';

let kafka: Kafka;
let db: TestDatabase;
let pool: Pool;
const cleanups: (() => Promise<unknown>)[] = [];

// A database per test: outbox rows one test leaves unpublished, bound for its deleted topics, would
// otherwise hold up the relay of the next (a relay takes every unpublished row, whoever wrote it).
beforeAll(() => {
  kafka = testKafka();
});

beforeEach(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await pool.end();
  await db.drop();
});

async function topicsAndReader(): Promise<{ t: ServiceTopics; models: TopicReader }> {
  const t = await serviceTopics();
  cleanups.push(t.cleanup);
  const models = await TopicReader.start(t.models);
  cleanups.push(() => models.stop());
  return { t, models };
}

async function startTrainer(
  t: ServiceTopics,
  modelId: string,
  env: Record<string, string> = {},
  registry = new Registry(),
): Promise<TrainerService> {
  const service = createTrainerService(trainerConfig(t, db.url, modelId, env), { logger, registry, kafka });
  cleanups.push(() => service.stop());
  await service.start();
  await waitFor(() => service.ready(), { message: 'trainer ready' });
  return service;
}

async function startInference(t: ServiceTopics, modelId: string): Promise<InferenceService> {
  const config = loadInferenceConfig({
    KAFKA_BROKERS: kafkaBrokers().join(','),
    DATABASE_URL: db.url,
    MODEL_ID: modelId,
    GROUP_ID: uniqueName('inference'),
    INSTANCE_ID: 'test-0',
    EVENTS_TOPIC: t.events,
    PREDICTIONS_TOPIC: t.predictions,
    MODELS_TOPIC: t.models,
    DLQ_TOPIC: t.deadLetters,
    RESCORING: 'false',
    // Only the lifecycle records on the test's models topic move it to a new version.
    MODEL_POLL_MS: '0',
    HTTP_PORT: '0',
    LOG_LEVEL: 'warn',
  });
  const service = createInferenceService(config, { logger, registry: new Registry(), kafka });
  cleanups.push(() => service.stop());
  await service.start();
  await waitFor(() => service.ready(), { message: 'inference ready' });
  return service;
}

/** Waits for a lifecycle step of the model on the models topic. */
async function waitForStep(models: TopicReader, modelId: string, step: string): Promise<void> {
  await waitFor(() => steps(lifecycleOf(models, modelId)).includes(step), {
    timeoutMs: 60_000,
    message: `${step} on ${models.topic}`,
  });
}

/** The prediction the inference service makes for one text. */
async function predict(t: ServiceTopics, predictions: TopicReader, eventId: string, text: string) {
  await sendEvents(kafka, t.events, [inputEvent(eventId, text)]);
  let found: Prediction | undefined;
  await waitFor(
    () => (found = predictions.values<Prediction>().find((p) => p.data.eventId === eventId)) !== undefined,
    { message: `prediction of ${eventId}` },
  );
  return found!.data;
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  const match = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

describe('trainer', () => {
  it('turns corrections into a registered, promoted version whose ONNX is the TypeScript model, and inference serves it', async () => {
    const modelId = uniqueName('first');
    const { t, models } = await topicsAndReader();
    const predictions = await TopicReader.start(t.predictions);
    cleanups.push(() => predictions.stop());
    const inference = await startInference(t, modelId);
    expect(inference.slot.version).toBeNull();
    const registry = new Registry();
    // Checks only when the test asks, so the first training reads all 200 labels.
    const trainer = await startTrainer(t, modelId, { CHECK_INTERVAL_MS: '600000' }, registry);

    const ids = eventIds('first', 200);
    await sendCorrections(kafka, t.corrections, textCorrections(ids, texts(['ham', 'spam'], 100, 1)));
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 200, {
      message: '200 labels stored',
    });
    expect(await trainer.checkNow()).toMatchObject({ kind: 'trained' });
    await waitForStep(models, modelId, 'model.promoted 1');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const records = lifecycleOf(models, modelId);
    expect(steps(records)).toEqual(['model.trained 1', 'model.evaluated 1', 'model.promoted 1']);
    expect(records.every((r) => r.data.inputKind === 'text' && r.data.parentVersion === null)).toBe(true);
    expect(records[1]!.data.metrics).toMatchObject({ evalExamples: expect.any(Number) as unknown });
    expect(records[2]!.data.reason).toMatch(/^first version: accuracy .* beats the majority-class baseline/);

    // The registered bytes are the TypeScript model trained on these examples.
    const version = (await getModelVersion(pool, modelId, 1))!;
    expect(version).toMatchObject({
      status: 'promoted',
      classes: ['ham', 'spam'],
      inputKind: 'text',
      parentVersion: null,
    });
    const set = buildTrainingSet((await loadTrainingExamples(pool, modelId)).examples, null);
    if ('skip' in set || set.train.inputs.kind !== 'text' || set.eval.inputs.kind !== 'text') {
      throw new Error('expected a text training set');
    }
    expect(set.train.labels.length + set.eval.labels.length).toBe(200);
    const reference = trainTextClassifier({
      texts: set.train.inputs.texts,
      labels: set.train.labels,
      classes: set.classes,
      maxFeatures: 20_000,
      epochs: epochsFor(set.train.labels.length),
      l2: regularization(set.train.labels.length),
      seed: 1,
    });
    // Calibrated on half of the evaluation split: its temperature is folded into the weights.
    const calibration = version.modelCard['calibration'] as TemperatureFit & {
      heldOutExamples: number;
      eceBefore: number | null;
      eceAfter: number | null;
    };
    expect(calibration.examples + calibration.heldOutExamples).toBe(set.eval.labels.length);
    expect(calibration.reason).toMatch(/^temperature /);
    if (calibration.fitted) expect(calibration.logLossAfter).toBeLessThanOrEqual(calibration.logLossBefore);
    expect(version.metrics['temperature']).toBe(calibration.temperature);
    const onnx = await loadOnnxClassifier(version.onnx);
    const fromOnnx = await onnx.predictProba(set.eval.inputs.texts);
    await onnx.close();
    const fromTs = withTemperature(reference, calibration.temperature).predictProba(set.eval.inputs.texts);
    const diff = Math.max(...fromOnnx.flatMap((row, i) => row.map((p, c) => Math.abs(p - fromTs[i]![c]!))));
    expect(diff).toBeLessThan(1e-4);

    // Its card and figures.
    expect(version.metrics).toMatchObject({
      trainExamples: set.train.labels.length,
      evalExamples: set.eval.labels.length,
    });
    expect(version.metrics['macroF1']).toBeGreaterThan(0.8);
    expect(version.modelCard).toMatchObject({
      trainingExamples: set.train.labels.length,
      evaluationExamples: set.eval.labels.length,
      labelDistribution: { train: expect.any(Object) as unknown, eval: expect.any(Object) as unknown },
      evaluation: { perClass: { ham: expect.any(Object) as unknown, spam: expect.any(Object) as unknown } },
      ece: expect.any(Number) as unknown,
      parentVersion: null,
      trainingSeconds: expect.any(Number) as unknown,
      gate: {
        promote: true,
        rule: 'baseline',
        alpha: 0.05,
        baseline: { examples: set.eval.labels.length, pNotBetter: expect.any(Number) as unknown },
        comparison: null,
      },
    });
    expect(version.metrics['gate.pNotBetterThanBaseline']).toBeLessThan(0.05);
    const [run] = await listTrainingRuns(pool, modelId);
    expect(await listTrainingRuns(pool, modelId)).toHaveLength(1);
    expect(run).toMatchObject({ status: 'finished', outcome: 'promoted', trigger: 'first', version: 1 });
    expect(run!.startedBecause).toBe('first training, on 200 labels');
    expect(await metric(registry, 'hitl_trainer_trainings_total', { outcome: 'promoted' })).toBe(1);
    expect(await metric(registry, 'hitl_trainer_champion_macro_f1', {})).toBe(version.metrics['macroF1']);

    // The inference service moved to it on the model.promoted record, and scores with it.
    await waitFor(() => inference.slot.version === 1, { message: 'inference on version 1' });
    const prediction = await predict(t, predictions, 'first-event', 'free cash prize winner claim bonus');
    expect(prediction).toMatchObject({ model: { id: modelId, version: 1 }, label: 'spam' });
  });

  it('trains first as soon as every class has a few labels and the evaluation split can judge, then when the labels double', async () => {
    const modelId = uniqueName('schedule');
    const { t, models } = await topicsAndReader();
    const trainer = await startTrainer(t, modelId, {
      CHECK_INTERVAL_MS: '600000',
      MIN_LABELS_PER_CLASS: '5',
      MIN_EVAL_EXAMPLES: '6',
    });
    const ids = eventIds('schedule', 120);
    const data = texts(['ham', 'spam', 'other'], 40, 11);
    /** Sends labels from..to-1 and waits until the labels new to the schedule number newLabels. */
    const send = async (from: number, to: number, newLabels: number) => {
      await sendCorrections(kafka, t.corrections, textCorrections(ids.slice(from, to), data.slice(from, to)));
      await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === newLabels, {
        message: `labels ${from} to ${to} stored`,
      });
    };

    // Nine labels, three per class: too few to train on.
    await send(0, 9, 9);
    const early = await trainer.checkNow();
    expect(early).toMatchObject({ kind: 'not_ready' });
    expect(early.kind === 'not_ready' && early.because).toMatch(
      /^classes with fewer than 5 training labels: /,
    );
    expect(await listTrainingRuns(pool, modelId)).toEqual([]);

    // Fill up, one label at a time, until the schedule trains: that is the first moment it can.
    let stored = 9;
    let first = await trainer.checkNow();
    while (first.kind !== 'trained') {
      await send(stored, stored + 1, stored + 1);
      stored++;
      first = await trainer.checkNow();
    }
    const counts = await countLabelledExamples(pool, modelId);
    const [run] = await listTrainingRuns(pool, modelId);
    expect(run).toMatchObject({ trigger: 'first', startedBecause: `first training, on ${stored} labels` });
    expect(counts.eval).toBeGreaterThanOrEqual(6);
    expect(stored).toBeLessThan(60);
    const set = buildTrainingSet((await loadTrainingExamples(pool, modelId)).examples, null);
    if ('skip' in set) throw new Error('expected a training set');
    for (const label of ['ham', 'spam', 'other']) {
      expect(set.train.labels.filter((l) => l === label).length).toBeGreaterThanOrEqual(5);
    }

    // One label short of doubling: nothing due; the doubling trains.
    await send(stored, 2 * stored - 1, stored - 1);
    expect(await trainer.checkNow()).toMatchObject({ kind: 'not_due' });
    await send(2 * stored - 1, 2 * stored, stored);
    expect(await trainer.checkNow()).toMatchObject({ kind: 'trained' });
    expect((await listTrainingRuns(pool, modelId))[0]).toMatchObject({
      trigger: 'doubled',
      startedBecause: `${stored} new labels since the last run read ${stored}: the labels doubled`,
    });
    await waitFor(
      () => steps(lifecycleOf(models, modelId)).filter((s) => s.startsWith('model.trained')).length === 2,
      {
        message: 'two versions trained',
      },
    );
  });

  it("certifies each version's thresholds for the policy's target on held-out labels, and the audit sample keeps checking them", async () => {
    const modelId = uniqueName('certify');
    const target = { targetAccuracy: 0.9, confidenceLevel: 0.9 };
    await createPolicyVersion(pool, modelId, { ...DEFAULT_POLICY_SPEC, classes: ['ham', 'spam'], ...target });
    const { t } = await topicsAndReader();
    const trainer = await startTrainer(t, modelId, { CHECK_INTERVAL_MS: '600000' });
    const ids = eventIds('certify', 800);
    await sendCorrections(kafka, t.corrections, textCorrections(ids, texts(['ham', 'spam'], 400, 3)));
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 800, {
      message: '800 labels stored',
    });
    expect(await trainer.checkNow()).toMatchObject({ kind: 'trained' });

    // Two classes: certified on the whole evaluation split (see certificationRows), and with a
    // target, on every training row too, each scored by a model of the other folds.
    const version = (await getModelVersion(pool, modelId, 1))!;
    const set = buildTrainingSet((await loadTrainingExamples(pool, modelId)).examples, null);
    if ('skip' in set) throw new Error(set.skip);
    const held = set.eval.labels.length + set.train.labels.length;
    const kept = (await getCertification(pool, modelId, 1))!;
    expect(kept.heldOut!.decisions).toHaveLength(held);
    expect(kept.heldOut!.classes).toEqual(['ham', 'spam']);
    // The stored thresholds are what certifying those held-out predictions gives.
    expect(version.thresholds).toEqual(certifyHeldOut(kept.heldOut!, target));
    expect(version.thresholds).toMatchObject({ ...target, examples: held });
    const spam = version.thresholds!.perClass['spam']!;
    expect(spam.threshold).not.toBeNull();
    expect(spam.lowerBound).toBeGreaterThanOrEqual(0.9);
    expect(version.modelCard['certification']).toEqual({
      heldOutExamples: held,
      crossFittedExamples: set.train.labels.length,
      thresholds: version.thresholds,
    });

    // Audited decisions of the promoted version join the claim's evidence; wrong ones pull the bound
    // below the target. An audit-sample event is held out whatever its id's split would be.
    const before = (await checkCertification(pool, modelId))!;
    expect(before.perClass['spam']).toMatchObject({
      audited: 0,
      decisions: spam.decisions,
      correct: spam.correct,
    });
    expect(before.perClass['spam']!.lowerBound).toBeCloseTo(spam.lowerBound!, 10);
    const audited = eventIds('audit', 40, 'train').map((id) => {
      const c = correction(id, { text: 'free cash prize' }, 'ham');
      return {
        ...c,
        data: {
          ...c.data,
          modelPrediction: { model: { id: modelId, version: 1 }, label: 'spam', confidence: 1 },
          outcome: 'overturned' as const,
          reviewReason: 'audit_sample' as const,
        },
      };
    });
    await sendCorrections(kafka, t.corrections, audited);
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 40, {
      message: '40 audit labels stored',
    });
    expect((await getLabelledExample(pool, modelId, audited[0]!.data.eventId))!.split).toBe('eval');
    const registry = new Registry();
    const metrics = trainerMetrics(registry);
    const after = (await trackCertification(pool, modelId, metrics, 0).update())!;
    expect(after.perClass['spam']).toMatchObject({
      audited: 40,
      auditedCorrect: 0,
      decisions: spam.decisions + 40,
      correct: spam.correct,
    });
    expect(after.perClass['spam']!.lowerBound).toBeLessThan(0.9);
    expect(await metric(registry, 'hitl_trainer_certified_accuracy_lower_bound', { class: 'spam' })).toBe(
      after.perClass['spam']!.lowerBound,
    );
    expect(await metric(registry, 'hitl_trainer_target_accuracy', { model: modelId })).toBe(0.9);
  });

  it('rejects a candidate worse than the champion, with the reason, and keeps the champion', async () => {
    const modelId = uniqueName('reject');
    const { t, models } = await topicsAndReader();
    const trainer = await startTrainer(t, modelId, { CHECK_INTERVAL_MS: '600000' });
    await sendCorrections(
      kafka,
      t.corrections,
      textCorrections(eventIds('reject-a', 200), texts(['ham', 'spam'], 100, 2)),
    );
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 200, {
      message: '200 labels stored',
    });
    await trainer.checkNow();
    await waitForStep(models, modelId, 'model.promoted 1');

    // A confused round: every label flipped, all on training-split events, so the held-out labels
    // that judge both models stay right.
    const flipped = texts(['ham', 'spam'], 100, 3).map((d) => ({
      ...d,
      label: d.label === 'ham' ? 'spam' : 'ham',
    }));
    await sendCorrections(kafka, t.corrections, textCorrections(eventIds('reject-b', 200, 'train'), flipped));
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 200, {
      message: '200 flipped labels stored',
    });
    // As many new labels as the last run read: the labels doubled.
    expect(await trainer.checkNow()).toMatchObject({ kind: 'trained' });
    await waitForStep(models, modelId, 'model.rejected 2');

    const records = lifecycleOf(models, modelId);
    expect(steps(records)).toEqual([
      'model.trained 1',
      'model.evaluated 1',
      'model.promoted 1',
      'model.trained 2',
      'model.evaluated 2',
      'model.rejected 2',
    ]);
    const rejected = records.at(-1)!;
    expect(rejected.data.parentVersion).toBe(1);
    expect(rejected.data.reason).toMatch(/vs champion version 1 .*McNemar p = .*significantly worse overall/);
    expect(rejected.data.metrics['championMacroF1']).toBeGreaterThan(rejected.data.metrics['macroF1']!);
    // The gate's figures travel with the record: the champion right where the candidate was wrong
    // far more often than the reverse, and the interval of the macro-F1 difference below zero.
    const gate = rejected.data.metrics;
    expect(gate['gate.discordantChampion']).toBeGreaterThan(gate['gate.discordantCandidate']!);
    expect(gate['gate.pWorse']).toBeLessThan(0.05);
    expect(gate['gate.macroF1DiffHigh']).toBeLessThan(0);
    expect((await getPromotedVersion(pool, modelId))?.version).toBe(1);
    expect((await getModelVersion(pool, modelId, 2))?.status).toBe('candidate');
    const runs = await listTrainingRuns(pool, modelId);
    expect(runs.map((r) => [r.outcome, r.version])).toEqual([
      ['rejected', 2],
      ['promoted', 1],
    ]);
    expect(runs[0]!.reason).toBe(rejected.data.reason);
  });

  it('adds a class the champion lacks, promotes the better model, and a rollback brings the previous one back to inference', async () => {
    const modelId = uniqueName('rollback');
    const { t, models } = await topicsAndReader();
    const predictions = await TopicReader.start(t.predictions);
    cleanups.push(() => predictions.stop());
    const inference = await startInference(t, modelId);
    const trainer = await startTrainer(t, modelId, { CHECK_INTERVAL_MS: '600000' });

    await sendCorrections(
      kafka,
      t.corrections,
      textCorrections(eventIds('rollback-a', 300), texts(['ham', 'spam'], 150, 4)),
    );
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 300, {
      message: '300 labels stored',
    });
    await trainer.checkNow();
    await waitForStep(models, modelId, 'model.promoted 1');
    await waitFor(() => inference.slot.version === 1, { message: 'inference on version 1' });

    await sendCorrections(
      kafka,
      t.corrections,
      textCorrections(eventIds('rollback-b', 300), texts(['ham', 'spam', 'other'], 100, 5)),
    );
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 300, {
      message: '300 more labels stored',
    });
    await trainer.checkNow();
    await waitForStep(models, modelId, 'model.promoted 2');
    const v2 = (await getModelVersion(pool, modelId, 2))!;
    expect(v2).toMatchObject({ classes: ['ham', 'spam', 'other'], parentVersion: 1, status: 'promoted' });
    // Version 1 scored no "other" right: those labels count as its errors.
    expect(v2.metrics['championMacroF1']).toBeLessThan(v2.metrics['macroF1'] as number);
    // The gate compared it with version 1 example by example, per class too.
    expect(v2.modelCard).toMatchObject({
      gate: { promote: true, rule: 'macro_f1_not_lower', comparison: { version: 1 } },
    });
    const classTests = (v2.modelCard['gate'] as { comparison: { classes: { label: string }[] } }).comparison
      .classes;
    expect(classTests.map((c) => c.label).sort()).toEqual(['ham', 'other', 'spam']);
    await waitFor(() => inference.slot.version === 2, { message: 'inference on version 2' });
    const byV2 = await predict(t, predictions, 'rollback-e1', 'weather rain storm forecast cloud snow');
    expect(byV2).toMatchObject({ model: { version: 2 }, label: 'other', classes: ['ham', 'spam', 'other'] });

    // An operator rolls back (as `hitl models rollback` does); its records go out through the outbox.
    await rollbackModel(pool, modelId, {
      actor: 'test',
      reason: 'other is not a real class',
      modelsTopic: t.models,
    });
    await waitForStep(models, modelId, 'model.rolled_back 2');
    expect(steps(lifecycleOf(models, modelId)).slice(-2)).toEqual([
      'model.rolled_back 2',
      'model.promoted 1',
    ]);
    await waitFor(() => inference.slot.version === 1, { message: 'inference back on version 1' });
    const byV1 = await predict(t, predictions, 'rollback-e2', 'weather rain storm forecast cloud snow');
    expect(byV1).toMatchObject({ model: { version: 1 }, classes: ['ham', 'spam'] });
    expect((await listModelVersions(pool, modelId)).map((v) => v.status)).toEqual([
      'promoted',
      'rolled_back',
    ]);
  });

  it('trains once when two trainer replicas see the same new labels', async () => {
    const modelId = uniqueName('replicas');
    const { t, models } = await topicsAndReader();
    // Labels never start a training here; the admin request made once all are stored does.
    const shared = {
      MIN_LABELS_PER_CLASS: '1000000',
      CHECK_INTERVAL_MS: '20',
      GROUP_ID: uniqueName('trainer'),
      OUTBOX_RELAY_ID: uniqueName('relay'),
    };
    const registries = [new Registry(), new Registry()];
    const replicas = [
      await startTrainer(t, modelId, { ...shared, INSTANCE_ID: 'replica-a' }, registries[0]),
      await startTrainer(t, modelId, { ...shared, INSTANCE_ID: 'replica-b' }, registries[1]),
    ];
    await sendCorrections(
      kafka,
      t.corrections,
      textCorrections(eventIds('replicas', 200), texts(['ham', 'spam'], 100, 6)),
    );
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 200, {
      message: '200 labels stored',
    });
    await requestTraining(pool, modelId, 'test');
    await waitForStep(models, modelId, 'model.promoted 1');
    // Both go on checking every 20 ms for a while: nothing more is due.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const checks = await Promise.all(replicas.map((r) => r.checkNow()));
    expect(checks.map((c) => c.kind)).toEqual(['not_due', 'not_due']);

    expect(await listTrainingRuns(pool, modelId)).toHaveLength(1);
    expect(await listModelVersions(pool, modelId)).toHaveLength(1);
    expect(steps(lifecycleOf(models, modelId))).toEqual([
      'model.trained 1',
      'model.evaluated 1',
      'model.promoted 1',
    ]);
    const trainings = await Promise.all(
      registries.map((r) => metric(r, 'hitl_trainer_trainings_total', { outcome: 'promoted' })),
    );
    expect(trainings.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('lets one of two replicas checking at the same moment train, and the other find it done', async () => {
    const modelId = uniqueName('race');
    const { t } = await topicsAndReader();
    // Long intervals: only the checks the test makes run.
    const shared = {
      CHECK_INTERVAL_MS: '600000',
      GROUP_ID: uniqueName('trainer'),
      OUTBOX_RELAY_ID: uniqueName('relay'),
    };
    const a = await startTrainer(t, modelId, { ...shared, INSTANCE_ID: 'race-a' });
    const b = await startTrainer(t, modelId, { ...shared, INSTANCE_ID: 'race-b' });
    await sendCorrections(
      kafka,
      t.corrections,
      textCorrections(eventIds('race', 120), texts(['ham', 'spam'], 60, 7)),
    );
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 120, {
      message: '120 labels stored',
    });

    const checks = await Promise.all([a.checkNow(), b.checkNow()]);
    const kinds = checks.map((c) => c.kind).sort();
    expect(kinds[1]).toBe('trained');
    expect(['busy', 'not_due']).toContain(kinds[0]);
    expect(await listTrainingRuns(pool, modelId)).toHaveLength(1);
    expect(await listModelVersions(pool, modelId)).toHaveLength(1);
  });

  it('stores each event once under redelivery; a later label replaces an earlier one, whose lineage is kept', async () => {
    const modelId = uniqueName('dedup');
    const { t } = await topicsAndReader();
    const registry = new Registry();
    await startTrainer(t, modelId, { MIN_LABELS_PER_CLASS: '1000000' }, registry);
    const t0 = Date.parse('2026-01-10T10:00:00.000Z');
    const at = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();
    const ids = eventIds('dedup', 50);
    const data = texts(['ham', 'spam'], 25, 8);
    const first = ids.map((id, i) =>
      correction(id, { text: data[i]!.text }, data[i]!.label, { correctedAt: at(0) }),
    );
    const count = async () => {
      const c = await countLabelledExamples(pool, modelId);
      return c.train + c.eval;
    };

    await sendCorrections(kafka, t.corrections, first);
    await waitFor(async () => (await count()) === 50, { message: '50 examples' });
    const due = await trainingDue(pool, modelId);

    // The same corrections again (a producer retry, a consumer replay): nothing changes.
    await sendCorrections(kafka, t.corrections, first);
    await waitFor(
      async () => (await metric(registry, 'hitl_trainer_examples_total', { result: 'duplicate' })) === 50,
      {
        message: '50 duplicates seen',
      },
    );
    expect(await count()).toBe(50);
    expect(await trainingDue(pool, modelId)).toMatchObject({
      newLabels: due.newLabels,
      labelsAtLastRun: null,
    });

    // A later consensus relabels the first event; an earlier answer for it arrives after that.
    const [id0] = ids;
    const before = (await getLabelledExample(pool, modelId, id0!))!;
    const relabel = before.label === 'ham' ? 'spam' : 'ham';
    await sendCorrections(kafka, t.corrections, [
      correction(id0!, { text: data[0]!.text }, relabel, { correctedAt: at(10), reviewer: 'admin' }),
      correction(id0!, { text: data[0]!.text }, 'other', { correctedAt: at(5), reviewer: 'bob' }),
      correction(id0!, { text: data[0]!.text }, relabel, { correctedAt: at(10), reviewer: 'admin' }),
    ]);
    await waitFor(async () => (await getLabelledExample(pool, modelId, id0!))!.history.length === 2, {
      message: 'history of two',
    });
    await waitFor(
      async () => (await metric(registry, 'hitl_trainer_examples_total', { result: 'duplicate' })) === 51,
      {
        message: 'the third correction seen as a duplicate',
      },
    );
    const after = (await getLabelledExample(pool, modelId, id0!))!;
    expect(after).toMatchObject({
      label: relabel,
      reviewerLabels: [{ reviewerId: 'admin', label: relabel }],
      correctedAt: at(10),
      split: before.split,
    });
    expect(after.history.map((h) => [h.label, h.correctedAt, h.reviewerLabels[0]!.reviewerId])).toEqual([
      [before.label, at(0), 'alice'],
      ['other', at(5), 'bob'],
    ]);
    expect(await count()).toBe(50);
    expect(await metric(registry, 'hitl_trainer_examples_total', { result: 'replaced' })).toBe(1);
    expect(await metric(registry, 'hitl_trainer_examples_total', { result: 'late' })).toBe(1);
  });

  it('trains on an admin request whatever the number of new labels, and marks the request handled', async () => {
    const modelId = uniqueName('request');
    const { t, models } = await topicsAndReader();
    await startTrainer(t, modelId, { MIN_LABELS_PER_CLASS: '1000000' });
    await sendCorrections(
      kafka,
      t.corrections,
      textCorrections(eventIds('request', 60), texts(['ham', 'spam'], 30, 9)),
    );
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 60, {
      message: '60 labels stored',
    });
    expect(await listTrainingRuns(pool, modelId)).toEqual([]);

    const request = await requestTraining(pool, modelId, 'alice');
    expect(request).toMatchObject({ modelId, requestedBy: 'alice', handledAt: null, runId: null });
    // About 12 evaluation examples: registered, but not enough to promote on (MIN_EVAL_EXAMPLES 20).
    await waitForStep(models, modelId, 'model.rejected 1');
    const [run] = await listTrainingRuns(pool, modelId);
    expect(run).toMatchObject({
      trigger: 'request',
      startedBecause: '1 training request pending',
      outcome: 'rejected',
      version: 1,
    });
    expect(run!.reason).toMatch(/^the evaluation split has \d+ examples; promotion needs at least 20$/);
    const [handled] = await listTrainingRequests(pool, modelId);
    expect(handled).toMatchObject({ id: request.id, runId: run!.id, handledAt: expect.any(Date) as unknown });
    expect(await listTrainingRequests(pool, modelId, { pending: true })).toEqual([]);
    await expect(requestTraining(pool, modelId, ' ')).rejects.toMatchObject({
      code: 'HITL_ERR_TRAINING_REQUEST_INVALID',
    });
  });

  it('does not promote over a version an operator promoted while it trained', async () => {
    const modelId = uniqueName('operator');
    const { t, models } = await topicsAndReader();
    await startTrainer(t, modelId, { MIN_LABELS_PER_CLASS: '1000000' });
    await sendCorrections(
      kafka,
      t.corrections,
      textCorrections(eventIds('operator', 200), texts(['ham', 'spam'], 100, 10)),
    );
    await waitFor(async () => (await trainingDue(pool, modelId)).newLabels === 200, {
      message: '200 labels stored',
    });

    const imported = trainTextClassifier({
      texts: ['free cash', 'team meeting'],
      labels: ['spam', 'ham'],
      epochs: 5,
    });
    const round = runTrainingRound(
      {
        pool,
        modelId,
        instanceId: 'test',
        modelsTopic: t.models,
        gate: { alpha: 0.05, minEvalExamples: 20 },
        maxFeatures: 20_000,
        regularizationC: 10,
        calibrationMinTemperature: 1,
        seed: 1,
        // An operator imports and promotes a version while the candidate trains.
        train: async (input) => {
          const version = await registerModelVersion(pool, {
            modelId,
            onnx: toOnnx(imported, { modelId }),
            classes: imported.classes,
            inputKind: 'text',
          });
          // On the test's topic: the relay publishes the outbox in order, and a record for a topic
          // the broker lacks (hitl.models.v1 where `pnpm topics` has not run) would hold up the rest.
          await promoteModelVersion(pool, modelId, version.version, { modelsTopic: t.models });
          return trainExportVerify(input);
        },
        loadClassifier: (onnx) => loadOnnxClassifier(onnx),
        logger,
        metrics: trainerMetrics(new Registry()),
      },
      await trainingDue(pool, modelId),
      { trigger: 'request', because: 'the test asked' },
      new AbortController().signal,
    );
    await expect(round).rejects.toMatchObject({ code: 'HITL_ERR_TRAINER_CHAMPION_CHANGED' });
    expect((await listModelVersions(pool, modelId)).map((v) => [v.version, v.status])).toEqual([
      [1, 'promoted'],
    ]);
    expect((await listTrainingRuns(pool, modelId))[0]).toMatchObject({ status: 'failed' });
    // The run failed, so the labels are still due: the next run compares with version 1.
    await requestTraining(pool, modelId, 'test');
    await waitFor(async () => (await listTrainingRuns(pool, modelId))[0]?.status === 'finished', {
      timeoutMs: 30_000,
      message: 'the next run',
    });
    expect((await listTrainingRuns(pool, modelId))[0]).toMatchObject({ version: 2 });
    expect((await getModelVersion(pool, modelId, 2))?.parentVersion).toBe(1);
    await waitForStep(models, modelId, 'model.evaluated 2');
  });

  it('dead-letters a record that is not a correction and goes on', async () => {
    const modelId = uniqueName('dlq');
    const { t } = await topicsAndReader();
    await startTrainer(t, modelId);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic: t.corrections, messages: [{ key: 'bad', value: '{not json' }] });
    await producer.disconnect();
    await sendCorrections(kafka, t.corrections, [correction('dlq-1', { text: 'hello' }, 'ham')]);
    const dlq = await TopicReader.start(t.deadLetters);
    cleanups.push(() => dlq.stop());
    await dlq.waitForCount(1);
    expect(dlq.values<{ data: { error: { code: string } } }>()[0]!.data.error.code).toBe('HITL_ERR_DECODE');
    await waitFor(async () => (await getLabelledExample(pool, modelId, 'dlq-1')) !== null, {
      message: 'the next correction stored',
    });
  });
});
