/**
 * Data-parallel training: wall time of SFT and DPO optimizer steps on the demo's data (the trainer's
 * SFT mix), each batch in `--grad-shards` gradient shards computed on 1 thread and on `--threads`
 * threads, in the same run; the speedup is the ratio. The weights after the steps are compared too
 * (they must be bit-identical: the shard count, not the thread count, fixes the arithmetic).
 * Run: pnpm exec tsx bench/data-parallel.ts [--preset small] [--batch 16] [--steps 6] [--threads 2]
 * Wall time needs an idle machine: the load average at the start is in the result.
 * Last line: one JSON object with the figures.
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { type StepMetrics, trainDpo, trainSft } from "@isrdpo/train";
import { Tokenizer, VideoLMM, initBackend, modelConfig, type Preset } from "@isrdpo/vlm";
import { SFT_MIX, fits, syntheticSftExamples } from "../services/trainer/src/jobs.ts";

const { values: v } = parseArgs({
  options: {
    preset: { type: "string", default: "small" },
    batch: { type: "string", default: "16" },
    steps: { type: "string", default: "6" },
    "grad-shards": { type: "string", default: "2" },
    threads: { type: "string", default: "2" },
  },
});
const backend = await initBackend(undefined, () => {});
const load = loadavg()[0];
const preset = v.preset as Preset;
const batch = Number(v.batch);
const steps = Number(v.steps);
const gradShards = Number(v["grad-shards"]);
const dims = modelConfig(preset);
const all = syntheticSftExamples({ seed: 5n, clipCount: 80, frames: 0 }, dims, SFT_MIX);
const tok = Tokenizer.train(
  all.map((e) => e.prompt + e.answer),
  { vocabSize: dims.vocabSize },
);
const config = modelConfig(preset, { vocabSize: tok.vocabSize });
const examples = all.filter((e) => fits(tok, config.maxTextLen, e.prompt, e.answer)).slice(0, batch * steps);
const pairs = examples
  .map((e, i) => ({ ...e, chosen: e.answer, rejected: examples[(i + 1) % examples.length]!.answer }))
  .filter((p) => fits(tok, config.maxTextLen, p.prompt, p.rejected));
const training = { lr: 1e-4, epochs: 1, batchSize: batch, maxSteps: steps, gradShards, groupByLength: true, seed: 1 };

/** Median wall time of the steps after the first (the first starts the threads), and the final weights. */
async function timed(job: "sft" | "dpo", threads: number) {
  const model = VideoLMM.create(config, 1);
  const opts = { training, threads };
  const r = job === "sft" ? await trainSft(model, tok, examples, opts) : await trainDpo(model, tok, pairs, opts);
  const weights = await Promise.all([...model.params.values()].map(async (t) => Buffer.from((await t.data()).buffer)));
  model.dispose();
  const ms = r.history
    .slice(1)
    .map((h: StepMetrics) => h.stepMs)
    .sort((a, b) => a - b);
  return { stepMs: ms[Math.floor(ms.length / 2)] as number, weights: Buffer.concat(weights) };
}

const result: Record<string, unknown> = {
  bench: "data-parallel",
  backend: backend.name,
  preset,
  batch,
  gradShards,
  loadAvg1m: +load!.toFixed(2),
};
for (const job of ["sft", "dpo"] as const) {
  const one = await timed(job, 1);
  const many = await timed(job, Number(v.threads));
  result[job] = {
    stepMs1Thread: Math.round(one.stepMs),
    [`stepMs${v.threads}Threads`]: Math.round(many.stepMs),
    speedup: +(one.stepMs / many.stepMs).toFixed(2),
    identicalWeights: one.weights.equals(many.weights),
  };
}
console.log(JSON.stringify(result));
