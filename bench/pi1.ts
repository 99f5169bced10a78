/**
 * π_1 quality: SFT on the synthetic world's training split as the demo does (the trainer's SFT mix),
 * then, on a VALIDATION split (training-split clips of another seed; never the test splits):
 *   - greedy short-answer accuracy per question type, against the chance baseline;
 *   - how well each self-judge separates a right short answer from a plausible wrong one (the pairs
 *     the loop's judge must decide): decisive share and accuracy of the decisive ones.
 * This is where the SFT recipe and the vision front end are tuned; the test splits stay for reports.
 * Run: pnpm exec tsx bench/pi1.ts [--clips 600] [--lr 2e-3] [--vision-lr-scale 5] [--stem hmlp] …
 * Last line: one JSON object with the settings and figures.
 */
import { parseArgs } from "node:util";
import { type JudgeMethod, judgeItems } from "@isrdpo/judge";
import { trainSft } from "@isrdpo/train";
import { DENSE_LABELS, createRng, renderClip, syntheticSplit, wrongShortAnswer } from "@isrdpo/video";
import { Tokenizer, VideoLMM, answerQuestions, initBackend, modelConfig, type Preset } from "@isrdpo/vlm";
import { splitMetrics } from "@isrdpo/eval";
import { SFT_MIX, fits, syntheticSftExamples } from "../services/trainer/src/jobs.ts";

const { values: v } = parseArgs({
  options: {
    preset: { type: "string", default: "small" },
    clips: { type: "string", default: "600" },
    epochs: { type: "string", default: "1" },
    batch: { type: "string", default: "16" },
    lr: { type: "string", default: "2e-3" },
    "vision-lr-scale": { type: "string", default: "1" },
    warmup: { type: "string", default: "20" },
    "max-steps": { type: "string" },
    stem: { type: "string", default: "linear" },
    "input-norm": { type: "string", default: "unit" },
    "position-encoding": { type: "string", default: "learned" },
    /** Patch size and tubelet (default: the preset's). */
    patch: { type: "string" },
    tubelet: { type: "string" },
    /** JSON overrides of the trainer's SFT mix, e.g. '{"verify":2,"judge":0}'. */
    mix: { type: "string", default: "{}" },
    seed: { type: "string", default: "1" },
    "val-seed": { type: "string", default: "777" },
    "val-clips": { type: "string", default: "48" },
    judges: { type: "string", default: "self,self-verify,self-likelihood" },
    backend: { type: "string" },
    /** Gradient shards per batch, and the threads that compute them. */
    "grad-shards": { type: "string", default: "1" },
    threads: { type: "string", default: "1" },
    /** Weight of the dense head's loss (0: no dense head). */
    "dense-weight": { type: "string", default: "0" },
    /** Train on the prompts' tokens too (TrainingParams.completionOnlyLoss false). */
    "prompt-loss": { type: "boolean", default: false },
  },
});
const backend = await initBackend(v.backend as "wasm" | "cpu" | "tensorflow" | undefined);
const preset = v.preset as Preset;
const seed = Number(v.seed);
const mix = { ...SFT_MIX, ...JSON.parse(v.mix as string) };
const denseWeight = Number(v["dense-weight"]);
const dims = modelConfig(preset, {
  ...(v.patch ? { patchSize: Number(v.patch) } : {}),
  ...(v.tubelet ? { tubelet: Number(v.tubelet) } : {}),
});
const all = syntheticSftExamples(
  { seed: BigInt(seed), clipCount: Number(v.clips), frames: 0 },
  dims,
  mix,
  denseWeight > 0 ? dims : undefined,
);
const tok = Tokenizer.train(
  all.map((e) => e.prompt + e.answer),
  { vocabSize: dims.vocabSize },
);
const config = modelConfig(preset, {
  vocabSize: tok.vocabSize,
  stem: v.stem as "linear" | "hmlp",
  inputNorm: v["input-norm"] as "unit" | "clip",
  positionEncoding: v["position-encoding"] as "learned" | "rope",
  patchSize: dims.patchSize,
  tubelet: dims.tubelet,
  denseLabels: denseWeight > 0 ? DENSE_LABELS.length : 0,
});
const examples = all.filter((e) => fits(tok, config.maxTextLen, e.prompt, e.answer));
const model = VideoLMM.create(config, seed);
const started = performance.now();
let lastLoss = Number.NaN;
const result = await trainSft(model, tok, examples, {
  training: {
    lr: Number(v.lr),
    visionLrScale: Number(v["vision-lr-scale"]),
    epochs: Number(v.epochs),
    batchSize: Number(v.batch),
    warmupSteps: Number(v.warmup),
    schedule: "cosine",
    maxGradNorm: 1,
    groupByLength: true,
    seed,
    gradShards: Number(v["grad-shards"]),
    completionOnlyLoss: !v["prompt-loss"],
    ...(v["max-steps"] ? { maxSteps: Number(v["max-steps"]) } : {}),
  },
  threads: Number(v.threads),
  denseWeight,
  onProgress: (m) => {
    lastLoss = m.loss;
    const dense = m.metrics.dense_loss === undefined ? "" : ` dense ${m.metrics.dense_loss.toFixed(4)}`;
    if (m.step % 25 === 0 || m.step === m.totalSteps)
      console.error(`step ${m.step}/${m.totalSteps} loss ${m.loss.toFixed(3)}${dense} ${(m.stepMs / 1000).toFixed(2)} s/step`);
  },
});
const trainSeconds = (performance.now() - started) / 1000;

