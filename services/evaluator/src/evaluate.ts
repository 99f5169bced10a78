// Evaluation of a model on synthetic benchmark splits with the oracle, and the statistics of an
// iteration's preferences.
import { create, fromBinary } from "@bufbuild/protobuf";
import {
  PreferenceShardSchema,
  PreferenceStatsSchema,
  SplitMetricsSchema,
  type ArtifactRef,
  type DatasetRef,
  type PreferenceStats,
  type SplitMetrics,
} from "@isrdpo/contracts";
import type { ArtifactStore } from "@isrdpo/bus";
import { preferenceStats, splitMetrics, type JudgedPair } from "@isrdpo/eval";
import { parseSplit, renderClip, syntheticSplit, type InstructionItem, type SyntheticClip } from "@isrdpo/video";
import { answerQuestions, type Policy, type Sampling } from "@isrdpo/vlm";

/** Greedy by default: evaluation measures the model, not the sampler. */
export const EVAL_SAMPLING = { temperature: 0, maxNewTokens: 96 };

/** Clips of the train split the chance baseline is fitted on. */
const BASELINE_CLIPS = 200;

/** Baselines kept: the seed comes from the caller, so the cache must not grow with each new one. */
const MAX_BASELINES = 16;
const baselines = new Map<string, InstructionItem[]>();

/** The train items the chance baseline is fitted on: the same for every split and model of a seed. */
function baselineItems(seed: number, frames: number): InstructionItem[] {
  const key = `${seed}/${frames}`;
  let items = baselines.get(key);
  if (!items) {
    items = syntheticSplit(seed, "train", BASELINE_CLIPS, frames).flatMap((c) => c.items);
    if (baselines.size >= MAX_BASELINES) baselines.delete(baselines.keys().next().value!);
    baselines.set(key, items);
  }
  return items;
}

export interface SyntheticBenchmark {
  split: string;
  clips: SyntheticClip[];
  items: InstructionItem[];
  fitItems: InstructionItem[];
}

/** A benchmark split of the synthetic world; other datasets are rejected with the field named. */
export function syntheticBenchmark(ref: DatasetRef, field: string, frames: number): SyntheticBenchmark {
  if (ref.source.case !== "synthetic") throw new Error(`${field}: only synthetic benchmark splits can be evaluated with the oracle`);
  const d = ref.source.value;
  const split = parseSplit(d.split || "test-in");
  if (d.clipCount === 0) throw new Error(`${field}.clip_count: must be at least 1`);
  if (d.frames && d.frames !== frames)
    throw new Error(`${field}.frames: must be the model's ${frames} frames per clip (or 0), got ${d.frames}`);
  const clips = syntheticSplit(Number(d.seed), split, d.clipCount, d.frames || frames);
  return { split, clips, items: clips.flatMap((c) => c.items), fitItems: baselineItems(Number(d.seed), d.frames || frames) };
}

/** Answers to every item of a benchmark, in item order. */
export async function benchmarkAnswers(policy: Policy, b: SyntheticBenchmark, s: Sampling, signal?: AbortSignal): Promise<string[]> {
  const dims = policy.model.config;
  const frames = new Map(b.clips.map((c) => [c.id, renderClip(c.scene, dims)]));
  const answers = await answerQuestions(
    policy,
    b.items.map((it) => ({ video: { videoId: it.clipId, frames: frames.get(it.clipId)! }, question: it.question })),
    s,
    1,
    signal,
  );
  return answers.map((a) => a[0]!);
}

export async function evaluateSplit(policy: Policy, b: SyntheticBenchmark, s: Sampling, signal?: AbortSignal): Promise<SplitMetrics> {
  const m = splitMetrics(b.split, b.clips, b.items, await benchmarkAnswers(policy, b, s, signal), b.fitItems);
  return create(SplitMetricsSchema, m);
}

/** Preference statistics of shards; the oracle's agreement counts synthetic items only. */
export async function iterationPreferences(artifacts: ArtifactStore, refs: readonly ArtifactRef[]): Promise<PreferenceStats> {
  const pairs: JudgedPair[] = [];
  // The judge's own counts, summed over its shards.
  const judge = { lmRequests: 0, unparsableJudgements: 0, unscoredAnswers: 0 };
  for (const ref of refs) {
    const shard = fromBinary(PreferenceShardSchema, await artifacts.get(ref));
    for (const r of shard.records) {
      const clipId = r.videoId.startsWith("syn-") ? r.videoId : "";
      pairs.push({ itemId: r.itemId, clipId, chosen: r.chosen, rejected: r.rejected, tie: r.tie });
    }
    judge.lmRequests += shard.stats?.lmRequests ?? 0;
    judge.unparsableJudgements += shard.stats?.unparsableJudgements ?? 0;
    judge.unscoredAnswers += shard.stats?.unscoredAnswers ?? 0;
  }
  return create(PreferenceStatsSchema, { ...preferenceStats(pairs), ...judge });
}
