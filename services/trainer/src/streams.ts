// The models the trainer trains, following the stream registry (@hitl/db streams.ts), by the rule
// inference and the router follow: while NO stream is registered, every correction is a label of
// MODEL_ID, as before streams; once one is, the registry is the whole truth. A correction's
// `stream` picks its stream and the stream's modelId is the model whose labelled examples it joins;
// the trainer trains every model some stream names (MODEL_ID only when a stream names it).
// A correction of a stream the registry lacks (inference dead-letters such events, so it should
// not come) is counted (hitl_trainer_examples_total{model="unregistered",result="unregistered"})
// and skipped, after the registry is read again once in case the stream was just added.
import { loadStreamRegistry, streamsRevision, type Stream } from '@hitl/db';
import type { Pool } from 'pg';
import type { ChampionShape } from './dataset';

export class TrainerStreams {
  private revision = -1;
  private streams = new Map<string, Stream>();
  private syncing: Promise<void> | null = null;

  constructor(
    private readonly db: Pool,
    /** MODEL_ID: takes every correction while no stream is registered. */
    private readonly defaultModelId: string,
  ) {}

  /** True once the registry was read. */
  get initialized(): boolean {
    return this.revision >= 0;
  }

  /** Reads the registry when its revision moved (calls during a read wait for it). */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce().finally(() => (this.syncing = null));
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    if (this.revision >= 0 && (await streamsRevision(this.db)) === this.revision) return;
    const { revision, streams } = await loadStreamRegistry(this.db);
    if (revision < this.revision) return;
    this.revision = revision;
    this.streams = new Map(streams.map((s) => [s.id, s]));
  }

  /** The model a correction of this stream labels; null: a stream the registry lacks. */
  modelFor(stream: string): string | null {
    if (this.streams.size === 0) return this.defaultModelId;
    return this.streams.get(stream)?.modelId ?? null;
  }

  /** The models trained now, sorted: MODEL_ID alone while no stream is registered. */
  models(): string[] {
    if (this.streams.size === 0) return [this.defaultModelId];
    return [...new Set([...this.streams.values()].map((s) => s.modelId))].sort();
  }

  /**
   * The classes and input a model's first version takes, from the first (by id) stream it serves;
   * null when no stream names it (then they come from its labels, as before streams).
   */
  shapeOf(modelId: string): ChampionShape | null {
    const stream = [...this.streams.values()]
      .filter((s) => s.modelId === modelId)
      .sort((a, b) => (a.id < b.id ? -1 : 1))[0];
    if (!stream) return null;
    return { classes: stream.classes, inputKind: stream.inputKind, featureWidth: stream.featureWidth };
  }

  /** The routing policy of the model's first stream (by id), else the model's id. */
  policyOf(modelId: string): string {
    const stream = [...this.streams.values()]
      .filter((s) => s.modelId === modelId)
      .sort((a, b) => (a.id < b.id ? -1 : 1))[0];
    return stream?.policyName ?? modelId;
  }
}
