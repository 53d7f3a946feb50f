// pnpm bench:models (stack up): how the inference service's memory grows with the number of models
// it serves. Prints progress to stderr, the figures to stdout, and ends with one line of JSON.
//
// 1. Trains BENCH_MODEL_STEPS' largest number of text models (20,000 n-grams each, as the trainer
//    makes them): the first as bench:inference's, on 80% of the SpamAssassin corpus; each other
//    one on that corpus less a tenth of its own, so that no two have the same vocabulary and weights.
//    Each is registered as a model id of its own and promoted.
// 2. Starts the inference service (its own process) with an empty stream registry and MODEL_ID
//    the first model, and waits until its /metrics shows that model loaded.
// 3. For each step (default 1, 2, 3, 5 models): registers streams, each with a model of its own,
//    until that many are served, waits until /metrics shows each new model loaded
//    (hitl_inference_model_bytes), sends BENCH_EVENTS_PER_STREAM emails on every registered stream
//    and waits until /metrics counts them all predicted by their stream's model; then reads the
//    process's current (VmRSS) and peak (VmHWM) resident set size from /proc.
import {
  pipelineSettings,
  pipelineTopicNames,
  createPipelineTopics,
  emailEvent,
  preloadEvents,
  printFigures,
  progress as progressOf,
  readUsage,
  round,
  runBench,
  service,
  serviceEnv,
  toMb,
  trainServedModel,
  waitForCommitted,
  withBenchInfra,
} from '../src';
import { spamAssassin, stableFraction } from '@hitl/datasets';
import { addStream } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import { freePort, waitFor } from '@hitl/testkit';

const STEPS = (process.env.BENCH_MODEL_STEPS ?? '1,2,3,5').split(',').map(Number);
const EVENTS_PER_STREAM = Number(process.env.BENCH_EVENTS_PER_STREAM ?? 1_000);
const GOAL_MB = 300;
const CLASSES = ['ham', 'spam'];
const MB = 1e6;
const progress = progressOf('models');

/** VmRSS (now) and VmHWM (peak) of the running process, in MB (10^6 bytes). */
function residentMb(pid: number): { rssMb: number; peakMb: number } {
  const usage = readUsage(pid);
  if (!usage || usage.rssKiB === 0 || usage.peakKiB === 0) {
    throw new Error(`no VmRSS and VmHWM in /proc/${pid}/status`);
  }
  return { rssMb: toMb(usage.rssKiB), peakMb: toMb(usage.peakKiB) };
}

/** The samples of one metric on a Prometheus text page: each one's labels and value. */
function samples(page: string, name: string): { labels: Record<string, string>; value: number }[] {
  const found = [];
  for (const line of page.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]),
    );
    found.push({ labels, value: Number(m[3]) });
  }
  return found;
}

