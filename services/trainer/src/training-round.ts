// One training round of a model, run by the holder of its training lock: read the labelled
// examples, train, export and verify, score the candidate and the champion on the evaluation
// split, then register the version and promote or reject it in one transaction with its
// hitl.models.v1 records.
import {
  enqueueLifecycle,
  getCurrentPolicy,
  getPromotedVersion,
  promoteModelVersion,
  registerModelVersion,
  withTransaction,
  type ModelVersion,
} from '@hitl/db';
import {
  applyTemperature,
  evaluate,
  type Evaluation,
  type OnnxClassifier,
  withTemperatureApplied,
  type TemperatureFit,
} from '@hitl/model';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import {
  buildTrainingSet,
  calibrationHalves,
  certificationRows,
  crossFitFolds,
  labelDistribution,
  pickRows,
  type ChampionShape,
  type ModelInputs,
  type TrainingSet,
} from './dataset';
import { certify, type Certification } from './certification';
import { TrainerError, TrainerErrorCode } from './errors';
import {
  alignProbabilities,
  gateMetrics,
  macroF1,
  majorityBaseline,
  predictedLabels,
  promotionDecision,
  type GateDecision,
  type GateOptions,
} from './gate';
import { lifecycleRecord } from './lifecycle';
import type { TrainerMetrics } from './metrics';
import {
  claimRun,
  failRun,
  finishRun,
  handleRequests,
  loadTrainingExamples,
  startRun,
  type TrainingDue,
  type TrainingOutcome,
} from './store';
import type { TrainingStart } from './schedule';
import { ONNX_TOLERANCE, type TrainExportVerifyInput, type TrainedModel } from './training';

export interface TrainingRoundOptions {
  pool: Pool;
  modelId: string;
  /** Names this replica in its runs and as the actor of its promotions. */
  instanceId: string;
  /** Where the lifecycle records go (the catalog's hitl.models.v1 unless configured otherwise). */
  modelsTopic: string;
  gate: GateOptions;
  maxFeatures: number;
  regularizationC: number;
  /** The lowest temperature calibration may fit (CALIBRATION_MIN_TEMPERATURE). */
  calibrationMinTemperature: number;
  /** Cross-fitting folds of the training split while a target is set (CERTIFY_FOLDS); < 2: none. */
  certifyFolds?: number;
  seed: number;
  /** trainExportVerify, in a worker thread or in-process. */
  train: (input: TrainExportVerifyInput, signal: AbortSignal) => Promise<TrainedModel>;
  /** Opens the champion's ONNX bytes to score the evaluation split. */
  loadClassifier: (onnx: Uint8Array) => Promise<OnnxClassifier>;
  logger: Logger;
  /**
   * The classes and input of the model's stream (streams.ts): a model without a promoted version
   * takes this input, and its classes in this order (those its labels have; other labels after).
   */
  streamShape?: ChampionShape | null;
  /** The routing policy whose target accuracy certifies the version (default: the model's id). */
  policyName?: string;
  /** The model's `model` label in the metrics (default its id; `other` past the bound). */
  metricLabel?: string;
  metrics: TrainerMetrics;
  /** Called after the round's outbox records committed (to wake the relay). */
  onOutbox?: () => void;
}

export interface RoundResult {
  runId: string;
  outcome: TrainingOutcome;
  /** The version registered (promoted or rejected); null when skipped. */
  version: number | null;
  reason: string;
}

type Metrics = Record<string, number>;

function evaluationMetrics(evaluation: Evaluation): Metrics {
  const out: Metrics = {
    accuracy: evaluation.accuracy,
    macroF1: macroF1(evaluation),
    logLoss: evaluation.logLoss,
    ece: evaluation.ece,
  };
  for (const [label, m] of Object.entries(evaluation.perClass)) {
    out[`precision.${label}`] = m.precision;
    out[`recall.${label}`] = m.recall;
    out[`f1.${label}`] = m.f1;
  }
  return out;
}

function inputsOf(inputs: ModelInputs): readonly string[] | readonly (readonly number[])[] {
  return inputs.kind === 'text' ? inputs.texts : inputs.features;
}

/** The temperature fit and what it did to the calibration error on the half it was not fitted on. */
interface CalibrationFigures extends TemperatureFit {
  heldOutExamples: number;
  /** Expected calibration error on the held-out half before and after; null when it is empty. */
  eceBefore: number | null;
  eceAfter: number | null;
}

