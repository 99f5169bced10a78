import * as tf from "@tensorflow/tfjs";
import { initBackend, Rng } from "@isrdpo/vlm";
import { beforeAll, describe, expect, it } from "vitest";
import { type DpoLossType, dpoLoss, dpoLossTensor } from "../src/index.ts";

// Three pairs. Log-ratios Δc = policy − reference on chosen = [0.5, 0, 1], Δr on rejected = [−1, 0, 0.5],
// Δ = Δc − Δr = [1.5, 0, 0.5]. The second pair is a tie (Δc = Δr = 0).
const batch = {
  policyChosen: [-10, -12, -8],
  policyRejected: [-11, -12, -7],
  referenceChosen: [-10.5, -12, -9],
  referenceRejected: [-10, -12, -7.5],
  chosenLengths: [5, 4, 2],
  rejectedLengths: [5, 3, 4],
};
const softplus = (x: number) => Math.log(1 + Math.exp(x)); // −logσ(x) = softplus(−x)

beforeAll(async () => {
  await initBackend("wasm", () => {});
});

describe("dpoLoss (TRL definitions)", () => {
  it("sigmoid: mean of −logσ(βΔ), with label smoothing (cDPO)", () => {
    // β = 0.1: βΔ = [0.15, 0, 0.05]
    const plain = (softplus(-0.15) + Math.LN2 + softplus(-0.05)) / 3;
    expect(plain).toBeCloseTo(0.6608546, 6);
    expect(dpoLoss(batch, { type: "sigmoid", beta: 0.1 }).loss).toBeCloseTo(plain, 10);
    // ε = 0.1: 0.9·(−logσ(βΔ)) + 0.1·(−logσ(−βΔ))
    const smoothed = [0.15, 0, 0.05].reduce((a, x) => a + 0.9 * softplus(-x) + 0.1 * softplus(x), 0) / 3;
    expect(smoothed).toBeCloseTo(0.6675213, 6);
    expect(dpoLoss(batch, { type: "sigmoid", beta: 0.1, labelSmoothing: 0.1 }).loss).toBeCloseTo(smoothed, 10);
  });

  it("hinge: mean of relu(1 − βΔ)", () => {
    expect(dpoLoss(batch, { type: "hinge", beta: 0.1 }).loss).toBeCloseTo((0.85 + 1 + 0.95) / 3, 10);
    expect(dpoLoss(batch, { type: "hinge", beta: 1 }).loss).toBeCloseTo((0 + 1 + 0.5) / 3, 10);
  });

  it("ipo: squared distance of the length-averaged log-ratio gap to 1/(2β)", () => {
    // Δc/|yw| − Δr/|yl| = [0.1 + 0.2, 0 − 0, 0.5 − 0.125] = [0.3, 0, 0.375]; 1/(2β) = 5
    const expected = ((0.3 - 5) ** 2 + 25 + (0.375 - 5) ** 2) / 3;
    expect(expected).toBeCloseTo(22.826875, 10);
    expect(dpoLoss(batch, { type: "ipo", beta: 0.1 }).loss).toBeCloseTo(expected, 10);
  });

  it("robust: unbiased label-noise correction divided by (1 − 2ε)", () => {
    const expected = [0.15, 0, 0.05].reduce((a, x) => a + (0.9 * softplus(-x) - 0.1 * softplus(x)) / 0.8, 0) / 3;
    expect(dpoLoss(batch, { type: "robust", beta: 0.1, labelSmoothing: 0.1 }).loss).toBeCloseTo(expected, 10);
    // Without smoothing it is plain sigmoid DPO.
    expect(dpoLoss(batch, { type: "robust", beta: 0.1 }).loss).toBeCloseTo(dpoLoss(batch, { type: "sigmoid", beta: 0.1 }).loss, 12);
  });

  it("sigmoid_norm: −logσ(β·(Δc/|yw| − Δr/|yl|))", () => {
    const expected = (softplus(-0.03) + Math.LN2 + softplus(-0.0375)) / 3;
    expect(dpoLoss(batch, { type: "sigmoid_norm", beta: 0.1 }).loss).toBeCloseTo(expected, 10);
  });

  it("reports TRL's reward metrics; a tie is not counted as correct", () => {
    const m = dpoLoss(batch, { type: "sigmoid", beta: 0.1 });
    expect(m.rewardsChosen).toBeCloseTo((0.05 + 0 + 0.1) / 3, 12);
    expect(m.rewardsRejected).toBeCloseTo((-0.1 + 0 + 0.05) / 3, 12);
    expect(m.rewardsMargins).toBeCloseTo((0.15 + 0 + 0.05) / 3, 12);
    expect(m.rewardsAccuracy).toBeCloseTo(2 / 3, 12);
    // At step 0 (policy = reference) every loss type gives the same, known value.
    const zero = { ...batch, policyChosen: batch.referenceChosen, policyRejected: batch.referenceRejected };
    expect(dpoLoss(zero, { type: "sigmoid", beta: 0.1 }).loss).toBeCloseTo(Math.LN2, 12);
    expect(dpoLoss(zero, { type: "ipo", beta: 0.5 }).loss).toBeCloseTo(1, 12);
    expect(dpoLoss(zero, {}).rewardsAccuracy).toBe(0);
  });

  it("rejects bad inputs with the field named", () => {
    expect(() => dpoLoss({ ...batch, chosenLengths: [1] }, {})).toThrow(/chosenLengths/);
    expect(() => dpoLoss(batch, { beta: 0 })).toThrow(/beta/);
    expect(() => dpoLoss(batch, { type: "robust", labelSmoothing: 0.5 })).toThrow(/labelSmoothing/);
    expect(() => dpoLoss(batch, { type: "kto" as DpoLossType })).toThrow(/type/);
  });

  it("the tensor version matches the numeric one for every type, value and gradient", () => {
    const rng = new Rng(5);
    const r = (n: number, s: number) => Array.from({ length: n }, () => (rng.next() - 0.5) * s - 20);
    const random = {
      policyChosen: r(6, 8),
      policyRejected: r(6, 8),
      referenceChosen: r(6, 8),
      referenceRejected: r(6, 8),
      chosenLengths: [1, 3, 7, 2, 9, 4],
      rejectedLengths: [2, 2, 5, 8, 1, 6],
    };
    for (const type of ["sigmoid", "hinge", "ipo", "robust", "sigmoid_norm"] as const) {
      const params = { type, beta: 0.3, labelSmoothing: type === "robust" || type === "sigmoid" ? 0.2 : 0 };
      const pc = tf.tensor1d(random.policyChosen);
      const pr = tf.tensor1d(random.policyRejected);
      const loss = dpoLossTensor(pc, pr, random, params);
      expect(loss.dataSync()[0]).toBeCloseTo(dpoLoss(random, params).loss, 4);
      // The gradient in the chosen log-probs matches central differences of the numeric loss.
      const g = tf.grad((x: tf.Tensor) => dpoLossTensor(x as tf.Tensor1D, pr, random, params))(pc);
      const h = 1e-4;
      g.dataSync().forEach((gi, i) => {
        const at = (delta: number) =>
          dpoLoss({ ...random, policyChosen: random.policyChosen.map((v, j) => (j === i ? v + delta : v)) }, params).loss;
        expect(gi).toBeCloseTo((at(h) - at(-h)) / (2 * h), 4);
      });
      tf.dispose([pc, pr, loss, g]);
    }
  });
});
