// The models the service serves, following the stream registry: the promoted version of every
// registered stream's model, or of MODEL_ID alone while no stream is registered. A change of the
// registry loads the models it adds before their streams are routed to them, then unloads the
// models no stream uses any more (each closes once the batches scoring with it are done).
import { loadStreamRegistry, streamsRevision } from '@hitl/db';
import type { LoadOptions } from '@hitl/model';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { inferenceMetrics, type InferenceMetrics, type LabelBound } from './metrics';
import { ModelSlot } from './model-slot';
import { modelForStream, type StreamRoutes } from './scoring';

export interface ServedModelsOptions {
  db: Pool;
  /** MODEL_ID: serves every event while no stream is registered. */
  defaultModelId: string;
  logger: Logger;
  registry: Registry;
  loadOptions?: LoadOptions;
  /** Bounds the `model` label of the slots' metrics. */
  modelLabels: LabelBound;
}

export class ServedModels {
  private readonly slots = new Map<string, ModelSlot>();
  private current: StreamRoutes = { revision: -1, streams: new Map() };
  private syncing: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private readonly metrics: InferenceMetrics;
  private readonly log: Logger;

  constructor(private readonly options: ServedModelsOptions) {
    this.metrics = inferenceMetrics(options.registry);
    this.log = options.logger.child({ component: 'served-models' });
  }

  /** The routes in force: read them and acquire their slots' leases with no await between. */
  get routes(): StreamRoutes {
    return this.current;
  }

  /** True once the registry was read and every served model looked up. */
  get initialized(): boolean {
    return this.current.revision >= 0 && [...this.slots.values()].every((s) => s.initialized);
  }

  /** The model id that scores an event of this stream now (null: an unknown stream). */
  modelFor(stream: string, routes: StreamRoutes = this.current): string | null {
    return modelForStream(stream, routes, this.options.defaultModelId);
  }

  /** The slot of a served model id (undefined: not served). */
  slot(modelId: string): ModelSlot | undefined {
    return this.slots.get(modelId);
  }

  /** The model ids served, with their slots. */
  entries(): [string, ModelSlot][] {
    return [...this.slots.entries()];
  }

  /** Looks up every served model's promoted version again (the MODEL_POLL_MS check). */
  async refreshAll(): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => s.refresh()));
  }

  /**
   * Reads the registry when its revision moved, and serves what it says. Calls that arrive during
   * a sync are folded into one more sync after it, so a caller's sync always reads the registry
   * after the call. Registry errors (the database is down) are thrown, and the routes stay.
   */
  async sync(): Promise<void> {
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      try {
        do {
          this.again = false;
          await this.syncOnce();
        } while (this.again && !this.closed);
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const { db } = this.options;
    if (this.current.revision >= 0 && (await streamsRevision(db)) === this.current.revision) return;
    const { revision, streams } = await loadStreamRegistry(db);
    if (this.closed || revision <= this.current.revision) return;
    const routes: StreamRoutes = { revision, streams: new Map(streams.map((s) => [s.id, s.modelId])) };
    const wanted = new Set(streams.length === 0 ? [this.options.defaultModelId] : routes.streams.values());
    // Load the models this revision adds before routing any event to them ...
    const added = [...wanted]
      .filter((id) => !this.slots.has(id))
      .map(
        (modelId) =>
          new ModelSlot({
            db,
            modelId,
            logger: this.options.logger,
            registry: this.options.registry,
            metricLabel: this.options.modelLabels.label(modelId),
            ...(this.options.loadOptions ? { loadOptions: this.options.loadOptions } : {}),
          }),
      );
    try {
      await Promise.all(added.map((s) => s.refresh()));
    } catch (error) {
      await Promise.all(added.map((s) => s.close()));
      throw error;
    }
    if (this.closed) {
      await Promise.all(added.map((s) => s.close()));
      return;
    }
    for (const s of added) this.slots.set(s.modelId, s);
    // ... route to them ...
    this.current = routes;
    // ... and unload the ones no stream uses: a batch holding one keeps it until it is done.
    const removed = [...this.slots.entries()].filter(([id]) => !wanted.has(id));
    for (const [id] of removed) this.slots.delete(id);
    this.metrics.modelsLoaded.set(this.slots.size);
    this.metrics.streamsRevision.set(revision);
    this.log.info(
      {
        revision,
        streams: streams.length,
        models: [...this.slots.keys()],
        loaded: added.map((s) => s.modelId),
        unloaded: removed.map(([id]) => id),
      },
      streams.length === 0
        ? 'no stream registered: serving MODEL_ID for every event'
        : 'serving the stream registry',
    );
    await Promise.all(removed.map(([, s]) => s.close()));
  }

  /** Stops following the registry and closes every model once its leases are returned. */
  async close(): Promise<void> {
    this.closed = true;
    await this.syncing?.catch(() => undefined);
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map((s) => s.close()));
  }
}
