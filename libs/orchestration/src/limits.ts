// Size limits of what a spec may ask for, in one place: CreateRun (normalizeRunSpec), the trainer's
// StartJob and the evaluator's RPCs all apply them, so a huge clip count or epoch count is refused up
// front, naming the field and the limit, instead of exhausting a service's memory later. Each check
// returns the problem (field relative to its argument) or undefined, like datasets.ts.
import { Curriculum, LrSchedule, ToyReward, type PpoParams, type SyntheticDataset, type TrainingParams } from "@isrdpo/contracts";
import { SPLITS } from "@isrdpo/video";

export const LIMITS = {
  iterations: 1000,
  shardSize: 100_000,
  responsesPerItem: 16,
  maxShardAttempts: 100,
  maxNewTokens: 32_768,
  nameLength: 200,
  /** CONTEXT_MODE_CLIP_NARRATIVE clips per video. */
  contextClipCount: 256,
  /** Clips of a synthetic prompt set or SFT mix (every clip's frames are held in memory while training). */
  datasetClips: 20_000,
  /** Clips of one evaluation split (answered in one request). */
  evaluationClips: 2_000,
  /** Frames per synthetic clip, and its height and width in pixels. */
  clipFrames: 64,
  clipSide: 256,
  /** Imported datasets named by one SFT spec or job. */
  datasets: 64,
  epochs: 1_000,
  batchSize: 4_096,
  gradientAccumulationSteps: 1_024,
  /** warmup_steps, max_steps and checkpoint_every_steps. */
  steps: 10_000_000,
  /** An LM judge's samples, timeout, concurrency and retries (caption proxy). */
  lmSamples: 64,
  lmTimeoutMs: 600_000,
  lmConcurrency: 1024,
  lmMaxRetries: 20,
} as const;

export interface Problem {
  field: string;
  problem: string;
}

/** A synthetic dataset of at most `maxClips` clips (at least one), of a known split and a sane clip size. */
export function syntheticDatasetProblem(d: SyntheticDataset, maxClips: number): Problem | undefined {
  if (d.split !== "" && !(SPLITS as readonly string[]).includes(d.split))
    return { field: "split", problem: `must be one of ${SPLITS.join(", ")}, got "${d.split.slice(0, 40)}"` };
  if (d.clipCount < 1) return { field: "clip_count", problem: "must be ≥ 1" };
  if (d.clipCount > maxClips) return { field: "clip_count", problem: `must be ≤ ${maxClips}, got ${d.clipCount}` };
  if (d.frames > LIMITS.clipFrames) return { field: "frames", problem: `must be ≤ ${LIMITS.clipFrames}, got ${d.frames}` };
  for (const side of ["height", "width"] as const)
    if (d[side] > LIMITS.clipSide) return { field: side, problem: `must be ≤ ${LIMITS.clipSide}, got ${d[side]}` };
  return undefined;
}

const finiteAtLeast0 = (v: number) => Number.isFinite(v) && v >= 0;

/**
 * Training parameters a job can run: finite rates, a known schedule and curriculum (the answer-length
 * curriculum for SFT only), bounded epochs, batches and steps.
 */
export function trainingParamsProblem(p: TrainingParams, sft: boolean): Problem | undefined {
  if (!finiteAtLeast0(p.learningRate) || p.learningRate > 10) return { field: "learning_rate", problem: "must be in [0, 10]" };
  if (!finiteAtLeast0(p.visionLrScale)) return { field: "vision_lr_scale", problem: "must be ≥ 0" };
  if (!(p.curriculum in Curriculum)) return { field: "curriculum", problem: `unknown value ${p.curriculum}` };
  if (!sft && p.curriculum === Curriculum.ANSWER_LENGTH) return { field: "curriculum", problem: "applies to SFT only" };
  if (!finiteAtLeast0(p.weightDecay)) return { field: "weight_decay", problem: "must be a finite number ≥ 0" };
  if (!finiteAtLeast0(p.maxGradNorm)) return { field: "max_grad_norm", problem: "must be a finite number ≥ 0" };
  if (!(p.schedule in LrSchedule)) return { field: "schedule", problem: `unknown value ${p.schedule}` };
  return countsProblem([
    ["epochs", p.epochs, LIMITS.epochs],
    ["batch_size", p.batchSize, LIMITS.batchSize],
    ["gradient_accumulation_steps", p.gradientAccumulationSteps, LIMITS.gradientAccumulationSteps],
    ["warmup_steps", p.warmupSteps, LIMITS.steps],
    ["max_steps", p.maxSteps, LIMITS.steps],
    ["checkpoint_every_steps", p.checkpointEverySteps, LIMITS.steps],
    ["grad_shards", p.gradShards, LIMITS.batchSize],
  ]);
}

/** The first count above its bound, as a problem naming the field. */
function countsProblem(counts: readonly (readonly [string, number, number])[]): Problem | undefined {
  for (const [field, value, max] of counts) if (value > max) return { field, problem: `must be ≤ ${max}, got ${value}` };
  return undefined;
}

/**
 * A problem with PPO settings (a run's or a trainer job's), or undefined: exactly one reward, finite
 * non-negative coefficients, γ and λ at most 1, bounded token counts. Zeros mean the trainer's defaults.
 */
export function ppoParamsProblem(p: PpoParams | undefined): Problem | undefined {
  const toy = p?.toyReward ?? ToyReward.UNSPECIFIED;
  if (!(toy in ToyReward)) return { field: "toy_reward", problem: `unknown value ${toy}` };
  if (!p || !p.rewardModel?.digest === (toy === ToyReward.UNSPECIFIED))
    return { field: "reward_model", problem: "PPO needs exactly one of reward_model.digest and toy_reward" };
  const coefficients = [
    ["kl_coef", p.klCoef, Infinity],
    ["clip_range", p.clipRange, Infinity],
    ["value_clip_range", p.valueClipRange, Infinity],
    ["value_coef", p.valueCoef, Infinity],
    ["entropy_coef", p.entropyCoef, Infinity],
    ["gamma", p.gamma ?? 0, 1],
    ["lambda", p.lambda ?? 0, 1],
  ] as const;
  for (const [field, value, max] of coefficients)
    if (!(finiteAtLeast0(value) && value <= max)) return { field, problem: `must be in [0, ${max}], got ${value}` };
  return countsProblem([
    ["max_new_tokens", p.maxNewTokens, LIMITS.maxNewTokens],
    ["rollout_batch_size", p.rolloutBatchSize, LIMITS.batchSize],
    ["mini_batch_size", p.miniBatchSize, LIMITS.batchSize],
    ["rollouts", p.rollouts, LIMITS.steps],
    ["ppo_epochs", p.ppoEpochs, LIMITS.epochs],
  ]);
}
