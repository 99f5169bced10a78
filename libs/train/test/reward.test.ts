import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  REWARD_HEAD,
  REWARD_HEAD_FILE,
  Rng,
  ScalarHead,
  Tokenizer,
  VideoLMM,
  initBackend,
  loadCheckpoint,
  modelConfig,
  prompts,
  scoreRewards,
} from "@isrdpo/vlm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RewardPair, evaluateRewardModel, splitHeldOut, trainRewardModel } from "../src/index.ts";

const frames = (seed: number) => {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: 8 * 32 * 32 * 3 }, () => Math.floor(rng.next() * 256));
};
// The same video, question and answers; only the context (the clip narrative) says which answer is
// right. A reward model that ignores the context cannot rank more than half of these correctly.
const colours = ["red", "blue"];
const pairs: RewardPair[] = [0, 1].flatMap((v) =>
  ["circle", "square"].flatMap((shape) =>
    colours.map((right) => ({
      videoId: `v${v}`,
      frames: frames(v),
      prompt: prompts.answer(`what colour is the ${shape}?`, `clip 1: a ${right} ${shape} moves left.`),
      chosen: ` ${right}`,
      rejected: ` ${colours.find((c) => c !== right)}`,
    })),
  ),
);
let tok: Tokenizer;
let dir: string;
const fresh = (seed = 1) => VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), seed);
const headOf = (model: VideoLMM, seed = 1) => ScalarHead.create(REWARD_HEAD, model.config.dModel, seed);
const training = { lr: 1e-2, epochs: 40, batchSize: 4, schedule: "constant" as const, weightDecay: 0, seed: 1 };

beforeAll(async () => {
  await initBackend("wasm", () => {});
  tok = Tokenizer.train(
    pairs.map((p) => `${p.prompt}${p.chosen}${p.rejected}`),
    { vocabSize: 300 },
  );
  dir = await mkdtemp(join(tmpdir(), "reward-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("trainRewardModel", () => {
  it("learns a preference only the context decides: accuracy 1, loss from ln 2 down, vision frozen, no leaks", async () => {
    const model = fresh();
    const start = fresh();
    const head = headOf(model);
    model.visualTokens(pairs); // the visual-token cache is meant to persist
    const before = tf.memory().numTensors;
    const result = await trainRewardModel(model, tok, head, pairs, { training });
    expect(tf.memory().numTensors).toBe(before);
    const h = result.history;
    expect(h[0]!.loss).toBeGreaterThan(0.6);
    expect(h[0]!.loss).toBeLessThan(0.8); // a fresh head: rewards near 0, loss near ln 2
    expect(h.at(-1)!.loss).toBeLessThan(0.1);
    expect(h.at(-1)!.metrics.accuracy).toBe(1);
    expect(h.at(-1)!.metrics.margin).toBeGreaterThan(h[0]!.metrics.margin!);
    expect(h.at(-1)!.metrics).toHaveProperty("mean_reward");
    const m = await evaluateRewardModel(model, tok, head, pairs);
    expect(m.eval_accuracy).toBe(1);
    expect(m.eval_loss).toBeCloseTo(h.at(-1)!.loss, 1);
    expect(m.eval_pairs).toBe(pairs.length);
    for (const [n, v] of model.params) {
      if (model.isVisionParam(n)) expect((await tf.max(tf.abs(v.sub(start.params.get(n)!))).data())[0]).toBe(0);
    }
    [model, start, head].forEach((x) => x.dispose());
  });

  it("resumes exactly (the head included), and its checkpoint loads as a reward model", async () => {
    const t = { ...training, epochs: 4, checkpointEvery: 2 };
    const straight = fresh(2);
    const straightHead = headOf(straight, 2);
    const full = await trainRewardModel(straight, tok, straightHead, pairs, { training: t });
    const ckpt = join(dir, "resume");
    const first = fresh(2);
    const firstHead = headOf(first, 2);
    const abort = new AbortController();
    const part = await trainRewardModel(first, tok, firstHead, pairs, {
      training: t,
      checkpointDir: ckpt,
      signal: abort.signal,
      onProgress: (m) => m.step === full.steps / 2 && abort.abort(),
    });
    expect(part.stopped).toBe("aborted");
    // A new process: model and head from other seeds, overwritten by the checkpoint.
    const second = fresh(99);
    const secondHead = headOf(second, 99);
    const rest = await trainRewardModel(second, tok, secondHead, pairs, { training: t, checkpointDir: ckpt, resume: true });
    expect(rest).toMatchObject({ steps: full.steps, stopped: "done" });
    expect(rest.history.at(-1)!.loss).toBeCloseTo(full.history.at(-1)!.loss, 5);
    const items = pairs.map((p) => ({ ...p, answer: p.chosen }));
    const a = await scoreRewards(straight, tok, straightHead, items);
    const b = await scoreRewards(second, tok, secondHead, items);
    a.forEach((x, i) => expect(b[i]).toBeCloseTo(x, 4));
    expect(await readdir(rest.lastCheckpoint!.dir)).toContain(REWARD_HEAD_FILE);
    const loaded = await loadCheckpoint(rest.lastCheckpoint!.dir);
    expect(loaded.rewardHead).toBeDefined();
    const c = await scoreRewards(loaded.model, loaded.tok, loaded.rewardHead!, items);
    c.forEach((x, i) => expect(x).toBeCloseTo(b[i]!, 5));
    [straight, straightHead, first, firstHead, second, secondHead, loaded.model, loaded.rewardHead!].forEach((x) => x.dispose());
  });
});

describe("splitHeldOut", () => {
  it("is seeded, disjoint and complete; holds out ⌈fraction·n⌉", () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    const a = splitHeldOut(items, 0.25, 3);
    expect(a.heldOut).toHaveLength(3);
    expect([...a.train, ...a.heldOut].sort((x, y) => x - y)).toEqual(items);
    expect(splitHeldOut(items, 0.25, 3)).toEqual(a);
    expect(splitHeldOut(items, 0, 3).heldOut).toEqual([]);
    expect(() => splitHeldOut(items, 1, 3)).toThrow(/heldOutFraction/);
  });
});
