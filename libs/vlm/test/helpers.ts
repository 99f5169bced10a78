import { Rng, Tokenizer, VideoLMM, initBackend, modelConfig } from "../src/index.ts";

export const CORPUS = [
  "a red circle moves left. a blue square appears.",
  "the green triangle turns yellow and moves up.",
  "how many objects are there? two objects.",
  "describe the video. a small red circle moves right, then disappears.",
  "yes. no. the square is blue. the circle is red.",
];

export async function setup(seed = 1) {
  await initBackend("wasm", () => {});
  const tok = Tokenizer.train(CORPUS, { vocabSize: 320 });
  const model = VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), seed);
  return { tok, model };
}

/** Random uint8 frames of the test preset's shape (8×32×32×3). */
export function frames(seed: number, n = 8 * 32 * 32 * 3): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(rng.next() * 256));
}
