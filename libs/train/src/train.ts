import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  type ScalarHead,
  type ScoreBatch,
  type TextRow,
  type Tokenizer,
  type VideoInput,
  type VideoLMM,
  Rng,
  buildScoreBatch,
  decodeSafetensors,
  encodeRow,
  encodeSafetensors,
  openCheckpoint,
  parseModelConfig,
  saveCheckpoint,
  sequenceLogProbs,
} from "@isrdpo/vlm";
import { z } from "zod";
import { type DpoParams, parseDpoParams } from "./dpo.ts";
import { type DpoData, type ObjectiveData, type SftData, batchMetrics, batchTotals, freezesVision, splitShards } from "./objective.ts";
import { AdamW, clipByGlobalNorm, learningRate } from "./optimizer.ts";
import { GradientShards } from "./shards.ts";

export interface SftExample {
  videoId: string;
  frames: Uint8Array;
  prompt: string;
  answer: string;
  /** Labels of the model's dense head for this video ([numVisual × config.denseLabels]), where known. */
  denseTargets?: Float32Array;
}

export interface DpoPair {
  videoId: string;
  frames: Uint8Array;
  prompt: string;
  chosen: string;
  rejected: string;
}

export const TrainingParamsSchema = z
  .object({
    lr: z.number().positive().default(3e-4),
    /**
     * Learning-rate multiplier of the vision tower and projector (a parameter group): a randomly
     * initialised vision front end may want a higher rate than the language model, which diverges
     * at rates that suit the vision probe (lr 1e-2 learned colour presence in 150 steps, 5e-3 made
     * the whole model's SFT diverge). On the demo's SFT, ×5 did not lift π_1 above chance
     * (README, "Does the loop learn?").
     */
    visionLrScale: z.number().positive().default(1),
    epochs: z.number().int().positive().default(1),
    /** Examples (SFT) or pairs (DPO) per micro-batch. */
    batchSize: z.number().int().positive().default(8),
    /** Micro-batches per optimizer step. */
    gradAccum: z.number().int().positive().default(1),
    /**
     * Gradient shards per micro-batch (data parallelism): each a strided part of the batch whose
     * gradient is computed on its own, on up to this many threads (TrainOptions.threads), and summed
     * in shard order. The result depends on the shard count, never on the thread count.
     */
    gradShards: z.number().int().positive().default(1),
    warmupSteps: z.number().int().nonnegative().default(0),
    schedule: z.enum(["constant", "linear", "cosine"]).default("cosine"),
    weightDecay: z.number().nonnegative().default(0.01),
    /** Global gradient-norm clip; 0 disables it. */
    maxGradNorm: z.number().nonnegative().default(1),
    adamBeta1: z.number().min(0).lt(1).default(0.9),
    adamBeta2: z.number().min(0).lt(1).default(0.999),
    adamEps: z.number().positive().default(1e-8),
    /** Save a checkpoint every N optimizer steps (and at the end) when checkpointDir is set; 0 = only at the end. */
    checkpointEvery: z.number().int().nonnegative().default(0),
    /** Checkpoints kept in checkpointDir (older step-* directories are deleted after each save). */
    keepCheckpoints: z.number().int().positive().default(3),
    /** Cap on optimizer steps (the schedule decays over min(maxSteps, steps in the epochs)). */
    maxSteps: z.number().int().positive().optional(),
    /**
     * Batch examples of similar length together (within windows of 64 batches, batch order shuffled),
     * as TRL's group_by_length: far less padding when lengths vary, the same examples per epoch.
     */
    groupByLength: z.boolean().default(false),
    /**
     * Example order: "none" (a seeded shuffle each epoch) or "answer-length", VLM-RLAIF's curriculum:
     * each epoch the examples with the shorter half of answers first, then the rest, each stage
     * shuffled (SFT only; DPO pairs keep "none").
     */
    curriculum: z.enum(["none", "answer-length"]).default("none"),
    /**
     * SFT's loss on answer tokens only (true, TRL's completion_only_loss default), or on every text
     * token after <bos> (false): the prompt's tokens are predicted too. The dense loss can teach the
     * pairwise judge a rule that needs its context (bench/judge-learnability.ts: learnt in 2 of 5
     * runs of 1 500 steps, never with the loss on the verdict alone).
     */
    completionOnlyLoss: z.boolean().default(true),
    /** Call onEval every N steps; 0 = never. */
    evalEvery: z.number().int().nonnegative().default(0),
    seed: z.number().int().default(0),
  })
  .strict();
