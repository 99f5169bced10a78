import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "./config.ts";
import { numVisualTokens, patchDim } from "./config.ts";

/**
 * The backend's square-matmul throughput in GFLOP/s (best of `reps` after a warm-up): the physical
 * reference. Timed in process CPU time, which equals wall time for a single-threaded backend on an
 * idle machine and is not inflated when other processes share the cores.
 */
export function matmulGflops(n = 1024, reps = 10): number {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  let best = Infinity;
  for (let i = 0; i < reps + 3; i++) {
    const t0 = process.cpuUsage();
    tf.tidy(() => {
      tf.matMul(a, b).dataSync(); // a braced body: tidy() would walk a returned typed array
    });
    const t = process.cpuUsage(t0);
    if (i >= 3) best = Math.min(best, (t.user + t.system) / 1000);
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

/**
 * Useful floating-point operations of one forward pass over `batch` sequences of `textLen` text
 * tokens (MFU-style: matmuls of the model, attention included; the one-hot embedding lookups are
 * not counted, since a gather does them without arithmetic). `withVision` adds the vision tower.
 */
export function forwardFlops(c: ModelConfig, batch: number, textLen: number, withVision: boolean): number {
  const nv = numVisualTokens(c);
  const rows = batch * (nv + textLen);
  const d = c.dModel;
  const seq = nv + textLen;
  let f = c.nLayers * (2 * rows * d * (3 * d + d + 2 * c.mlpRatio * d) + 4 * batch * seq * seq * d);
  f += 2 * batch * textLen * d * c.vocabSize; // LM head
  if (withVision) {
    const vrows = batch * nv;
    const dv = c.visionDim;
    f += 2 * vrows * patchDim(c) * dv;
    f += c.visionLayers * (2 * vrows * dv * (4 * dv + 2 * c.mlpRatio * dv) + 4 * batch * nv * nv * dv);
    f += 2 * vrows * (dv * d + d * d);
  }
  return f;
}
