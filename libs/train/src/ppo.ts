// PPO of the policy against a reward (VLM-RLAIF §3.3; Ouyang et al. 2022; the loop of TRL's
// PPOTrainer): each rollout batch samples one answer per prompt with the inference code (`generate`),
// scores it (a reward model or a toy reward), subtracts a per-token KL penalty to the frozen reference,
// estimates advantages with GAE on a value head, then optimises the clipped policy and value losses
// for several epochs over the batch. A rollout is kept in the job's checkpoints, so a resumed job
// continues mid-batch with the same samples.
import * as tf from "@tensorflow/tfjs";
import {
  type ScalarHead,
  type ScoreBatch,
  type TextRow,
  type Tokenizer,
  type VideoLMM,
  Rng,
  buildScoreBatch,
  generate,
  logProbsFromHidden,
  sequenceHidden,
} from "@isrdpo/vlm";
import { z } from "zod";
import { clippedValueLoss, gae, klPenalisedRewards, maskedMean, ppoPolicyLoss, tokenEntropy } from "./rl.ts";
import { type MicroBatch, type TrainOptions, type TrainResult, TrainingParamsSchema, countTokens, mean, runLoop } from "./train.ts";

export interface PpoPrompt {
  videoId: string;
  frames: Uint8Array;
  prompt: string;
}

/** The score of each sampled answer (prompt index into the job's prompts, and the answer's text). */
export type RewardFn = (samples: readonly { promptIndex: number; answer: string }[]) => Promise<number[]>;

export const PpoParamsSchema = z
  .object({
    /** β of the per-token KL penalty to the reference. */
    klCoef: z.number().min(0).default(0.05),
    clipRange: z.number().positive().default(0.2),
    valueClipRange: z.number().positive().default(0.2),
    valueCoef: z.number().min(0).default(0.1),
    entropyCoef: z.number().min(0).default(0),
    gamma: z.number().min(0).max(1).default(1),
    lambda: z.number().min(0).max(1).default(0.95),
    /** Prompts (one answer each) per rollout batch. */
    rolloutBatchSize: z.number().int().positive().default(8),
    /** Rollout batches; default: every prompt once. */
    rollouts: z.number().int().positive().optional(),
    /** Optimisation epochs over each rollout batch. */
    ppoEpochs: z.number().int().positive().default(4),
    /** Answers per optimizer step; default the rollout batch. */
    miniBatchSize: z.number().int().positive().optional(),
    /** Tokens per answer. Rollouts sample at temperature 1 without top-k/top-p, so they are on-policy. */
    maxNewTokens: z.number().int().positive().default(16),
  })
  .strict();
export type PpoParams = z.input<typeof PpoParamsSchema>;

export interface PpoTrainOptions extends TrainOptions {
  ppo?: PpoParams;
}

/** One sampled answer of a rollout, with everything its optimisation epochs need (JSON: kept in checkpoints). */
interface Sample {
  promptIndex: number;
  tokens: number[];
  oldLogProbs: number[];
  oldValues: number[];
  advantages: number[];
  returns: number[];
}

interface Rollout {
  index: number;
  samples: Sample[];
  /** TRL's objective/* metrics of the batch. */
  stats: Record<string, number>;
}

/**
 * PPO from the model's current weights; `reference` (the same starting weights, never trained) is
 * π_ref of the KL penalty. `valueHead` trains with the policy; the vision tower is frozen. Per-step
 * metrics with TRL's names: objective/scores, objective/kl, objective/rlhf_reward (of the step's
 * rollout), policy/entropy_avg, policy/approxkl_avg, policy/clipfrac_avg, loss/policy_avg,
 * loss/value_avg.
 */
