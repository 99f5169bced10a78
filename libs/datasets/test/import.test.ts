import { appendFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FramesSchema } from "@isrdpo/contracts";
import { LocalArtifactStore, type ArtifactStore } from "@isrdpo/bus";
import { clipFromId, referenceCaption, renderClip } from "@isrdpo/video";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { datasetSftExamples, importDataset, readArtifactLines, readFrames, writeSyntheticDataset, type BadLine } from "../src/index.ts";

const root = mkdtempSync(join(tmpdir(), "isrdpo-import-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const synth = join(root, "synth");
beforeAll(async () => {
  await writeSyntheticDataset(synth, { seed: 9, train: 3, testIn: 0, testOut: 0 });
});

const lineCount = (path: string) => readFileSync(path, "utf8").trimEnd().split("\n").length;

describe("importDataset", () => {
  it("stores each video's frames once, content-addressed, and the records pointing at them", async () => {
    const store = new LocalArtifactStore(join(root, "store-a"));
    const jsonl = join(synth, "train.jsonl");
    const summary = await importDataset({ jsonl, videos: synth, store });
    const clips = [0, 1, 2].map((i) => clipFromId(`syn-9-train-f8-${i}`));
    const items = clips.reduce((n, c) => n + c.items.length, 0);
    expect(summary).toMatchObject({ lines: items, records: items, items, bad: 0, videosDecoded: 3, videosStored: 0 });
    expect(summary.dataset!.uri).toBe(`artifact://datasets/${summary.dataset!.sha256}.jsonl`);
    const frames = await store.list("artifact://frames/");
    expect(frames).toHaveLength(3);
    expect(frames.every((f) => /^artifact:\/\/frames\/f8-32x32\/[0-9a-f]{64}\.pb$/.test(f.uri))).toBe(true);
    // The stored records: the original fields, the video replaced by its frames, the source path kept.
    const source = readFileSync(jsonl, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    let n = 0;
    for await (const { line, text } of readArtifactLines(store, summary.dataset!)) {
      const rec = JSON.parse(text);
      const { video, source_video, ...rest } = rec;
      const { video: original, ...expected } = source[line - 1];
      expect(rest).toEqual(expected);
      expect(source_video).toBe(original);
      // Lossless mp4 → exactly the rendered clip.
      const clip = clips.find((c) => c.id === rec.clip_id)!;
      const data = await readFrames(store, video, { frames: 8, height: 32, width: 32 }, "video");
      expect(Buffer.from(data).equals(Buffer.from(renderClip(clip.scene)))).toBe(true);
      n++;
    }
    expect(n).toBe(items);
    // The same import again: the same dataset, nothing decoded.
    const again = await importDataset({ jsonl, videos: synth, store });
    expect(again.dataset).toEqual(summary.dataset);
    expect(again).toMatchObject({ videosDecoded: 0, videosStored: 3 });
  });

  it("reports a bad JSON line, a missing video, a corrupt mp4, a bad record and a duplicate id by line; imports the rest", async () => {
    const dir = join(root, "bad");
    await writeSyntheticDataset(dir, { seed: 4, train: 3, testIn: 0, testOut: 0 });
    const jsonl = join(dir, "train.jsonl");
    const good = lineCount(jsonl);
    const mp4 = join(dir, "clips", "syn-4-train-f8-0.mp4");
    writeFileSync(mp4, readFileSync(mp4).subarray(0, 400));
    unlinkSync(join(dir, "clips", "syn-4-train-f8-1.mp4"));
    const first = JSON.parse(readFileSync(jsonl, "utf8").split("\n")[0]!);
    appendFileSync(
      jsonl,
      `{"id": "broken", "video": \n\n${JSON.stringify({
        ...first,
        conversations: [
          { from: "human", value: "q" },
          { from: "human", value: "q2" },
        ],
        id: "no-answer",
      })}\n${JSON.stringify(first)}\n`,
    );
    const bad: BadLine[] = [];
    const store = new LocalArtifactStore(join(root, "store-bad"));
    const summary = await importDataset({ jsonl, videos: dir, store, onBad: (b) => bad.push(b) });
    const clip = (i: number) => clipFromId(`syn-4-train-f8-${i}`);
    const [n0, n1, n2] = [0, 1, 2].map((i) => clip(i).items.length);
    expect(summary).toMatchObject({ lines: good + 3, records: n2, items: n2, bad: n0! + n1! + 3, videosDecoded: 1 });
    expect(bad.filter((b) => b.line <= good && b.id?.startsWith("syn-4-train-f8-0-")).map((b) => b.line)).toEqual(
      Array.from({ length: n0! }, (_, i) => i + 1),
    );
    expect(bad.find((b) => b.id === `syn-4-train-f8-0-q0`)!.reason).toMatch(
      new RegExp(`^${mp4}: (not a readable video|truncated or corrupt)`),
    );
    expect(bad.find((b) => b.id === `syn-4-train-f8-1-q0`)).toEqual({
      line: n0! + 1,
      id: "syn-4-train-f8-1-q0",
      reason: `${join(dir, "clips", "syn-4-train-f8-1.mp4")}: file not found`,
    });
    expect(bad.slice(-3)).toEqual([
      { line: good + 1, reason: expect.stringMatching(new RegExp(`^${jsonl}:${good + 1}: not valid JSON`)) },
      { line: good + 3, id: "no-answer", reason: "conversations has no human turn followed by a gpt turn" },
      { line: good + 4, id: first.id, reason: `duplicate id "${first.id}"` },
    ]);
  });

  it("resumes after an interruption: stored frames are found, the rest decoded, the same dataset results", async () => {
    const jsonl = join(synth, "train.jsonl");
    const store = new LocalArtifactStore(join(root, "store-resume"));
    // A store that dies on its second frames upload, as a killed import would.
    let puts = 0;
    const dying: ArtifactStore = Object.assign(Object.create(store), {
      put: (uri: string, data: Uint8Array, mediaType?: string) => {
        if (++puts === 2) return Promise.reject(new Error("connection lost"));
        return store.put(uri, data, mediaType);
      },
    });
    await expect(importDataset({ jsonl, videos: synth, store: dying, concurrency: 1 })).rejects.toThrow("connection lost");
    expect(await store.list("artifact://frames/")).toHaveLength(1);
    expect(await store.list("artifact://datasets/")).toHaveLength(0);
    const resumed = await importDataset({ jsonl, videos: synth, store });
    expect(resumed).toMatchObject({ videosStored: 1, videosDecoded: 2, bad: 0 });
    const fresh = await importDataset({ jsonl, videos: synth, store: new LocalArtifactStore(join(root, "store-fresh")) });
    expect(resumed.dataset).toEqual(fresh.dataset);
  });

  it("decodes to the asked frame format; a model of another shape is told how to import for it", async () => {
    const store = new LocalArtifactStore(join(root, "store-16"));
    const summary = await importDataset({ jsonl: join(synth, "train.jsonl"), videos: synth, store, frames: 4, height: 16, width: 16 });
    const [ref] = await store.list("artifact://frames/f4-16x16/");
    const f = fromBinary(FramesSchema, await store.get(ref!));
    expect([f.count, f.height, f.width, f.channels, f.data.length]).toEqual([4, 16, 16, 3, 4 * 16 * 16 * 3]);
    expect(summary.videosDecoded).toBe(3);
    await expect(readFrames(store, ref!.uri, { frames: 8, height: 32, width: 32 }, "items[0].video")).rejects.toThrow(
      `items[0].video: ${ref!.uri} holds 4×16×16 frames, the model takes 8×32×32: import the videos again with --frames 8 --size 32`,
    );
  });

  it("gives SFT examples: an answer per QA pair, a description per captioned video, the imported frames", async () => {
    const store = new LocalArtifactStore(join(root, "store-sft"));
    const { dataset } = await importDataset({ jsonl: join(synth, "train.jsonl"), videos: synth, store });
    const examples = await datasetSftExamples(store, [dataset!], { frames: 8, height: 32, width: 32 });
    const clips = [0, 1, 2].map((i) => clipFromId(`syn-9-train-f8-${i}`));
    const answers = examples.filter((e) => e.record.task === "answer");
    const describe = examples.filter((e) => e.record.task === "describe");
    expect(answers.map((e) => e.record)).toEqual(
      clips.flatMap((c) => c.items.map((it) => ({ task: "answer", question: it.question, target: it.answer }))),
    );
    expect(describe).toHaveLength(3);
    for (const e of examples) {
      expect(e.videoId).toMatch(/^artifact:\/\/frames\//);
      const clip = clips.find((c) => Buffer.from(renderClip(c.scene)).equals(Buffer.from(e.frames)));
      expect(clip, e.videoId).toBeDefined();
      if (e.record.task === "describe") expect(e.record.target).toBe(referenceCaption(clip!.scene));
    }
    // A model of another frame format is told how to import for it.
    await expect(datasetSftExamples(store, [dataset!], { frames: 16, height: 32, width: 32 })).rejects.toThrow(
      /^artifact:\/\/datasets\/[0-9a-f]{64}\.jsonl:1: video\.uri: artifact:\/\/frames\/.* holds 8×32×32 frames, the model takes 16×32×32/,
    );
  });

  it("a missing JSONL file fails with one line", async () => {
    const store = new LocalArtifactStore(join(root, "store-none"));
    await expect(importDataset({ jsonl: join(root, "nope.jsonl"), videos: root, store })).rejects.toThrow(
      `cannot read ${join(root, "nope.jsonl")}: file not found`,
    );
  });
});
