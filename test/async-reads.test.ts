// The async-read rule: no path a model runs reads a tensor synchronously. GPU backends in Node have
// no synchronous read (tfjs-backend-webgpu implements dataSync through OffscreenCanvas, which Node
// lacks), and there is no GPU in CI, so the rule is checked here on wasm with every synchronous read
// made to throw: an SFT and a DPO job (with checkpoints), generation (CPU and device picks), scoring
// and every policy judge.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { judgeAll } from "@isrdpo/judge";
import { trainDpo, trainSft } from "@isrdpo/train";
import {
  Rng,
  Tokenizer,
  VideoLMM,
  choiceLogProbs,
  generate,
  initBackend,
  matmulGflops,
  modelConfig,
  saveCheckpoint,
  sequenceLogProbs,
  tf,
} from "@isrdpo/vlm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const frames = (seed: number) => {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: 8 * 32 * 32 * 3 }, () => Math.floor(rng.next() * 256));
};
const videos = [0, 1, 2].map((i) => ({ videoId: `v${i}`, frames: frames(i) }));
const sft = videos.map((v, i) => ({ ...v, prompt: "what colour is the circle?", answer: ["red.", "blue.", "green."][i]! }));
const pairs = sft.map((e, i) => ({ ...e, chosen: e.answer, rejected: ["blue.", "green.", "red."][i]! }));

let tok: Tokenizer;
let dir: string;
let restore: () => void = () => {};

/** Makes every synchronous read throw, naming it; returns the undo. */
function forbidSyncReads(): () => void {
  const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
  const saved = { dataSync: proto.dataSync, arraySync: proto.arraySync };
  for (const name of Object.keys(saved)) {
    proto[name] = () => {
      throw new Error(`synchronous read: Tensor.${name}()`);
    };
  }
  // The engine's readSync, which every tfjs-core op that reads back goes through (backend kernels
  // reading their own memory, as wasm's do, are not transfers and stay allowed).
  const engine = tf.engine() as unknown as { readSync: unknown };
  const engineReadSync = engine.readSync;
  engine.readSync = () => {
    throw new Error("synchronous read: engine.readSync()");
  };
  return () => {
    Object.assign(proto, saved);
    engine.readSync = engineReadSync;
  };
}

beforeAll(async () => {
  await initBackend("wasm", () => {});
  tok = Tokenizer.train(
    [
      ...sft.map((e) => `${e.prompt} ${e.answer}`),
      "question: answer a: b: which answer is better? verdict: a b is the answer right? yes no",
    ],
    { vocabSize: 320 },
  );
  dir = await mkdtemp(join(tmpdir(), "async-reads-"));
  restore = forbidSyncReads();
});
afterAll(async () => {
  restore();
  await rm(dir, { recursive: true, force: true });
});

const fresh = () => VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), 1);
const training = { lr: 1e-3, epochs: 2, batchSize: 2, maxSteps: 2, seed: 1 };

describe("with synchronous reads forbidden (wasm)", () => {
  it("the guard is in place: a synchronous read throws", () => {
    const t = tf.tensor1d([1, 2]);
    expect(() => t.dataSync()).toThrow(/Tensor.dataSync/);
    expect(() => t.arraySync()).toThrow(/Tensor.arraySync/);
    expect(() => tf.engine().readSync(t.dataId)).toThrow(/engine.readSync/);
    t.dispose();
  });

  it("an SFT job and a DPO job train and write checkpoints", async () => {
    const model = fresh();
    const s = await trainSft(model, tok, sft, { training, checkpointDir: join(dir, "sft") });
    expect(s.steps).toBe(2);
    expect(s.history.every((m) => Number.isFinite(m.loss) && Number.isFinite(m.gradNorm))).toBe(true);
    const d = await trainDpo(model, tok, pairs, { training, checkpointDir: join(dir, "dpo") });
    expect(d.steps).toBe(2);
    expect(d.history[0]!.loss).toBeCloseTo(Math.log(2), 3); // the policy starts as the reference
    expect(d.lastCheckpoint?.digest).toMatch(/^[0-9a-f]{64}$/);
    expect((await saveCheckpoint(join(dir, "plain"), model, tok)).digest).toMatch(/^[0-9a-f]{64}$/);
    model.dispose();
  });

  it("generates (picking on the CPU and on the device), scores, and reads the matmul rate", async () => {
    const model = fresh();
    const inputs = videos.map((v) => ({ ...v, prompt: "what colour is the circle?" }));
    for (const pickOnDevice of [false, true]) {
      for (const sampling of [
        { temperature: 0, maxNewTokens: 4, seed: 1 },
        { temperature: 0.8, topK: 5, minNewTokens: 2, maxNewTokens: 4, seed: 1 },
        { temperature: 1, maxNewTokens: 4, seed: 1 },
      ]) {
        const out = await generate(model, tok, inputs, sampling, { pickOnDevice, numSamples: 2 });
        expect(out).toHaveLength(6);
      }
    }
    const scores = await sequenceLogProbs(
      model,
      tok,
      inputs.map((i) => ({ ...i, answer: "red." })),
    );
    expect(scores.every((x) => x.sum < 0 && x.count > 0)).toBe(true);
    const choices = await choiceLogProbs(model, tok, inputs, [" a", " b"]);
    expect(choices?.length ?? 3).toBe(3);
    expect(await matmulGflops(32, 1)).toBeGreaterThan(0);
    model.dispose();
  });

  it("every policy judge judges", async () => {
    const policy = { model: fresh(), tok };
    const items = videos.map((v) => ({
      video: v,
      question: "what colour is the circle?",
      context: "a red circle.",
      answers: ["red", "blue"],
    }));
    for (const strategy of ["self", "self-likelihood", "self-verify", "self-critique"] as const) {
      const { preferences } = await judgeAll(strategy, policy, items, { tieMargin: 0, critiqueMaxNewTokens: 3 });
      expect(preferences).toHaveLength(3);
    }
    policy.model.dispose();
  });
});
