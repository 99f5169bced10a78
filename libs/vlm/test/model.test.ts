import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Tokenizer,
  VideoLMM,
  buildPackedBatch,
  buildScoreBatch,
  encodeRow,
  segmentSums,
  generate,
  initBackend,
  modelConfig,
  parameterCount,
  sequenceLogProbs,
  targetLogProbs,
} from "../src/index.ts";
import { frames, setup } from "./helpers.ts";

let tok: Tokenizer;
let model: VideoLMM;
const videos = [0, 1, 2].map((i) => ({ videoId: `v${i}`, frames: frames(i) }));
const inputs = [
  { ...videos[0]!, prompt: "describe the video." },
  { ...videos[1]!, prompt: "how many objects?" },
  { ...videos[2]!, prompt: "is there a red circle moving left in the video?" },
];

beforeAll(async () => {
  ({ tok, model } = await setup(7));
});

describe("VideoLMM", () => {
  it("selects backends as configured: a missing native backend is a clear error, wasm stays active", async () => {
    const lines: string[] = [];
    await expect(initBackend("tensorflow", (l) => lines.push(l))).rejects.toThrow(/tfjs-node/);
    expect(tf.getBackend()).toBe("wasm");
    await expect(initBackend("gpu" as "wasm")).rejects.toThrow(/unknown preference "gpu"/);
    expect(await initBackend(undefined, (l) => lines.push(l))).toEqual({ name: "wasm", adapter: "" });
    expect(lines.at(-1)).toMatch(/^tfjs backend: wasm/);
  });

  it("parameterCount(config) is the built model's count, so the GPU presets' sizes need no build", () => {
    for (const [preset, overrides] of [
      ["test", {}],
      ["test", { stem: "hmlp", positionEncoding: "rope", tubelet: 1, mlpRatio: 2, denseLabels: 7 }],
      ["small", {}],
    ] as const) {
      const m = VideoLMM.create(modelConfig(preset, overrides), 1);
      expect(parameterCount(m.config)).toBe(m.parameterCount());
      m.dispose();
    }
    expect(parameterCount(modelConfig("base"))).toBe(37_423_232);
    expect(parameterCount(modelConfig("large"))).toBe(111_897_088);
    expect(() => modelConfig("huge" as "large")).toThrow(/unknown preset "huge" \(test, small, base, large\)/);
  });

  it("validates configs and frame shapes with clear errors", () => {
    expect(() => modelConfig("test", { nHeads: 5 })).toThrow(/nHeads/);
    expect(() => model.patchify(new Uint8Array(10), "clip-9")).toThrow(/clip-9.*8×32×32×3/);
  });

  it("vision stems: a patch's visual token depends on its own pixels only; clip standardisation centres each channel", () => {
    for (const stem of ["linear", "hmlp"] as const) {
      const m = VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize, stem, inputNorm: "clip", visionLayers: 0 }), 3);
      const base = frames(5);
      const changed = base.slice();
      // One pixel of the first frame, in the patch at row 1, column 1 of the first tubelet.
      const p = m.config.patchSize;
      const cols = m.config.width / p;
      const at = ((1 * p + 1) * m.config.width + 1 * p + 3) * 3;
      changed[at] = 255 - changed[at]!;
      const [a, b] = [base, changed].map((f) => m.encodeVideo(m.patchTensor([{ videoId: "x", frames: f }])));
      const diff = tf.tidy(() => (a!.sub(b!).abs().max(2).arraySync() as number[][])[0]!);
      // Clip standardisation shifts every token a little (the channel mean moved): the changed
      // patch moves by far more than any other.
      const moved = diff.map((d, i) => ({ d, i })).sort((x, y) => y.d - x.d);
      expect(moved[0]!.i, stem).toBe(1 * cols + 1);
      expect(moved[0]!.d).toBeGreaterThan(20 * moved[1]!.d);
      tf.dispose([a!, b!]);
      const pixels = m.patchify(base);
      for (let ch = 0; ch < 3; ch++) {
        let sum = 0;
        for (let i = ch; i < pixels.length; i += 3) sum += pixels[i]!;
        expect(Math.abs(sum / (pixels.length / 3))).toBeLessThan(1e-4);
      }
      m.dispose();
    }
    expect(() => modelConfig("test", { stem: "hmlp", patchSize: 2 })).toThrow(/patchSize/);
  });

  it("gradients of the answer loss agree with central finite differences, vision tower to embeddings", () => {
    const rows = [encodeRow(tok, "what colour is it?", " red"), encodeRow(tok, "how many objects?", " two")];
    const sb = buildScoreBatch(model, rows, tok.padId);
    const loss = () =>
      targetLogProbs(model, model.encodeVideo(model.patchTensor(videos.slice(0, 2))), sb)
        .tokenLogProbs.sum()
        .neg() as tf.Scalar;
    const names = [
      "vision.patch_embed.weight",
      "vision.ln_f.weight",
      "projector.fc1.weight",
      "projector.fc2.weight",
      "blocks.0.attn.qkv.weight",
      "text.wte",
    ];
    const { grads } = tf.variableGrads(
      loss,
      names.map((n) => model.params.get(n)!),
    );
    for (const n of names) {
      const v = model.params.get(n)!;
      const g = grads[v.name]!.dataSync();
      let i = 0; // the entry with the largest analytic gradient
      for (let k = 1; k < g.length; k++) if (Math.abs(g[k]!) > Math.abs(g[i]!)) i = k;
      const base = v.dataSync().slice();
      const at = (d: number) => {
        const w = base.slice();
        w[i]! += d;
        v.assign(tf.tensor(w, v.shape));
        model.markWeightsChanged();
        return tf.tidy(() => loss().dataSync()[0]!);
      };
      const numeric = (at(1e-2) - at(-1e-2)) / 2e-2;
      v.assign(tf.tensor(base, v.shape));
      model.markWeightsChanged();
      expect(Math.abs(numeric - g[i]!), `${n}[${i}]: analytic ${g[i]}, numeric ${numeric}`).toBeLessThan(0.05 * Math.abs(g[i]!) + 1e-4);
    }
    tf.dispose(Object.values(grads));
  });

  it("greedy decoding with the KV cache gives exactly the tokens of decoding without it", async () => {
    const greedy = { temperature: 0, maxNewTokens: 12, seed: 0 };
    const cached = await generate(model, tok, inputs, greedy);
    const uncached = await generate(model, tok, inputs, greedy, { useCache: false });
    expect(cached.map((g) => g.tokenIds)).toEqual(uncached.map((g) => g.tokenIds));
    for (let i = 0; i < cached.length; i++) expect(cached[i]!.logprobSum).toBeCloseTo(uncached[i]!.logprobSum, 3);
    expect(cached.every((g) => g.tokenIds.length > 0)).toBe(true);
  });

  it("rope: the KV cache and left padding stay invisible, and only relative positions matter", async () => {
    const rope = VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize, positionEncoding: "rope" }), 7);
    expect(rope.params.has("text.wpe")).toBe(false);
    const greedy = { temperature: 0, maxNewTokens: 10, seed: 0 };
    const cached = await generate(rope, tok, inputs, greedy);
    expect((await generate(rope, tok, inputs, greedy, { useCache: false })).map((g) => g.tokenIds)).toEqual(cached.map((g) => g.tokenIds));
    expect((await generate(rope, tok, [inputs[2]!], greedy))[0]!.tokenIds).toEqual(cached[2]!.tokenIds);
    const [shifted, plain] = tf.tidy(() => {
      const visual = rope.encodeVideo(rope.patchTensor([videos[0]!]));
      const tokens = tf.tensor2d([tok.encode("how many objects?")], undefined, "int32");
      const rows = visual.shape[1] + tokens.shape[1];
      const positions = tf.range(0, rows, 1, "int32").reshape([1, rows]) as tf.Tensor2D;
      const at = (p: tf.Tensor2D) => rope.forward(visual, tokens, p, null).hidden;
      return [at(positions.add(tf.scalar(9, "int32")) as tf.Tensor2D).arraySync(), at(positions).arraySync()];
    });
    expect(Math.max(...(shifted.flat(2) as number[]).map((v, i) => Math.abs(v - (plain.flat(2) as number[])[i]!)))).toBeLessThan(1e-3);
    rope.dispose();
  });

  it("a sample does not depend on the batch it is decoded in (left padding is invisible)", async () => {
    const greedy = { temperature: 0, maxNewTokens: 10, seed: 0 };
    const together = await generate(model, tok, inputs, greedy);
    const alone = await generate(model, tok, [inputs[2]!], greedy);
    expect(alone[0]!.tokenIds).toEqual(together[2]!.tokenIds);
  });

  it("sampling is deterministic by seed, and differs across seeds and samples", async () => {
    const s = { temperature: 1.5, topP: 0.95, topK: 50, maxNewTokens: 16, seed: 42 };
    const a = await generate(model, tok, inputs, s, { numSamples: 2 });
    const b = await generate(model, tok, inputs, s, { numSamples: 2, batchSize: 4 });
    expect(a.map((g) => g.tokenIds)).toEqual(b.map((g) => g.tokenIds));
    const c = await generate(model, tok, inputs, { ...s, seed: 43 }, { numSamples: 2 });
    expect(c.map((g) => g.tokenIds)).not.toEqual(a.map((g) => g.tokenIds));
    expect(a[0]!.tokenIds).not.toEqual(a[1]!.tokenIds);
    expect(a.map((g) => [g.inputIndex, g.sampleIndex])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [2, 0],
      [2, 1],
    ]);
  });

  it("picking on the device (as on a GPU) gives the CPU pick's tokens, log-probs within float32 rounding", async () => {
    for (const s of [
      { temperature: 0, maxNewTokens: 12, minNewTokens: 3, seed: 0 },
      { temperature: 1.5, topK: 7, maxNewTokens: 12, minNewTokens: 12, seed: 42 },
      { temperature: 2, topP: 0.9, topK: 50, maxNewTokens: 12, seed: 5 },
    ]) {
      const cpu = await generate(model, tok, inputs, s, { numSamples: 2, pickOnDevice: false });
      const device = await generate(model, tok, inputs, s, { numSamples: 2, pickOnDevice: true });
      expect(device.map((g) => g.tokenIds)).toEqual(cpu.map((g) => g.tokenIds));
      expect(device.map((g) => g.text)).toEqual(cpu.map((g) => g.text));
      device.forEach((g, i) => expect(Math.abs(g.logprobSum - cpu[i]!.logprobSum)).toBeLessThan(1e-4));
    }
    // minNewTokens holds on the device too: <eos> is masked out of the top k.
    const forced = await generate(
      model,
      tok,
      inputs,
      { temperature: 3, topK: 3, maxNewTokens: 6, minNewTokens: 6, seed: 9 },
      { pickOnDevice: true },
    );
    expect(forced.every((g) => g.tokenIds.length === 6 && !g.tokenIds.includes(tok.eosId))).toBe(true);
  });

  it("stops at max new tokens or at a stop string", async () => {
    const [g] = await generate(model, tok, [inputs[0]!], { temperature: 1, maxNewTokens: 5, seed: 3 });
    expect(g!.tokenIds.length).toBeLessThanOrEqual(5);
    expect(g!.finishReason).toBe(g!.tokenIds.includes(tok.eosId) ? "stop" : "length");
    // A stop string that is any single character the model produced ends the text before it.
    const long = await generate(model, tok, [inputs[0]!], { temperature: 1, maxNewTokens: 20, seed: 3 });
    const ch = long[0]!.text.trim()[0];
    expect(ch).toBeDefined(); // seeded: the sample has text, so the stop-string check below always runs
    const [stopped] = await generate(model, tok, [inputs[0]!], { temperature: 1, maxNewTokens: 20, seed: 3, stop: [ch!] });
    expect(stopped!.finishReason).toBe("stop");
    expect(stopped!.text.includes(ch!)).toBe(false);
    await expect(generate(model, tok, [inputs[0]!], { temperature: -1, maxNewTokens: 5, seed: 1 })).rejects.toThrow(/temperature/);
    // A stop token id ends the sample right after it.
    const free = await generate(model, tok, [inputs[1]!], { temperature: 1, maxNewTokens: 20, minNewTokens: 20, seed: 4 });
    const third = free[0]!.tokenIds[2]!;
    const [cut] = await generate(model, tok, [inputs[1]!], {
      temperature: 1,
      maxNewTokens: 20,
      minNewTokens: 20,
      seed: 4,
      stopTokenIds: [third],
    });
    expect(cut!.tokenIds).toEqual(free[0]!.tokenIds.slice(0, free[0]!.tokenIds.indexOf(third) + 1));
    expect(cut!.finishReason).toBe("stop");
    // minNewTokens keeps <eos> out until then.
    const forced = await generate(model, tok, inputs, { temperature: 3, maxNewTokens: 12, minNewTokens: 12, seed: 9 }, { numSamples: 4 });
    expect(forced.every((g) => g.tokenIds.length === 12 && g.finishReason === "length" && !g.tokenIds.includes(tok.eosId))).toBe(true);
  });

  it("generation's log-probs equal the scored log-probs of the same tokens", async () => {
    const gens = await generate(model, tok, inputs, { temperature: 1, maxNewTokens: 8, seed: 5 });
    const rows = inputs.map((inp, i) => ({ prompt: encodeRow(tok, inp.prompt).prompt, answer: gens[i]!.tokenIds }));
    const sb = buildScoreBatch(model, rows, tok.padId);
    const sums = tf.tidy(() => targetLogProbs(model, model.visualTokens(inputs), sb).tokenLogProbs.sum(1).arraySync() as number[]);
    sums.forEach((s, i) => expect(s).toBeCloseTo(gens[i]!.logprobSum, 3));
  });

  it("packs several prompts about one video into one row, each scoring exactly as alone", () => {
    const segments = [
      ["describe the video.", " a red circle moves left."],
      ["how many objects?", " two"],
      ["is there a red circle moving left in the video?", " yes, there is."],
    ].map(([p, a]) => encodeRow(tok, p!, a!));
    const video = [videos[0]!];
    const alone = tf.tidy(
      () =>
        targetLogProbs(model, model.visualTokens([video[0]!, video[0]!, video[0]!]), buildScoreBatch(model, segments, tok.padId))
          .tokenLogProbs.sum(1)
          .arraySync() as number[],
    );
    const packed = buildPackedBatch(model, [segments, [segments[1]!]], tok.padId);
    expect(packed.answerLengths).toEqual([...segments.map((r) => r.answer.length), segments[1]!.answer.length]);
    const sums = tf.tidy(
      () =>
        segmentSums(
          targetLogProbs(model, model.visualTokens([video[0]!, video[0]!]), packed).tokenLogProbs,
          packed,
        ).arraySync() as number[],
    );
    [...alone, alone[1]!].forEach((a, i) => expect(sums[i]).toBeCloseTo(a, 4));
    expect(() => buildPackedBatch(model, [[]], tok.padId)).toThrow(/without segments/);
  });

  it("scores answers summed over answer tokens only, independent of batch padding", async () => {
    const items = inputs.map((inp, i) => ({ ...inp, answer: ["a red circle.", "two", "yes, it moves left and then up."][i]! }));
    const together = await sequenceLogProbs(model, tok, items);
    const alone = await Promise.all(items.map(async (it) => (await sequenceLogProbs(model, tok, [it]))[0]!));
    together.forEach((r, i) => {
      expect(r.sum).toBeCloseTo(alone[i]!.sum, 3);
      expect(r.count).toBe(tok.encode(items[i]!.answer).length + 1);
      expect(r.sum).toBeLessThan(0);
    });
    // Changing the prompt changes the score; the prompt's own tokens are not counted.
    const other = (await sequenceLogProbs(model, tok, [{ ...items[0]!, prompt: "something else entirely" }]))[0]!;
    expect(other.count).toBe(together[0]!.count);
    expect(other.sum).not.toBeCloseTo(together[0]!.sum, 4);
    await expect(sequenceLogProbs(model, tok, [{ ...items[0]!, answer: "x ".repeat(400) }])).rejects.toThrow(/items\[0\].*maxTextLen/);
  });

  it("can be aborted between steps, without leaking tensors", async () => {
    const base = tf.memory().numTensors;
    const abort = new AbortController();
    const s = { temperature: 1, maxNewTokens: 30, minNewTokens: 30, seed: 1 };
    const run = generate(model, tok, inputs, s, { signal: abort.signal, onToken: () => abort.abort() });
    await expect(run).rejects.toThrow(/aborted after 1 tokens/);
    expect(tf.memory().numTensors).toBe(base);
  });

  it("leaks no tensors in generation or scoring", async () => {
    const s = { temperature: 0.7, maxNewTokens: 6, seed: 1 };
    await generate(model, tok, inputs, s); // warms the visual-token cache
    const base = tf.memory().numTensors;
    await generate(model, tok, inputs, s);
    await generate(model, tok, inputs, s, { useCache: false });
    await generate(model, tok, inputs, { ...s, topK: 5, minNewTokens: 2 }, { pickOnDevice: true });
    expect(tf.memory().numTensors).toBe(base);
    await sequenceLogProbs(
      model,
      tok,
      inputs.map((i) => ({ ...i, answer: "yes" })),
    );
    expect(tf.memory().numTensors).toBe(base);
  });

  it("caches visual tokens per (video, vision weights) and drops them when weights change", () => {
    const a = model.visualTokens([videos[0]!]);
    const v = model.params.get("projector.fc2.bias")!;
    const saved = v.clone();
    v.assign(v.add(1));
    model.markWeightsChanged();
    const b = model.visualTokens([videos[0]!]);
    expect(tf.max(tf.abs(a.sub(b))).dataSync()[0]).toBeCloseTo(1, 4);
    v.assign(saved);
    model.markWeightsChanged();
    const c = model.visualTokens([videos[0]!]);
    expect(tf.max(tf.abs(a.sub(c))).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([a, b, c, saved]);
  });
});

describe("visual-token cache bounds", () => {
  it("evicts the oldest videos beyond its size, even within one call", () => {
    const small = VideoLMM.create(model.config, 1, { visualCacheSize: 2 });
    const vs = [0, 1, 2, 3].map((i) => ({ videoId: `e${i}`, frames: frames(i) }));
    const before = tf.memory().numTensors;
    const all = small.visualTokens(vs);
    expect(all.shape[0]).toBe(4);
    expect(tf.memory().numTensors).toBe(before + 1 + 2); // the result and two cached videos
    const again = small.visualTokens([vs[0]!]);
    expect(tf.max(tf.abs(again.sub(all.slice([0, 0, 0], [1, -1, -1])))).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([all, again]);
    small.dispose();
  });
});

describe("visual-token cache inside tidy()", () => {
  it("survives the tidy scope it was filled in", () => {
    const v = { videoId: "fresh", frames: frames(99) };
    const first = tf.tidy(() => model.visualTokens([v]).sum().dataSync()[0]);
    const second = tf.tidy(() => model.visualTokens([v]).sum().dataSync()[0]);
    expect(second).toBe(first);
  });
});
