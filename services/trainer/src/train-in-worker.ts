// Runs trainExportVerify in a worker thread. Training a text model is seconds of synchronous work;
// on the main thread it would hold up the corrections consumer's heartbeats, the outbox relay and
// /healthz for all that time, and a shutdown could not stop it.
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { TrainerError, TrainerErrorCode } from './errors';
import type { TrainExportVerifyInput, TrainedModel } from './training';

type Reply = { ok: true; result: TrainedModel } | { ok: false; message: string; code?: TrainerErrorCode };

// Internal packages are TypeScript source; the worker registers tsx's require hook before loading
// its entry (a worker does not inherit the parent's loader hooks).
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.tsx) require(workerData.tsx);
require(workerData.entry);
`;

function entryPoint(): { entry: string; tsx: string | null } {
  const typescript = __filename.endsWith('.ts');
  return {
    entry: join(__dirname, `training-worker${typescript ? '.ts' : '.js'}`),
    tsx: typescript ? require.resolve('tsx/cjs') : null,
  };
}

/** trainExportVerify in a worker thread of its own; aborting the signal terminates the worker. */
export function trainInWorker(input: TrainExportVerifyInput, signal?: AbortSignal): Promise<TrainedModel> {
  if (signal?.aborted) {
    return Promise.reject(new TrainerError(TrainerErrorCode.interrupted, 'training aborted before it began'));
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: entryPoint() });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = () =>
      settle(() =>
        reject(new TrainerError(TrainerErrorCode.interrupted, 'training aborted: the trainer is stopping')),
      );
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (reply: Reply) =>
      settle(() => {
        if (reply.ok) resolve(reply.result);
        else if (reply.code) reject(new TrainerError(reply.code, reply.message));
        else reject(new TrainerError(TrainerErrorCode.worker, `training failed: ${reply.message}`));
      }),
    );
    worker.on('error', (error) =>
      settle(() =>
        reject(
          new TrainerError(TrainerErrorCode.worker, `training worker failed: ${error.message}`, {
            cause: error,
          }),
        ),
      ),
    );
    worker.on('exit', (code) =>
      settle(() =>
        reject(new TrainerError(TrainerErrorCode.worker, `training worker exited with code ${code}`)),
      ),
    );
    worker.postMessage(input);
  });
}
