import * as tf from "@tensorflow/tfjs";
import { initBackend } from "@isrdpo/vlm";
import { beforeAll, describe, expect, it } from "vitest";
import {
  bradleyTerryLoss,
  bradleyTerryMetrics,
  clippedValueLoss,
  gae,
  klPenalisedRewards,
  ppoPolicyLoss,
  tokenEntropy,
} from "../src/index.ts";

beforeAll(async () => {
  await initBackend("wasm", () => {});
});

const scalar = async (t: tf.Tensor) => (await t.data())[0] as number;

describe("Bradley–Terry reward-model loss", () => {
  // r_w = [2, 0, −1], r_l = [1, 0, 1]: margins d = [1, 0, −2].
  // −logσ(d) = softplus(−d) = [ln(1 + e^−1), ln 2, ln(1 + e^2)] = [0.3132617, 0.6931472, 2.1269280];
  // mean = 3.1333369 / 3 = 1.0444456. Accuracy 1/3 (the tie counts as wrong), margin (1 + 0 − 2)/3.
  const chosen = [2, 0, -1];
  const rejected = [1, 0, 1];

  it("on numbers: loss, accuracy and margin", () => {
    const m = bradleyTerryMetrics(chosen, rejected);
    expect(m.loss).toBeCloseTo(1.0444456, 6);
    expect(m.accuracy).toBeCloseTo(1 / 3, 12);
    expect(m.margin).toBeCloseTo(-1 / 3, 12);
  });

  it("on tensors: the same loss, and its gradient σ(−d)/n pushes r_w up and r_l down", async () => {
    const rw = tf.variable(tf.tensor1d(chosen));
    const rl = tf.tensor1d(rejected);
    const { value, grads } = tf.variableGrads(() => bradleyTerryLoss(rw as tf.Tensor1D, rl), [rw]);
    expect(await scalar(value)).toBeCloseTo(1.0444456, 5);
    // ∂/∂r_w of softplus(−d)/3 = −σ(−d)/3: σ(−1) = 0.2689414, σ(0) = 0.5, σ(2) = 0.8807971.
    const g = Array.from(await grads[rw.name]!.data());
    [-0.2689414 / 3, -0.5 / 3, -0.8807971 / 3].forEach((x, i) => expect(g[i]).toBeCloseTo(x, 5));
  });

  it("refuses mismatched batches", () => {
    expect(() => bradleyTerryMetrics([1], [1, 2])).toThrow(/1 chosen and 2 rejected/);
  });
});

describe("GAE (Schulman et al. 2016)", () => {
  it("γ = 1, λ = 0.95: a final reward of 1 against values 0.5", () => {
    // t=2: δ = 1 + 0 − 0.5 = 0.5, A = 0.5; t=1: δ = 0 + 0.5 − 0.5 = 0, A = 0.95·0.5 = 0.475;
    // t=0: δ = 0, A = 0.95·0.475 = 0.45125. Returns = A + V = [0.95125, 0.975, 1].
    const { advantages, returns } = gae([0, 0, 1], [0.5, 0.5, 0.5], 1, 0.95);
    [0.45125, 0.475, 0.5].forEach((x, i) => expect(advantages[i]).toBeCloseTo(x, 12));
    [0.95125, 0.975, 1].forEach((x, i) => expect(returns[i]).toBeCloseTo(x, 12));
  });

  it("γ = 0.9, λ = 1: Monte-Carlo returns minus the values", () => {
    // t=2: δ = 2, A = 2; t=1: δ = 0 + 0.9·0 − 1 = −1, A = −1 + 0.9·2 = 0.8;
    // t=0: δ = 1 + 0.9·1 − 0 = 1.9, A = 1.9 + 0.9·0.8 = 2.62 (= 1 + 0.81·2 − V_0).
    const { advantages, returns } = gae([1, 0, 2], [0, 1, 0], 0.9, 1);
    [2.62, 0.8, 2].forEach((x, i) => expect(advantages[i]).toBeCloseTo(x, 12));
    [2.62, 1.8, 2].forEach((x, i) => expect(returns[i]).toBeCloseTo(x, 12));
  });
});

describe("KL-penalised rewards (Ouyang et al. 2022)", () => {
  it("−β·(log π − log π_ref) per token, the score added at the last token", () => {
    // kl = [−1 − (−1.5), −2 − (−1.5)] = [0.5, −0.5]; β = 0.1: [−0.05, 0.05 + 1].
    const { rewards, kl } = klPenalisedRewards(1, [-1, -2], [-1.5, -1.5], 0.1);
    expect(kl).toEqual([0.5, -0.5]);
    expect(rewards[0]).toBeCloseTo(-0.05, 12);
    expect(rewards[1]).toBeCloseTo(1.05, 12);
  });
});

describe("PPO losses (Schulman et al. 2017)", () => {
  it("clipped policy loss and clip fraction over response tokens", async () => {
    // ε = 0.2. Row 0: ratios [1.5, 0.5, 1, e^5 (padding)], A = [1, 1, −2, 3], mask [1, 1, 1, 0]:
    //   t0: max(−1.5, −1·1.2) = −1.2 (clipped); t1: max(−0.5, −0.8) = −0.5; t2: max(2, 2) = 2.
    // Row 1: ratios [0.5, 1.1], A = [−1, −1], mask [1, 1, 0, 0]:
    //   t0: max(0.5, 0.8) = 0.8 (clipped); t1: max(1.1, 1.1) = 1.1.
    // loss = (−1.2 − 0.5 + 2 + 0.8 + 1.1) / 5 = 0.44; clip fraction 2/5.
    const old = tf.zeros([2, 4]) as tf.Tensor2D;
    const logp = tf.tensor2d([
      [Math.log(1.5), Math.log(0.5), 0, 5],
      [Math.log(0.5), Math.log(1.1), 0, 0],
    ]);
    const adv = tf.tensor2d([
      [1, 1, -2, 3],
      [-1, -1, 0, 0],
    ]);
    const mask = tf.tensor2d([
      [1, 1, 1, 0],
      [1, 1, 0, 0],
    ]);
    const { loss, clipFraction } = ppoPolicyLoss(logp, old, adv, mask, 0.2);
    expect(await scalar(loss)).toBeCloseTo(0.44, 5);
    expect(await scalar(clipFraction)).toBeCloseTo(0.4, 6);
  });

  it("clipped value loss", async () => {
    // ε = 0.2. t0: V = 1.5, V_old = 1, R = 2: max((−0.5)², (1.2 − 2)²) = 0.64; t1: V = V_old = 0, R = 1: 1.
    // ½·mean(0.64, 1) = 0.41. A padded third token (V = 9) is ignored.
    const loss = clippedValueLoss(
      tf.tensor2d([[1.5, 0, 9]]),
      tf.tensor2d([[1, 0, 0]]),
      tf.tensor2d([[2, 1, 0]]),
      tf.tensor2d([[1, 1, 0]]),
      0.2,
    );
    expect(await scalar(loss)).toBeCloseTo(0.41, 6);
  });

  it("entropy per response token", async () => {
    // Vocabulary of 2. Logits [0, 0]: H = ln 2 = 0.6931472. Logits [ln 3, 0]: p = [0.75, 0.25],
    // H = 0.75·0.2876821 + 0.25·1.3862944 = 0.5623351. Mean 0.6277411; the padded token is ignored.
    const logits = tf.tensor3d([
      [
        [0, 0],
        [Math.log(3), 0],
        [50, 0],
      ],
    ]);
    expect(await scalar(tokenEntropy(logits, tf.tensor2d([[1, 1, 0]])))).toBeCloseTo(0.6277411, 5);
  });
});
