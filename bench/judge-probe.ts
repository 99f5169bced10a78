/**
 * The judge-learnability probe (bench/judge-learnability.ts runs it; test/judge-learnability.test.ts
 * checks it): can the pairwise verdict judge learn a rule that needs the context? Judge prompts only,
 * one fixed noise video (@isrdpo/video contextRuleJudgeRecords): the context names the object's
 * colour, answers a and b are two colours, the right one is the colour the context names; the target
 * is the verdict " a" or " b". Trains from scratch, then scores 200 held-out prompts by log P(" a") vs
 * log P(" b"). Chance is 50%: without the context no rule beats it.
 */
import { trainSft } from "@isrdpo/train";
import { contextRuleJudgeRecords, createRng } from "@isrdpo/video";
import { Tokenizer, VERDICTS, VideoLMM, modelConfig, sequenceLogProbs, skillText, type Preset } from "@isrdpo/vlm";

export interface JudgeProbeOptions {
  preset: Preset;
  steps: number;
  lr: number;
  batch: number;
  positionEncoding: "learned" | "rope";
  /** Train on the prompt's tokens too, not only the verdict (TrainingParams.completionOnlyLoss false). */
  promptLoss: boolean;
  /** Seeds the examples, the noise video and the model's initial weights. */
  seed: number;
  onStep?: (step: number, totalSteps: number, loss: number) => void;
}

export async function judgeProbe(o: JudgeProbeOptions): Promise<{ heldOut: number; train: number; trainSeconds: number }> {
  const dims = modelConfig(o.preset);
  const rng = createRng(o.seed);
  const frames = Uint8Array.from({ length: dims.frames * dims.height * dims.width * 3 }, () => Math.floor(rng.next() * 60));
  const examples = (n: number, seed: number) =>
    contextRuleJudgeRecords(n, seed).map((r) => ({ videoId: "noise", frames, ...skillText(r) }));
  const train = examples(o.steps * o.batch, o.seed);
  const test = examples(200, o.seed + 1000);
  const tok = Tokenizer.train(
    train.slice(0, 2000).map((e) => e.prompt + e.answer),
    { vocabSize: dims.vocabSize },
  );
  const model = VideoLMM.create(modelConfig(o.preset, { vocabSize: tok.vocabSize, positionEncoding: o.positionEncoding }), o.seed);
  const started = performance.now();
  await trainSft(model, tok, train, {
    training: { lr: o.lr, batchSize: o.batch, warmupSteps: 20, schedule: "cosine", seed: 1, completionOnlyLoss: !o.promptLoss },
    onProgress: (m) => o.onStep?.(m.step, m.totalSteps, m.loss),
  });
  const trainSeconds = (performance.now() - started) / 1000;
  /** Share of prompts whose right verdict has the higher log-probability. */
  const accuracy = async (set: typeof test) => {
    const rows = set.flatMap((e) => [VERDICTS.a, VERDICTS.b].map((answer) => ({ ...e, answer })));
    const sums = (await sequenceLogProbs(model, tok, rows)).map((s) => s.sum);
    return set.filter((e, i) => sums[2 * i]! > sums[2 * i + 1]! === (e.answer === VERDICTS.a)).length / set.length;
  };
  const result = { heldOut: await accuracy(test), train: await accuracy(train.slice(0, 200)), trainSeconds };
  model.dispose();
  return result;
}
