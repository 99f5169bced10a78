// The prepare queue: a run's prompt set as PromptItems, split into shards stored as artifacts.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { PrepareFinishedSchema, PromptItemSchema, PromptShardSchema, type ArtifactRef, type PromptItem } from "@isrdpo/contracts";
import type { ArtifactStore, WorkHandler } from "@isrdpo/bus";
import { qaPairs, readShareGptVideoJsonl } from "@isrdpo/datasets";
import { parseSplit, syntheticSplit } from "@isrdpo/video";
import type { DatasetRef } from "@isrdpo/contracts";

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
  const dir = await mkdtemp(join(tmpdir(), "isrdpo-prompts-"));
  try {
    const path = join(dir, "prompts.jsonl");
    await writeFile(path, await artifacts.get(ref));
    const items: PromptItem[] = [];
    for await (const { record } of readShareGptVideoJsonl(path)) {
      qaPairs(record).forEach((qa, i) =>
        items.push(create(PromptItemSchema, { id: `${record.id}#${i}`, video: { id: record.video, source: { case: "uri", value: record.video } }, instruction: qa.question, questionType: "open" })),
      );
    }
    return items;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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

export function prepareHandler(artifacts: ArtifactStore): WorkHandler {
  return async (task) => {
    if (task.queue !== "prepare") throw new Error("prepare: expected a prepare request");
    const req = task.payload;
    const items = await promptItems(artifacts, req.prompts);
    if (items.length === 0) throw new Error("prompts: the prompt set is empty");
    const size = req.shardSize || 64;
    const shards: ArtifactRef[] = [];
    for (let s = 0; s * size < items.length; s++) {
      const shard = create(PromptShardSchema, { items: items.slice(s * size, (s + 1) * size) });
      shards.push(await artifacts.put(`artifact://runs/${req.runId}/prompts/shard-${String(s).padStart(4, "0")}.pb`, toBinary(PromptShardSchema, shard), "application/x-protobuf"));
    }
    return { case: "prepareFinished", value: create(PrepareFinishedSchema, { promptShards: shards, itemsTotal: items.length }) };
  };
}
