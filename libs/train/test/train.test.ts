import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  Rng,
  Tokenizer,
  VideoLMM,
  buildScoreBatch,
  encodeRow,
  initBackend,
  loadCheckpoint,
  modelConfig,
  sequenceLogProbs,
  targetLogProbs,
} from "@isrdpo/vlm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { batchPlan, type DpoPair, type SftExample, trainDpo, trainSft } from "../src/index.ts";

const frames = (seed: number) => {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: 8 * 32 * 32 * 3 }, () => Math.floor(rng.next() * 256));
};
const sft: SftExample[] = [
  { videoId: "v0", frames: frames(0), prompt: "what color is the circle?", answer: "red." },
  { videoId: "v1", frames: frames(1), prompt: "what color is the circle?", answer: "blue." },
  { videoId: "v2", frames: frames(2), prompt: "how many objects?", answer: "two objects." },
  { videoId: "v3", frames: frames(3), prompt: "describe the video.", answer: "a green square moves left." },
];
const pairs: DpoPair[] = [
  { videoId: "v0", frames: frames(0), prompt: "what color is the circle?", chosen: "red.", rejected: "blue." },
  { videoId: "v1", frames: frames(1), prompt: "what color is the circle?", chosen: "blue.", rejected: "red." },
  { videoId: "v2", frames: frames(2), prompt: "how many objects?", chosen: "two objects.", rejected: "three objects." },
  { videoId: "v3", frames: frames(3), prompt: "describe the video.", chosen: "a green square moves left.", rejected: "a red circle." },
];
let tok: Tokenizer;
let dir: string;
const fresh = (seed = 1) => VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), seed);
const maxDiff = (a: VideoLMM, b: VideoLMM) =>
  Math.max(...[...a.params].map(([n, v]) => tf.tidy(() => tf.max(tf.abs(v.sub(b.params.get(n)!))).dataSync()[0] as number)));

