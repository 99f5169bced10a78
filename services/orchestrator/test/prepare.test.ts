import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { DatasetRefSchema } from "@isrdpo/contracts";
import { LocalArtifactStore } from "@isrdpo/bus";
import { syntheticSplit } from "@isrdpo/video";
import { describe, expect, it } from "vitest";
import { promptItems } from "../src/prepare.ts";

const store = () => new LocalArtifactStore(mkdtempSync(join(tmpdir(), "isrdpo-prepare-")));

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const it of items) out.push(it);
  return out;
}

describe("prompt sets", () => {
  it("takes every question of every synthetic clip, clip by clip", async () => {
    const items = await collect(
      promptItems(store(), create(DatasetRefSchema, { source: { case: "synthetic", value: { seed: 3n, split: "train", clipCount: 4 } } })),
    );
    const clips = syntheticSplit(3, "train", 4);
    expect(items.map((i) => i.id)).toEqual(clips.flatMap((c) => c.items.map((it) => it.id)));
    expect(items[0]!.video).toMatchObject({ id: clips[0]!.id, source: { case: "syntheticClipId", value: clips[0]!.id } });
  });

  it("reads the QA pairs of a ShareGPTVideo JSONL artifact, and names a bad line", async () => {
    const artifacts = store();
    const lines = [
      {
        id: "v1",
        video: "/data/v1.mp4",
        conversations: [
          { from: "human", value: "<video>\nWhat moves?" },
          { from: "gpt", value: "A ball." },
          { from: "human", value: "Which way?" },
          { from: "gpt", value: "Left." },
        ],
      },
      {
        id: "v2",
        video: "/data/v2.mp4",
        conversations: [
          { from: "human", value: "Is it red?" },
          { from: "gpt", value: "Yes." },
        ],
      },
    ];
    const ref = await artifacts.put(
      "artifact://p/ok.jsonl",
      new TextEncoder().encode(`${lines.map((l) => JSON.stringify(l)).join("\n")}\n`),
    );
    const items = await collect(promptItems(artifacts, create(DatasetRefSchema, { source: { case: "sharegptJsonl", value: ref } })));
    expect(items.map((i) => [i.id, i.instruction, i.video?.source.value, i.referenceAnswer])).toEqual([
      ["v1#0", "What moves?", "/data/v1.mp4", "A ball."],
      ["v1#1", "Which way?", "/data/v1.mp4", "Left."],
      ["v2#0", "Is it red?", "/data/v2.mp4", "Yes."],
    ]);
    const bad = await artifacts.put(
      "artifact://p/bad.jsonl",
      new TextEncoder().encode(`${JSON.stringify(lines[0])}\n{"id": "v3", "video": 5}\n`),
    );
    await expect(
      collect(promptItems(artifacts, create(DatasetRefSchema, { source: { case: "sharegptJsonl", value: bad } }))),
    ).rejects.toThrow(`artifact://p/bad.jsonl:2: field "video": Invalid input: expected string, received number`);
  });
});
