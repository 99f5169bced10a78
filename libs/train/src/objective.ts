// What a training job minimises, as plain data a worker thread can rebuild (token ids, frames by video
// id, DPO's reference log-probs), and the loss of one gradient shard of a micro-batch. A shard's loss
// is its share of the whole micro-batch's loss (the batch's denominators, not the shard's), so the
// shards' gradients add up to the micro-batch's gradient whichever thread computed each one.
import * as tf from "@tensorflow/tfjs";
import { type TextRow, type VideoInput, type VideoLMM, buildScoreBatch, targetLogProbs } from "@isrdpo/vlm";
import { type DpoParams, dpoLoss, dpoLossTensor } from "./dpo.ts";

interface Videos {
  /** Per example, the id of its video. */
  videoIds: string[];
  /** Frames by video id: examples about one clip share them. */
  frames: Record<string, Uint8Array>;
}

export interface SftData extends Videos {
  kind: "sft";
  rows: TextRow[];
  /**
   * The dense head's labels per video ([numVisual × labels], where known) and the weight of its
   * loss beside the answers' (binary cross-entropy per token and label).
   */
  dense?: { weight: number; targets: Record<string, Float32Array> };
}

export interface DpoData extends Videos {
  kind: "dpo";
  chosen: TextRow[];
  rejected: TextRow[];
  /** log π_ref of each pair's answers, computed once per job. */
  reference: { chosen: number[]; rejected: number[] };
  params: DpoParams;
  /** Weight of TRL's "sft" term (the NLL of the chosen answers). */
  sftWeight: number;
}

export type ObjectiveData = SftData | DpoData;

/**
 * The denominators of a whole micro-batch: examples (pairs), answer tokens (chosen ones for DPO) and
 * examples with dense labels.
 */
export interface BatchTotals {
  examples: number;
  answerTokens: number;
  denseExamples: number;
}

export function batchTotals(data: ObjectiveData, idx: readonly number[]): BatchTotals {
  const rows = data.kind === "sft" ? data.rows : data.chosen;
  return {
    examples: idx.length,
    answerTokens: idx.reduce((n, i) => n + (rows[i] as TextRow).answer.length, 0),
    denseExamples: idx.filter((i) => denseTargetsOf(data, i) !== undefined).length,
  };
}

function denseTargetsOf(data: ObjectiveData, i: number): Float32Array | undefined {
  return data.kind === "sft" ? data.dense?.targets[data.videoIds[i] as string] : undefined;
}

/** Only SFT trains the vision tower; every other job keeps it frozen (DPO reads visual tokens from the model's cache). */
export const freezesVision = (kind: string): boolean => kind !== "sft";

/**
 * The shards of a micro-batch, at most `count`, none empty: example j goes to shard j mod count.
 * Strided, not contiguous, because length-grouped batches are sorted by length: contiguous shards
 * would give one thread the long examples and leave the other waiting. Shard k is the same examples
 * whatever number of threads computes them, which keeps a run's result independent of its threads.
 */
export function splitShards(idx: readonly number[], count: number): number[][] {
  const n = Math.min(count, idx.length);
  return Array.from({ length: n }, (_, k) => idx.filter((_, j) => j % n === k));
}

export interface ShardGradients {
  /** This shard's share of the micro-batch's loss. */
  loss: number;
  /** Visual + text tokens (padding excluded). */
  tokens: number;
  /** Per example, values the metrics need (DPO: the policy's log-probs, chosen then rejected). */
  reads: Float32Array;
  /** Gradients of `trainable`, in its order. */
  grads: tf.Tensor[];
}

