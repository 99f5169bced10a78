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
import { parseJsonlLine, qaPairs, ShareGptVideoRecordSchema } from "@isrdpo/datasets";
import { promptShardUri } from "@isrdpo/orchestration";
import { parseSplit, syntheticSplit } from "@isrdpo/video";

/** Every question of every clip of a synthetic split, in clip order (a clip's items share shards). */
function syntheticItems(d: { seed: bigint; split: string; clipCount: number; frames: number }): PromptItem[] {
  return syntheticSplit(Number(d.seed), parseSplit(d.split || "train"), d.clipCount, d.frames || 8).flatMap((clip) =>
    clip.items.map((it) =>
      create(PromptItemSchema, {
        id: it.id,
        video: { id: clip.id, source: { case: "syntheticClipId", value: clip.id } },
        instruction: it.question,
        questionType: it.questionType,
        referenceAnswer: it.answer,
      }),
    ),
  );
}

/** The QA pairs of a ShareGPTVideo JSONL artifact; video paths are read by the workers. */
async function shareGptItems(artifacts: ArtifactStore, ref: ArtifactRef): Promise<PromptItem[]> {
  const lines = new TextDecoder().decode(await artifacts.get(ref)).split("\n");
  return lines.flatMap((text, i) => {
    if (text.trim() === "") return [];
    const record = parseJsonlLine(ShareGptVideoRecordSchema, text, ref.uri, i + 1);
    return qaPairs(record).map((qa, q) =>
      create(PromptItemSchema, {
        id: `${record.id}#${q}`,
        video: { id: record.video, source: { case: "uri", value: record.video } },
        instruction: qa.question,
        questionType: "open",
      }),
    );
  });
}

export async function promptItems(artifacts: ArtifactStore, prompts: DatasetRef | undefined): Promise<PromptItem[]> {
  switch (prompts?.source.case) {
    case "synthetic":
      return syntheticItems(prompts.source.value);
    case "sharegptJsonl":
      return shareGptItems(artifacts, prompts.source.value);
    default:
      throw new Error("prompts: a synthetic split or a ShareGPTVideo JSONL artifact is required");
  }
}

export function prepareHandler(artifacts: ArtifactStore): WorkHandler<"prepare"> {
  return async (task) => {
    const req = task.payload;
    const size = req.shardSize;
    if (size < 1) throw new Error("prepare_request.shard_size: must be ≥ 1");
    const items = await promptItems(artifacts, req.prompts);
    if (items.length === 0) throw new Error("prompts: the prompt set is empty");
    const shards: ArtifactRef[] = [];
    for (let s = 0; s * size < items.length; s++) {
      const shard = create(PromptShardSchema, { items: items.slice(s * size, (s + 1) * size) });
      shards.push(await artifacts.put(promptShardUri(req.runId, s), toBinary(PromptShardSchema, shard), "application/x-protobuf"));
    }
    return { case: "prepareFinished", value: create(PrepareFinishedSchema, { promptShards: shards, itemsTotal: items.length }) };
  };
}
