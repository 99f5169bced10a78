import { createHash } from "node:crypto";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { clipFromId, renderClip, scoreAnswer, writeMp4 } from "@isrdpo/video";
import {
  DatasetLineError,
  loadDatasetDir,
  readPreferenceJsonl,
  readShareGptVideoJsonl,
  writePreferenceJsonl,
  writeSyntheticDataset,
  writeTrlJsonl,
  type PreferenceRecord,
} from "../src/index.ts";
import { readArtifactLines } from "../src/jsonl.ts";
import type { ArtifactStore } from "@isrdpo/bus";

const root = mkdtempSync(join(tmpdir(), "isrdpo-datasets-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function digest(dir: string): string {
  const h = createHash("sha256");
  const walk = (d: string, rel: string) => {
    for (const f of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (f.isDirectory()) walk(join(d, f.name), `${rel}${f.name}/`);
      else h.update(`${rel}${f.name}\0`).update(readFileSync(join(d, f.name)));
    }
  };
  walk(dir, "");
  return h.digest("hex");
}

describe("synthetic dataset directory", () => {
  const opts = { seed: 3, train: 4, testIn: 2, testOut: 2 };

  it("same seed → byte-identical directory; another seed → different", async () => {
    const a = join(root, "a");
    const b = join(root, "b");
    const c = join(root, "c");
    await writeSyntheticDataset(a, opts);
    await writeSyntheticDataset(b, opts);
    await writeSyntheticDataset(c, { ...opts, seed: 4 });
    expect(digest(a)).toBe(digest(b));
    expect(digest(c)).not.toBe(digest(a));
    expect(readdirSync(join(a, "clips"))).toHaveLength(8);
  });

  it("loads back: items with their scene and the exact rendered frames", async () => {
    const dir = join(root, "a");
    const ds = await loadDatasetDir(dir);
    expect(ds.bad).toEqual([]);
    expect(ds.manifest).toMatchObject({ seed: 3, frames: 8, height: 32, width: 32, splits: { train: 4, "test-in": 2, "test-out": 2 } });
    const expected = ["train", "test-in", "test-out"].flatMap((s, k) =>
      Array.from({ length: [4, 2, 2][k]! }, (_, i) => clipFromId(`syn-3-${s}-f8-${i}`)),
    );
    expect(ds.items.length).toBe(expected.reduce((n, c) => n + c.items.length, 0));
    for (const it of ds.items) {
      const clip = expected.find((c) => c.id === it.clipId)!;
      const item = clip.items.find((q) => q.id === it.id)!;
      expect(it.question).toBe(item.question);
      expect(it.answer).toBe(item.answer);
      expect(it.questionType).toBe(item.questionType);
      expect(it.scene).toEqual(clip.scene);
      expect(it.check).toEqual(item.check);
      expect(scoreAnswer(it.scene!, { check: it.check! }, it.answer).score).toBe(5);
      expect(Buffer.from(it.frames!.data).equals(Buffer.from(renderClip(clip.scene)))).toBe(true);
    }
  });

  it("bad items are recorded with their reason and loading goes on", async () => {
    const dir = join(root, "d");
    await writeSyntheticDataset(dir, { seed: 5, train: 3, testIn: 0, testOut: 0 });
    // A manifest without sha256 (as written before it existed) loads unchecked: each damage below is
    // then found by the reader it reaches.
    const manifest = JSON.parse(readFileSync(join(dir, "dataset.json"), "utf8"));
    delete manifest.sha256;
    writeFileSync(join(dir, "dataset.json"), JSON.stringify(manifest));
    const mp4 = join(dir, "clips", "syn-5-train-f8-0.mp4");
    writeFileSync(mp4, readFileSync(mp4).subarray(0, 300));
    unlinkSync(join(dir, "clips", "syn-5-train-f8-1.mp4"));
    appendFileSync(
      join(dir, "train.jsonl"),
      '{"id": "x", "video": "clips/x.mp4", "conversations": [{"from": "human", "value": 3}]}\nnot json\n',
    );
    const ds = await loadDatasetDir(dir);
    const lines = readFileSync(join(dir, "train.jsonl"), "utf8").trimEnd().split("\n").length;
    const reasons = ds.bad.map((b) => `${b.id} | ${b.reason}`);
    expect(reasons.filter((r) => r.startsWith("syn-5-train-f8-0-")).every((r) => r.includes("syn-5-train-f8-0.mp4: "))).toBe(true);
    expect(reasons.some((r) => r.includes("syn-5-train-f8-1.mp4: file not found"))).toBe(true);
    expect(reasons).toContain(
      `train.jsonl:${lines - 1} | ${join(dir, "train.jsonl")}:${lines - 1}: field "conversations.0.value": Invalid input: expected string, received number`,
    );
    expect(reasons.some((r) => r.startsWith(`train.jsonl:${lines} | `) && r.includes("not valid JSON"))).toBe(true);
    // Clip 2 is intact: all its items load.
    const clip2 = clipFromId("syn-5-train-f8-2");
    expect(ds.items.map((i) => i.id)).toEqual(clip2.items.map((i) => i.id));
    expect(ds.bad.length).toBe(clipFromId("syn-5-train-f8-0").items.length + clipFromId("syn-5-train-f8-1").items.length + 2);
  });

  it("a file that differs from the manifest's sha256 is bad, named, with every item that uses it", async () => {
    const dir = join(root, "h");
    const manifest = await writeSyntheticDataset(dir, { seed: 6, train: 2, testIn: 1, testOut: 0 });
    expect(Object.keys(manifest.sha256!)).toEqual([
      "clips/syn-6-test-in-f8-0.mp4",
      "clips/syn-6-train-f8-0.mp4",
      "clips/syn-6-train-f8-1.mp4",
      "scenes/syn-6-test-in-f8-0.json",
      "scenes/syn-6-train-f8-0.json",
      "scenes/syn-6-train-f8-1.json",
      "test-in.jsonl",
      "test-out.jsonl",
      "train.jsonl",
    ]);
    // One bit of a video, one byte of a split file (still valid JSONL).
    const mp4 = join(dir, "clips", "syn-6-train-f8-0.mp4");
    const bytes = readFileSync(mp4);
    bytes[bytes.length >> 1]! ^= 1;
    writeFileSync(mp4, bytes);
    const testIn = join(dir, "test-in.jsonl");
    writeFileSync(testIn, readFileSync(testIn, "utf8").replace('"id"', ' "id"'));
    const ds = await loadDatasetDir(dir);
    const clip0 = clipFromId("syn-6-train-f8-0").items.map((i) => i.id);
    // Sorted: the items' checks finish in any order.
    expect([...ds.bad].sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual(
      [
        {
          id: "test-in.jsonl",
          reason: expect.stringMatching(new RegExp(`^${testIn}: sha256 mismatch \\(dataset.json: [0-9a-f]{64}, file: [0-9a-f]{64}\\)$`)),
        },
        ...clip0.sort().map((id) => ({ id, reason: expect.stringMatching(new RegExp(`^${mp4}: sha256 mismatch `)) })),
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    expect(ds.items.map((i) => i.id)).toEqual(clipFromId("syn-6-train-f8-1").items.map((i) => i.id));
  });
});

describe("an imported LLaVA-Hound style directory (no manifest)", () => {
  it("loads frame folders and mp4 files relative to the directory; multi-turn records give one item per turn", async () => {
    const dir = join(root, "hound");
    mkdirSync(join(dir, "frames", "v1"), { recursive: true });
    const clip = clipFromId("syn-1-train-f8-0");
    const frames = renderClip(clip.scene);
    // The clip's frames as a folder of 8 PPM images (a format ffmpeg reads without an encoder).
    for (let f = 0; f < 8; f++) {
      writeFileSync(
        join(dir, "frames", "v1", `${f + 1}.ppm`),
        Buffer.concat([Buffer.from("P6\n32 32\n255\n"), Buffer.from(frames.subarray(f * 3072, (f + 1) * 3072))]),
      );
    }
    await writeMp4(frames, { frames: 8, height: 32, width: 32 }, join(dir, "v2.mp4"));
    const turns = (q: string, a: string) => [
      { from: "human", value: `<video>\n${q}` },
      { from: "gpt", value: a },
    ];
    writeFileSync(
      join(dir, "qa.jsonl"),
      `${[
        { id: "a", video: "frames/v1", conversations: [...turns("What happens?", "A circle moves."), ...turns("How many?", "2")] },
        { id: "b", video: "v2.mp4", conversations: turns("Colour?", "red"), caption: "A red circle." },
        { id: "c", video: "missing.mp4", conversations: turns("Colour?", "blue") },
      ]
        .map((r) => JSON.stringify(r))
        .join("\n")}\n`,
    );
    const ds = await loadDatasetDir(dir, { frames: 8, height: 32, width: 32 });
    expect(ds.manifest).toBeUndefined();
    expect(ds.items.map((i) => [i.split, i.id, i.question, i.answer])).toEqual([
      ["qa", "a-0", "What happens?", "A circle moves."],
      ["qa", "a-1", "How many?", "2"],
      ["qa", "b", "Colour?", "red"],
    ]);
    for (const it of ds.items) expect(Buffer.from(it.frames!.data).equals(Buffer.from(frames))).toBe(true);
    expect(ds.bad).toEqual([{ id: "c", reason: `${join(dir, "missing.mp4")}: file not found` }]);
  });
});

describe("ShareGPTVideo and preference JSONL", () => {
  it("a malformed line names its line number and field", async () => {
    const p = join(root, "qa.jsonl");
    writeFileSync(
      p,
      [
        JSON.stringify({
          id: "a",
          video: "a.mp4",
          conversations: [
            { from: "human", value: "<video>\nWhat?" },
            { from: "gpt", value: "red" },
          ],
          caption: "c",
        }),
        "",
        JSON.stringify({
          id: "b",
          video: "",
          conversations: [
            { from: "human", value: "q" },
            { from: "gpt", value: "a" },
          ],
        }),
      ].join("\n"),
    );
    const seen: string[] = [];
    const err = await (async () => {
      for await (const { record } of readShareGptVideoJsonl(p)) seen.push(record.id);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(["a"]);
    expect(err).toBeInstanceOf(DatasetLineError);
    expect(err).toMatchObject({ line: 3, field: "video" });
    expect((err as Error).message).toMatch(new RegExp(`^${p}:3: field "video": `));
  });

  it("a line that is not valid UTF-8 is a bad line, not text with U+FFFD; multi-byte text split across chunks is kept", async () => {
    const p = join(root, "utf8.jsonl");
    const record = (id: string, answer: string) =>
      JSON.stringify({
        id,
        video: "a.mp4",
        conversations: [
          { from: "human", value: "Was?" },
          { from: "gpt", value: answer },
        ],
      });
    const good = Buffer.from(`${record("a", "grün ✓ 日本 🎥 \uFFFD")}\n`);
    const bad = Buffer.concat([
      Buffer.from(record("b", "x").slice(0, 40)),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`${record("b", "x").slice(40)}\n`),
    ]);
    writeFileSync(p, Buffer.concat([good, bad, Buffer.from(record("c", "ok"))]));
    const seen: string[] = [];
    const err = await (async () => {
      for await (const { record } of readShareGptVideoJsonl(p)) seen.push(`${record.id}:${record.conversations[1]!.value}`);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(["a:grün ✓ 日本 🎥 \uFFFD"]);
    expect(err).toBeInstanceOf(DatasetLineError);
    expect((err as Error).message).toBe(`${p}:2: not valid UTF-8`);
    // The same bytes one at a time (an artifact stream): every character survives the chunk borders.
    const bytes = readFileSync(p);
    const oneByOne = {
      async *getStream() {
        for (const b of bytes) yield Uint8Array.of(b);
      },
    } as unknown as ArtifactStore;
    const lines: string[] = [];
    for await (const l of readArtifactLines(oneByOne, "artifact://datasets/x.jsonl")) lines.push(l.text);
    expect(lines[0]).toBe(good.toString("utf8").trimEnd());
    expect(lines[1]).not.toContain("\uFFFD");
  });

  it("a synthetic answer check is validated too", async () => {
    const p = join(root, "check.jsonl");
    const base = {
      id: "a",
      video: "a.mp4",
      conversations: [
        { from: "human", value: "What colour?" },
        { from: "gpt", value: "red" },
      ],
    };
    writeFileSync(
      p,
      `${JSON.stringify({ ...base, check: { kind: "colour", value: "red" } })}\n${JSON.stringify({ ...base, check: { kind: "colour", value: "pink" } })}\n`,
    );
    const lines: number[] = [];
    const err = await (async () => {
      for await (const { line, record } of readShareGptVideoJsonl(p)) {
        expect(record.check).toEqual({ kind: "colour", value: "red" });
        lines.push(line);
      }
    })().catch((e: unknown) => e);
    expect(lines).toEqual([1]);
    expect(err).toMatchObject({ line: 2, field: "check.value" });
  });

  it("preferences round-trip; TRL export keeps prompt/chosen/rejected; a bad record is named", async () => {
    const p = join(root, "prefs.jsonl");
    const t = join(root, "trl.jsonl");
    // Streamed from a generator: nothing requires the records in memory at once.
    async function* records(n: number): AsyncGenerator<PreferenceRecord> {
      for (let i = 0; i < n; i++)
        yield {
          id: `p${i}`,
          video: `v${i}.mp4`,
          prompt: "Describe.",
          chosen: "A red circle.",
          rejected: "A blue ring.",
          chosen_score: 5,
          rejected_score: 1.5,
          context: i % 2 ? "ctx" : "",
        };
    }
    expect(await writePreferenceJsonl(p, records(5000))).toBe(5000);
    let n = 0;
    for await (const r of readPreferenceJsonl(p)) {
      if (n === 7)
        expect(r).toEqual({
          id: "p7",
          video: "v7.mp4",
          prompt: "Describe.",
          chosen: "A red circle.",
          rejected: "A blue ring.",
          chosen_score: 5,
          rejected_score: 1.5,
          context: "ctx",
        });
      n++;
    }
    expect(n).toBe(5000);
    expect(await writeTrlJsonl(t, records(3))).toBe(3);
    expect(readFileSync(t, "utf8").split("\n")[0]).toBe(
      '{"prompt":"Describe.","chosen":"A red circle.","rejected":"A blue ring.","id":"p0","video":"v0.mp4","chosen_score":5,"rejected_score":1.5,"context":""}',
    );
    const bad = [
      { id: "q", video: "v", prompt: "p", chosen: "c", rejected: "r", chosen_score: "high", rejected_score: 0, context: "" },
    ] as unknown as PreferenceRecord[];
    await expect(writePreferenceJsonl(join(root, "bad.jsonl"), bad)).rejects.toThrow(/record 0: field "chosen_score": /);
  });
});
