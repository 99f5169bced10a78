import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { attentionBias, groupedAttention, initBackend, layerNorm, linear2d } from "../src/index.ts";

beforeAll(async () => {
  await initBackend("wasm", () => undefined);
});

/** The textbook form: heads as a batch dimension, batched matmuls. */
function reference(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor4D): tf.Tensor3D {
  const [b, t, h, hd] = q.shape;
  const heads = (z: tf.Tensor4D) => z.transpose([0, 2, 1, 3]);
  const scores = tf
    .matMul(heads(q), heads(k), false, true)
    .mul(1 / Math.sqrt(hd))
    .add(bias);
  return tf
    .matMul(tf.softmax(scores), heads(v))
    .transpose([0, 2, 1, 3])
    .reshape([b, t, h * hd]) as tf.Tensor3D;
}

describe("groupedAttention", () => {
  it("equals batched-matmul attention, values and gradients, with causal and padding masks", () => {
    const [b, t, h, hd] = [3, 7, 2, 4];
    const q = tf.randomNormal([b, t, h, hd], 0, 1, "float32", 1) as tf.Tensor4D;
    const k = tf.randomNormal([b, t, h, hd], 0, 1, "float32", 2) as tf.Tensor4D;
    const v = tf.randomNormal([b, t, h, hd], 0, 1, "float32", 3) as tf.Tensor4D;
    const w = tf.randomNormal([b, t, h * hd], 0, 1, "float32", 4);
    // The last sequence has two padding keys.
    const valid = [0, 1, 2].map((i) => Uint8Array.from({ length: t }, (_, j) => (i === 2 && j >= t - 2 ? 0 : 1)));
    const bias = attentionBias(valid, t, 0);
    const loss = (f: () => tf.Tensor) => f().mul(w).sum() as tf.Scalar;
    const ref = tf.grads((a, c, d) => loss(() => reference(a as tf.Tensor4D, c as tf.Tensor4D, d as tf.Tensor4D, bias)));
    const got = tf.grads((a, c, d) =>
      loss(() => groupedAttention(a as tf.Tensor4D, c as tf.Tensor4D, d as tf.Tensor4D, bias.transpose([2, 0, 1, 3]))),
    );
    const close = (x: tf.Tensor, y: tf.Tensor) => expect(tf.max(tf.abs(x.sub(y))).dataSync()[0]).toBeLessThan(1e-5);
    close(groupedAttention(q, k, v, bias.transpose([2, 0, 1, 3])), reference(q, k, v, bias));
    const [gr, gg] = [ref([q, k, v]), got([q, k, v])];
    gr.forEach((g, i) => close(gg[i]!, g));
    // Not a trivial pass: the gradients are not all zero.
    expect(tf.max(tf.abs(gg[1]!)).dataSync()[0]).toBeGreaterThan(1e-3);
  });

  it("without a mask (the vision tower) and with one head", () => {
    const q = tf.randomNormal([2, 5, 1, 3], 0, 1, "float32", 5) as tf.Tensor4D;
    const zero = tf.zeros([2, 1, 5, 5]) as tf.Tensor4D;
    const d = tf.max(tf.abs(groupedAttention(q, q, q, null).sub(reference(q, q, q, zero)))).dataSync()[0];
    expect(d).toBeLessThan(1e-5);
  });
});

const maxDiff = (x: tf.Tensor, y: tf.Tensor) => tf.max(tf.abs(x.sub(y))).dataSync()[0]!;

describe("layers with hand-written gradients", () => {
  it("layerNorm equals the textbook formula, values and gradients of x, weight and bias", () => {
    const x = tf.randomNormal([2, 5, 6], 0, 2, "float32", 7);
    const w = tf.randomNormal([6], 1, 0.3, "float32", 8) as tf.Tensor1D;
    const b = tf.randomNormal([6], 0, 0.3, "float32", 9) as tf.Tensor1D;
    const u = tf.randomNormal([2, 5, 6], 0, 1, "float32", 10);
    const reference = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => {
      const c = xx.sub(xx.mean(-1, true));
      return c.mul(c.square().mean(-1, true).add(1e-5).rsqrt()).mul(ww).add(bb);
    };
    const ref = tf.grads((a, c, d) => reference(a!, c!, d!).mul(u).sum() as tf.Scalar)([x, w, b]);
    const got = tf.grads(
      (a, c, d) =>
        layerNorm(a!, c as tf.Tensor1D, d as tf.Tensor1D, 1e-5)
          .mul(u)
          .sum() as tf.Scalar,
    )([x, w, b]);
    expect(maxDiff(layerNorm(x, w, b, 1e-5), reference(x, w, b))).toBeLessThan(1e-5);
    ref.forEach((g, i) => expect(maxDiff(got[i]!, g)).toBeLessThan(1e-4));
    expect(tf.max(tf.abs(got[0]!)).dataSync()[0]).toBeGreaterThan(1e-2);
  });

  it("linear2d's gradient (bias included) equals autograd's of x·w + b", () => {
    const x = tf.randomNormal([7, 4], 0, 1, "float32", 11) as tf.Tensor2D;
    const w = tf.randomNormal([4, 3], 0, 1, "float32", 12) as tf.Tensor2D;
    const b = tf.randomNormal([3], 0, 1, "float32", 13) as tf.Tensor1D;
    const u = tf.randomNormal([7, 3], 0, 1, "float32", 14);
    const ref = tf.grads(
      (a, c, d) =>
        tf
          .matMul(a as tf.Tensor2D, c as tf.Tensor2D)
          .add(d!)
          .mul(u)
          .sum() as tf.Scalar,
    )([x, w, b]);
    const got = tf.grads(
      (a, c, d) =>
        linear2d(a as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor1D)
          .mul(u)
          .sum() as tf.Scalar,
    )([x, w, b]);
    ref.forEach((g, i) => expect(maxDiff(got[i]!, g)).toBeLessThan(1e-4));
  });
});