/** Forward and backward pass of one shard. */
export async function shardGradients(
  model: VideoLMM,
  padId: number,
  data: ObjectiveData,
  shard: readonly number[],
  totals: BatchTotals,
  trainable: readonly tf.Variable[],
): Promise<ShardGradients> {
  const videos: VideoInput[] = shard.map((i) => {
    const videoId = data.videoIds[i] as string;
    return { videoId, frames: data.frames[videoId] as Uint8Array };
  });
  let reads: tf.Tensor | null = null;
  let tokens: number;
  let loss: () => tf.Scalar;
  if (data.kind === "sft") {
    const sb = buildScoreBatch(
      model,
      shard.map((i) => data.rows[i] as TextRow),
      padId,
    );
    tokens = countTokens(sb.keyValid);
    const labelled = shard.filter((i) => denseTargetsOf(data, i) !== undefined).length;
    loss = () => {
      const visual = model.encodeVideo(model.patchTensor(videos));
      const answers = sftLoss(targetLogProbs(model, visual, sb).tokenLogProbs, totals.answerTokens);
      if (!data.dense || labelled === 0) return answers;
      // Per token and label, over every labelled example of the micro-batch (unlabelled ones masked:
      // wasm has no gradient for gather).
      const logits = model.denseLogits(visual);
      const [b, n, k] = logits.shape;
      const labels = new Float32Array(b * n * k);
      const mask = new Float32Array(b);
      shard.forEach((i, j) => {
        const t = denseTargetsOf(data, i);
        if (t) labels.set(t, j * n * k);
        mask[j] = t ? 1 : 0;
      });
      const bce = tf.losses.sigmoidCrossEntropy(tf.tensor3d(labels, [b, n, k]), logits, undefined, 0, tf.Reduction.NONE);
      const dense = bce
        .mul(tf.tensor3d(mask, [b, 1, 1]))
        .sum()
        .div(totals.denseExamples * n * k) as tf.Scalar;
      reads = tf.keep(dense.reshape([1]));
      return answers.add(dense.mul(data.dense.weight)) as tf.Scalar;
    };
  } else {
    const b = shard.length;
    const sb = buildScoreBatch(model, [...shard.map((i) => data.chosen[i]), ...shard.map((i) => data.rejected[i])] as TextRow[], padId);
    tokens = countTokens(sb.keyValid);
    const inputs = {
      referenceChosen: shard.map((i) => data.reference.chosen[i] as number),
      referenceRejected: shard.map((i) => data.reference.rejected[i] as number),
      chosenLengths: sb.answerLengths.slice(0, b),
      rejectedLengths: sb.answerLengths.slice(b),
    };
    loss = () => {
      const visual = model.visualTokens(videos);
      const tokenLogProbs = targetLogProbs(model, tf.concat([visual, visual]) as tf.Tensor3D, sb).tokenLogProbs;
      const sums = tokenLogProbs.sum(1) as tf.Tensor1D;
      reads = tf.keep(sums);
      // dpoLossTensor is the shard's mean over pairs: scaled to its share of the batch's mean.
      let l = dpoLossTensor(sums.slice(0, b), sums.slice(b, b), inputs, data.params).mul(b / totals.examples);
      if (data.sftWeight > 0) l = l.add(sftLoss(tokenLogProbs.slice([0, 0], [b, sb.time]), totals.answerTokens).mul(data.sftWeight));
      return l as tf.Scalar;
    };
  }
  const { value, grads } = tf.variableGrads(loss, trainable as tf.Variable[]);
  const lossValue = (await value.data())[0] as number;
  value.dispose();
  const readValues = reads ? ((await (reads as tf.Tensor).data()) as Float32Array) : new Float32Array(0);
  (reads as tf.Tensor | null)?.dispose();
  return { loss: lossValue, tokens, reads: readValues, grads: trainable.map((v) => grads[v.name] as tf.Tensor) };
}

/**
 * TRL's names for DPO's metrics over a whole micro-batch, from its shards' reads. At step 0 the
 * policy is the reference: any difference is a bug in batching or caching.
 */
export function batchMetrics(
  data: ObjectiveData,
  shards: readonly number[][],
  reads: readonly Float32Array[],
  step: number,
): Record<string, number> {
  // SFT with dense labels: each shard read its share of the dense loss.
  if (data.kind === "sft") return data.dense ? { dense_loss: reads.reduce((s, r) => s + (r[0] ?? 0), 0) } : {};
  const idx = shards.flat();
  const policyChosen: number[] = [];
  const policyRejected: number[] = [];
  shards.forEach((s, k) => {
    const r = reads[k] as Float32Array;
    policyChosen.push(...r.subarray(0, s.length));
    policyRejected.push(...r.subarray(s.length));
  });
  const referenceChosen = idx.map((i) => data.reference.chosen[i] as number);
  const referenceRejected = idx.map((i) => data.reference.rejected[i] as number);
  if (step === 0) {
    [...policyChosen, ...policyRejected].forEach((p, k) => {
      const r = (k < idx.length ? referenceChosen[k] : referenceRejected[k - idx.length]) as number;
      if (Math.abs(p - r) > 1e-3 * Math.max(1, Math.abs(r)))
        throw new Error(`dpo: at step 0 the policy log-prob ${p} differs from the reference ${r} (pair ${idx[k % idx.length]})`);
    });
  }
  const m = dpoLoss(
    {
      policyChosen,
      policyRejected,
      referenceChosen,
      referenceRejected,
      chosenLengths: idx.map((i) => (data.chosen[i] as TextRow).answer.length),
      rejectedLengths: idx.map((i) => (data.rejected[i] as TextRow).answer.length),
    },
    data.params,
  );
  return {
    "rewards/chosen": m.rewardsChosen,
    "rewards/rejected": m.rewardsRejected,
    "rewards/margins": m.rewardsMargins,
    "rewards/accuracies": m.rewardsAccuracy,
    "logps/chosen": mean(policyChosen),
    "logps/rejected": mean(policyRejected),
  };
}

/** −Σ log p of answer tokens over `count` (the micro-batch's answer tokens): TRL's SFT loss. */
export function sftLoss(tokenLogProbs: tf.Tensor2D, count: number): tf.Scalar {
  return tokenLogProbs.sum().neg().div(count) as tf.Scalar;
}

/** Visual + text tokens (padding excluded) in a batch. */
function countTokens(keyValid: readonly Uint8Array[]): number {
  return keyValid.reduce((a, v) => a + v.reduce((x, y) => x + y, 0), 0);
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
