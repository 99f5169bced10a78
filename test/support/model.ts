// A tiny published model for service tests: `test` preset, tokenizer from a few sentences.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalArtifactStore } from "@isrdpo/bus";
import {
  REWARD_HEAD,
  REWARD_HEAD_FILE,
  ScalarHead,
  initBackend,
  modelConfig,
  publishCheckpoint,
  saveCheckpoint,
  Tokenizer,
  VideoLMM,
} from "@isrdpo/vlm";

const CORPUS = [
  "question: What colour is the circle?\nanswer: red",
  "describe the video.\ndescription: There is 1 object. A small red circle moves left.",
  "which answer is better?\nverdict: a b",
];

/**
 * Publishes a fresh `test` model into the artifact directory `dir`; returns its digest. With
 * `rewardHead`, the model is a reward model (a random head), as a JOB_KIND_REWARD_MODEL job publishes.
 */
export async function publishTinyModel(dir: string, opts: { rewardHead?: boolean } = {}): Promise<string> {
  await initBackend("wasm", () => undefined);
  const tok = Tokenizer.train(CORPUS, { vocabSize: 300 });
  const model = VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), 1);
  const ckpt = mkdtempSync(join(tmpdir(), "isrdpo-tiny-"));
  const head = opts.rewardHead ? ScalarHead.create(REWARD_HEAD, model.config.dModel, 2) : undefined;
  await saveCheckpoint(ckpt, model, tok, head ? { [REWARD_HEAD_FILE]: await head.encode() } : {});
  model.dispose();
  head?.dispose();
  const published = await publishCheckpoint(new LocalArtifactStore(dir), ckpt, "tiny");
  return published.digest;
}
