// A training job from its JobSpec: assemble the data (the synthetic SFT mix and/or imported
// datasets, or the non-tie pairs of preference shards), train with periodic checkpoints in the
// trainer's directory (a restarted job resumes from the newest), and publish the new model version
// (for a reward model: the policy with its reward head, measured on held-out pairs).
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import {
  Curriculum,
  DpoLossType,
  JobKind,
  LrSchedule,
  PreferenceShardSchema,
  ToyReward,
  type JobSpec,
  type ModelRef,
  type TrainingParams as TrainingParamsProto,
} from "@isrdpo/contracts";
import type { ServiceContext } from "@isrdpo/runtime";
import { loadModelCopy, modelsOf, videoOptions } from "@isrdpo/serving";
import { datasetSftExamples } from "@isrdpo/datasets";
import {
  evaluateRewardModel,
  splitHeldOut,
  trainDpo,
  trainPpo,
  trainRewardModel,
  trainSft,
  type DpoPair,
  type PpoPrompt,
  type RewardFn,
  type RewardPair,
  type StepMetrics,
  type TrainingParams,
} from "@isrdpo/train";
import {
  type InstructionItem,
  type SftMixOptions,
  buildSftMix,
  clipFromId,
  denseTargets,
  renderClip,
  resolveVideo,
  scoreAnswer,
  syntheticSplit,
} from "@isrdpo/video";
import {
  REWARD_HEAD,
  ScalarHead,
  asTarget,
  fitPrompt,
  modelConfig,
  prompts,
  publishCheckpoint,
  scoreRewards,
  skillText,
  Tokenizer,
  VideoLMM,
  type Policy,
  type Preset,
} from "@isrdpo/vlm";

export interface JobOutcome {
  model: { name: string; digest: string; checkpoint: ModelRef["checkpoint"] };
  steps: number;
  /** Why the model did not change, when it did not (e.g. no non-tie pairs). */
  note: string;
  /** The output model measured after training (a reward model's held-out eval_* metrics). */
  evalMetrics?: Record<string, number>;
}

/** The share of a reward model's pairs held out for eval_accuracy when the spec leaves it 0. */
export const DEFAULT_HELD_OUT_FRACTION = 0.1;

/** TrainingParams of the contracts, with protobuf zeros meaning the library defaults. */
export function trainingParams(p: TrainingParamsProto | undefined, seed: number): TrainingParams {
  // Length-grouped batches: SFT and preference data mix 30- and 200-token sequences.
  const out: TrainingParams = { seed: Number(p?.seed ?? 0n) || seed, groupByLength: true };
  if (!p) return out;
  if (p.learningRate) out.lr = p.learningRate;
  if (p.epochs) out.epochs = p.epochs;
  if (p.batchSize) out.batchSize = p.batchSize;
  if (p.gradientAccumulationSteps) out.gradAccum = p.gradientAccumulationSteps;
  if (p.warmupSteps) out.warmupSteps = p.warmupSteps;
  if (p.schedule !== LrSchedule.UNSPECIFIED) out.schedule = LrSchedule[p.schedule].toLowerCase() as "constant" | "linear" | "cosine";
  if (p.weightDecay) out.weightDecay = p.weightDecay;
  if (p.maxGradNorm) out.maxGradNorm = p.maxGradNorm;
  if (p.checkpointEverySteps) out.checkpointEvery = p.checkpointEverySteps;
  if (p.maxSteps) out.maxSteps = p.maxSteps;
  if (p.visionLrScale) out.visionLrScale = p.visionLrScale;
  if (p.gradShards) out.gradShards = p.gradShards;
  if (p.completionOnlyLoss !== undefined) out.completionOnlyLoss = p.completionOnlyLoss;
  if (p.curriculum === Curriculum.ANSWER_LENGTH) out.curriculum = "answer-length";
  return out;
}