// Validation: training-split clips of another seed (unseen by SFT, not a test split).
const policy = { model, tok };
const clips = syntheticSplit(Number(v["val-seed"]), "train", Number(v["val-clips"]), config.frames);
const fit = syntheticSplit(seed, "train", 200, config.frames).flatMap((c) => c.items);
const frames = new Map(clips.map((c) => [c.id, renderClip(c.scene, config)]));
const items = clips.flatMap((c) => c.items);
const answers = await answerQuestions(
  policy,
  items.map((it) => ({ video: { videoId: it.clipId, frames: frames.get(it.clipId)! }, question: it.question })),
  { temperature: 0, maxNewTokens: 96, seed },
);
const metrics = splitMetrics(
  "validation",
  clips,
  items,
  answers.map((a) => a[0]!),
  fit,
);

// Judges on (right, wrong) short-answer pairs, right shown first half the time.
const rng = createRng(seed + 99);
const scenes = new Map(clips.map((c) => [c.id, c.scene]));
const pairs = items
  .filter((it) => it.check.kind !== "open")
  .map((it, k) => {
    const wrong = wrongShortAnswer(scenes.get(it.clipId)!, it, rng);
    const answers = k % 2 === 0 ? [it.answer, wrong] : [wrong, it.answer];
    return { video: { videoId: it.clipId, frames: frames.get(it.clipId)! }, question: it.question, context: "", answers, right: k % 2 };
  });
const judges: Record<string, { decisive: number; accuracy: number }> = {};
for (const method of (v.judges as string).split(",").filter(Boolean) as JudgeMethod[]) {
  const prefs = await judgeItems(method, policy, pairs, { tieMargin: 0.05 });
  const decisive = prefs.map((p, i) => ({ p, i })).filter(({ p }) => !p.tie);
  judges[method] = {
    decisive: decisive.length / pairs.length,
    accuracy: decisive.length ? decisive.filter(({ p, i }) => p.chosen === pairs[i]!.right).length / decisive.length : Number.NaN,
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
console.log(
  JSON.stringify({
    bench: "pi1",
    backend,
    settings: { ...v, mix },
    examples: examples.length,
    steps: result.steps,
    finalLoss: round(lastLoss),
    trainSeconds: Math.round(trainSeconds),
    validation: {
      accuracy: round(metrics.accuracy),
      claimPrecision: round(metrics.claimPrecision),
      byType: Object.fromEntries(metrics.byQuestionType.map((t) => [t.questionType, [round(t.accuracy), round(t.chanceAccuracy)]])),
    },
    judges: Object.fromEntries(Object.entries(judges).map(([k, j]) => [k, { decisive: round(j.decisive), accuracy: round(j.accuracy) }])),
  }),
);
