import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { attentionBias, type KvCache, type VideoLMM } from "./model.ts";
import { Rng } from "./rng.ts";
import type { Tokenizer } from "./tokenizer.ts";
import { InputError } from "./errors.ts";
import { isGpuBackend, readAndDispose } from "./backend.ts";

export const SamplingSchema = z
  .object({
    /** 0 means greedy decoding. */
    temperature: z.number().min(0).max(100),
    topP: z.number().gt(0).max(1).default(1),
    /** 0 means no top-k cut. */
    topK: z.number().int().min(0).default(0),
    maxNewTokens: z.number().int().min(1).max(100_000),
    /** <eos> cannot be sampled before this many new tokens (vLLM's min_tokens). */
    minNewTokens: z.number().int().min(0).default(0),
    /** Stop strings: generation of a sample ends when its text contains one (the text is cut before it). */
    stop: z.array(z.string().min(1)).default([]),
    /** Token ids that end a sample (kept in tokenIds, like <eos>, which always ends one). */
    stopTokenIds: z.array(z.number().int().nonnegative()).default([]),
    seed: z.number().int(),
  })
  .strict();
export type Sampling = z.input<typeof SamplingSchema>;

export interface GenerateInput {
  videoId: string;
  frames: Uint8Array;
  prompt: string;
}

export interface Generation {
  inputIndex: number;
  sampleIndex: number;
  text: string;
  /** Generated ids, the final <eos> included when the model ended the answer. */
  tokenIds: number[];
  finishReason: "stop" | "length";
  /** Model log-probability of `tokenIds` (temperature 1, no top-k/top-p truncation). */
  logprobSum: number;
}

export interface GenerateOptions {
  /** Samples per input (each with its own random stream). Default 1. */
  numSamples?: number;
  /** Called after each generated token. */
  onToken?: (event: { inputIndex: number; sampleIndex: number; tokenId: number }) => void;
  /** Default true. false recomputes the whole sequence at each step (for tests and benchmarks). */
  useCache?: boolean;
  /** Sequences decoded together. Default 32. */
  batchSize?: number;
  /** Checked between decoding steps: an aborted call rejects with an error saying so. */
  signal?: AbortSignal;
  /**
   * Greedy and top-k decoding pick the next token on the device (top-k of the logits and their
   * log-normaliser), so k values per row cross to the CPU instead of the vocabulary. Default: on a
   * GPU backend. The same tokens as the CPU pick; log-probs differ only by float32 rounding of the
   * normaliser. Sampling without a top-k cut always reads the whole row.
   */
  pickOnDevice?: boolean;
}

/**
 * Batched sampling with a KV cache. Results are input-major: result[i * numSamples + s]. A sample's
 * random stream depends only on (seed, input index, sample index), so the same seed gives the same
 * text whatever the batch size.
 */
export async function generate(
  model: VideoLMM,
  tok: Tokenizer,
  inputs: readonly GenerateInput[],
  sampling: Sampling,
  opts: GenerateOptions = {},
): Promise<Generation[]> {
  const parsed = SamplingSchema.safeParse(sampling);
  if (!parsed.success) throw new InputError(`sampling: ${z.prettifyError(parsed.error)}`);
  const s = parsed.data;
  const numSamples = opts.numSamples ?? 1;
  if (!Number.isInteger(numSamples) || numSamples < 1) throw new InputError(`numSamples: must be a positive integer, got ${numSamples}`);
  const batchSize = opts.batchSize ?? 32;
  const rows: Row[] = [];
  inputs.forEach((input, inputIndex) => {
    if (typeof input.prompt !== "string") throw new InputError(`inputs[${inputIndex}].prompt: must be a string`);
    model.patchify(input.frames, input.videoId); // fail early on a wrong frame shape
    const prompt = [tok.bosId, ...tok.encode(input.prompt)];
    if (prompt.length >= model.config.maxTextLen) {
      throw new InputError(
        `inputs[${inputIndex}].prompt: ${prompt.length} tokens leave no room to answer (maxTextLen ${model.config.maxTextLen})`,
      );
    }
    for (let sampleIndex = 0; sampleIndex < numSamples; sampleIndex++) {
      rows.push({
        inputIndex,
        sampleIndex,
        input,
        prompt,
        rng: new Rng(mixSeed(s.seed, inputIndex, sampleIndex)),
        out: [],
        logprob: 0,
        done: null,
        text: "",
      });
    }
  });
  for (let start = 0; start < rows.length; start += batchSize) {
    await decodeBatch(model, tok, rows.slice(start, start + batchSize), s, opts);
  }
  return rows.map((r) => ({
    inputIndex: r.inputIndex,
    sampleIndex: r.sampleIndex,
    text: r.text,
    tokenIds: r.out,
    finishReason: r.done ?? "length",
    logprobSum: r.logprob,
  }));
}

interface Row {
  inputIndex: number;
  sampleIndex: number;
  input: GenerateInput;
  prompt: number[];
  rng: Rng;
  out: number[];
  logprob: number;
  done: "stop" | "length" | null;
  text: string;
}

