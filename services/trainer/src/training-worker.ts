// The training worker thread's entry point: one trainExportVerify per message.
import { parentPort } from 'node:worker_threads';
import { TrainerError } from './errors';
import { trainExportVerify, type TrainExportVerifyInput } from './training';

const port = parentPort;
if (!port) throw new Error('training-worker runs as a worker thread');

port.on('message', (input: TrainExportVerifyInput) => {
  trainExportVerify(input).then(
    (result) => port.postMessage({ ok: true, result }),
    (error: unknown) =>
      port.postMessage({
        ok: false,
        message: error instanceof Error ? error.message : String(error),
        code: error instanceof TrainerError ? error.code : undefined,
      }),
  );
});
