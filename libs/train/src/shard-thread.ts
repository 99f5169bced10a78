// One gradient-shard thread (shards.ts): a replica of the model that reads the current weights from
// shared memory, computes a shard's gradients and writes them back to its slot.
import { workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { serveInWorker } from "@isrdpo/pool";
import { type BackendPreference, VideoLMM, initBackend, parseModelConfig } from "@isrdpo/vlm";
import { freezesVision, shardGradients } from "./objective.ts";
import type { ShardAnswer, ShardRequest, ShardThreadInit } from "./shards.ts";

const init = (workerData as { data: ShardThreadInit }).data;
await initBackend(init.backend as BackendPreference, () => {});
const model = VideoLMM.fromWeights(
  parseModelConfig(init.config),
  new Map(init.weights.map((w) => [w.name, tf.tensor(w.data, w.shape)])),
  "gradient shard thread",
);
const byName = new Map(model.trainableParams({ freezeVision: freezesVision(init.data.kind) }));
const trainable = init.trainable.map((name) => {
  const v = byName.get(name);
  if (!v) throw new Error(`gradient shard thread: the model has no trainable "${name}"`);
  return v;
});
const weights = new Float32Array(init.weightsBuffer);
let version = -1;

serveInWorker(async (request) => {
  const r = request as ShardRequest;
  let offset = 0;
  if (r.version !== version) {
    for (const v of trainable) {
      // A copy: a tensor may keep its source array, and the main thread rewrites this one.
      const w = tf.tensor(weights.slice(offset, offset + v.size), v.shape);
      v.assign(w);
      w.dispose();
      offset += v.size;
    }
    model.markWeightsChanged();
    version = r.version;
  }
  const out = await shardGradients(model, init.padId, init.data, r.shard, r.totals, trainable);
  const slot = new Float32Array(init.gradBuffers[r.slot] as SharedArrayBuffer);
  offset = 0;
  for (const g of out.grads) {
    slot.set((await g.data()) as Float32Array, offset);
    offset += g.size;
    g.dispose();
  }
  return { value: { loss: out.loss, tokens: out.tokens, reads: out.reads } satisfies ShardAnswer };
});