const LOSS_TYPES: Record<DpoLossType, "sigmoid" | "hinge" | "ipo" | "robust" | "sigmoid_norm"> = {
  [DpoLossType.UNSPECIFIED]: "sigmoid",
  [DpoLossType.SIGMOID]: "sigmoid",
  [DpoLossType.HINGE]: "hinge",
  [DpoLossType.IPO]: "ipo",
  [DpoLossType.ROBUST]: "robust",
  [DpoLossType.SIGMOID_NORM]: "sigmoid_norm",
};

/**
 * Records per clip of each skill the loop uses. Judging gets the largest share: a small model's
 * judge is otherwise pure position bias (every pair a tie, measured), and the judge with context is
 * what ISR-DPO relies on. Critique and revision are left out unless the run's judge uses them (CRITIQUE_MIX).
 */
export const SFT_MIX = { answer: 3, describe: 1, refine: 1, judge: 2, judgeWithContext: 3, critique: 0, revise: 0 };

/** Critique and revision records per clip when JobSpec.critique_skills is set (on for self-critique runs). */
export const CRITIQUE_MIX = { critique: 1, revise: 1 };

/**
 * The SFT examples of the synthetic world's training split, as prompt/answer text with frames; with
 * `dense` (the model's patch size and tubelet), each with its clip's labels for the dense head.
 */
export function syntheticSftExamples(
  data: { seed: bigint; clipCount: number; frames: number },
  dims: { frames: number; height: number; width: number },
  mix: Omit<SftMixOptions, "seed"> = SFT_MIX,
  dense?: { patchSize: number; tubelet: number },
) {
  const clips = syntheticSplit(Number(data.seed), "train", data.clipCount, data.frames || dims.frames);
  const frames = new Map(clips.map((c) => [c.id, renderClip(c.scene, dims)]));
  const targets = new Map(dense ? clips.map((c) => [c.id, denseTargets(c.scene, { ...dims, ...dense })]) : []);
  return buildSftMix(clips, { seed: Number(data.seed), ...mix }).map((r) => ({
    videoId: r.clipId,
    frames: frames.get(r.clipId)!,
    ...(dense ? { denseTargets: targets.get(r.clipId)! } : {}),
    ...skillText(r),
  }));
}

/**
 * The oracle-ordered pairs of the synthetic world's SFT judge records, as reward-model pairs: the
 * question after the record's context (a self-like description of the clip, sometimes none).
 */
export function syntheticJudgePairs(
  data: { seed: bigint; split: string; clipCount: number; frames: number },
  dims: { frames: number; height: number; width: number },
): RewardPair[] {
  const clips = syntheticSplit(Number(data.seed), (data.split || "train") as "train", data.clipCount, data.frames || dims.frames);
  const frames = new Map(clips.map((c) => [c.id, renderClip(c.scene, dims)]));
  const mix = { answer: 0, describe: 0, refine: 0, judge: 1, judgeWithContext: 1, critique: 0, revise: 0 };
  return buildSftMix(clips, { seed: Number(data.seed), ...mix }).flatMap((r) =>
    r.task === "judge"
      ? [
          {
            videoId: r.clipId,
            frames: frames.get(r.clipId)!,
            prompt: prompts.answer(r.question, r.context ?? ""),
            chosen: asTarget(r.target === "A" ? r.answerA : r.answerB),
            rejected: asTarget(r.target === "A" ? r.answerB : r.answerA),
          },
        ]
      : [],
  );
}

/**
 * The non-tie pairs of preference shards. `withContext`: the prompt carries the record's context c_t
 * (the reward model reads it; DPO trains the answer prompt alone). Pairs too long for the model are
 * left out and counted.
 */
