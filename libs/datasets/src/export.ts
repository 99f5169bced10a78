// A run's preferences as training data for other tools: every iteration's decisive (non-tie) pairs,
// read shard by shard and written line by line (never whole in memory).
//   trl          TRL DPOTrainer's preference JSONL: prompt, chosen, rejected first, then columns TRL
//                ignores (id, video, chosen_score, rejected_score, context, iteration, confidence)
//   llava-hound  LLaVA-Hound-DPO's layout: id, video, prompt, chosen, rejected, chosen_score,
//                rejected_score (then context, iteration, confidence)
// `video` is what a user can open: the path in the imported JSONL (source_video), or for synthetic
// clips the path `isrdpo data synth` writes them to (clips/<clip id>.mp4).
import { fromBinary } from "@bufbuild/protobuf";
import { PreferenceShardSchema, Stage, type Run } from "@isrdpo/contracts";
import type { ArtifactStore } from "@isrdpo/bus";
import { parseJsonlLine, readArtifactLines } from "./jsonl.ts";
import { writePreferenceJsonl, writeTrlJsonl, type PreferenceRecord } from "./preference.ts";
import { ShareGptVideoRecordSchema } from "./sharegpt.ts";

export const EXPORT_FORMATS = ["trl", "llava-hound"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A decisive pair of a run: the preference record, with the iteration and judge confidence. */
export type ExportedPair = PreferenceRecord & { iteration: number; confidence: number };

/**
 * Every iteration's decisive pairs in iteration and shard order. `videoPath` maps a record's video id
 * (a frames artifact URI, a synthetic clip id) to the path written out.
 */
export async function* runPreferencePairs(
  store: ArtifactStore,
  run: Run,
  videoPath: (videoId: string) => string,
): AsyncGenerator<ExportedPair> {
  for (const it of [...run.iterations].sort((a, b) => a.iteration - b.iteration)) {
    const judge = it.stages.find((s) => s.stage === Stage.JUDGE);
    for (const ref of judge?.outputs ?? []) {
      for (const r of fromBinary(PreferenceShardSchema, await store.get(ref)).records) {
        if (r.tie) continue;
        yield {
          id: r.itemId,
          video: videoPath(r.videoId),
          prompt: r.prompt,
          chosen: r.chosen,
          rejected: r.rejected,
          chosen_score: r.chosenScore,
          rejected_score: r.rejectedScore,
          context: r.context,
          iteration: it.iteration,
          confidence: r.confidence,
        };
      }
    }
  }
}

/**
 * How a run's videos are named in an export: imported videos by their path in the imported JSONL
 * (read once from the dataset artifact), synthetic clips by the path `isrdpo data synth` gives them.
 */
export async function exportVideoPaths(store: ArtifactStore, run: Run): Promise<(videoId: string) => string> {
  const sources = new Map<string, string>();
  const prompts = run.spec?.prompts?.source;
  if (prompts?.case === "sharegptJsonl") {
    for await (const { line, text } of readArtifactLines(store, prompts.value)) {
      const r = parseJsonlLine(ShareGptVideoRecordSchema, text, prompts.value.uri, line);
      if (typeof r.source_video === "string") sources.set(r.video, r.source_video);
    }
  }
  return (videoId) => sources.get(videoId) ?? (videoId.startsWith("syn-") ? `clips/${videoId}.mp4` : videoId);
}

/** Writes the pairs in `format`; returns how many per iteration. */
export async function writePreferenceExport(
  path: string,
  format: ExportFormat,
  pairs: AsyncIterable<ExportedPair>,
): Promise<Map<number, number>> {
  const perIteration = new Map<number, number>();
  async function* counted() {
    for await (const p of pairs) {
      perIteration.set(p.iteration, (perIteration.get(p.iteration) ?? 0) + 1);
      yield p;
    }
  }
  await (format === "trl" ? writeTrlJsonl(path, counted()) : writePreferenceJsonl(path, counted()));
  return perIteration;
}