/** Sum of a metric's samples whose labels include `where`. */
const total = (page: string, name: string, where: Record<string, string> = {}) =>
  samples(page, name)
    .filter((s) => Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

interface Step {
  models: number;
  streams: number;
  /** Sum of the loaded models' ONNX sizes, as the service reports them (hitl_inference_model_bytes). */
  onnxMb: number;
  rssMb: number;
  peakMb: number;
  /** RSS and peak added per model since the step before. */
  addedRssMbPerModel: number | null;
  addedPeakMbPerModel: number | null;
  /** Events predicted so far, and the fewest onnxruntime calls (batches) any loaded model made. */
  predictions: number;
  minBatchesPerModel: number;
}

async function main(): Promise<void> {
  if (STEPS.some((n, i) => !Number.isInteger(n) || n < 1 || (i > 0 && n <= STEPS[i - 1]!))) {
    throw new Error(`BENCH_MODEL_STEPS must be rising whole numbers from 1, got ${STEPS.join(',')}`);
  }
  const names = pipelineTopicNames();
  await withBenchInfra(Object.values(names), async ({ kafka, db, pool, admin, processes, usage }) => {
    const emails = spamAssassin({ maxChars: 5_000 });
    const models: {
      modelId: string;
      onnxBytes: number;
      vocabulary: number;
      trainSeconds: number;
      /** dense: onnxruntime's TfIdfVectorizer, a [rows, vocabulary] tensor a batch; sparse: n-gram ids. */
      graph: 'dense' | 'sparse';
    }[] = [];
    for (let k = 0; k < STEPS.at(-1)!; k++) {
      progress(`training text model ${k + 1} of ${STEPS.at(-1)}`);
      // The first is bench:inference's model; each other one leaves out another tenth of the corpus.
      const subset =
        k === 0 ? emails : emails.filter((e) => Math.floor(stableFraction(e.id, 'models') * 10) !== k % 10);
      const { modelId, onnx, model, trainSeconds } = await trainServedModel(pool, subset);
      models.push({
        modelId,
        onnxBytes: onnx.length,
        vocabulary: model.vocabulary.length,
        trainSeconds: round(trainSeconds, 2),
        graph: Buffer.from(onnx).includes('TfIdfVectorizer') ? 'dense' : 'sparse',
      });
    }

    await createPipelineTopics(admin, names);
    const settings = pipelineSettings({ processes, usage, db }, names, models[0]!.modelId);
    const port = await freePort();
    const { main: inferenceMain, root } = service('@hitl/inference');
    progress('starting the inference service: no stream registered, MODEL_ID the first model');
    const inference = usage.watch(
      'inference',
      await processes.start(inferenceMain, {
        cwd: root,
        env: {
          ...serviceEnv(settings, 'bench-0'),
          GROUP_ID: settings.groups.inference,
          EVENTS_TOPIC: names.events,
          PREDICTIONS_TOPIC: names.predictions,
          RESCORING: 'false',
          HTTP_PORT: String(port),
        },
      }),
    );
    const metricsPage = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
      return response.text();
    };
    const loaded = async (modelId: string) => {
      await waitFor(
        async () =>
          samples(await metricsPage(), 'hitl_inference_model_bytes').some((s) => s.labels.model === modelId),
        {
          timeoutMs: 120_000,
          intervalMs: 100,
          message: `model ${modelId} loaded (hitl_inference_model_bytes)`,
        },
      );
    };
    await loaded(models[0]!.modelId);
    const idle = residentMb(inference.pid!);
    progress(`started: RSS ${idle.rssMb} MB, peak ${idle.peakMb} MB (one model, no event yet)`);

    const producer = new TypedProducer({ kafka });
    await producer.connect();
    const streams: { id: string; modelId: string; sent: number }[] = [];
    let sent = 0;
    const steps: Step[] = [];
    for (const step of STEPS) {
      while (streams.length < step) {
        const { modelId } = models[streams.length]!;
        const id = `bench-stream-${streams.length + 1}`;
        await addStream(pool, { id, classes: CLASSES, inputKind: 'text', modelId });
        streams.push({ id, modelId, sent: 0 });
        await loaded(modelId);
        progress(`stream ${id} registered, its model ${modelId} loaded`);
      }
      progress(`${step} models: ${EVENTS_PER_STREAM} events on each of ${streams.length} streams`);
      for (const [j, s] of streams.entries()) {
        const event = (id: string, i: number) => {
          const e = emailEvent(id, emails[(i + j * 997) % emails.length]!.text);
          return { ...e, data: { ...e.data, stream: s.id } };
        };
        await preloadEvents(producer, names.events, EVENTS_PER_STREAM, event, `${s.id}-${step}`);
        s.sent += EVENTS_PER_STREAM;
        sent += EVENTS_PER_STREAM;
      }
      // Every event predicted by its stream's model (not the cold-start 'none'), and committed.
      await waitFor(
        async () => {
          const page = await metricsPage();
          return streams.every(
            (s) =>
              total(page, 'hitl_inference_predictions_total', { model: s.modelId, stream: s.id }) -
                total(page, 'hitl_inference_predictions_total', { stream: s.id, version: 'none' }) >=
              s.sent,
          );
        },
        { timeoutMs: 600_000, intervalMs: 200, message: `${sent} events predicted by their streams' models` },
      );
      await waitForCommitted(admin, settings.groups.inference, names.events, sent, 600_000);
      const { rssMb, peakMb } = residentMb(inference.pid!);
      const page = await metricsPage();
      const served = samples(page, 'hitl_inference_model_bytes').length;
      if (served !== step) throw new Error(`${served} models loaded, expected ${step}`);
      const previous = steps.at(-1);
      const perModel = (now: number, before: number | undefined) =>
        before === undefined ? null : round((now - before) / (served - previous!.models));
      steps.push({
        models: served,
        streams: streams.length,
        onnxMb: round(total(page, 'hitl_inference_model_bytes') / MB, 2),
        rssMb,
        peakMb,
        addedRssMbPerModel: perModel(rssMb, previous?.rssMb),
        addedPeakMbPerModel: perModel(peakMb, previous?.peakMb),
        predictions: total(page, 'hitl_inference_predictions_total'),
        minBatchesPerModel: Math.min(
          ...streams.map((s) => total(page, 'hitl_inference_batch_size_count', { model: s.modelId })),
        ),
      });
      const rejected = total(page, 'hitl_inference_rejected_total');
      if (rejected > 0) throw new Error(`${rejected} events dead-lettered; expected none`);
      progress(`${step} models: RSS ${rssMb} MB, peak ${peakMb} MB`);
    }
    await producer.disconnect();
    await usage.stopProcess(inference);

    const [first, last] = [steps[0]!, steps.at(-1)!];
    const slope = (key: 'rssMb' | 'peakMb') =>
      last.models === first.models ? null : round((last[key] - first[key]) / (last.models - first.models));
    const figures = {
      bench: 'models',
      vocabulary: models[0]!.vocabulary,
      graph: [...new Set(models.map((m) => m.graph))].join(','),
      onnxBytes: models.map((m) => m.onnxBytes),
      trainSeconds: models.map((m) => m.trainSeconds),
      eventsPerStreamPerStep: EVENTS_PER_STREAM,
      idle: { models: 1, ...idle },
      steps,
      rssMbPerModel: slope('rssMb'),
      peakMbPerModel: slope('peakMb'),
      goalMb: GOAL_MB,
      /** The steps whose peak is within the goal (a light load: see the note printed with it). */
      modelsWithinGoal: Math.max(0, ...steps.filter((s) => s.peakMb <= GOAL_MB).map((s) => s.models)),
      peakRssMb: usage.peakRssMb(),
    };
    const row = (cells: readonly (string | number | null)[]) =>
      cells.map((c, i) => String(c ?? '–')[i === 0 ? 'padEnd' : 'padStart'](i === 0 ? 8 : 10)).join(' ');
    printFigures(
      [
        `inference service, text models of ${figures.vocabulary} n-grams (${figures.graph} text graph), ${EVENTS_PER_STREAM} events per stream per step`,
        `goal: peak RSS <= ${GOAL_MB} MB serving the 20,000-n-gram model`,
        `started with one model, no event yet: RSS ${idle.rssMb} MB, peak ${idle.peakMb} MB`,
        '',
        row(['models', 'streams', 'ONNX MB', 'RSS MB', 'peak MB', '+RSS/model', '+peak/model', 'batches']),
        ...steps.map((s) =>
          row([
            s.models,
            s.streams,
            s.onnxMb,
            s.rssMb,
            s.peakMb,
            s.addedRssMbPerModel,
            s.addedPeakMbPerModel,
            s.minBatchesPerModel,
          ]),
        ),
        '',
        `from ${first.models} to ${last.models} models: ${figures.rssMbPerModel} MB RSS and ${figures.peakMbPerModel} MB peak per model added`,
        `goal ${GOAL_MB} MB: peak within it up to ${figures.modelsWithinGoal} model(s); one model peaked at ${first.peakMb} MB here,`,
        `  after ${EVENTS_PER_STREAM} events (bench:inference's drain of 20,000 peaks higher with the same model)`,
      ],
      figures,
    );
  });
}

runBench('models', main);