async function preferencePairs(
  ctx: ServiceContext,
  refs: JobSpec["data"],
  policy: Policy,
  withContext: boolean,
): Promise<{ pairs: DpoPair[]; tooLong: number }> {
  const dims = policy.model.config;
  const cache = new Map<string, Uint8Array>();
  const pairs: DpoPair[] = [];
  let tooLong = 0;
  for (const ref of refs) {
    for (const r of fromBinary(PreferenceShardSchema, await ctx.artifacts.get(ref)).records) {
      if (r.tie) continue;
      const prompt = prompts.answer(r.prompt, withContext ? r.context : "");
      const pair = { videoId: r.videoId, frames: new Uint8Array(), prompt, chosen: asTarget(r.chosen), rejected: asTarget(r.rejected) };
      if (!pairFits(policy.tok, dims.maxTextLen, pair)) {
        tooLong++;
        continue;
      }
      pairs.push({ ...pair, frames: await framesOf(ctx, r.videoId, dims, cache) });
    }
  }
  return { pairs, tooLong };
}

const pairFits = (tok: Tokenizer, maxTextLen: number, p: { prompt: string; chosen: string; rejected: string }) =>
  fits(tok, maxTextLen, p.prompt, p.chosen) && fits(tok, maxTextLen, p.prompt, p.rejected);

/**
 * Reward-model and PPO jobs compute each micro-batch on the trainer's own thread (PPO samples between
 * steps): a run's gradient shards (training.grad_shards, for SFT and DPO) do not apply to them.
 */
const oneThread = <T extends { training: TrainingParams }>(common: T): T => ({
  ...common,
  training: { ...common.training, gradShards: 1 },
});

/** The job note that says so when the spec asked for gradient shards, joined with the job's own note. */
const notes = (spec: JobSpec, ...parts: string[]) =>
  [
    ...parts,
    (spec.training?.gradShards ?? 0) > 1
      ? `training.grad_shards ${spec.training!.gradShards} not applied: this job kind trains on one thread`
      : "",
  ]
    .filter(Boolean)
    .join("; ");

/** Whether `<bos> prompt answer <eos>` fits the model's text length. */
export function fits(tok: Tokenizer, maxTextLen: number, prompt: string, answer: string): boolean {
  return tok.encode(prompt).length + tok.encode(answer).length + 2 <= maxTextLen;
}

async function framesOf(
  ctx: ServiceContext,
  videoId: string,
  dims: { frames: number; height: number; width: number },
  cache: Map<string, Uint8Array>,
): Promise<Uint8Array> {
  let frames = cache.get(videoId);
  if (!frames) {
    frames = videoId.startsWith("syn-")
      ? renderClip(clipFromId(videoId).scene, dims)
      : await resolveVideo({ case: "uri", value: videoId }, dims, `pairs video ${videoId}`, videoOptions(ctx));
    cache.set(videoId, frames);
  }
  return frames;
}

/** Where a job's resumable checkpoints live while it runs (removed once its model is published). */
export const jobCheckpointDir = (ctx: ServiceContext, jobId: string) => join(ctx.config.checkpointDir, "jobs", jobId);