beforeAll(async () => {
  await initBackend("wasm", () => {});
  tok = Tokenizer.train([...sft.map((e) => `${e.prompt} ${e.answer}`), ...pairs.map((p) => p.rejected)], { vocabSize: 300 });
  dir = await mkdtemp(join(tmpdir(), "train-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("trainSft", () => {
  it("overfits a tiny set: answer loss near zero, no tensor leaks", async () => {
    const model = fresh();
    const start = fresh();
    const before = tf.memory().numTensors;
    const result = await trainSft(model, tok, sft, {
      training: { lr: 3e-3, epochs: 120, batchSize: 4, warmupSteps: 5, schedule: "constant", weightDecay: 0, seed: 1 },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.steps).toBe(120);
    expect(result.history[0]!.loss).toBeGreaterThan(3);
    expect(result.history.at(-1)!.loss).toBeLessThan(0.05);
    const scores = await sequenceLogProbs(model, tok, sft);
    scores.forEach((s) => expect(s.sum / s.count).toBeGreaterThan(-0.1));
    // SFT trains the vision tower too.
    const moved = (n: string) => tf.tidy(() => tf.max(tf.abs(model.params.get(n)!.sub(start.params.get(n)!))).dataSync()[0]!);
    expect(moved("vision.patch_embed.weight")).toBeGreaterThan(1e-3);
    expect(moved("projector.fc2.weight")).toBeGreaterThan(1e-3);
    model.dispose();
    start.dispose();
  });
});

describe("trainSft's completionOnlyLoss", () => {
  it("true: the loss is on the answer's tokens; false: on every text token after <bos> (the prompt's too)", async () => {
    const example = sft[3]!;
    const model = fresh(5);
    // Every text token's log-prob under the initial weights, in order (one row whose "answer" is all of it).
    const row = encodeRow(tok, example.prompt, example.answer);
    const all = { prompt: row.prompt.slice(0, 1), answer: [...row.prompt.slice(1), ...row.answer] };
    const sb = buildScoreBatch(model, [all], tok.padId);
    const logProbs = await tf.tidy(() => targetLogProbs(model, model.encodeVideo(model.patchTensor([example])), sb).tokenLogProbs).data();
    const values = [...logProbs].filter((_, i) => sb.answerMask[i] === 1);
    expect(values).toHaveLength(all.answer.length);
    const meanLoss = (xs: number[]) => -xs.reduce((a, b) => a + b, 0) / xs.length;
    // The first step's loss is computed before its update.
    const firstLoss = async (completionOnlyLoss: boolean) =>
      (await trainSft(fresh(5), tok, [example], { training: { lr: 1e-3, maxSteps: 1, batchSize: 1, seed: 1, completionOnlyLoss } }))
        .history[0]!.loss;
    expect(await firstLoss(true)).toBeCloseTo(meanLoss(values.slice(-row.answer.length)), 4);
    expect(await firstLoss(false)).toBeCloseTo(meanLoss(values), 4);
    model.dispose();
  });
});

describe("trainDpo", () => {
  it("overfits a tiny preference set: reward accuracy 1, margins growing, no leaks", async () => {
    const model = fresh(2);
    model.visualTokens(pairs); // the visual-token cache is meant to persist
    const before = tf.memory().numTensors;
    const evals: number[] = [];
    const result = await trainDpo(model, tok, pairs, {
      training: { lr: 2e-3, epochs: 30, batchSize: 4, schedule: "constant", weightDecay: 0, seed: 2, evalEvery: 10 },
      dpo: { type: "sigmoid", beta: 0.1 },
      onEval: (step) => void evals.push(step),
    });
    expect(evals).toEqual([10, 20, 30]);
    expect(tf.memory().numTensors).toBe(before);
    const h = result.history;
    // Step 0: policy = reference, so every reward is 0 and the loss is ln 2.
    expect(h[0]!.loss).toBeCloseTo(Math.LN2, 5);
    expect(h[0]!.metrics["rewards/margins"]).toBeCloseTo(0, 6);
    expect(h.at(-1)!.metrics["rewards/accuracies"]).toBe(1);
    const margins = h.map((m) => m.metrics["rewards/margins"]!);
    expect(margins[10]!).toBeGreaterThan(margins[1]!);
    expect(margins.at(-1)!).toBeGreaterThan(margins[10]!);
    expect(h.at(-1)!.loss).toBeLessThan(h[0]!.loss / 2);
    for (const key of ["rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected"])
      expect(h.at(-1)!.metrics).toHaveProperty(key);
    // The vision tower is frozen.
    const reference = fresh(2);
    for (const [n, v] of model.params) {
      if (model.isVisionParam(n)) expect(tf.tidy(() => tf.max(tf.abs(v.sub(reference.params.get(n)!))).dataSync()[0])).toBe(0);
    }
    model.dispose();
    reference.dispose();
  });

  it("resuming continues exactly: N steps + save + load + N steps = 2N steps", async () => {
    const training = { lr: 1e-3, epochs: 6, batchSize: 2, warmupSteps: 2, schedule: "cosine" as const, seed: 3, checkpointEvery: 3 };
    const dpo = { type: "ipo" as const, beta: 0.5, sftWeight: 0.1 };
    const straight = fresh(4);
    const full = await trainDpo(straight, tok, pairs, { training, dpo });
    expect(full.steps).toBe(12);

    const ckpt = join(dir, "resume");
    const first = fresh(4);
    const abort = new AbortController();
    const part = await trainDpo(first, tok, pairs, {
      training,
      dpo,
      checkpointDir: ckpt,
      signal: abort.signal,
      onProgress: (m) => m.step === 6 && abort.abort(),
    });
    expect(part).toMatchObject({ steps: 6, stopped: "aborted" });
    first.dispose();
    // A new process: the weights it starts from are overwritten by the checkpoint.
    const second = fresh(99);
    const rest = await trainDpo(second, tok, pairs, { training, dpo, checkpointDir: ckpt, resume: true });
    expect(rest).toMatchObject({ steps: 12, stopped: "done" });
    expect(rest.history[0]!.step).toBe(7);
    expect((await readdir(ckpt)).sort()).toEqual(["step-000006", "step-000009", "step-000012"]); // keepCheckpoints 3
    expect(rest.history.at(-1)!.loss).toBeCloseTo(full.history.at(-1)!.loss, 4);
    expect(maxDiff(second, straight)).toBeLessThan(1e-5);
    // The final checkpoint loads as a model.
    const loaded = await loadCheckpoint(rest.lastCheckpoint!.dir);
    expect(maxDiff(loaded.model, second)).toBe(0);
    [straight, second, loaded.model].forEach((m) => m.dispose());
  });

  it("a damaged newest checkpoint is passed over, saying which file, and the job resumes from the one before", async () => {
    const training = { lr: 1e-3, epochs: 3, batchSize: 2, seed: 5, checkpointEvery: 2 };
    const dpo = { type: "sigmoid" as const, beta: 0.1 };
    const straight = fresh(6);
    await trainDpo(straight, tok, pairs, { training, dpo });
    for (const damage of ["flip", "missing"] as const) {
      const ckpt = join(dir, `damaged-${damage}`);
      const first = fresh(6);
      const abort = new AbortController();
      await trainDpo(first, tok, pairs, {
        training,
        dpo,
        checkpointDir: ckpt,
        signal: abort.signal,
        onProgress: (m) => m.step === 4 && abort.abort(),
      });
      first.dispose();
      const newest = join(ckpt, "step-000004");
      if (damage === "flip") {
        const file = join(newest, "optimizer.safetensors");
        const bytes = await readFile(file);
        bytes[bytes.length - 1]! ^= 1;
        await writeFile(file, bytes);
      } else await rm(join(newest, "trainer.json"));
      const skipped: string[] = [];
      const second = fresh(99);
      const rest = await trainDpo(second, tok, pairs, {
        training,
        dpo,
        checkpointDir: ckpt,
        resume: true,
        onCheckpointSkipped: (p) => skipped.push(p),
      });
      expect(rest.history[0]!.step, damage).toBe(3); // from step-000002
      expect(skipped, damage).toEqual([
        expect.stringContaining(join(newest, damage === "flip" ? "optimizer.safetensors" : "trainer.json")),
      ]);
      expect(maxDiff(second, straight), damage).toBe(0);
      second.dispose();
    }
    straight.dispose();
  });

  it("gradient accumulation: 2 micro-batches of 2 equal one batch of 4", async () => {
    const a = fresh(5);
    const b = fresh(5);
    // A large Adam epsilon makes the first update proportional to the gradient (not its sign), so
    // float rounding in near-zero gradients cannot flip it.
    const common = { lr: 1e-2, adamEps: 1e-3, epochs: 1, schedule: "constant" as const, seed: 6 };
    const ra = await trainDpo(a, tok, pairs, { training: { ...common, batchSize: 4, gradAccum: 1 } });
    const rb = await trainDpo(b, tok, pairs, { training: { ...common, batchSize: 2, gradAccum: 2 } });
    expect(ra.steps).toBe(1);
    expect(rb.steps).toBe(1);
    expect(rb.history[0]!.loss).toBeCloseTo(ra.history[0]!.loss, 6);
    expect(maxDiff(a, b)).toBeLessThan(1e-6);
    const moved = fresh(5);
    expect(maxDiff(a, moved)).toBeGreaterThan(1e-3);
    [a, b, moved].forEach((m) => m.dispose());
  });

  it("rejects bad options and data with the field named", async () => {
    const model = fresh();
    await expect(trainDpo(model, tok, pairs, { dpo: { type: "robust", labelSmoothing: 0.7 } })).rejects.toThrow(/labelSmoothing/);
    await expect(trainSft(model, tok, sft, { training: { lr: -1 } })).rejects.toThrow(/lr/);
    await expect(trainSft(model, tok, [{ ...sft[0]!, answer: "x ".repeat(2000) }])).rejects.toThrow(/examples\[0\].*maxTextLen/);
    await expect(trainSft(model, tok, [{ ...sft[0]!, frames: new Uint8Array(3) }])).rejects.toThrow(/v0/);
    model.dispose();
  });
});

describe("batchPlan", () => {
  const lengths = Array.from({ length: 40 }, (_, i) => (i * 7919) % 37);
  const opts = { epochs: 2, batchSize: 4, seed: 3, groupByLength: true };

  it("groups similar lengths and still sees every example once per epoch", () => {
    const plan = batchPlan(40, opts, lengths);
    expect(plan).toHaveLength(20);
    for (const epoch of [plan.slice(0, 10), plan.slice(10)]) expect(epoch.flat().sort((a, b) => a - b)).toEqual([...Array(40).keys()]);
    // Padding: each batch pads to its longest member.
    const padding = (p: number[][]) =>
      p.reduce((sum, b) => sum + b.reduce((s, i) => s + Math.max(...b.map((j) => lengths[j]!)) - lengths[i]!, 0), 0);
    const plain = batchPlan(40, { ...opts, groupByLength: false }, lengths);
    expect(padding(plan)).toBeLessThan(padding(plain) / 3);
    expect(batchPlan(40, opts, lengths)).toEqual(plan);
  });

  it("is the plain seeded shuffle without lengths", () => {
    expect(batchPlan(40, opts)).toEqual(batchPlan(40, { ...opts, groupByLength: false }, lengths));
  });

  it("answer-length curriculum: each epoch the shorter half of answers first, every example once", () => {
    const answers = Array.from({ length: 40 }, (_, i) => (i * 13) % 40);
    const plan = batchPlan(40, { ...opts, curriculum: "answer-length" }, lengths, answers);
    for (const epoch of [plan.slice(0, 10), plan.slice(10)]) {
      expect(epoch.flat().sort((a, b) => a - b)).toEqual([...Array(40).keys()]);
      // Answers 0..19 (the median is 19) fill the first five batches, 20..39 the last five.
      expect(
        epoch
          .slice(0, 5)
          .flat()
          .every((i) => answers[i]! <= 19),
      ).toBe(true);
      expect(
        epoch
          .slice(5)
          .flat()
          .every((i) => answers[i]! > 19),
      ).toBe(true);
    }
    expect(() => batchPlan(40, { ...opts, curriculum: "answer-length" }, lengths)).toThrow(/answer's length/);
  });
});

describe("visionLrScale", () => {
  it("scales the first update of the vision tower and projector only", async () => {
    const step = async (visionLrScale: number) => {
      const model = fresh();
      const start = fresh();
      await trainSft(model, tok, sft, { training: { lr: 1e-3, visionLrScale, batchSize: 4, weightDecay: 0, maxGradNorm: 0, seed: 1 } });
      const delta = (n: string) => tf.tidy(() => tf.max(tf.abs(model.params.get(n)!.sub(start.params.get(n)!))).dataSync()[0]!);
      const out = {
        vision: delta("vision.patch_embed.weight"),
        projector: delta("projector.fc1.weight"),
        lm: delta("blocks.0.mlp.fc.weight"),
      };
      model.dispose();
      start.dispose();
      return out;
    };
    const one = await step(1);
    const three = await step(3);
    // Adam's first update is lr × m̂/(√v̂ + ε), linear in the rate for the same gradient.
    expect(three.vision / one.vision).toBeCloseTo(3, 3);
    expect(three.projector / one.projector).toBeCloseTo(3, 3);
    expect(three.lm / one.lm).toBeCloseTo(1, 5);
  });
});
