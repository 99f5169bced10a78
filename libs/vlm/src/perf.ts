import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "./config.ts";
import { numVisualTokens, patchDim } from "./config.ts";
import { isGpuBackend, readAndDispose } from "./backend.ts";

/**
 * The backend's square-matmul throughput in GFLOP/s (best of `reps` after a warm-up): the physical
 * reference. On a CPU backend timed in process CPU time, which equals wall time for a single-threaded
 * backend on an idle machine and is not inflated when other processes share the cores; on a GPU in
 * wall time up to the (asynchronous) read of one element of the result, which waits for the kernel
 * without timing the transfer of the whole product (64 MB at n = 4096).
 */
export async function matmulGflops(n = 1024, reps = 10): Promise<number> {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const clock = isGpuBackend() ? () => performance.now() : cpuMs;
  let best = Infinity;
  for (let i = 0; i < reps + 3; i++) {
    const t0 = clock();
    await readAndDispose(tf.tidy(() => tf.matMul(a, b).slice([0, 0], [1, 1])));
    const ms = clock() - t0;
    if (i >= 3) best = Math.min(best, ms);
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

/**
 * Parameters of a model of config `c`, without building it (a `large` model is 440 MB of weights):
 * the same count as VideoLMM.parameterCount() of a built one (tested on every preset that is cheap to
 * build and on each stem and position encoding).
 */
export function parameterCount(c: ModelConfig): number {
  const linear = (nIn: number, nOut: number) => nIn * nOut + nOut;
  const block = (d: number) => 2 * d + linear(d, 3 * d) + linear(d, d) + 2 * d + linear(d, c.mlpRatio * d) + linear(c.mlpRatio * d, d);
  const dv = c.visionDim;
  const stem =
    c.stem === "hmlp"
      ? linear(c.tubelet * (c.patchSize / 4) ** 2 * c.channels, dv / 4) + linear(dv, dv / 4) + linear(dv, dv)
      : linear(patchDim(c), dv);
  const vision =
    stem +
    (c.height / c.patchSize) * (c.width / c.patchSize) * dv +
    (c.frames / c.tubelet) * dv +
    c.visionLayers * block(dv) +
    2 * dv +
    linear(dv, c.dModel) +
    linear(c.dModel, c.dModel) +
    (c.denseLabels > 0 ? linear(c.dModel, c.denseLabels) : 0);
  const positions = c.positionEncoding === "learned" ? (numVisualTokens(c) + c.maxTextLen) * c.dModel : 0;
  return vision + c.vocabSize * c.dModel + positions + c.nLayers * block(c.dModel) + 2 * c.dModel;
}
