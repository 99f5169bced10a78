/**
 * VLM-RLAIF's reward model on oracle preferences: π_1 by the trainer's SFT (as the demo trains it) or
 * a checkpoint, then the reward-model job's recipe — π_1 plus a fresh reward head, Bradley–Terry on
 * the synthetic world's oracle-ordered judge pairs (with their contexts) of another seed's training
 * split — and its accuracy on a held-out part of those pairs, beside the "longer answer wins" baseline
 * (the pairs are balanced so that length does not predict the label).
 * Run: pnpm exec tsx bench/rm.ts [--preset small] [--clips 600] [--pairs-clips 300] [--policy DIR] …
 * Last line: one JSON object with the settings and figures.
 */
import { parseArgs } from "node:util";
import { evaluateRewardModel, splitHeldOut, trainRewardModel, trainSft } from "@isrdpo/train";
import { REWARD_HEAD, ScalarHead, Tokenizer, VideoLMM, initBackend, loadCheckpoint, modelConfig, type Preset } from "@isrdpo/vlm";
import { DEFAULT_HELD_OUT_FRACTION, SFT_MIX, fits, syntheticJudgePairs, syntheticSftExamples } from "../services/trainer/src/jobs.ts";

const { values: v } = parseArgs({
  options: {
    preset: { type: "string", default: "small" },
    /** A π_1 checkpoint directory; without it π_1 is trained here by the demo's SFT. */
    policy: { type: "string" },
    clips: { type: "string", default: "600" },
    "sft-epochs": { type: "string", default: "1" },
    "sft-lr": { type: "string", default: "2e-3" },
    "pairs-seed": { type: "string", default: "777" },
    "pairs-clips": { type: "string", default: "300" },
    "held-out": { type: "string", default: String(DEFAULT_HELD_OUT_FRACTION * 2) },
    "rm-epochs": { type: "string", default: "2" },
    "rm-lr": { type: "string", default: "1e-3" },
    batch: { type: "string", default: "16" },
    seed: { type: "string", default: "1" },
    backend: { type: "string" },
  },
});
const backend = await initBackend(v.backend as "wasm" | "cpu" | "tensorflow" | undefined);
const preset = v.preset as Preset;
const seed = Number(v.seed);
const t0 = performance.now();
let model: VideoLMM;
let tok: Tokenizer;
if (v.policy) {
  ({ model, tok } = await loadCheckpoint(v.policy));
} else {
  const dims = modelConfig(preset);
  const all = syntheticSftExamples({ seed: BigInt(seed), clipCount: Number(v.clips), frames: 0 }, dims, SFT_MIX);
  tok = Tokenizer.train(
    all.map((e) => e.prompt + e.answer),
    { vocabSize: dims.vocabSize },
  );
  const config = modelConfig(preset, { vocabSize: tok.vocabSize });
  model = VideoLMM.create(config, seed);
  const examples = all.filter((e) => fits(tok, config.maxTextLen, e.prompt, e.answer));
  await trainSft(model, tok, examples, {
    training: {
      lr: Number(v["sft-lr"]),
      epochs: Number(v["sft-epochs"]),
      batchSize: Number(v.batch),
      warmupSteps: 20,
      seed,
      groupByLength: true,
    },
  });
}
const sftSeconds = (performance.now() - t0) / 1000;
const pairs = syntheticJudgePairs(
  { seed: BigInt(v["pairs-seed"]!), split: "train", clipCount: Number(v["pairs-clips"]), frames: 0 },
  model.config,
).filter((p) => fits(tok, model.config.maxTextLen, p.prompt, p.chosen) && fits(tok, model.config.maxTextLen, p.prompt, p.rejected));
const { train, heldOut } = splitHeldOut(pairs, Number(v["held-out"]), seed);
const head = ScalarHead.create(REWARD_HEAD, model.config.dModel, seed);
const t1 = performance.now();
const result = await trainRewardModel(model, tok, head, train, {
  training: { lr: Number(v["rm-lr"]), epochs: Number(v["rm-epochs"]), batchSize: Number(v.batch), seed, groupByLength: true },
});
const rmSeconds = (performance.now() - t1) / 1000;
const held = await evaluateRewardModel(model, tok, head, heldOut);
const trained = await evaluateRewardModel(model, tok, head, train);
const words = (s: string) => s.trim().split(/\s+/).length;
const longer = heldOut.filter((p) => words(p.chosen) > words(p.rejected)).length / heldOut.length;
const withContext = heldOut.filter((p) => p.prompt.startsWith("context:")).length;
console.log(
  JSON.stringify({
    bench: "rm",
    backend,
    preset,
    policy: v.policy ?? `sft ${v.clips} clips × ${v["sft-epochs"]} epoch(s)`,
    pairs: pairs.length,
    trainPairs: train.length,
    heldOutPairs: heldOut.length,
    heldOutWithContext: withContext,
    steps: result.steps,
    eval_accuracy: held.eval_accuracy,
    eval_loss: held.eval_loss,
    eval_margin: held.eval_margin,
    train_accuracy: trained.eval_accuracy,
    longer_answer_baseline: longer,
    sftSeconds,
    rmSeconds,
  }),
);