function calibrationFigures(
  set: TrainingSet,
  holdout: readonly number[],
  trained: TrainedModel,
): CalibrationFigures | null {
  const fit = trained.calibration;
  if (!fit) return null;
  const rows = holdout.map((i) => trained.probabilities[i]!);
  const labels = holdout.map((i) => set.eval.labels[i]!);
  const ece = (probabilities: number[][]) =>
    rows.length === 0 ? null : evaluate(set.classes, probabilities, labels).ece;
  return {
    ...fit,
    heldOutExamples: rows.length,
    // The exported model is the calibrated one; dividing by the temperature again undoes it.
    eceBefore: ece(applyTemperature(rows, 1 / fit.temperature)),
    eceAfter: ece(rows),
  };
}

/**
 * The champion scored on the same evaluation examples and classes as the candidate, with the label
 * it predicts for each (the gate compares the two models example by example).
 */
async function scoreChampion(
  champion: ModelVersion,
  set: TrainingSet,
  loadClassifier: TrainingRoundOptions['loadClassifier'],
): Promise<{ evaluation: Evaluation; predicted: string[] }> {
  const loaded = await loadClassifier(champion.onnx);
  // An imported champion's calibration is kept in the registry; inference applies it, so must this.
  const classifier =
    champion.temperature === null ? loaded : withTemperatureApplied(loaded, champion.temperature);
  try {
    const rows = await classifier.predictProba(inputsOf(set.eval.inputs));
    const aligned = alignProbabilities(classifier.description.classes, set.classes, rows);
    return {
      evaluation: evaluate(set.classes, aligned, set.eval.labels),
      predicted: predictedLabels(set.classes, aligned),
    };
  } finally {
    await classifier.close();
  }
}

function modelCard(args: {
  set: TrainingSet;
  trained: TrainedModel;
  candidate: Evaluation;
  calibration: CalibrationFigures | null;
  certification: Certification;
  /** Training rows that certified through a model of the other folds. */
  crossFitted: number;
  champion: { version: number; evaluation: Evaluation } | null;
  decision: GateDecision;
  gate: GateOptions;
  runId: string;
  start: TrainingStart;
  instanceId: string;
  labelsThrough: number;
  maxFeatures: number;
  regularizationC: number;
  seed: number;
}): Record<string, unknown> {
  const { set, trained, candidate, champion, decision } = args;
  return {
    trainer: {
      instance: args.instanceId,
      runId: args.runId,
      trigger: args.start.trigger,
      startedBecause: args.start.because,
    },
    inputKind: trained.inputKind,
    featureWidth: trained.featureWidth,
    classes: trained.classes,
    trainingExamples: set.train.labels.length,
    evaluationExamples: set.eval.labels.length,
    droppedExamples: set.dropped,
    labelsThrough: args.labelsThrough,
    labelDistribution: {
      train: labelDistribution(set.train.labels),
      eval: labelDistribution(set.eval.labels),
    },
    evaluation: {
      accuracy: candidate.accuracy,
      macroF1: macroF1(candidate),
      logLoss: candidate.logLoss,
      ece: candidate.ece,
      perClass: candidate.perClass,
      confusion: candidate.confusion,
      majorityBaseline: majorityBaseline(candidate),
    },
    ece: candidate.ece,
    calibration: args.calibration,
    certification: {
      heldOutExamples: args.certification.heldOut.decisions.length,
      crossFittedExamples: args.crossFitted,
      thresholds: args.certification.thresholds,
    },
    champion: champion
      ? {
          version: champion.version,
          accuracy: champion.evaluation.accuracy,
          macroF1: macroF1(champion.evaluation),
          perClass: champion.evaluation.perClass,
        }
      : null,
    gate: {
      promote: decision.promote,
      rule: decision.rule,
      reason: decision.reason,
      alpha: args.gate.alpha,
      minEvalExamples: args.gate.minEvalExamples,
      // The first version's test against the majority class, or the paired comparison with the
      // champion (McNemar counts and p-values, overall and per class, and the bootstrap interval).
      baseline: decision.baseline,
      comparison: decision.comparison,
    },
    parentVersion: champion?.version ?? null,
    trainingSeconds: trained.seconds.train,
    seconds: trained.seconds,
    onnx: { maxAbsDiff: trained.maxAbsDiff, checkedRows: trained.checkedRows, tolerance: ONNX_TOLERANCE },
    hyperparameters: {
      maxFeatures: args.maxFeatures,
      regularizationC: args.regularizationC,
      vocabularySize: trained.vocabularySize,
      epochs: trained.epochs,
      seed: args.seed,
    },
  };
}

/**
 * Runs one round and records it as a training run. Only the holder of the model's training lock
 * calls it. A round that fails is marked failed and its error rethrown.
 */
