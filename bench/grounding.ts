/**
 * Grounding probe: can the model learn to read one object off the video? Each clip is one coloured
 * 8×8 square on a dark noisy 32×32 background (or, with --full, the whole frame in the colour); the
 * question "what colour is the object?" has 7 answers. Trains from scratch on fresh clips, then scores
 * held-out clips two ways: greedy generation, and the best of the 7 answers by sequence log-prob.
 * Run: pnpm exec tsx bench/grounding.ts [--preset test] [--steps 300] [--patch 16] [--lr 3e-3] …
 * Last line: one JSON object with the settings and accuracies (chance 1/7).
 */
import { parseArgs } from "node:util";
import { trainSft } from "@isrdpo/train";
import { COLOURS, COLOUR_RGB, type Colour, createRng } from "@isrdpo/video";
import { Tokenizer, VideoLMM, answerQuestions, initBackend, modelConfig, sequenceLogProbs, skillText, type Preset } from "@isrdpo/vlm";

const { values: v } = parseArgs({
  options: {
    preset: { type: "string", default: "test" },
    steps: { type: "string", default: "300" },
    lr: { type: "string", default: "3e-3" },
    "vision-lr-scale": { type: "string", default: "1" },
    patch: { type: "string" },
    stem: { type: "string", default: "linear" },
    "input-norm": { type: "string", default: "unit" },
    "position-encoding": { type: "string", default: "learned" },
    full: { type: "boolean", default: false },
    seed: { type: "string", default: "3" },
  },
});
const backend = await initBackend(undefined, () => {});
// The synthetic world's rendered colours.
const names = COLOURS as readonly string[];
const dims = modelConfig(v.preset as Preset);
const rng = createRng(Number(v.seed));
const clip = (id: string) => {
  const f = new Uint8Array(dims.frames * dims.height * dims.width * 3);
  const colour = rng.pick(names);
  const rgb = COLOUR_RGB[colour as Colour];
  for (let k = 0; k < f.length; k++) f[k] = v.full ? rgb[k % 3]! : Math.floor(rng.next() * 60);
  const x0 = Math.floor(rng.next() * (dims.width - 8));
  const y0 = Math.floor(rng.next() * (dims.height - 8));
  for (let t = 0; t < dims.frames; t++)
    for (let y = y0; y < y0 + 8; y++) for (let x = x0; x < x0 + 8; x++) f.set(rgb, ((t * dims.height + y) * dims.width + x) * 3);
  return { videoId: id, frames: f, colour };
};
const steps = Number(v.steps);
const train = Array.from({ length: steps * 16 }, (_, i) => clip(`train-${i}`));
const test = Array.from({ length: 140 }, (_, i) => clip(`test-${i}`));
const question = "what colour is the object?";
const answerOf = (colour: string) => skillText({ task: "answer", question, target: colour });
const examples = train.map((c) => ({ videoId: c.videoId, frames: c.frames, ...answerOf(c.colour) }));
const tok = Tokenizer.train(
  examples.map((e) => e.prompt + e.answer),
  { vocabSize: dims.vocabSize },
);
const model = VideoLMM.create(
  modelConfig(v.preset as Preset, {
    vocabSize: tok.vocabSize,
    stem: v.stem as "linear" | "hmlp",
    inputNorm: v["input-norm"] as "unit" | "clip",
    positionEncoding: v["position-encoding"] as "learned" | "rope",
    ...(v.patch ? { patchSize: Number(v.patch) } : {}),
  }),
  1,
);
const started = performance.now();
await trainSft(model, tok, examples, {
  training: { lr: Number(v.lr), visionLrScale: Number(v["vision-lr-scale"]), batchSize: 16, warmupSteps: 20, schedule: "cosine", seed: 1 },
  onProgress: (m) => {
    if (m.step % 50 === 0) console.error(`step ${m.step}/${m.totalSteps} loss ${m.loss.toFixed(3)}`);
  },
});
const seconds = (performance.now() - started) / 1000;

/** Accuracy of the best of the 7 answers by sequence log-prob. */
const scored = async (set: typeof test) => {
  const rows = set.flatMap((c) => names.map((n) => ({ videoId: c.videoId, frames: c.frames, ...answerOf(n) })));
  const sums = (await sequenceLogProbs(model, tok, rows)).map((s) => s.sum);
  return (
    set.filter((c, i) => {
      const mine = sums.slice(i * names.length, (i + 1) * names.length);
      return names[mine.indexOf(Math.max(...mine))] === c.colour;
    }).length / set.length
  );
};
const generated = await answerQuestions(
  { model, tok },
  test.map((c) => ({ video: { videoId: c.videoId, frames: c.frames }, question })),
  { temperature: 0, maxNewTokens: 6, seed: 1 },
);
const generatedAcc = generated.filter((a, i) => a[0]!.trim().replace(/\W+$/, "") === test[i]!.colour).length / test.length;
console.log(
  JSON.stringify({
    bench: "grounding",
    backend,
    settings: v,
    patchSize: model.config.patchSize,
    trainSeconds: Math.round(seconds),
    heldOut: { scored: await scored(test), generated: generatedAcc },
    train: { scored: await scored(train.slice(0, 140)) },
  }),
);