async function decodeBatch(model: VideoLMM, tok: Tokenizer, rows: Row[], s: z.output<typeof SamplingSchema>, opts: GenerateOptions) {
  const nv = model.numVisual;
  const b = rows.length;
  const vocab = model.config.vocabSize;
  const promptLen = Math.max(...rows.map((r) => r.prompt.length));
  // Every row must keep its positions inside the table: prompt + new tokens ≤ maxTextLen.
  const maxNew = Math.min(s.maxNewTokens, model.config.maxTextLen - promptLen);
  // Prompts are left-padded; padding is masked out and skipped by the positions, so a row's result
  // does not depend on the other rows of the batch.
  const keyValid = rows.map((r) => {
    const v = new Uint8Array(nv + promptLen + maxNew);
    v.fill(1, 0, nv);
    v.fill(1, nv + promptLen - r.prompt.length, nv + promptLen + maxNew);
    return v;
  });
  const tokens = rows.map((r) => [...new Array<number>(promptLen - r.prompt.length).fill(tok.padId), ...r.prompt]);
  const padded = rows.some((r) => r.prompt.length !== promptLen);
  const positionsOf = (len: number) =>
    rows.map((r) => {
      const pad = promptLen - r.prompt.length;
      return Array.from({ length: nv + len }, (_, j) => (j < nv ? j : j - nv < pad ? 0 : j - pad));
    });
  const visual = model.visualTokens(rows.map((r) => r.input));
  let cache: KvCache | null = null;
  const useCache = opts.useCache ?? true;
  const onDevice = opts.pickOnDevice ?? isGpuBackend();
  try {
    for (let step = 0; step < maxNew; step++) {
      const len = promptLen + step; // text tokens fed so far
      const logits = tf.tidy(() => {
        let hidden: tf.Tensor3D;
        let next: KvCache;
        if (cache === null || !useCache) {
          const out = model.forward(
            visual,
            tf.tensor2d(tokens.flat(), [b, len], "int32"),
            tf.tensor2d(positionsOf(len).flat(), [b, nv + len], "int32"),
            attentionBias(
              keyValid.map((v) => v.subarray(0, nv + len)),
              nv + len,
              0,
            ),
          );
          hidden = out.hidden.slice([0, len - 1, 0], [b, 1, model.config.dModel]);
          next = out.cache;
        } else {
          const out = model.forward(
            null,
            tf.tensor2d(
              tokens.map((t) => t[len - 1] as number),
              [b, 1],
              "int32",
            ),
            tf.tensor2d(
              rows.map((r) => nv + r.prompt.length + step - 1),
              [b, 1],
              "int32",
            ),
            // Without left padding the one new token may see every key: no mask kernel needed.
            padded
              ? attentionBias(
                  keyValid.map((v) => v.subarray(0, nv + len)),
                  1,
                  nv + len - 1,
                )
              : null,
            cache,
          );
          hidden = out.hidden;
          next = out.cache;
        }
        if (useCache) {
          for (const t of [...next.k, ...next.v]) tf.keep(t);
        }
        const prev = cache;
        cache = useCache ? next : null;
        if (prev) for (const t of [...prev.k, ...prev.v]) t.dispose();
        return model.logits(hidden).reshape([b, vocab]);
      });
      const banned = rows.map((r) => (r.out.length < s.minNewTokens ? tok.eosId : -1));
      const picks =
        onDevice && (s.temperature === 0 || s.topK > 0)
          ? await pickOnDevice(logits as tf.Tensor2D, rows, s, banned)
          : await readAndDispose(logits).then((values) =>
              rows.map((r, i) =>
                r.done ? null : pick((values as Float32Array).subarray(i * vocab, (i + 1) * vocab), s, r.rng, banned[i] as number),
              ),
            );
      rows.forEach((r, i) => {
        if (r.done) {
          tokens[i]?.push(tok.eosId);
          return;
        }
        const { id, logprob } = picks[i] as { id: number; logprob: number };
        tokens[i]?.push(id);
        r.out.push(id);
        r.logprob += logprob;
        opts.onToken?.({ inputIndex: r.inputIndex, sampleIndex: r.sampleIndex, tokenId: id });
        r.text = tok.decode(r.out, { skipSpecial: true });
        const cut = firstStop(r.text, s.stop);
        if (id === tok.eosId || s.stopTokenIds.includes(id) || cut >= 0) {
          r.done = "stop";
          if (cut >= 0) r.text = r.text.slice(0, cut);
        }
      });
      if (rows.every((r) => r.done)) break;
      if (opts.signal?.aborted) throw new Error(`generate: aborted after ${step + 1} tokens`);
      await new Promise((resolve) => setImmediate(resolve)); // let streams and timers run between steps
    }
  } finally {
    visual.dispose();
    const last = cache as KvCache | null;
    if (last) for (const t of [...last.k, ...last.v]) t.dispose();
  }
  for (const r of rows) if (!r.done) r.done = "length";
}

/**
 * Chooses the next token from one row of logits (never `banned`); returns it with its model
 * log-probability under the full distribution.
 */
