// An onnxruntime-node session in a worker thread. onnxruntime-node runs a session synchronously
// on the calling thread; in a service that would stall the event loop (Kafka I/O, JSON) for the
// whole of every batch. In a worker, scoring overlaps with that work and uses a second core.
import { Worker } from 'node:worker_threads';
import type { SessionSettings } from './load';

/** The feed of one run: a string or float32 tensor. */
export interface Feed {
  dtype: 'string' | 'float32';
  data: string[] | Float32Array;
  dims: number[];
}

export interface RunResult {
  data: Float32Array;
  dims: readonly number[];
}

// Plain CommonJS, evaluated in the worker: it needs no TypeScript loader there.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
parentPort.on('message', async (msg) => {
  try {
    if (msg.kind === 'load') {
      session = await ort.InferenceSession.create(msg.bytes, msg.options);
      parentPort.postMessage({ id: msg.id, ok: true });
    } else if (msg.kind === 'run') {
      const out = await session.run({ [msg.inputName]: new ort.Tensor(msg.dtype, msg.data, msg.dims) }, [msg.outputName]);
      const tensor = out[msg.outputName];
      // A copy: the output may live in memory the native side owns, which cannot be transferred.
      const data = Float32Array.from(tensor.data);
      parentPort.postMessage({ id: msg.id, ok: true, data, dims: tensor.dims }, [data.buffer]);
    } else if (msg.kind === 'close') {
      if (session) await session.release();
      parentPort.postMessage({ id: msg.id, ok: true });
    }
  } catch (error) {
    parentPort.postMessage({ id: msg.id, ok: false, message: String((error && error.message) || error) });
  }
});
`;

interface Reply {
  id: number;
  ok: boolean;
  message?: string;
  data?: Float32Array;
  dims?: number[];
}

/** One session in one worker thread; runs are queued and served in order. */
export class WorkerSession {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (reply: Reply) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private failure: Error | undefined;

  private constructor(
    private readonly inputName: string,
    private readonly outputName: string,
  ) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath: require.resolve('onnxruntime-node') },
    });
    // Only pending requests keep the process alive, not an idle worker.
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      if (reply.ok) waiter.resolve(reply);
      else waiter.reject(new Error(reply.message ?? 'scoring worker failed'));
    });
    const failAll = (error: Error) => {
      this.failure ??= error;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => failAll(new Error(`scoring worker exited with code ${code}`)));
  }

  static async create(
    bytes: Uint8Array,
    io: { inputName: string; outputName: string },
    options: SessionSettings,
  ): Promise<WorkerSession> {
    const session = new WorkerSession(io.inputName, io.outputName);
    try {
      await session.request({ kind: 'load', bytes: Uint8Array.from(bytes), options });
    } catch (error) {
      await session.worker.terminate();
      throw error;
    }
    return session;
  }

  private request(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  async run(feed: Feed): Promise<RunResult> {
    const transfer = feed.data instanceof Float32Array ? [feed.data.buffer as ArrayBuffer] : [];
    const reply = await this.request(
      { kind: 'run', inputName: this.inputName, outputName: this.outputName, ...feed },
      transfer,
    );
    return { data: reply.data!, dims: reply.dims! };
  }

  async close(): Promise<void> {
    try {
      if (!this.failure) await this.request({ kind: 'close' });
    } finally {
      await this.worker.terminate();
    }
  }
}