export type TrainingParams = z.input<typeof TrainingParamsSchema>;

/** Training params with their defaults; an invalid one throws naming the field. */
function parseTrainingParams(training: TrainingParams | undefined): z.output<typeof TrainingParamsSchema> {
  const parsed = TrainingParamsSchema.safeParse(training ?? {});
  if (!parsed.success) throw new Error(`training: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export interface StepMetrics {
  step: number;
  totalSteps: number;
  epoch: number;
  lr: number;
  loss: number;
  gradNorm: number;
  /** Tokens (visual + text) processed per second in this step, forward and backward. */
  tokensPerSecond: number;
  stepMs: number;
  /** TRL's names for DPO: rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies, logps/chosen, logps/rejected. */
  metrics: Record<string, number>;
}

export interface TrainOptions {
  training?: TrainingParams;
  onProgress?: (m: StepMetrics) => void;
  /** Called every `evalEvery` steps, with the step just completed. */
  onEval?: (step: number) => void | Promise<void>;
  /** Where periodic checkpoints go (step-000012/ …). */
  checkpointDir?: string;
  /** Continue from the newest valid checkpoint in checkpointDir, if any. */
  resume?: boolean;
  /** Told of each checkpoint a resume passes over (unreadable or damaged), with the file. */
  onCheckpointSkipped?: (problem: string) => void;
  /** Threads that compute gradient shards (the caller's included); more than `gradShards` are not used. */
  threads?: number;
  /** Stops after the current step (a checkpoint is written first when checkpointDir is set). */
  signal?: AbortSignal;
}

export interface SftTrainOptions extends TrainOptions {
  /** Weight of the dense head's loss beside the answers' (examples with denseTargets; the model needs a dense head). */
  denseWeight?: number;
}

export interface DpoTrainOptions extends TrainOptions {
  dpo?: DpoParams & { sftWeight?: number };
}

export interface TrainResult {
  steps: number;
  totalSteps: number;
  stopped: "done" | "aborted";
  lastCheckpoint: { dir: string; digest: string } | null;
  history: StepMetrics[];
}

const TRAINER_STATE = "trainer.json";
const OPTIMIZER_STATE = "optimizer.safetensors";

/** Supervised fine-tuning: cross-entropy on answer tokens only; the vision tower trains too. */
export async function trainSft(
  model: VideoLMM,
  tok: Tokenizer,
  examples: readonly SftExample[],
  opts: SftTrainOptions = {},
): Promise<TrainResult> {
  const encoded = examples.map((e, i) => {
    if (typeof e.answer !== "string" || e.answer.length === 0) throw new Error(`examples[${i}].answer: must be a non-empty string`);
    return encodeRow(tok, e.prompt, e.answer);
  });
  encoded.forEach((row, i) => buildScoreBatch(model, [row], tok.padId, "examples", i));
  // Without completion-only loss the row's "answer" (what the loss covers) starts right after <bos>.
  const rows = parseTrainingParams(opts.training).completionOnlyLoss
    ? encoded
    : encoded.map((r) => ({ prompt: r.prompt.slice(0, 1), answer: [...r.prompt.slice(1), ...r.answer] }));
  const data: SftData = { kind: "sft", rows, ...videosOf(examples) };
  const denseWeight = opts.denseWeight ?? 0;
  if (!(denseWeight >= 0)) throw new Error(`denseWeight: must be >= 0, got ${denseWeight}`);
  if (denseWeight > 0) {
    const c = model.config;
    if (c.denseLabels === 0) throw new Error("denseWeight: the model has no dense head (config.denseLabels is 0)");
    const targets: Record<string, Float32Array> = {};
    examples.forEach((e, i) => {
      if (!e.denseTargets) return;
      if (e.denseTargets.length !== model.numVisual * c.denseLabels)
        throw new Error(
          `examples[${i}].denseTargets: ${e.denseTargets.length} values, the model needs ${model.numVisual} tokens × ${c.denseLabels} labels`,
        );
      targets[e.videoId] = e.denseTargets;
    });
    data.dense = { weight: denseWeight, targets };
  }
  return runLoop(
    model,
    tok,
    opts,
    {},
    { kind: "sft", data: () => data },
    rows.map((r) => r.prompt.length + r.answer.length),
    encoded.map((r) => r.answer.length),
  );
}

/**
 * DPO from the model's current weights, which are also the reference: reference log-probs are
 * computed once before the first step (and kept in checkpoints, so a resumed job uses the same).
 * The vision tower is frozen; visual tokens come from the model's cache.
 */
export async function trainDpo(
  model: VideoLMM,
  tok: Tokenizer,
  pairs: readonly DpoPair[],
  opts: DpoTrainOptions = {},
): Promise<TrainResult> {
  const params = parseDpoParams({ type: opts.dpo?.type, beta: opts.dpo?.beta, labelSmoothing: opts.dpo?.labelSmoothing });
  const sftWeight = opts.dpo?.sftWeight ?? 0;
  if (!(sftWeight >= 0)) throw new Error(`dpo.sftWeight: must be >= 0, got ${sftWeight}`);
  const chosen = pairs.map((p) => encodeRow(tok, p.prompt, p.chosen));
  const rejected = pairs.map((p) => encodeRow(tok, p.prompt, p.rejected));
  pairs.forEach((_, i) => {
    buildScoreBatch(model, [chosen[i] as TextRow], tok.padId, "pairs(chosen)", i);
    buildScoreBatch(model, [rejected[i] as TextRow], tok.padId, "pairs(rejected)", i);
  });
  const state: { reference?: DpoData["reference"] } = {};
  return runLoop(
    model,
    tok,
    opts,
    state,
    {
      kind: "dpo",
      data: async () => {
        // Once per job (a resumed job has it from its checkpoint): chosen and rejected interleaved, so
        // each pair shares a forward batch.
        if (!state.reference) {
          const scored = await sequenceLogProbs(
            model,
            tok,
            pairs.flatMap((p) => [
              { ...p, answer: p.chosen },
              { ...p, answer: p.rejected },
            ]),
          );
          state.reference = {
            chosen: scored.filter((_, i) => i % 2 === 0).map((s) => s.sum),
            rejected: scored.filter((_, i) => i % 2 === 1).map((s) => s.sum),
          };
        }
        return { kind: "dpo", chosen, rejected, reference: state.reference, params, sftWeight, ...videosOf(pairs) };
      },
    },
    pairs.map((_, i) =>
      Math.max(chosen[i]!.prompt.length + chosen[i]!.answer.length, rejected[i]!.prompt.length + rejected[i]!.answer.length),
    ),
  );
}

/** Video ids per example, and each video's frames once. */
function videosOf(items: readonly VideoInput[]): { videoIds: string[]; frames: Record<string, Uint8Array> } {
  return { videoIds: items.map((e) => e.videoId), frames: Object.fromEntries(items.map((e) => [e.videoId, e.frames])) };
}

/**
 * The micro-batches of a job, epoch after epoch: each epoch a seeded shuffle of every example. With
 * groupByLength, examples of similar length share a batch (sorted within windows of 64 batches) and
 * the batches are shuffled, so little compute goes to padding. With the answer-length curriculum, each
 * epoch is two stages (answers up to the median length, then longer ones), each planned that way.
 */
export function batchPlan(
  numExamples: number,
  t: { epochs: number; batchSize: number; seed: number; groupByLength: boolean; curriculum?: "none" | "answer-length" },
  lengths?: readonly number[],
  answerLengths?: readonly number[],
): number[][] {
  const group = t.groupByLength && lengths !== undefined;
  const staged = t.curriculum === "answer-length";
  if (staged && answerLengths?.length !== numExamples)
    throw new Error("batchPlan: the answer-length curriculum needs every answer's length");
  const median = staged ? [...answerLengths!].sort((a, b) => a - b)[Math.floor((numExamples - 1) / 2)]! : 0;
  const plan: number[][] = [];
  for (let e = 0; e < t.epochs; e++) {
    const rng = new Rng(t.seed + 7919 * e);
    const order = rng.shuffle(Array.from({ length: numExamples }, (_, i) => i));
    const stages = staged ? [order.filter((i) => answerLengths![i]! <= median), order.filter((i) => answerLengths![i]! > median)] : [order];
    for (const stage of stages) {
      const batches: number[][] = [];
      const window = group ? t.batchSize * 64 : stage.length;
      for (let w = 0; w < stage.length; w += window) {
        const chunk = stage.slice(w, w + window);
        if (group) chunk.sort((a, b) => (lengths[b] as number) - (lengths[a] as number) || a - b);
        for (let s = 0; s < chunk.length; s += t.batchSize) batches.push(chunk.slice(s, s + t.batchSize));
      }
      plan.push(...(group ? rng.shuffle(batches) : batches));
    }
  }
  return plan;
}

/** Job state kept in trainer.json besides the step (e.g. DPO reference log-probs). */
type JobState = Record<string, unknown>;

export interface MicroBatch {
  tokens: number;
  loss: () => tf.Scalar;
  /** Metrics of this micro-batch, read after its forward pass. */
  after?: () => Record<string, number> | Promise<Record<string, number>>;
}

/**
 * An objective computed on the calling thread (reward model, PPO): its micro-batches are closures
 * (PPO samples its rollouts between steps), so they take no gradient shards. `heads` (a reward or
 * value head) train with the model and are kept in its checkpoints as `<prefix>.safetensors`; `plan`
 * replaces the epochs of shuffled examples (PPO's rollouts and their epochs). The vision tower is frozen.
 */
/** An objective whose micro-batches are plain data, cut into gradient shards (SFT, DPO). */
interface ShardedObjective {
  kind: "sft" | "dpo";
  /** Called once, after a resume restored the job state. */
  data: () => Promise<ObjectiveData> | ObjectiveData;
}

export interface LocalObjective {
  kind: "rm" | "ppo";
  heads: readonly ScalarHead[];
  plan?: number[][];
  microBatch: (indices: number[], step: number) => MicroBatch | Promise<MicroBatch>;
}

/**
 * The optimizer loop of every job: the batch plan, gradient shards (on `opts.threads` threads),
 * gradient accumulation and clipping, AdamW, checkpoints and resume. `objective` is called once,
 * after a resume restored `jobState`.
 */
export async function runLoop(
  model: VideoLMM,
  tok: Tokenizer,
  opts: TrainOptions,
  jobState: JobState,
  objective: ShardedObjective | LocalObjective,
  lengths: readonly number[],
  answerLengths?: readonly number[],
): Promise<TrainResult> {
  const t = parseTrainingParams(opts.training);
  const local = "heads" in objective ? objective : null;
  const { kind } = objective;
  if (local && t.gradShards !== 1) throw new Error(`training.gradShards: ${kind} jobs compute their gradients on one thread`);
  const numExamples = lengths.length;
  if (numExamples === 0) throw new Error(`${kind}: no training data`);
  if (opts.resume && !opts.checkpointDir) throw new Error("training: resume needs checkpointDir");
  // The micro-batch plan is a pure function of (seed, epochs, batch size): a resumed run replays it.
  if (kind === "dpo" && t.curriculum !== "none") throw new Error(`training.curriculum: DPO takes no curriculum, got "${t.curriculum}"`);
  const plan = local?.plan ?? batchPlan(numExamples, t, lengths, answerLengths);
  const perEpoch = Math.ceil(numExamples / t.batchSize);
  const totalSteps = Math.min(t.maxSteps ?? Infinity, Math.floor(plan.length / t.gradAccum));
  if (totalSteps === 0) throw new Error(`${kind}: ${plan.length} micro-batches are fewer than gradAccum ${t.gradAccum}`);
  const optimizer = new AdamW({ beta1: t.adamBeta1, beta2: t.adamBeta2, eps: t.adamEps, weightDecay: t.weightDecay });
  const heads = local?.heads ?? [];
  const trainable = [...model.trainableParams({ freezeVision: freezesVision(kind) }), ...heads.flatMap((h) => [...h.params])];
  const allParams = new Map([...model.params, ...heads.flatMap((h) => [...h.params])]);
  let startStep = 0;
  let lastCheckpoint: TrainResult["lastCheckpoint"] = null;
  if (opts.resume && opts.checkpointDir) {
    const resumed = await resumeFrom(opts.checkpointDir, kind, model, heads, optimizer, jobState, opts.onCheckpointSkipped);
    if (resumed) {
      startStep = resumed.step;
      lastCheckpoint = { dir: resumed.dir, digest: resumed.digest };
    }
  }
  const save = async (step: number) => {
    if (!opts.checkpointDir) return;
    const dir = join(opts.checkpointDir, `step-${String(step).padStart(6, "0")}`);
    const trainer = { kind, step, optimizerStep: optimizer.step, numExamples, training: t, job: jobState };
    const { digest } = await saveCheckpoint(dir, model, tok, {
      [OPTIMIZER_STATE]: await encodeSafetensors(optimizer.stateTensors()),
      [TRAINER_STATE]: new TextEncoder().encode(`${JSON.stringify(trainer)}\n`),
      ...Object.fromEntries(await Promise.all(heads.map(async (h) => [headFile(h), await h.encode()] as const))),
    });
    lastCheckpoint = { dir, digest };
    const old = (await readdir(opts.checkpointDir))
      .filter((n) => /^step-\d+$/.test(n))
      .sort()
      .reverse()
      .slice(t.keepCheckpoints);
    for (const name of old) await rm(join(opts.checkpointDir, name), { recursive: true, force: true });
  };
  const visionScale = (name: string) => (model.isVisionParam(name) ? t.visionLrScale : 1);
  const history: StepMetrics[] = [];
  let stopped: TrainResult["stopped"] = "done";
  const data = local ? null : await (objective as ShardedObjective).data();
  const shards = data ? await GradientShards.open(model, tok.padId, data, trainable, opts.threads ?? 1, t.gradShards) : null;
  try {
    for (let step = startStep; step < totalSteps; step++) {
      const started = performance.now();
      const lr = learningRate(step, { lr: t.lr, warmupSteps: t.warmupSteps, totalSteps, schedule: t.schedule });
      let grads: Map<string, tf.Tensor> | null = null;
      let lossSum = 0;
      let tokens = 0;
      const metricSums: Record<string, number> = {};
      for (let a = 0; a < t.gradAccum; a++) {
        const idx = plan[step * t.gradAccum + a] as number[];
        let out: { loss: number; tokens: number; grads: tf.Tensor[]; metrics: Record<string, number> };
        if (local) {
          const mb = await local.microBatch(idx, step);
          const { value, grads: g } = tf.variableGrads(
            mb.loss,
            trainable.map(([, v]) => v),
          );
          const loss = (await value.data())[0] as number;
          value.dispose();
          out = { loss, tokens: mb.tokens, grads: trainable.map(([, v]) => g[v.name] as tf.Tensor), metrics: (await mb.after?.()) ?? {} };
        } else {
          const parts = splitShards(idx, t.gradShards);
          const computed = await shards!.compute(parts, batchTotals(data!, idx));
          out = { ...computed, metrics: batchMetrics(data!, parts, computed.reads, step) };
        }
        tokens += out.tokens;
        lossSum += out.loss;
        for (const [k, v] of Object.entries(out.metrics)) metricSums[k] = (metricSums[k] ?? 0) + v;
        // Accumulate the mean over micro-batches.
        const scaled = new Map<string, tf.Tensor>();
        out.grads.forEach((grad, j) => {
          const name = (trainable[j] as [string, tf.Variable])[0];
          const prev = grads?.get(name);
          scaled.set(
            name,
            tf.tidy(() => (prev ? prev.add(grad.div(t.gradAccum)) : grad.div(t.gradAccum))),
          );
          grad.dispose();
          prev?.dispose();
        });
        grads = scaled;
      }
      const g = grads as Map<string, tf.Tensor>;
      const gradNorm = await clipByGlobalNorm(g, t.maxGradNorm);
      optimizer.apply(allParams, g, lr, visionScale);
      for (const x of g.values()) x.dispose();
      model.markWeightsChanged();
      await shards?.weightsChanged();
      const stepMs = performance.now() - started;
      const metrics: StepMetrics = {
        step: step + 1,
        totalSteps,
        epoch: Math.floor((step * t.gradAccum) / perEpoch),
        lr,
        loss: lossSum / t.gradAccum,
        gradNorm,
        tokensPerSecond: tokens / (stepMs / 1000),
        stepMs,
        metrics: Object.fromEntries(Object.entries(metricSums).map(([k, v]) => [k, v / t.gradAccum])),
      };
      history.push(metrics);
      opts.onProgress?.(metrics);
      const last = step + 1 === totalSteps;
      const aborted = opts.signal?.aborted === true;
      if (last || aborted || (t.checkpointEvery > 0 && (step + 1) % t.checkpointEvery === 0)) await save(step + 1);
      if (t.evalEvery > 0 && (step + 1) % t.evalEvery === 0) await opts.onEval?.(step + 1);
      if (aborted && !last) {
        stopped = "aborted";
        break;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    optimizer.dispose();
    await shards?.close();
  }
  return { steps: history.at(-1)?.step ?? startStep, totalSteps, stopped, lastCheckpoint, history };
}

/** Loads the newest checkpoint in `root` whose manifest verifies; returns null if there is none. */
async function resumeFrom(
  root: string,
  kind: string,
  model: VideoLMM,
  heads: readonly ScalarHead[],
  optimizer: AdamW,
  jobState: JobState,
  onSkipped?: (problem: string) => void,
): Promise<{ step: number; dir: string; digest: string } | null> {
  let names: string[];
  try {
    names = (await readdir(root))
      .filter((n) => /^step-\d+$/.test(n))
      .sort()
      .reverse();
  } catch {
    return null;
  }
  for (const name of names) {
    const dir = join(root, name);
    // Every file is read and verified before any is applied: an interrupted save (no manifest) or a
    // damaged or missing file falls back to the previous checkpoint instead of failing every retry.
    let ckpt: Awaited<ReturnType<typeof openCheckpoint>>;
    let files: Record<string, Uint8Array>;
    try {
      ckpt = await openCheckpoint(dir);
      files = {};
      for (const f of [TRAINER_STATE, "config.json", "model.safetensors", OPTIMIZER_STATE, ...heads.map(headFile)])
        files[f] = await ckpt.read(f);
    } catch (err) {
      onSkipped?.(`${(err as Error).message}; resuming from an earlier checkpoint`);
      continue;
    }
    const trainer = JSON.parse(new TextDecoder().decode(files[TRAINER_STATE]));
    if (trainer.kind !== kind) throw new Error(`resume: ${dir} is a ${trainer.kind} checkpoint, this is a ${kind} job`);
    const config = parseModelConfig(JSON.parse(new TextDecoder().decode(files["config.json"])));
    if (JSON.stringify(config) !== JSON.stringify(model.config))
      throw new Error(`resume: ${dir}/config.json does not match the model's config`);
    const weights = decodeSafetensors(files["model.safetensors"]!, join(dir, "model.safetensors")).tensors;
    for (const [n, v] of model.params) {
      const w = weights.get(n);
      if (!w) throw new Error(`resume: ${dir}/model.safetensors lacks "${n}"`);
      v.assign(w);
    }
    tf.dispose([...weights.values()]);
    for (const h of heads) {
      const saved = decodeSafetensors(files[headFile(h)]!, join(dir, headFile(h))).tensors;
      for (const [n, v] of h.params) {
        const w = saved.get(n);
        if (!w) throw new Error(`resume: ${dir}/${headFile(h)} lacks "${n}"`);
        v.assign(w);
      }
      tf.dispose([...saved.values()]);
    }
    model.markWeightsChanged();
    const opt = decodeSafetensors(files[OPTIMIZER_STATE]!, join(dir, OPTIMIZER_STATE)).tensors;
    optimizer.loadState(trainer.optimizerStep, opt);
    tf.dispose([...opt.values()]);
    Object.assign(jobState, trainer.job);
    return { step: trainer.step, dir, digest: ckpt.digest };
  }
  return null;
}

/** A head's file in a checkpoint: the reward head's is the published reward model's REWARD_HEAD_FILE. */
const headFile = (h: ScalarHead) => `${h.prefix}.safetensors`;

/** Visual + text tokens (padding excluded) in a batch. */
export function countTokens(sb: ScoreBatch): number {
  return sb.keyValid.reduce((a, v) => a + v.reduce((x, y) => x + y, 0), 0);
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
