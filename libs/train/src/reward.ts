// The reward model of VLM-RLAIF (Ahn et al. 2024, arXiv 2402.03746, §3.2): the policy with a scalar
// head on its last token, trained on preference pairs with the Bradley–Terry loss. Context-aware: a
// pair's prompt carries the clip's context (its narrative) before the question, so the reward reads
// the video, the context, the question and the answer together.
import * as tf from "@tensorflow/tfjs";
import { type ScalarHead, type Tokenizer, type VideoLMM, Rng, buildScoreBatch, encodeRow, rewardScores, scoreRewards } from "@isrdpo/vlm";
import { bradleyTerryLoss, bradleyTerryMetrics } from "./rl.ts";
import { type DpoPair, type MicroBatch, type TrainOptions, type TrainResult, countTokens, mean, runLoop } from "./train.ts";

/** A preference pair for the reward model: `prompt` already holds the context and the question. */
export type RewardPair = DpoPair;

/**
 * A seeded split of `items` into training and held-out parts (⌈fraction·n⌉ held out, at least one
 * when fraction > 0 and n ≥ 2), so accuracy is measured on pairs the model never trained on.
 */
export function splitHeldOut<T>(items: readonly T[], fraction: number, seed: number): { train: T[]; heldOut: T[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`heldOutFraction: must be in [0, 1), got ${fraction}`);
  const order = new Rng(seed ^ 0x5eed).shuffle(items.map((_, i) => i));
  const n = fraction > 0 && items.length >= 2 ? Math.max(1, Math.ceil(fraction * items.length)) : 0;
  const held = new Set(order.slice(0, n));
  return { train: items.filter((_, i) => !held.has(i)), heldOut: items.filter((_, i) => held.has(i)) };
}

/**
 * Trains `model` and `head` in place on `pairs` with the Bradley–Terry loss; the vision tower stays
 * frozen, as in DPO. Per-step metrics (TRL RewardTrainer's names): accuracy, margin, mean_reward.
 */
export async function trainRewardModel(
  model: VideoLMM,
  tok: Tokenizer,
  head: ScalarHead,
  pairs: readonly RewardPair[],
  opts: TrainOptions = {},
): Promise<TrainResult> {
  const chosenRows = pairs.map((p) => encodeRow(tok, p.prompt, p.chosen));
  const rejectedRows = pairs.map((p) => encodeRow(tok, p.prompt, p.rejected));
  pairs.forEach((_, i) => {
    buildScoreBatch(model, [chosenRows[i]!], tok.padId, "pairs(chosen)", i);
    buildScoreBatch(model, [rejectedRows[i]!], tok.padId, "pairs(rejected)", i);
  });
  const microBatch = (idx: number[]): MicroBatch => {
    const b = idx.length;
    const sb = buildScoreBatch(model, [...idx.map((i) => chosenRows[i]!), ...idx.map((i) => rejectedRows[i]!)], tok.padId);
    const videos = idx.map((i) => pairs[i]!);
    let scores: tf.Tensor1D | null = null;
    return {
      tokens: countTokens(sb),
      loss: () => {
        const visual = model.visualTokens(videos);
        const r = rewardScores(model, head, tf.concat([visual, visual]) as tf.Tensor3D, sb);
        scores = tf.keep(r);
        return bradleyTerryLoss(r.slice(0, b), r.slice(b, b));
      },
      after: async () => {
        const r = Array.from(await scores!.data());
        scores!.dispose();
        const m = bradleyTerryMetrics(r.slice(0, b), r.slice(b));
        return { accuracy: m.accuracy, margin: m.margin, mean_reward: mean(r) };
      },
    };
  };
  const lengths = pairs.map((_, i) =>
    Math.max(chosenRows[i]!.prompt.length + chosenRows[i]!.answer.length, rejectedRows[i]!.prompt.length + rejectedRows[i]!.answer.length),
  );
  return runLoop(model, tok, opts, {}, { kind: "rm", heads: [head], microBatch }, lengths);
}

/** Loss, accuracy and margin of the reward model on pairs (held-out evaluation; TRL's eval_ names). */
export async function evaluateRewardModel(
  model: VideoLMM,
  tok: Tokenizer,
  head: ScalarHead,
  pairs: readonly RewardPair[],
  opts: { batchSize?: number; signal?: AbortSignal } = {},
): Promise<{ eval_loss: number; eval_accuracy: number; eval_margin: number; eval_pairs: number }> {
  // Chosen and rejected interleaved, so a pair shares a batch (and its video's visual tokens).
  const r = await scoreRewards(
    model,
    tok,
    head,
    pairs.flatMap((p) => [
      { ...p, answer: p.chosen },
      { ...p, answer: p.rejected },
    ]),
    opts,
  );
  const m = bradleyTerryMetrics(
    r.filter((_, i) => i % 2 === 0),
    r.filter((_, i) => i % 2 === 1),
  );
  return { eval_loss: m.loss, eval_accuracy: m.accuracy, eval_margin: m.margin, eval_pairs: pairs.length };
}
