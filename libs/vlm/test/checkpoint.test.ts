import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Tokenizer, VideoLMM, decodeSafetensors, loadCheckpoint, saveCheckpoint, sequenceLogProbs } from "../src/index.ts";
import { frames, setup } from "./helpers.ts";

let tok: Tokenizer;
let model: VideoLMM;
let dir: string;
const items = [{ videoId: "a", frames: frames(11), prompt: "describe the video.", answer: "a red circle moves left." }];

beforeAll(async () => {
  ({ tok, model } = await setup(3));
  dir = await mkdtemp(join(tmpdir(), "vlm-ckpt-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("checkpoints", () => {
  it("round-trip: same weights, tokenizer, scores and digest", async () => {
    const { digest } = await saveCheckpoint(join(dir, "ok"), model, tok);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    const loaded = await loadCheckpoint(join(dir, "ok"));
    expect(loaded.digest).toBe(digest);
    expect(loaded.tok.toJSON()).toEqual(tok.toJSON());
    expect(loaded.model.config).toEqual(model.config);
    for (const [name, v] of model.params) {
      expect(Array.from(loaded.model.params.get(name)!.dataSync())).toEqual(Array.from(v.dataSync()));
    }
    expect(await sequenceLogProbs(loaded.model, loaded.tok, items)).toEqual(await sequenceLogProbs(model, tok, items));
    // Saving the same model again gives the same digest; the weights file is standard safetensors.
    expect((await saveCheckpoint(join(dir, "again"), model, tok)).digest).toBe(digest);
    const { tensors } = decodeSafetensors(await readFile(join(dir, "ok", "model.safetensors")), "model.safetensors");
    expect(tensors.size).toBe(model.params.size);
    tf.dispose([...tensors.values()]);
    loaded.model.dispose();
  });

  it("a corrupted or truncated file fails with an error naming it", async () => {
    await saveCheckpoint(join(dir, "bad"), model, tok);
    const weights = join(dir, "bad", "model.safetensors");
    const bytes = await readFile(weights);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0xff;
    await writeFile(weights, bytes);
    await expect(loadCheckpoint(join(dir, "bad"))).rejects.toThrow(/bad\/model\.safetensors.*truncated or corrupted/);
    await writeFile(weights, bytes.subarray(0, 1000));
    await expect(loadCheckpoint(join(dir, "bad"))).rejects.toThrow(/model\.safetensors.*truncated or corrupted/);
    await saveCheckpoint(join(dir, "bad2"), model, tok);
    await writeFile(join(dir, "bad2", "tokenizer.json"), "{}");
    await expect(loadCheckpoint(join(dir, "bad2"))).rejects.toThrow(/tokenizer\.json/);
    await expect(loadCheckpoint(join(dir, "missing"))).rejects.toThrow(/missing\/manifest\.json/);
  });

  it("weights must match the config exactly: missing, misshapen or extra tensors are named", () => {
    const weights = new Map<string, tf.Tensor>(model.params);
    const before = tf.memory().numTensors;
    weights.delete("ln_f.bias");
    expect(() => VideoLMM.fromWeights(model.config, weights, "w.safetensors")).toThrow(/w\.safetensors: missing tensor "ln_f\.bias"/);
    weights.set("ln_f.bias", tf.zeros([3]));
    expect(() => VideoLMM.fromWeights(model.config, weights)).toThrow(/"ln_f\.bias" has shape \[3\], the config needs \[32\]/);
    weights.set("ln_f.bias", model.params.get("ln_f.bias")!);
    weights.set("head.extra", tf.zeros([1]));
    expect(() => VideoLMM.fromWeights(model.config, weights)).toThrow(/unexpected tensors head\.extra/);
    expect(tf.memory().numTensors).toBe(before + 2); // only the two test tensors made here
  });

  it("the safetensors reader names the file when the bytes are cut short", () => {
    expect(() => decodeSafetensors(new Uint8Array(4), "w.safetensors")).toThrow(/w\.safetensors/);
  });
});
