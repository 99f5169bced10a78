/**
 * Generation of 64 new tokens on the `small` preset, batch 1 and batch 32, with and without the KV
 * cache: generated tokens per CPU-second (the machine is shared: CPU time of this single-threaded
 * process is what wall time would be when idle; wall time is reported too) and the cache speed-up. Visual tokens are cached before timing.
 * On a GPU the wall-clock rate (tokensPerSecond) is the one that counts.
 * Run: pnpm exec tsx bench/vlm-generate.ts [--preset small] [--tokens 64] [--backend webgpu]
 * Last line: one JSON object with the figures.
 */
import { parseArgs } from "node:util";
import { Rng, Tokenizer, VideoLMM, generate, initBackend, modelConfig, type BackendPreference, type Preset } from "@isrdpo/vlm";

const { values } = parseArgs({
  options: { preset: { type: "string", default: "small" }, tokens: { type: "string", default: "64" }, backend: { type: "string" } },
});
const backend = await initBackend(values.backend as BackendPreference | undefined);
const preset = values.preset as Preset;
const maxNewTokens = Number(values.tokens);
const words =
  "a the red blue green yellow circle square triangle moves left right up down appears disappears then and two three objects video".split(
    " ",
  );
const rng = new Rng(1);
const sentence = (n: number) => Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]).join(" ");
const base = modelConfig(preset);
const tok = Tokenizer.train(
  Array.from({ length: 400 }, () => sentence(12)),
  { vocabSize: base.vocabSize },
);
const model = VideoLMM.create(modelConfig(preset, { vocabSize: tok.vocabSize }), 1);
const frames = (seed: number) => {
  const r = new Rng(seed);
  return Uint8Array.from({ length: base.frames * base.height * base.width * 3 }, () => Math.floor(r.next() * 256));
};
const inputs = Array.from({ length: 32 }, (_, i) => ({ videoId: `v${i}`, frames: frames(i), prompt: sentence(10) }));
model.visualTokens(inputs);

async function run(batch: number, useCache: boolean) {
  // minNewTokens: every sample generates exactly maxNewTokens (a random model may sample <eos>).
  const sampling = { temperature: 1, maxNewTokens, minNewTokens: maxNewTokens, seed: 7 };
  await generate(model, tok, inputs.slice(0, batch), { ...sampling, maxNewTokens: 8, minNewTokens: 8 }, { useCache }); // warm-up
  // Best of a few runs (one for the slow uncached batch of 32): the JIT and the machine's other load vary.
  let seconds = Infinity;
  let cpuSeconds = Infinity;
  let tokens = 0;
  for (let rep = 0; rep < (batch === 1 ? 3 : 1); rep++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const out = await generate(model, tok, inputs.slice(0, batch), sampling, { useCache, batchSize: batch });
    const c1 = process.cpuUsage(c0);
    seconds = Math.min(seconds, (performance.now() - t0) / 1000);
    // CPU time of this (single-threaded) process: what wall time would be on an idle machine.
    cpuSeconds = Math.min(cpuSeconds, (c1.user + c1.system) / 1e6);
    tokens = out.reduce((a, g) => a + g.tokenIds.length, 0);
  }
  return {
    tokens,
    seconds: +seconds.toFixed(3),
    cpuSeconds: +cpuSeconds.toFixed(3),
    tokensPerCpuSecond: +(tokens / cpuSeconds).toFixed(1),
    tokensPerSecond: +(tokens / seconds).toFixed(1),
  };
}

const result: Record<string, unknown> = { backend: backend.name, adapter: backend.adapter, preset, maxNewTokens };
for (const batch of (process.env.GEN_BATCHES ?? "1,32").split(",").map(Number)) {
  const cached = await run(batch, true);
  const uncached = await run(batch, false);
  result[`batch${batch}`] = {
    cached,
    uncached,
    speedup: +(uncached.cpuSeconds / cached.cpuSeconds).toFixed(2),
    wallSpeedup: +(uncached.seconds / cached.seconds).toFixed(2),
  };
}
console.log(JSON.stringify(result));
