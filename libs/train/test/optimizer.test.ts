import * as tf from "@tensorflow/tfjs";
import { initBackend } from "@isrdpo/vlm";
import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, clipByGlobalNorm, learningRate } from "../src/index.ts";

beforeAll(async () => {
  await initBackend("wasm", () => {});
});

describe("learningRate", () => {
  const o = { lr: 1, warmupSteps: 4, totalSteps: 14 };
  it("warms up linearly, then decays linearly or by a cosine to 0", () => {
    expect([0, 1, 2, 3].map((s) => learningRate(s, { ...o, schedule: "linear" }))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(learningRate(4, { ...o, schedule: "linear" })).toBe(1);
    expect(learningRate(9, { ...o, schedule: "linear" })).toBeCloseTo(0.5, 12);
    expect(learningRate(14, { ...o, schedule: "linear" })).toBe(0);
    expect(learningRate(9, { ...o, schedule: "cosine" })).toBeCloseTo(0.5, 12);
    expect(learningRate(6.5, { ...o, schedule: "cosine" })).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(learningRate(13, { ...o, schedule: "constant" })).toBe(1);
  });
});

describe("AdamW and clipping", () => {
  it("matches torch.optim.AdamW on one parameter for two steps", () => {
    // By hand: step 1, g = 0.5: m̂ = 0.5, v̂ = 0.25 → update 1 (−ε); p = 1·(1 − 0.1·0.01) − 0.1·1 = 0.899
    const p = new Map([["w", tf.variable(tf.tensor2d([[1]]))]]);
    const opt = new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
    opt.apply(p, new Map([["w", tf.tensor2d([[0.5]])]]), 0.1);
    expect(p.get("w")!.dataSync()[0]).toBeCloseTo(0.899, 6);
    // Step 2, g = −0.5: m = 0.045 − 0.05 = −0.005 → m̂ = −0.005/0.19; v = 0.25·(0.999·0.001 + 0.001) → v̂ = 0.25·(0.001999)/0.001999 = 0.25
    opt.apply(p, new Map([["w", tf.tensor2d([[-0.5]])]]), 0.1);
    const mHat = -0.005 / (1 - 0.9 ** 2);
    const expected = 0.899 * (1 - 0.1 * 0.01) - 0.1 * (mHat / (Math.sqrt(0.25) + 1e-8));
    expect(p.get("w")!.dataSync()[0]).toBeCloseTo(expected, 6);
    // Vectors (rank 1: biases, LayerNorm) are not decayed.
    const b = new Map([["b", tf.variable(tf.tensor1d([1]))]]);
    new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 }).apply(b, new Map([["b", tf.tensor1d([0])]]), 0.1);
    expect(b.get("b")!.dataSync()[0]).toBe(1);
  });

  it("clips gradients to a global L2 norm and reports the norm before clipping", async () => {
    const grads = new Map<string, tf.Tensor>([
      ["a", tf.tensor1d([3])],
      ["b", tf.tensor1d([4])],
    ]);
    expect(await clipByGlobalNorm(grads, 1)).toBeCloseTo(5, 6);
    expect(grads.get("a")!.dataSync()[0]).toBeCloseTo(0.6, 5);
    expect(grads.get("b")!.dataSync()[0]).toBeCloseTo(0.8, 5);
    expect(await clipByGlobalNorm(grads, 0)).toBeCloseTo(1, 5); // 0 = no clipping
  });
});
