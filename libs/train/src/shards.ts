// Data-parallel gradients: the gradient shards of each micro-batch computed on worker threads (one
// tfjs backend each) beside the main thread. Weights go out and gradients come back through shared
// memory; the shards' gradients are summed in shard order, so the step is the same bit for bit on any
// number of threads (the shard count, a training parameter, is what fixes the arithmetic).
import * as tf from "@tensorflow/tfjs";
import { WorkerPool } from "@isrdpo/pool";
import type { VideoLMM } from "@isrdpo/vlm";
import { type BatchTotals, type ObjectiveData, type ShardGradients, shardGradients } from "./objective.ts";

/** What every shard thread is given once: the model, the job's data and the shared buffers. */
export interface ShardThreadInit {
  backend: string;
  config: unknown;
  weights: { name: string; shape: number[]; data: Float32Array }[];
  /** Names of the trained parameters, in the order of the shared buffers. */
  trainable: string[];
  padId: number;
  data: ObjectiveData;
  /** The trained parameters, concatenated; written by the main thread between steps. */
  weightsBuffer: SharedArrayBuffer;
  /** One per remote shard: its gradients, concatenated in `trainable` order. */
  gradBuffers: SharedArrayBuffer[];
}

export interface ShardRequest {
  /** Bumped by the main thread each time it writes the weights. */
  version: number;
  shard: number[];
  totals: BatchTotals;
  /** Which gradient buffer to fill. */
  slot: number;
}

export interface ShardAnswer {
  loss: number;
  tokens: number;
  reads: Float32Array;
}

/** Computes a micro-batch's gradient shards: shard k on thread k mod threads (thread 0 is the caller). */
export class GradientShards {
  private readonly pool: WorkerPool<ShardRequest, ShardAnswer> | null;
  private readonly weightsView: Float32Array | null;
  private readonly gradViews: Float32Array[] = [];
  private readonly offsets: number[] = [];
  private version = 0;

  private constructor(
    private readonly model: VideoLMM,
    private readonly padId: number,
    private readonly data: ObjectiveData,
    private readonly trainable: readonly [string, tf.Variable][],
    private readonly threads: number,
    init: Omit<ShardThreadInit, "gradBuffers" | "weightsBuffer"> | null,
    shardCount: number,
  ) {
    let size = 0;
    for (const [, v] of trainable) {
      this.offsets.push(size);
      size += v.size;
    }
    if (!init) {
      this.pool = null;
      this.weightsView = null;
      return;
    }
    const weightsBuffer = new SharedArrayBuffer(4 * size);
    const remote = Array.from({ length: shardCount }, (_, k) => k).filter((k) => k % threads !== 0);
    const gradBuffers = remote.map(() => new SharedArrayBuffer(4 * size));
    this.weightsView = new Float32Array(weightsBuffer);
    this.gradViews = gradBuffers.map((b) => new Float32Array(b));
    this.pool = new WorkerPool<ShardRequest, ShardAnswer>({
      size: threads - 1,
      script: new URL("./shard-thread.ts", import.meta.url),
      workerData: { ...init, weightsBuffer, gradBuffers } satisfies ShardThreadInit,
    });
  }

  /** `threads` is capped at the shard count; with one thread no worker is started. */
  static async open(
    model: VideoLMM,
    padId: number,
    data: ObjectiveData,
    trainable: readonly [string, tf.Variable][],
    threads: number,
    shardCount: number,
  ): Promise<GradientShards> {
    const n = Math.max(1, Math.min(threads, shardCount));
    if (n === 1) return new GradientShards(model, padId, data, trainable, 1, null, shardCount);
    const weights = [];
    for (const [name, v] of model.params) weights.push({ name, shape: v.shape, data: (await v.data()) as Float32Array });
    const init = { backend: tf.getBackend(), config: model.config, weights, trainable: trainable.map(([n]) => n), padId, data };
    const shards = new GradientShards(model, padId, data, trainable, n, init, shardCount);
    await shards.weightsChanged();
    return shards;
  }

  /** Call after the optimizer changed the weights: the threads read them before their next shard. */
  async weightsChanged(): Promise<void> {
    if (!this.weightsView) return;
    for (const [k, [, v]] of this.trainable.entries()) this.weightsView.set((await v.data()) as Float32Array, this.offsets[k]);
    this.version++;
  }

  /** The shards' losses, tokens and reads, and their summed gradients (in `trainable` order). */
  async compute(
    shards: readonly number[][],
    totals: BatchTotals,
  ): Promise<{ loss: number; tokens: number; reads: Float32Array[]; grads: tf.Tensor[] }> {
    const vars = this.trainable.map(([, v]) => v);
    const slots = new Map<number, number>();
    const remote = new Map<number, Promise<ShardAnswer>>();
    shards.forEach((shard, k) => {
      if (!this.pool || k % this.threads === 0) return;
      slots.set(k, slots.size);
      remote.set(k, this.pool.run({ version: this.version, shard, totals, slot: slots.get(k) as number }));
    });
    // A failed thread must not leave its siblings' answers unobserved.
    for (const p of remote.values()) p.catch(() => {});
    const local = new Map<number, ShardGradients>();
    for (const [k, shard] of shards.entries())
      if (!remote.has(k)) local.set(k, await shardGradients(this.model, this.padId, this.data, shard, totals, vars));
    let loss = 0;
    let tokens = 0;
    const reads: Float32Array[] = [];
    let sum: tf.Tensor[] | null = null;
    for (const k of shards.keys()) {
      let grads: tf.Tensor[];
      const mine = local.get(k);
      if (mine) {
        ({ grads } = mine);
        loss += mine.loss;
        tokens += mine.tokens;
        reads.push(mine.reads);
      } else {
        const answer = await (remote.get(k) as Promise<ShardAnswer>);
        const view = this.gradViews[slots.get(k) as number] as Float32Array;
        grads = vars.map((v, j) => tf.tensor(view.slice(this.offsets[j], (this.offsets[j] as number) + v.size), v.shape));
        loss += answer.loss;
        tokens += answer.tokens;
        reads.push(answer.reads);
      }
      if (sum === null) sum = grads;
      else {
        const prev: tf.Tensor[] = sum;
        sum = prev.map((g, j) => g.add(grads[j] as tf.Tensor));
        tf.dispose([...prev, ...grads]);
      }
    }
    return { loss, tokens, reads, grads: sum as tf.Tensor[] };
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
