// The prepare queue: a run's prompt set as PromptItems, split into shards stored as artifacts.
import { create, toBinary } from "@bufbuild/protobuf";
import {
  PrepareFinishedSchema,
  PromptItemSchema,
  PromptShardSchema,
  type ArtifactRef,
  type DatasetRef,
  type PromptItem,
} from "@isrdpo/contracts";
import type { ArtifactStore, WorkHandler } from "@isrdpo/bus";
import { datasetQaPairs } from "@isrdpo/datasets";
import { promptShardUri } from "@isrdpo/orchestration";
import { parseSplit, referenceCaption, syntheticSplit } from "@isrdpo/video";

/** Every question of every clip of a synthetic split, in clip order (a clip's items share shards). */
function syntheticItems(d: { seed: bigint; split: string; clipCount: number; frames: number }): PromptItem[] {
  return syntheticSplit(Number(d.seed), parseSplit(d.split || "train"), d.clipCount, d.frames || 8).flatMap((clip) => {
    const caption = referenceCaption(clip.scene);
    return clip.items.map((it) =>
      create(PromptItemSchema, {
        id: it.id,
        video: { id: clip.id, source: { case: "syntheticClipId", value: clip.id } },
        instruction: it.question,
        questionType: it.questionType,
        referenceAnswer: it.answer,
        caption,
      }),
    );
  });
}

/**
 * The QA pairs of a ShareGPTVideo JSONL artifact (an imported dataset: videos are frames artifacts),
 * streamed; a plain video path is read by the workers from their own disk.
 */
async function* shareGptItems(artifacts: ArtifactStore, ref: ArtifactRef): AsyncGenerator<PromptItem> {
  for await (const qa of datasetQaPairs(artifacts, ref)) {
    yield create(PromptItemSchema, {
      id: qa.id,
      video: { id: qa.video, source: { case: "uri", value: qa.video } },
      instruction: qa.question,
      questionType: qa.questionType ?? "open",
      referenceAnswer: qa.answer,
      caption: qa.caption ?? "",
    });
  }
}

/** A run's prompt set, item by item (an imported dataset is never held whole). */
export async function* promptItems(artifacts: ArtifactStore, prompts: DatasetRef | undefined): AsyncGenerator<PromptItem> {
  switch (prompts?.source.case) {
    case "synthetic":
      yield* syntheticItems(prompts.source.value);
      return;
    case "sharegptJsonl":
      yield* shareGptItems(artifacts, prompts.source.value);
      return;
    default:
      throw new Error("prompts: a synthetic split or a ShareGPTVideo JSONL artifact is required");
  }
}

export function prepareHandler(artifacts: ArtifactStore): WorkHandler<"prepare"> {
  return async (task) => {
    const req = task.payload;
    const size = req.shardSize;
    if (size < 1) throw new Error("prepare_request.shard_size: must be ≥ 1");
    const shards: ArtifactRef[] = [];
    let items: PromptItem[] = [];
    let total = 0;
    const flush = async () => {
      const shard = create(PromptShardSchema, { items });
      shards.push(
        await artifacts.put(promptShardUri(req.runId, shards.length), toBinary(PromptShardSchema, shard), "application/x-protobuf"),
      );
      items = [];
    };
    for await (const item of promptItems(artifacts, req.prompts)) {
      items.push(item);
      total++;
      if (items.length === size) await flush();
    }
    if (items.length > 0) await flush();
    if (total === 0) throw new Error("prompts: the prompt set is empty");
    return { case: "prepareFinished", value: create(PrepareFinishedSchema, { promptShards: shards, itemsTotal: total }) };
  };
}
