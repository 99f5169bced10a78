import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { Rng, ScalarHead, Tokenizer, VideoLMM, initBackend, modelConfig, prompts } from "@isrdpo/vlm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PpoPrompt, type RewardFn, trainPpo, trainSft } from "../src/index.ts";

const frames = (seed: number) => {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: 8 * 32 * 32 * 3 }, () => Math.floor(rng.next() * 256));
};
const colours = ["red", "blue", "green"];
// Two clips whose object is red (the toy world's metadata); π_0 is taught to answer any colour.
const world = [
  { videoId: "v0", frames: frames(0), prompt: prompts.answer("what colour is the circle?"), colour: "red" },
  { videoId: "v1", frames: frames(1), prompt: prompts.answer("what colour is the square?"), colour: "red" },
];
const promptsOf: PpoPrompt[] = world.map(({ colour: _, ...p }) => p);
/** The toy reward: +1 when the answer is the clip's colour (naming two colours is not). */
const reward: RewardFn = async (samples) => samples.map((s) => (s.answer.trim() === world[s.promptIndex]!.colour ? 1 : 0));
let tok: Tokenizer;
let pi0: VideoLMM;
let dir: string;
const ppo = { rolloutBatchSize: 16, rollouts: 10, ppoEpochs: 4, miniBatchSize: 8, klCoef: 0.05, maxNewTokens: 2, valueCoef: 0.1 };
const training = { lr: 3e-3, schedule: "constant" as const, weightDecay: 0, seed: 3 };

beforeAll(async () => {
  await initBackend("wasm", () => {});
  // Colours frequent enough to become one token each, as in a real vocabulary.
  tok = Tokenizer.train([...world.map((w) => w.prompt), ...colours.flatMap((c) => Array<string>(30).fill(` ${c}`))], { vocabSize: 300 });
  pi0 = VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), 1);
  // Every colour for every clip: π_0 names a colour, right about a third of the time.
  const sft = world.flatMap((w) => colours.map((c) => ({ ...w, answer: ` ${c}` })));
  await trainSft(pi0, tok, sft, { training: { lr: 3e-3, epochs: 60, batchSize: 6, schedule: "constant", seed: 1 } });
  dir = await mkdtemp(join(tmpdir(), "ppo-"));
}, 60_000);
afterAll(async () => {
  pi0?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("trainPpo", () => {
  it("raises the toy reward with the KL to the reference bounded; entropy and KL reported every step; no leaks", async () => {
    const model = pi0.clone();
    const reference = pi0.clone();
    const head = ScalarHead.create("value_head", model.config.dModel, 1);
    tf.dispose([model.visualTokens(promptsOf), reference.visualTokens(promptsOf)]); // the visual-token caches are meant to persist
    const before = tf.memory().numTensors;
    const result = await trainPpo(model, reference, tok, head, promptsOf, reward, { training, ppo });
    expect(tf.memory().numTensors).toBe(before);
    const h = result.history;
    expect(h).toHaveLength(80); // 10 rollouts × 4 epochs × 2 mini-batches
    for (const m of h)
      for (const key of ["objective/scores", "objective/kl", "policy/entropy_avg", "policy/approxkl_avg", "loss/value_avg"])
        expect(Number.isFinite(m.metrics[key])).toBe(true);
    // At the first step the policy is the rollout's: ratio 1, nothing clipped, KL to the reference 0.
    expect(h[0]!.metrics["policy/clipfrac_avg"]).toBe(0);
    expect(h[0]!.metrics["objective/kl"]).toBeCloseTo(0, 4);
    const scores = h.filter((_, i) => i % 8 === 0).map((m) => m.metrics["objective/scores"]!);
    // Measured here: 0.25, 0.69, … 1, 0.94 over the 10 rollouts; KL ≤ 1.6 nats.
    const early = (scores[0]! + scores[1]!) / 2;
    const late = (scores[8]! + scores[9]!) / 2;
    expect(late).toBeGreaterThan(early + 0.25);
    for (const m of h) expect(m.metrics["objective/kl"]!).toBeLessThan(3); // nats per answer
    [model, reference, head].forEach((x) => x.dispose());
  }, 60_000);

  it("resumes exactly mid-rollout: the rollout is in the checkpoint, N + N steps = 2N", async () => {
    const short = { ...ppo, rollouts: 3, ppoEpochs: 2 }; // 4 steps per rollout, 12 in all
    const run = async (seedModel: VideoLMM, extra: Parameters<typeof trainPpo>[6] = {}) => {
      const model = seedModel.clone();
      const reference = pi0.clone();
      const head = ScalarHead.create("value_head", model.config.dModel, 5);
      const result = await trainPpo(model, reference, tok, head, promptsOf, reward, { training, ppo: short, ...extra });
      reference.dispose();
      return { model, head, result };
    };
    const straight = await run(pi0);
    const ckpt = join(dir, "resume");
    const abort = new AbortController();
    const first = await run(pi0, { checkpointDir: ckpt, signal: abort.signal, onProgress: (m) => m.step === 6 && abort.abort() });
    expect(first.result).toMatchObject({ steps: 6, stopped: "aborted" }); // in the middle of rollout 2
    // A new process: other weights and head, overwritten by the checkpoint; the rollout is not sampled again.
    const other = VideoLMM.create(pi0.config, 42);
    const rest = await run(other, { checkpointDir: ckpt, resume: true });
    expect(rest.result).toMatchObject({ steps: 12, stopped: "done" });
    expect(rest.result.history[0]!.step).toBe(7);
    const a = straight.result.history.slice(6);
    rest.result.history.forEach((m, i) => {
      expect(m.metrics["objective/scores"]).toBe(a[i]!.metrics["objective/scores"]);
      expect(m.loss).toBeCloseTo(a[i]!.loss, 4);
    });
    // Float noise of a different batch history (the DPO resume test sees 1e-5 too); the samples above are identical.
    for (const [n, v] of straight.model.params)
      expect((await tf.max(tf.abs(v.sub(rest.model.params.get(n)!))).data())[0]).toBeLessThan(1e-4);
    [straight, first, rest].forEach((r) => [r.model, r.head].forEach((x) => x.dispose()));
    other.dispose();
  }, 60_000);
});