function pick(row: Float32Array, s: z.output<typeof SamplingSchema>, rng: Rng, banned: number): { id: number; logprob: number } {
  let logits = row;
  if (banned >= 0) {
    logits = row.slice();
    logits[banned] = -Infinity;
  }
  let full = 0;
  let rowMax = -Infinity;
  for (let i = 0; i < row.length; i++) rowMax = Math.max(rowMax, row[i] as number);
  for (let i = 0; i < row.length; i++) full += Math.exp((row[i] as number) - rowMax);
  const logZFull = rowMax + Math.log(full);
  let max = -Infinity;
  let argmax = 0;
  for (let i = 0; i < logits.length; i++) {
    if ((logits[i] as number) > max) {
      max = logits[i] as number;
      argmax = i;
    }
  }
  if (s.temperature === 0) return { id: argmax, logprob: (row[argmax] as number) - logZFull };
  if (s.topK === 0 && s.topP >= 1) {
    // No cut: sample over all ids in id order (one pass over typed arrays; this runs per token).
    const weights = new Float64Array(logits.length);
    let total = 0;
    for (let i = 0; i < logits.length; i++) total += weights[i] = Math.exp(((logits[i] as number) - max) / s.temperature);
    let u = rng.next() * total;
    for (let i = 0; i < logits.length; i++) {
      u -= weights[i] as number;
      if (u < 0) return { id: i, logprob: (row[i] as number) - logZFull };
    }
    return { id: argmax, logprob: (row[argmax] as number) - logZFull }; // rounding left u ≥ 0
  }
  // Candidates by decreasing logit (ties by id), cut by top-k.
  let ids = Array.from(logits.keys()).sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b);
  if (s.topK > 0) ids = ids.slice(0, s.topK);
  const chosen = sampleSorted(
    ids,
    ids.map((i) => logits[i] as number),
    s,
    rng,
  );
  return { id: chosen, logprob: (row[chosen] as number) - logZFull };
}

/**
 * Samples among candidates sorted by decreasing logit (`ids`, `values` their logits), cut by top-p on
 * the tempered probabilities. One draw from `rng`.
 */
function sampleSorted(ids: number[], values: number[], s: z.output<typeof SamplingSchema>, rng: Rng): number {
  const max = values[0] as number;
  const weights = values.map((v) => Math.exp((v - max) / s.temperature));
  let total = weights.reduce((a, w) => a + w, 0);
  let keep = ids.length;
  if (s.topP < 1) {
    let cum = 0;
    keep = 0;
    while (keep < ids.length && cum < s.topP * total) cum += weights[keep++] as number;
    total = cum;
  }
  let u = rng.next() * total;
  for (let k = 0; k < keep; k++) {
    u -= weights[k] as number;
    if (u < 0) return ids[k] as number;
  }
  return ids[keep - 1] as number;
}

/**
 * The next token of every unfinished row, picked on the device: the top k (1 when greedy) logits of
 * each row with `banned` (a row's forbidden id, or -1) masked out, and each row's log-normaliser.
 * Disposes `logits`.
 */
async function pickOnDevice(
  logits: tf.Tensor2D,
  rows: readonly Row[],
  s: z.output<typeof SamplingSchema>,
  banned: readonly number[],
): Promise<({ id: number; logprob: number } | null)[]> {
  const [b, vocab] = logits.shape;
  const k = s.temperature === 0 ? 1 : Math.min(s.topK, vocab);
  const [values, indices, logZ] = tf.tidy(() => {
    let masked: tf.Tensor2D = logits;
    if (banned.some((id, i) => id >= 0 && !rows[i]?.done)) {
      const mask = new Float32Array(b * vocab);
      banned.forEach((id, i) => {
        if (id >= 0) mask[i * vocab + id] = -Infinity;
      });
      masked = logits.add(tf.tensor2d(mask, [b, vocab]));
    }
    const top = tf.topk(masked, k);
    return [top.values, top.indices, tf.logSumExp(logits, 1)];
  });
  logits.dispose();
  const [v, ix, z] = await Promise.all([readAndDispose(values), readAndDispose(indices), readAndDispose(logZ)]);
  return rows.map((r, i) => {
    if (r.done) return null;
    const ids = Array.from(ix.subarray(i * k, (i + 1) * k));
    const vals = Array.from(v.subarray(i * k, (i + 1) * k));
    const id = s.temperature === 0 ? (ids[0] as number) : sampleSorted(ids, vals, s, r.rng);
    return { id, logprob: (vals[ids.indexOf(id)] as number) - (z[i] as number) };
  });
}

function firstStop(text: string, stops: readonly string[]): number {
  let at = -1;
  for (const stop of stops) {
    const i = text.indexOf(stop);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** A 32-bit seed per (seed, input, sample), well mixed (splitmix32-style finaliser). */
function mixSeed(seed: number, inputIndex: number, sampleIndex: number): number {
  let h = (seed ^ Math.imul(inputIndex + 1, 0x9e3779b1) ^ Math.imul(sampleIndex + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}