export async function runTrainingRound(
  opts: TrainingRoundOptions,
  due: TrainingDue,
  start: TrainingStart,
  signal: AbortSignal,
): Promise<RoundResult> {
  const { pool, modelId, metrics } = opts;
  const label = opts.metricLabel ?? modelId;
  const started = performance.now();
  const { trigger } = start;
  const actor = `trainer:${opts.instanceId}`;
  const log = opts.logger.child({ component: 'training-round' });

  const { examples, labelsThrough } = await loadTrainingExamples(pool, modelId);
  const champion = await getPromotedVersion(pool, modelId);
  const seen = new Set(examples.map((e) => e.label));
  const streamShape = opts.streamShape
    ? { ...opts.streamShape, classes: opts.streamShape.classes.filter((c) => seen.has(c)) }
    : null;
  const set = buildTrainingSet(examples, champion ?? streamShape);
  const runId = await startRun(pool, {
    modelId,
    start,
    instance: opts.instanceId,
    labelsThrough,
    examples: 'skip' in set ? 0 : set.train.labels.length,
    evalExamples: 'skip' in set ? 0 : set.eval.labels.length,
  });
  log.info(
    {
      runId,
      trigger,
      because: start.because,
      examples: examples.length,
      champion: champion?.version ?? null,
    },
    'training run started',
  );
  const finish = (result: RoundResult): RoundResult => {
    metrics.trainings.inc({ model: label, outcome: result.outcome });
    metrics.lastTrainingSeconds.set({ model: label }, (performance.now() - started) / 1000);
    log.info({ ...result, seconds: (performance.now() - started) / 1000 }, 'training run finished');
    return result;
  };

  try {
    if ('skip' in set) {
      const reason = `nothing to train: ${set.skip}`;
      await withTransaction(pool, async (client) => {
        if (!(await claimRun(client, runId))) throw interrupted(runId);
        await handleRequests(client, modelId, runId, due.lastRequestId);
        await finishRun(client, runId, { outcome: 'skipped', reason });
      });
      return finish({ runId, outcome: 'skipped', version: null, reason });
    }

    const halves = calibrationHalves(set.eval);
    const calibrationRows = pickRows(set.eval, halves.calibration);
    const policy = await getCurrentPolicy(pool, opts.policyName ?? modelId);
    const target =
      policy?.targetAccuracy == null
        ? null
        : { targetAccuracy: policy.targetAccuracy, confidenceLevel: policy.confidenceLevel };
    const folds =
      target && (opts.certifyFolds ?? 0) >= 2 ? crossFitFolds(set.train, opts.certifyFolds!) : null;
    const trained = await opts.train(
      {
        modelId,
        classes: set.classes,
        train: { inputs: set.train.inputs, labels: set.train.labels, weights: set.train.weights },
        verify: set.eval.inputs,
        calibrate: {
          inputs: calibrationRows.inputs,
          labels: calibrationRows.labels,
          minTemperature: opts.calibrationMinTemperature,
        },
        maxFeatures: opts.maxFeatures,
        regularizationC: opts.regularizationC,
        seed: opts.seed,
        ...(folds ? { crossFit: { folds } } : {}),
      },
      signal,
    );
    const candidate = evaluate(set.classes, trained.probabilities, set.eval.labels);
    const calibration = calibrationFigures(set, halves.holdout, trained);
    // Held-out rows the calibration cannot have biased certify the thresholds, for the target the
    // policy states now, with the cross-fitted training rows; their predictions are kept to
    // certify again for another.
    const certifying = certificationRows(set.classes, set.eval, halves);
    const crossFitted = (trained.outOfFold ?? []).flatMap((p, i) =>
      p ? [{ probabilities: p, truth: set.train.labels[i]! }] : [],
    );
    const certification = certify({
      classes: set.classes,
      probabilities: [
        ...certifying.map((i) => trained.probabilities[i]!),
        ...crossFitted.map((r) => r.probabilities),
      ],
      truth: [...certifying.map((i) => set.eval.labels[i]!), ...crossFitted.map((r) => r.truth)],
      target,
    });
    const championScored = champion
      ? { version: champion.version, ...(await scoreChampion(champion, set, opts.loadClassifier)) }
      : null;
    const candidatePredicted = predictedLabels(set.classes, trained.probabilities);
    const decision = promotionDecision(
      {
        candidate,
        champion: championScored,
        examples: set.eval.labels.map((truth, i) => ({
          truth,
          candidate: candidatePredicted[i]!,
          champion: championScored?.predicted[i] ?? null,
        })),
      },
      opts.gate,
    );
    const candidateMetrics = evaluationMetrics(candidate);
    const versionMetrics: Metrics = {
      ...candidateMetrics,
      trainExamples: set.train.labels.length,
      evalExamples: set.eval.labels.length,
      baselineAccuracy: majorityBaseline(candidate).share,
      trainingSeconds: trained.seconds.train,
      onnxMaxAbsDiff: trained.maxAbsDiff,
      ...(calibration
        ? {
            temperature: calibration.temperature,
            ...(calibration.eceBefore === null
              ? {}
              : { eceBeforeCalibration: calibration.eceBefore, eceAfterCalibration: calibration.eceAfter! }),
          }
        : {}),
      ...gateMetrics(decision),
      ...(championScored
        ? {
            championVersion: championScored.version,
            championMacroF1: macroF1(championScored.evaluation),
            championAccuracy: championScored.evaluation.accuracy,
          }
        : {}),
    };
    const trainedMetrics: Metrics = {
      trainExamples: set.train.labels.length,
      evalExamples: set.eval.labels.length,
      trainingSeconds: trained.seconds.train,
      epochs: trained.epochs,
      vocabularySize: trained.vocabularySize,
      onnxBytes: trained.onnx.byteLength,
      onnxMaxAbsDiff: trained.maxAbsDiff,
    };
    const card = modelCard({
      set,
      trained,
      candidate,
      calibration,
      certification,
      crossFitted: crossFitted.length,
      champion: championScored,
      decision,
      gate: opts.gate,
      runId,
      start,
      instanceId: opts.instanceId,
      labelsThrough,
      maxFeatures: opts.maxFeatures,
      regularizationC: opts.regularizationC,
      seed: opts.seed,
    });
    const outcome: TrainingOutcome = decision.promote ? 'promoted' : 'rejected';

    const registered = await withTransaction(pool, async (client) => {
      if (!(await claimRun(client, runId))) throw interrupted(runId);
      const version = await registerModelVersion(client, {
        modelId,
        onnx: trained.onnx,
        classes: trained.classes,
        inputKind: trained.inputKind,
        ...(trained.featureWidth === null ? {} : { featureWidth: trained.featureWidth }),
        metrics: versionMetrics,
        modelCard: card,
        heldOut: certification.heldOut,
        ...(certification.thresholds ? { thresholds: certification.thresholds } : {}),
        ...(champion ? { parentVersion: champion.version } : {}),
        createdBy: actor,
      });
      // registerModelVersion holds the registry's lock on the model until this transaction ends, so
      // what is promoted now stays so until the candidate is promoted or rejected against it.
      const promoted = await promotedVersion(client, modelId);
      if (promoted !== (champion?.version ?? null)) {
        throw new TrainerError(
          TrainerErrorCode.championChanged,
          `the promoted version changed from ${champion?.version ?? 'none'} to ${promoted ?? 'none'} while training; the next run compares with it`,
        );
      }
      await enqueueLifecycle(
        client,
        [
          lifecycleRecord('model.trained', version, trainedMetrics, { actor }),
          lifecycleRecord('model.evaluated', version, versionMetrics, { actor, reason: decision.reason }),
        ],
        opts.modelsTopic,
      );
      if (decision.promote) {
        await promoteModelVersion(client, modelId, version.version, {
          actor,
          reason: decision.reason,
          modelsTopic: opts.modelsTopic,
        });
      } else {
        await enqueueLifecycle(
          client,
          [lifecycleRecord('model.rejected', version, versionMetrics, { actor, reason: decision.reason })],
          opts.modelsTopic,
        );
      }
      await handleRequests(client, modelId, runId, due.lastRequestId);
      await finishRun(client, runId, { outcome, reason: decision.reason, version: version.version });
      return version;
    });
    opts.onOutbox?.();
    const championF1 = decision.promote
      ? macroF1(candidate)
      : championScored && macroF1(championScored.evaluation);
    if (championF1 !== null) metrics.championMacroF1.set({ model: label }, championF1);
    return finish({ runId, outcome, version: registered.version, reason: decision.reason });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    // Stopped by a shutdown, the run is aborted rather than failed: nothing was wrong with it.
    const status =
      error instanceof TrainerError && error.code === TrainerErrorCode.interrupted ? 'aborted' : 'failed';
    await failRun(pool, runId, reason, status).catch((e: unknown) =>
      log.warn({ err: e }, `could not mark the run ${status}`),
    );
    metrics.trainings.inc({ model: label, outcome: status });
    metrics.lastTrainingSeconds.set({ model: label }, (performance.now() - started) / 1000);
    throw error;
  }
}

async function promotedVersion(client: PoolClient, modelId: string): Promise<number | null> {
  const { rows } = await client.query<{ version: number }>(
    `SELECT version FROM model_versions WHERE model_id = $1 AND status = 'promoted'`,
    [modelId],
  );
  return rows[0]?.version ?? null;
}

function interrupted(runId: string): TrainerError {
  return new TrainerError(
    TrainerErrorCode.interrupted,
    `training run ${runId} is no longer running: another trainer took it over`,
  );
}
