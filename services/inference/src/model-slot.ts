// The model the service serves, and the swap to a newly promoted version. Scoring leases the
// current model for one batch; a swap replaces it for the next batch and closes the old session
// once its last lease is returned, so no batch ever sees two versions or a closed session.
import { getPromotedVersion, type ModelVersion, type RegistryDb } from '@hitl/db';
import {
  loadOnnxClassifier,
  withTemperatureApplied,
  type LoadOptions,
  type OnnxClassifier,
} from '@hitl/model';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { inferenceMetrics, type InferenceMetrics } from './metrics';
import type { ModelShape } from './scoring';

export interface ServedModel extends ModelShape {
  classifier: OnnxClassifier;
  /** Size of its ONNX file. */
  bytes: number;
}

export interface Lease {
  /** null when no version is promoted yet (cold start). */
  readonly model: ServedModel | null;
  release(): void;
}

interface Entry {
  model: ServedModel;
  leases: number;
  retired: boolean;
}

export interface ModelSlotOptions {
  db: RegistryDb;
  modelId: string;
  logger: Logger;
  registry: Registry;
  loadOptions?: LoadOptions;
  /** The `model` label of its metrics (default modelId; the service bounds their number). */
  metricLabel?: string;
}

export class ModelSlot {
  private current: Entry | null = null;
  private refreshing: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private readonly metrics: InferenceMetrics;
  private readonly log: Logger;
  private readonly label: string;
  /** True after the first successful look at the registry. */
  initialized = false;

  constructor(private readonly options: ModelSlotOptions) {
    this.metrics = inferenceMetrics(options.registry);
    this.log = options.logger.child({ component: 'model-slot', modelId: options.modelId });
    this.label = options.metricLabel ?? options.modelId;
  }

  /** The model id it serves. */
  get modelId(): string {
    return this.options.modelId;
  }

  /** The model scoring a batch should use; release() when the batch is scored. */
  acquire(): Lease {
    const entry = this.current;
    if (!entry) return { model: null, release: () => undefined };
    entry.leases++;
    let released = false;
    return {
      model: entry.model,
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
        this.closeIfIdle(entry);
      },
    };
  }

  /** The version served now (null: none). */
  get version(): number | null {
    return this.current?.model.ref.version ?? null;
  }

  /**
   * Looks up the promoted version in the registry and swaps to it when it differs from the one
   * served. Calls that arrive during a refresh are folded into one more refresh after it. A
   * version that fails to load is logged and counted, and the served one stays; registry errors
   * (the database is down) are thrown.
   */
  async refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.again = false;
          await this.refreshOnce();
        } while (this.again && !this.closed);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private async refreshOnce(): Promise<void> {
    const { db } = this.options;
    const label = this.label;
    const promoted = await getPromotedVersion(db, this.options.modelId);
    this.initialized = true;
    if (this.closed) return;
    const served = this.version;
    if (promoted === null) {
      if (served !== null) {
        // Nothing promoted any more (the registry was edited by hand): keep serving what we have.
        this.log.warn({ served }, 'no promoted version in the registry; keeping the served one');
      }
      return;
    }
    if (promoted.version === served) return;
    let model: ServedModel;
    const started = process.hrtime.bigint();
    try {
      model = await this.load(promoted);
    } catch (error) {
      this.metrics.modelLoadFailures.inc({ model: label });
      this.log.error(
        { err: error, version: promoted.version, served },
        'promoted version failed to load; still serving the previous one',
      );
      return;
    }
    if (this.closed) {
      await model.classifier.close();
      return;
    }
    const previous = this.current;
    this.current = { model, leases: 0, retired: false };
    this.metrics.modelVersion.set({ model: label }, promoted.version);
    this.metrics.modelBytes.set({ model: label }, model.bytes);
    this.metrics.modelSwaps.inc({ model: label });
    this.log.info(
      {
        version: promoted.version,
        previous: previous?.model.ref.version ?? null,
        loadMs: Number(process.hrtime.bigint() - started) / 1e6,
      },
      'serving model version',
    );
    if (previous) {
      previous.retired = true;
      this.closeIfIdle(previous);
    }
  }

  private async load(version: ModelVersion): Promise<ServedModel> {
    const loaded = await loadOnnxClassifier(
      version.onnx,
      {
        classes: version.classes,
        inputKind: version.inputKind,
        ...(version.featureWidth !== null ? { featureWidth: version.featureWidth } : {}),
      },
      this.options.loadOptions,
    );
    // An imported model's calibration is kept in the registry rather than in its file.
    const classifier =
      version.temperature === null ? loaded : withTemperatureApplied(loaded, version.temperature);
    return {
      ref: { id: version.modelId, version: version.version },
      classes: classifier.description.classes,
      inputKind: classifier.description.inputKind,
      featureWidth: classifier.description.featureWidth,
      classifier,
      bytes: version.onnxBytes,
    };
  }

  private closeIfIdle(entry: Entry): void {
    if (!entry.retired || entry.leases > 0) return;
    entry.model.classifier.close().catch((error: unknown) => {
      this.log.warn({ err: error, version: entry.model.ref.version }, 'closing a retired session failed');
    });
  }

  /**
   * Stops refreshing and closes the served session once its leases are returned (a model no
   * stream uses any more is unloaded so); its version and size leave the metrics.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.refreshing?.catch(() => undefined);
    const entry = this.current;
    this.current = null;
    if (entry) {
      this.metrics.modelVersion.remove({ model: this.label });
      this.metrics.modelBytes.remove({ model: this.label });
      entry.retired = true;
      this.closeIfIdle(entry);
    }
  }
}
