// Data parallelism: gradient shards of a micro-batch, on the caller's thread or on worker threads.
import * as tf from "@tensorflow/tfjs";
import { Rng, Tokenizer, VideoLMM, initBackend, modelConfig } from "@isrdpo/vlm";
import { beforeAll, describe, expect, it } from "vitest";
import { type DpoPair, type SftExample, type TrainResult, splitShards, trainDpo, trainSft } from "../src/index.ts";

const frames = (seed: number) => {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: 8 * 32 * 32 * 3 }, () => Math.floor(rng.next() * 256));
};
const ANSWERS = ["red.", "blue square.", "two objects.", "a green square moves left.", "yes.", "the circle, then the ring."];
const sft: SftExample[] = ANSWERS.map((answer, i) => ({ videoId: `v${i % 4}`, frames: frames(i % 4), prompt: `question ${i}?`, answer }));
const pairs: DpoPair[] = ANSWERS.map((chosen, i) => ({
  videoId: `v${i % 3}`,
  frames: frames(i % 3),
  prompt: `question ${i}?`,
  chosen,
  rejected: ANSWERS[(i + 1) % ANSWERS.length] as string,
}));
let tok: Tokenizer;
const fresh = () => VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), 3);
const weights = async (m: VideoLMM) => Promise.all([...m.params.values()].map(async (v) => (await v.data()) as Float32Array));
const maxDiff = (a: Float32Array[], b: Float32Array[]) =>
  Math.max(...a.map((x, i) => Math.max(...x.map((v, j) => Math.abs(v - b[i]![j]!)))));
// A large Adam epsilon makes updates proportional to the gradient, so float rounding in near-zero
// gradients cannot flip a sign-like first update.
const training = { lr: 1e-2, adamEps: 1e-3, epochs: 2, batchSize: 6, schedule: "constant" as const, seed: 4 };

beforeAll(async () => {
  await initBackend("wasm", () => {});
  tok = Tokenizer.train([...sft.map((e) => `${e.prompt} ${e.answer}`)], { vocabSize: 300 });
});

async function run(job: "sft" | "dpo", gradShards: number, threads: number): Promise<{ w: Float32Array[]; r: TrainResult }> {
  const model = fresh();
  const opts = { training: { ...training, gradShards }, threads };
  const r = job === "sft" ? await trainSft(model, tok, sft, opts) : await trainDpo(model, tok, pairs, opts);
  const w = await weights(model);
  model.dispose();
  return { w, r };
}

describe("gradient shards", () => {
  it("splits a micro-batch into strided, non-empty shards (balanced when the batch is sorted by length)", () => {
    expect(splitShards([5, 1, 4, 2, 3], 2)).toEqual([
      [5, 4, 3],
      [1, 2],
    ]);
    expect(splitShards([7, 8], 4)).toEqual([[7], [8]]);
    expect(splitShards([1, 2, 3], 1)).toEqual([[1, 2, 3]]);
  });

  for (const job of ["sft", "dpo"] as const) {
    it(`${job}: 3 shards give the unsharded step within 1e-5, and the same bits on 1 or 2 threads`, async () => {
      const whole = await run(job, 1, 1);
      const one = await run(job, 3, 1);
      const two = await run(job, 3, 2);
      expect(one.r.steps).toBe(2);
      expect(maxDiff(one.w, whole.w)).toBeLessThan(1e-5);
      expect(one.r.history.map((h) => h.loss)).toEqual(two.r.history.map((h) => h.loss));
      expect(one.r.history.map((h) => h.metrics)).toEqual(two.r.history.map((h) => h.metrics));
      expect(maxDiff(one.w, two.w)).toBe(0);
      one.r.history.forEach((h, i) => expect(h.loss).toBeCloseTo(whole.r.history[i]!.loss, 5));
      // It trained: the weights moved.
      const start = fresh();
      expect(maxDiff(await weights(start), one.w)).toBeGreaterThan(1e-3);
      start.dispose();
    }, 60_000);
  }

  it("sft with the dense head: bit-identical on 1 or 2 threads, and its loss falls", async () => {
    const run = async (threads: number) => {
      const model = VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize, denseLabels: 3 }), 3);
      // Label 0 on in even tokens of every video, label 1 on in video v0 only, label 2 never.
      const targets = (videoId: string) =>
        Float32Array.from({ length: model.numVisual * 3 }, (_, i) => {
          const [token, label] = [Math.floor(i / 3), i % 3];
          return (label === 0 && token % 2 === 0) || (label === 1 && videoId === "v0") ? 1 : 0;
        });
      const r = await trainSft(
        model,
        tok,
        sft.map((e, i) => (i === 5 ? e : { ...e, denseTargets: targets(e.videoId) })), // one example unlabelled
        { training: { ...training, epochs: 20, gradShards: 3 }, threads, denseWeight: 1 },
      );
      const w = await weights(model);
      model.dispose();
      return { r, w };
    };
    const one = await run(1);
    const two = await run(2);
    expect(maxDiff(one.w, two.w)).toBe(0);
    const dense = one.r.history.map((h) => h.metrics.dense_loss as number);
    expect(dense[0]).toBeGreaterThan(0.5);
    expect(dense.at(-1)).toBeLessThan(dense[0]! * 0.8);
  }, 60_000);

  it("leaks no tensors on the caller's thread", async () => {
    const before = tf.memory().numTensors;
    const model = fresh();
    await trainDpo(model, tok, pairs, { training: { ...training, gradShards: 2 }, threads: 2 });
    model.dispose(); // with its cache of visual tokens
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);
});
