// A tiny published model for service tests: `test` preset, tokenizer from a few sentences.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalArtifactStore } from "@isrdpo/bus";
import { initBackend, modelConfig, publishCheckpoint, saveCheckpoint, Tokenizer, VideoLMM } from "@isrdpo/vlm";

const CORPUS = [
  "question: What colour is the circle?\nanswer: red",
  "describe the video.\ndescription: There is 1 object. A small red circle moves left.",
  "which answer is better?\nverdict: a b",
];

/** Publishes a fresh `test` model into the artifact directory `dir`; returns its digest. */
export async function publishTinyModel(dir: string): Promise<string> {
  await initBackend("wasm", () => undefined);
  const tok = Tokenizer.train(CORPUS, { vocabSize: 300 });
  const model = VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), 1);
  const ckpt = mkdtempSync(join(tmpdir(), "isrdpo-tiny-"));
  await saveCheckpoint(ckpt, model, tok);
  model.dispose();
  const published = await publishCheckpoint(new LocalArtifactStore(dir), ckpt, "tiny");
  return published.digest;
}