export async function trainPpo(
  model: VideoLMM,
  reference: VideoLMM,
  tok: Tokenizer,
  valueHead: ScalarHead,
  prompts: readonly PpoPrompt[],
  reward: RewardFn,
  opts: PpoTrainOptions = {},
): Promise<TrainResult> {
  const parsed = PpoParamsSchema.safeParse(opts.ppo ?? {});
  if (!parsed.success) throw new Error(`ppo: ${z.prettifyError(parsed.error)}`);
  const p = parsed.data;
  const t = TrainingParamsSchema.parse(opts.training ?? {});
  if (t.gradAccum !== 1) throw new Error("training.gradAccum: PPO takes mini-batches (ppo.miniBatchSize), not gradient accumulation");
  if (prompts.length === 0) throw new Error("ppo: no prompts");
  const B = p.rolloutBatchSize;
  const rollouts = p.rollouts ?? Math.ceil(prompts.length / B);
  const mini = Math.min(p.miniBatchSize ?? B, B);
  const perEpoch = Math.ceil(B / mini);
  const stepsPerRollout = p.ppoEpochs * perEpoch;
  // The plan: rollout after rollout, each epoch a seeded shuffle of the batch's answers in mini-batches.
  const plan: number[][] = [];
  for (let r = 0; r < rollouts; r++) {
    for (let e = 0; e < p.ppoEpochs; e++) {
      const order = new Rng(t.seed + 104729 * r + 7919 * e).shuffle(Array.from({ length: B }, (_, i) => i));
      for (let s = 0; s < B; s += mini) plan.push(order.slice(s, s + mini));
    }
  }
  const promptRows = prompts.map((x) => [tok.bosId, ...tok.encode(x.prompt)]);
  const state: { rollout?: Rollout } = {};

  /** Rollout r's prompts: consecutive places in an endless sequence of seeded shuffles of all prompts. */
  const promptsOf = (r: number) =>
    Array.from({ length: B }, (_, k) => {
      const at = r * B + k;
      const pass = Math.floor(at / prompts.length);
      return new Rng(t.seed + 7919 * pass).shuffle(Array.from({ length: prompts.length }, (_, i) => i))[at % prompts.length]!;
    });

  const rowsOf = (samples: readonly Sample[]): TextRow[] => samples.map((s) => ({ prompt: promptRows[s.promptIndex]!, answer: s.tokens }));

  /** Per-token values of a [batch, time] tensor at the answer tokens, row by row. */
  const answerValues = (values: Float32Array | Int32Array | Uint8Array, sb: ScoreBatch): number[][] =>
    Array.from({ length: sb.batch }, (_, i) => {
      const out: number[] = [];
      for (let j = 0; j < sb.time; j++) if (sb.answerMask[i * sb.time + j] === 1) out.push(values[i * sb.time + j] as number);
      return out;
    });

  /** Dense [batch, time] from per-answer-token arrays (0 elsewhere). */
  const dense = (perToken: readonly (readonly number[])[], sb: ScoreBatch): tf.Tensor2D => {
    const out = new Float32Array(sb.batch * sb.time);
    perToken.forEach((xs, i) => {
      let k = 0;
      for (let j = 0; j < sb.time; j++) if (sb.answerMask[i * sb.time + j] === 1) out[i * sb.time + j] = xs[k++] as number;
    });
    return tf.tensor2d(out, [sb.batch, sb.time]);
  };

  async function rollout(r: number): Promise<Rollout> {
    const idx = promptsOf(r);
    const gens = await generate(
      model,
      tok,
      idx.map((i) => prompts[i]!),
      { temperature: 1, maxNewTokens: p.maxNewTokens, seed: t.seed + r },
      opts.signal ? { signal: opts.signal } : {},
    );
    const scores = await reward(idx.map((promptIndex, k) => ({ promptIndex, answer: gens[k]!.text })));
    const tokens = gens.map((g) => g.tokenIds);
    const sb = buildScoreBatch(
      model,
      idx.map((i, k) => ({ prompt: promptRows[i]!, answer: tokens[k]! })),
      tok.padId,
      "rollout",
    );
    const videos = idx.map((i) => prompts[i]!);
    const [logp, values, refLogp] = tf.tidy(() => {
      const hidden = sequenceHidden(model, model.visualTokens(videos), sb);
      const ref = logProbsFromHidden(reference, sequenceHidden(reference, reference.visualTokens(videos), sb), sb).tokenLogProbs;
      return [logProbsFromHidden(model, hidden, sb).tokenLogProbs, valueHead.perToken(hidden), ref];
    });
    const old = answerValues(await logp.data(), sb);
    const oldValues = answerValues(await values.data(), sb);
    const refs = answerValues(await refLogp.data(), sb);
    tf.dispose([logp, values, refLogp]);
    const samples: Sample[] = [];
    const kls: number[] = [];
    idx.forEach((promptIndex, k) => {
      const { rewards, kl } = klPenalisedRewards(scores[k]!, old[k]!, refs[k]!, p.klCoef);
      const { advantages, returns } = gae(rewards, oldValues[k]!, p.gamma, p.lambda);
      kls.push(kl.reduce((a, x) => a + x, 0));
      samples.push({ promptIndex, tokens: tokens[k]!, oldLogProbs: old[k]!, oldValues: oldValues[k]!, advantages, returns });
    });
    // Advantages whitened over the batch's answer tokens (TRL's whiten_advantages).
    const all = samples.flatMap((s) => s.advantages);
    const mu = mean(all);
    const sd = Math.sqrt(mean(all.map((a) => (a - mu) ** 2)));
    for (const s of samples) s.advantages = s.advantages.map((a) => (a - mu) / (sd + 1e-8));
    const kl = mean(kls);
    const score = mean(scores);
    return {
      index: r,
      samples,
      stats: { "objective/scores": score, "objective/kl": kl, "objective/rlhf_reward": score - p.klCoef * kl },
    };
  }

  const microBatch = async (idx: number[], step: number): Promise<MicroBatch> => {
    const r = Math.floor(step / stepsPerRollout);
    if (state.rollout?.index !== r) state.rollout = await rollout(r);
    const ro = state.rollout;
    const samples = idx.map((i) => ro.samples[i]!);
    const sb = buildScoreBatch(model, rowsOf(samples), tok.padId, "rollout");
    const videos = samples.map((s) => prompts[s.promptIndex]!);
    let kept: tf.Tensor[] = [];
    return {
      tokens: countTokens(sb),
      loss: () => {
        const hidden = sequenceHidden(model, model.visualTokens(videos), sb);
        const { tokenLogProbs, logits } = logProbsFromHidden(model, hidden, sb);
        const mask = tf.tensor2d(sb.answerMask, [sb.batch, sb.time]);
        const old = dense(
          samples.map((s) => s.oldLogProbs),
          sb,
        );
        const policy = ppoPolicyLoss(
          tokenLogProbs,
          old,
          dense(
            samples.map((s) => s.advantages),
            sb,
          ),
          mask,
          p.clipRange,
        );
        const value = clippedValueLoss(
          valueHead.perToken(hidden),
          dense(
            samples.map((s) => s.oldValues),
            sb,
          ),
          dense(
            samples.map((s) => s.returns),
            sb,
          ),
          mask,
          p.valueClipRange,
        );
        const entropy = tokenEntropy(logits, mask);
        const approxKl = maskedMean(tokenLogProbs.sub(old).square(), mask).mul(0.5);
        kept = [policy.loss, value, entropy, approxKl, policy.clipFraction].map((x) => tf.keep(x));
        return policy.loss.add(value.mul(p.valueCoef)).sub(entropy.mul(p.entropyCoef)) as tf.Scalar;
      },
      after: async () => {
        const [pg, vf, ent, akl, clip] = await Promise.all(kept.map(async (x) => (await x.data())[0] as number));
        tf.dispose(kept);
        return {
          ...ro.stats,
          "policy/entropy_avg": ent!,
          "policy/approxkl_avg": akl!,
          "policy/clipfrac_avg": clip!,
          "loss/policy_avg": pg!,
          "loss/value_avg": vf!,
        };
      },
    };
  };
  return runLoop(
    model,
    tok,
    opts,
    state,
    { kind: "ppo", heads: [valueHead], plan, microBatch },
    promptRows.map((r) => r.length),
  );
}
