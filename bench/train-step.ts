/**
 * SFT and DPO optimizer steps on the `small` preset: tokens/s, achieved GFLOP/s and their fraction of
 * the backend's large-matmul throughput measured in the same run; peak memory of a DPO step. On a
 * CPU backend the rates are per CPU-second, on a GPU per wall-clock second (`timedOn`).
 * Run: pnpm exec tsx bench/train-step.ts [--preset small] [--batch 8] [--steps 5] [--backend webgpu] [--matmul 1024]
 * (--matmul: the side of the reference square matmul; a GPU needs ≥ 4096 to reach its rate).
 * Last line: one JSON object with the figures.
 */
import { parseArgs } from "node:util";
import {
  Rng,
  Tokenizer,
  VideoLMM,
  forwardFlops,
  initBackend,
  isGpuBackend,
  matmulGflops,
  modelConfig,
  tf,
  type BackendPreference,
  type Preset,
} from "@isrdpo/vlm";
import { trainDpo, trainSft, type StepMetrics } from "@isrdpo/train";

const { values } = parseArgs({
  options: {
    preset: { type: "string", default: "small" },
    batch: { type: "string", default: "8" },
    steps: { type: "string", default: "5" },
    backend: { type: "string" },
    matmul: { type: "string", default: "1024" },
  },
});
const preset = values.preset as Preset;
const batch = Number(values.batch);
const steps = Number(values.steps);
const backend = await initBackend(values.backend as BackendPreference | undefined);

const words =
  "a the red blue green yellow circle square triangle moves left right up down appears disappears then and two three objects video".split(
    " ",
  );
const rng = new Rng(1);
const sentence = (n: number) => Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]).join(" ");
const corpus = Array.from({ length: 400 }, () => sentence(12));
const config0 = modelConfig(preset);
const tok = Tokenizer.train(corpus, { vocabSize: config0.vocabSize });
const config = modelConfig(preset, { vocabSize: config0.vocabSize });
const frames = (seed: number) => {
  const r = new Rng(seed);
  return Uint8Array.from({ length: config.frames * config.height * config.width * 3 }, () => Math.floor(r.next() * 256));
};
// Typical demo lengths: a ~10-word prompt, 8–24-word answers.
const n = batch * (steps + 1);
const sft = Array.from({ length: n }, (_, i) => ({
  videoId: `v${i}`,
  frames: frames(i),
  prompt: sentence(10),
  answer: sentence(8 + (i % 16)),
}));
const pairs = sft.map((e, i) => ({ ...e, chosen: e.answer, rejected: sentence(8 + ((i * 7) % 16)) }));

const matmulN = Number(values.matmul);
const ref = await matmulGflops(matmulN, 10);
const fresh = () => VideoLMM.create(config, 1);
const model = fresh();

/**
 * CPU time per step, from process.cpuUsage at each step's end: on this shared machine the CPU time
 * of a single-threaded process is what its wall time would be when idle (wall time is reported too).
 */
function cpuClock() {
  const marks: number[] = [];
  const mark = () => {
    const u = process.cpuUsage();
    marks.push((u.user + u.system) / 1000);
  };
  mark();
  return { onProgress: mark, stepCpuMs: () => marks.slice(1).map((m, i) => m - (marks[i] as number)) };
}

/** Means over steps after the first (warm-up): tokens/s and model GFLOP/s (training = 3× forward) on CPU time, or wall time on a GPU. */
function summarize(history: StepMetrics[], cpuMs: number[], flopsPerStep: number[]) {
  const timed = history.slice(1);
  const wallMs = timed.reduce((a, m) => a + m.stepMs, 0) / timed.length;
  const ms = isGpuBackend() ? wallMs : cpuMs.slice(1).reduce((a, x) => a + x, 0) / timed.length;
  const tokens = timed.reduce((a, m) => a + (m.tokensPerSecond * m.stepMs) / 1000, 0) / timed.length;
  const flops = flopsPerStep.slice(1).reduce((a, f) => a + f, 0) / timed.length;
  const gflops = flops / (ms / 1000) / 1e9;
  return {
    stepCpuMs: +ms.toFixed(1),
    stepWallMs: +wallMs.toFixed(1),
    tokensPerStep: Math.round(tokens),
    tokensPerSecond: Math.round(tokens / (ms / 1000)),
    gflops: +gflops.toFixed(2),
    fractionOfMatmul: +(gflops / ref).toFixed(3),
  };
}
const textLen = (a: string, b: string) => 1 + tok.encode(a).length + tok.encode(b).length + 1;

const training = { lr: 1e-4, epochs: 1, batchSize: batch, maxSteps: steps + 1, seed: 1 };
const sftClock = cpuClock();
const sftRun = await trainSft(model, tok, sft, { training, onProgress: sftClock.onProgress });
// Flops per step from the actual padded lengths of each step's batch is overkill: use the mean length.
const sftLen = sft.reduce((a, e) => a + textLen(e.prompt, e.answer), 0) / sft.length;
const sftFlops = sftRun.history.map(() => 3 * forwardFlops(config, batch, sftLen, true));

const dpoClock = cpuClock();
const dpoRun = await trainDpo(model, tok, pairs, { training, onProgress: dpoClock.onProgress });
const dpoLen = pairs.reduce((a, p) => a + Math.max(textLen(p.prompt, p.chosen), textLen(p.prompt, p.rejected)), 0) / pairs.length;
const dpoFlops = dpoRun.history.map(() => 3 * forwardFlops(config, 2 * batch, dpoLen, false));

// Peak tensor memory and kernel time of one DPO step (a fresh job on one batch: it includes the
// job's one reference forward pass). tf.profile tracks live tensor bytes at every kernel.
const profiled = fresh();
const profile = await tf.profile(async () => {
  await trainDpo(profiled, tok, pairs.slice(0, batch), { training: { ...training, maxSteps: 1 } });
  return [];
});
const byKernel = new Map<string, number>();
for (const k of profile.kernels) {
  // Batched matmuls (attention) run a different, slower wasm path than 2-D ones: count them apart.
  const batched = k.name === "BatchMatMul" && (k.inputShapes[0]?.length ?? 0) >= 3 && (k.inputShapes[0]?.[0] ?? 1) > 1;
  const name = batched ? "BatchMatMul(attention)" : k.name;
  const ms = Number(await k.kernelTimeMs); // NaN where a GPU cannot time kernels (no timestamp queries)
  byKernel.set(name, (byKernel.get(name) ?? 0) + (Number.isFinite(ms) ? ms : 0));
}
const kernelMs = [...byKernel].sort((a, b) => b[1] - a[1]);
const totalKernelMs = kernelMs.reduce((a, [, t]) => a + t, 0);
profiled.dispose();

const result = {
  backend: backend.name,
  adapter: backend.adapter,
  timedOn: isGpuBackend() ? "wall" : "cpu",
  preset,
  params: model.parameterCount(),
  batchPairs: batch,
  matmulN,
  matmulGflops: +ref.toFixed(2),
  sft: summarize(sftRun.history, sftClock.stepCpuMs(), sftFlops),
  dpo: summarize(dpoRun.history, dpoClock.stepCpuMs(), dpoFlops),
  dpoStepPeakTensorMB: +(profile.peakBytes / 2 ** 20).toFixed(1),
  dpoStepKernelMs: Math.round(totalKernelMs),
  dpoStepTopKernels: Object.fromEntries(kernelMs.slice(0, 8).map(([k, t]) => [k, +(t / totalKernelMs).toFixed(3)])),
  rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
};
console.log(JSON.stringify(result));