export async function runJob(
  ctx: ServiceContext,
  jobId: string,
  spec: JobSpec,
  opts: { onProgress?: (m: StepMetrics) => void; signal?: AbortSignal; seed?: number } = {},
): Promise<JobOutcome> {
  const checkpointDir = jobCheckpointDir(ctx, jobId);
  const training = trainingParams(spec.training, opts.seed ?? 0);
  const common = {
    training,
    checkpointDir,
    resume: true,
    // Gradient shards run on up to this many threads; the shard count (spec) fixes the result.
    threads: ctx.config.threads,
    onCheckpointSkipped: (problem: string) => ctx.logger.warn({ jobId }, problem),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  await modelsOf(ctx); // starts the tfjs backend
  if (spec.kind === JobKind.SFT) {
    if (!spec.syntheticData && spec.data.length === 0)
      throw new Error("job.spec: SFT needs synthetic_data, data (imported datasets) or both");
    if (spec.baseModel?.digest) throw new Error("job.spec.base_model: SFT starts from scratch; continuing SFT of a model is not built yet");
    const preset = modelConfig((spec.preset || "small") as Preset);
    // The synthetic mix, imported datasets, or both mixed.
    const all = [
      ...(spec.syntheticData
        ? syntheticSftExamples(spec.syntheticData, preset, spec.critiqueSkills ? { ...SFT_MIX, ...CRITIQUE_MIX } : SFT_MIX)
        : []),
      ...(await datasetSftExamples(ctx.artifacts, spec.data, preset, ctx.config.media.roots)).map((e) => ({
        videoId: e.videoId,
        frames: e.frames,
        ...skillText(e.record),
      })),
    ];
    // The tokenizer is learned from the SFT text itself, deterministically, so a resumed job rebuilds
    // it. A closed vocabulary may need fewer ids than the preset allows: the model gets exactly those.
    const tok = Tokenizer.train(
      all.map((e) => e.prompt + e.answer),
      { vocabSize: preset.vocabSize },
    );
    const config = modelConfig((spec.preset || "small") as Preset, { vocabSize: tok.vocabSize });
    // Examples longer than the model's text length cannot be trained on whole: they are left out
    // and counted (the job's note says how many), never cut silently.
    const examples = all.filter((e) => fits(tok, config.maxTextLen, e.prompt, e.answer));
    const dropped = all.length - examples.length;
    if (examples.length === 0) throw new Error(`no SFT example fits the model's text length ${config.maxTextLen}`);
    const model = VideoLMM.create(config, training.seed ?? 0);
    try {
      const result = await trainSft(model, tok, examples, common);
      if (result.stopped === "aborted") throw new Error("job cancelled");
      const published = await publishCheckpoint(ctx.artifacts, result.lastCheckpoint!.dir, spec.outputName || jobId);
      return {
        model: published,
        steps: result.steps,
        note: dropped ? `${dropped} of ${all.length} SFT examples longer than ${config.maxTextLen} tokens left out` : "",
      };
    } finally {
      model.dispose();
    }
  }
  if (spec.kind === JobKind.DPO) {
    const base = spec.baseModel;
    if (spec.referenceModel?.digest && spec.referenceModel.digest !== base?.digest) {
      throw new Error("job.spec.reference_model: must be the base model (π_ref = π_t); a separate reference is not built yet");
    }
    const policy = await loadModelCopy(ctx, base, "job.spec.base_model");
    try {
      const dims = policy.model.config;
      const { pairs, tooLong } = await preferencePairs(ctx, spec.data, policy, false);
      if (pairs.length === 0)
        return {
          model: { name: spec.outputName || jobId, digest: base!.digest, checkpoint: base!.checkpoint },
          steps: 0,
          note: "no non-tie preference pairs: the model is unchanged",
        };
      const dpo = spec.dpo;
      const result = await trainDpo(policy.model, policy.tok, pairs, {
        ...common,
        dpo: {
          type: LOSS_TYPES[dpo?.lossType ?? DpoLossType.UNSPECIFIED],
          beta: dpo?.beta || 0.1,
          labelSmoothing: dpo?.labelSmoothing ?? 0,
          sftWeight: dpo?.sftWeight ?? 0,
        },
      });
      if (result.stopped === "aborted") throw new Error("job cancelled");
      const published = await publishCheckpoint(ctx.artifacts, result.lastCheckpoint!.dir, spec.outputName || jobId);
      return {
        model: published,
        steps: result.steps,
        note: tooLong ? `${tooLong} pairs longer than ${dims.maxTextLen} tokens left out` : "",
      };
    } finally {
      policy.model.dispose();
    }
  }
  if (spec.kind === JobKind.REWARD_MODEL) {
    const policy = await loadModelCopy(ctx, spec.baseModel, "job.spec.base_model");
    // The policy's weights and a fresh head (VLM-RLAIF initialises its reward model from the SFT model).
    const head = ScalarHead.create(REWARD_HEAD, policy.model.config.dModel, training.seed ?? 0);
    try {
      const dims = policy.model.config;
      const fromShards = await preferencePairs(ctx, spec.data, policy, true);
      const synthetic = spec.syntheticData ? syntheticJudgePairs(spec.syntheticData, dims) : [];
      const fitting = synthetic.filter((p) => pairFits(policy.tok, dims.maxTextLen, p));
      const tooLong = fromShards.tooLong + synthetic.length - fitting.length;
      const all = [...fromShards.pairs, ...fitting];
      if (all.length < 2) throw new Error(`job.spec.data: a reward model needs at least 2 non-tie pairs, got ${all.length}`);
      const fraction = spec.rewardModel?.heldOutFraction || DEFAULT_HELD_OUT_FRACTION;
      const { train, heldOut } = splitHeldOut(all, fraction, training.seed ?? 0);
      const result = await trainRewardModel(policy.model, policy.tok, head, train, oneThread(common));
      if (result.stopped === "aborted") throw new Error("job cancelled");
      const evalMetrics = await evaluateRewardModel(policy.model, policy.tok, head, heldOut, opts.signal ? { signal: opts.signal } : {});
      const published = await publishCheckpoint(ctx.artifacts, result.lastCheckpoint!.dir, spec.outputName || jobId);
      return {
        model: published,
        steps: result.steps,
        note: notes(spec, tooLong ? `${tooLong} pairs longer than ${dims.maxTextLen} tokens left out` : ""),
        evalMetrics,
      };
    } finally {
      policy.model.dispose();
      head.dispose();
    }
  }
  if (spec.kind === JobKind.PPO) {
    const p = spec.ppo;
    const policy = await loadModelCopy(ctx, spec.baseModel, "job.spec.base_model");
    const reference = await loadModelCopy(ctx, spec.baseModel, "job.spec.base_model");
    const rm = p?.rewardModel?.digest ? await loadModelCopy(ctx, p.rewardModel, "job.spec.ppo.reward_model") : undefined;
    // A value head on the policy's hidden states (TRL's AutoModelForCausalLMWithValueHead).
    const head = ScalarHead.create("value_head", policy.model.config.dModel, training.seed ?? 0);
    try {
      if (rm && !rm.rewardHead) throw new Error(`job.spec.ppo.reward_model: model ${p!.rewardModel!.digest} has no reward head`);
      const dims = policy.model.config;
      const toy = p?.toyReward === ToyReward.COLOUR;
      // The colour toy reward rolls out on colour questions of the synthetic world only.
      const questions = [
        ...(await shardQuestions(ctx, spec.data, dims)),
        ...(spec.syntheticData ? syntheticQuestions(spec.syntheticData, dims) : []),
      ].filter((q) => !toy || q.item?.check.kind === "colour");
      const fitting = questions.filter((q) => policy.tok.encode(q.prompt).length + 2 < dims.maxTextLen);
      if (fitting.length === 0)
        throw new Error(
          `job.spec.data: no prompt to roll out (no question that fits the model${toy ? ", or no colour question of the synthetic world" : ""})`,
        );
      const reward: RewardFn = toy
        ? async (samples) => samples.map((s) => colourReward(fitting[s.promptIndex]!, s.answer))
        : async (samples) => {
            const rows = samples.map((s) => {
              const q = fitting[s.promptIndex]!;
              const answer = asTarget(s.answer);
              const reserve = rm!.tok.encode(answer).length + 1;
              const prompt = fitPrompt(rm!, (c) => prompts.answer(q.question, c), q.context, reserve) ?? prompts.answer(q.question);
              return { videoId: q.videoId, frames: q.frames, prompt, answer };
            });
            return scoreRewards(rm!.model, rm!.tok, rm!.rewardHead!, rows, opts.signal ? { signal: opts.signal } : {});
          };
      const result = await trainPpo(policy.model, reference.model, policy.tok, head, fitting, reward, {
        ...oneThread(common),
        ppo: {
          ...(p?.klCoef ? { klCoef: p.klCoef } : {}),
          ...(p?.clipRange ? { clipRange: p.clipRange } : {}),
          ...(p?.valueClipRange ? { valueClipRange: p.valueClipRange } : {}),
          ...(p?.valueCoef ? { valueCoef: p.valueCoef } : {}),
          ...(p?.entropyCoef ? { entropyCoef: p.entropyCoef } : {}),
          ...(p?.gamma !== undefined ? { gamma: p.gamma } : {}),
          ...(p?.lambda !== undefined ? { lambda: p.lambda } : {}),
          ...(p?.rolloutBatchSize ? { rolloutBatchSize: p.rolloutBatchSize } : {}),
          ...(p?.rollouts ? { rollouts: p.rollouts } : {}),
          ...(p?.ppoEpochs ? { ppoEpochs: p.ppoEpochs } : {}),
          ...(p?.miniBatchSize ? { miniBatchSize: p.miniBatchSize } : {}),
          ...(p?.maxNewTokens ? { maxNewTokens: p.maxNewTokens } : {}),
        },
      });
      if (result.stopped === "aborted") throw new Error("job cancelled");
      const published = await publishCheckpoint(ctx.artifacts, result.lastCheckpoint!.dir, spec.outputName || jobId);
      const dropped = questions.length - fitting.length;
      return {
        model: published,
        steps: result.steps,
        note: notes(spec, dropped ? `${dropped} prompts longer than the model's text left out` : ""),
      };
    } finally {
      policy.model.dispose();
      reference.model.dispose();
      rm?.model.dispose();
      rm?.rewardHead?.dispose();
      head.dispose();
    }
  }
  throw new Error(`job.spec.kind: ${JobKind[spec.kind]} is not built yet (SFT, DPO, reward model and PPO are)`);
}

/** A PPO prompt: the policy's answer prompt, and what a reward reads (the question, its context, the oracle's item). */
interface PpoQuestion extends PpoPrompt {
  question: string;
  context: string;
  item?: InstructionItem;
  scene?: ReturnType<typeof clipFromId>["scene"];
}

/**
 * The distinct (video, question, context) of preference shards, ties included: the run's prompts with
 * their c_t (and, for a synthetic clip, the oracle's item of the question).
 */
async function shardQuestions(ctx: ServiceContext, refs: JobSpec["data"], dims: { frames: number; height: number; width: number }) {
  const cache = new Map<string, Uint8Array>();
  const seen = new Set<string>();
  const out: PpoQuestion[] = [];
  for (const ref of refs) {
    for (const r of fromBinary(PreferenceShardSchema, await ctx.artifacts.get(ref)).records) {
      if (seen.has(r.itemId)) continue;
      seen.add(r.itemId);
      const clip = r.videoId.startsWith("syn-") ? clipFromId(r.videoId) : undefined;
      const item = clip?.items.find((it) => it.question === r.prompt);
      out.push({
        videoId: r.videoId,
        frames: await framesOf(ctx, r.videoId, dims, cache),
        prompt: prompts.answer(r.prompt),
        question: r.prompt,
        context: r.context,
        ...(clip && item ? { item, scene: clip.scene } : {}),
      });
    }
  }
  return out;
}

/** The questions of a synthetic split, without context. */
function syntheticQuestions(
  data: { seed: bigint; split: string; clipCount: number; frames: number },
  dims: { frames: number; height: number; width: number },
): PpoQuestion[] {
  return syntheticSplit(Number(data.seed), (data.split || "train") as "train", data.clipCount, data.frames || dims.frames).flatMap((c) => {
    const frames = renderClip(c.scene, dims);
    return c.items.map((it) => ({
      videoId: c.id,
      frames,
      prompt: prompts.answer(it.question),
      question: it.question,
      context: "",
      item: it,
      scene: c.scene,
    }));
  });
}

/** The colour toy reward: +1 when the oracle finds the answer names the clip's right colour. */
function colourReward(q: PpoQuestion, answer: string): number {
  return scoreAnswer(q.scene!, q.item!, answer).correct ? 1 : 0;
}
