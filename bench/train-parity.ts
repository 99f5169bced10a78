/**
 * The losses of 5 SFT and then 5 DPO steps on the `test` preset from a fixed seed: run once per
 * backend and compare (bench/gpu.sh checks webgpu against wasm within 1e-3). The weights are drawn
 * in JS from the seed, so every backend starts from the same model.
 * Run: pnpm exec tsx bench/train-parity.ts [--backend wasm] [--steps 5]
 * Last line: one JSON object {backend, sft: [losses], dpo: [losses]}.
 */
import { parseArgs } from "node:util";
import { trainDpo, trainSft } from "@isrdpo/train";
import { Rng, Tokenizer, VideoLMM, initBackend, modelConfig, type BackendPreference } from "@isrdpo/vlm";

const { values } = parseArgs({ options: { backend: { type: "string" }, steps: { type: "string", default: "5" } } });
const backend = await initBackend(values.backend as BackendPreference | undefined);
const steps = Number(values.steps);
const words = "a the red blue green circle square moves left right up down two objects video".split(" ");
const rng = new Rng(1);
const sentence = (n: number) => Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]).join(" ");
const frames = (seed: number) => {
  const r = new Rng(seed);
  return Uint8Array.from({ length: 8 * 32 * 32 * 3 }, () => Math.floor(r.next() * 256));
};
const sft = Array.from({ length: 4 * steps }, (_, i) => ({
  videoId: `v${i}`,
  frames: frames(i),
  prompt: sentence(6),
  answer: sentence(4 + (i % 5)),
}));
const pairs = sft.map((e, i) => ({ ...e, chosen: e.answer, rejected: sentence(4 + ((i * 3) % 5)) }));
const tok = Tokenizer.train(
  sft.map((e) => `${e.prompt} ${e.answer}`),
  { vocabSize: 320 },
);
const model = VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), 1);
const training = { lr: 1e-3, epochs: 1, batchSize: 4, maxSteps: steps, seed: 1 };
const s = await trainSft(model, tok, sft, { training });
const d = await trainDpo(model, tok, pairs, { training });
console.log(JSON.stringify({ backend: backend.name, sft: s.history.map((m) => m.loss), dpo: d.history.map((m) => m.loss) }));
