import * as tf from "@tensorflow/tfjs";
import type { VideoLMM } from "./model.ts";
import { buildScoreBatch, encodeRow, targetLogProbs } from "./sequence.ts";
import type { Tokenizer } from "./tokenizer.ts";
import { InputError } from "./errors.ts";
import { readAndDispose } from "./backend.ts";

export interface ScoreItem {
  videoId: string;
  frames: Uint8Array;
  prompt: string;
  answer: string;
}

/**
 * log π(answer | video, prompt), summed over the answer's tokens (its <eos> included), and the
 * number of those tokens. Items are scored in batches of `batchSize` with one forward each, so the
 * chosen and rejected answers of a pair, passed side by side, share a forward pass. Each batch's
 * sums are read asynchronously (GPU backends have no synchronous read in Node), so a server answers
 * health checks and other calls during a large request; `signal` stops it between batches.
 */
export async function sequenceLogProbs(
  model: VideoLMM,
  tok: Tokenizer,
  items: readonly ScoreItem[],
  opts: { batchSize?: number; signal?: AbortSignal } = {},
): Promise<{ sum: number; count: number }[]> {
  const rows = items.map((it, i) => {
    if (typeof it.answer !== "string") throw new InputError(`items[${i}].answer: must be a string`);
    return encodeRow(tok, it.prompt, it.answer);
  });
  const batchSize = opts.batchSize ?? 32;
  const out: { sum: number; count: number }[] = [];
  for (let start = 0; start < items.length; start += batchSize) {
    const chunk = items.slice(start, start + batchSize);
    const sb = buildScoreBatch(model, rows.slice(start, start + batchSize), tok.padId, "items", start);
    const sums = tf.tidy(() => {
      const visual = model.visualTokens(chunk);
      return targetLogProbs(model, visual, sb).tokenLogProbs.sum(1);
    });
    const values = await readAndDispose(sums);
    out.push(...chunk.map((_, i) => ({ sum: values[i] as number, count: sb.answerLengths[i] as number })));
    await new Promise((resolve) => setImmediate(resolve));
    if (opts.signal?.aborted) throw new Error(`sequenceLogProbs: aborted after ${out.length} of ${items.length} items`);
  }
  return out;
}

/**
 * log π(choice | video, prompt) for choices of one token each (e.g. the judge's " a" / " b"): one
 * forward per prompt reads the next-token distribution for all choices at once. Returns undefined
 * when a choice is not a single token (callers then score whole answers).
 */
export async function choiceLogProbs(
  model: VideoLMM,
  tok: Tokenizer,
  items: readonly { videoId: string; frames: Uint8Array; prompt: string }[],
  choices: readonly string[],
  opts: { batchSize?: number } = {},
): Promise<number[][] | undefined> {
  const ids = choices.map((c) => tok.encode(c));
  if (ids.some((t) => t.length !== 1)) return undefined;
  const choiceIds = ids.map((t) => t[0] as number);
  const batchSize = opts.batchSize ?? 32;
  const out: number[][] = [];
  // The first choice stands in as the answer: only the distribution before it is read.
  const rows = items.map((it) => encodeRow(tok, it.prompt, choices[0]));
  for (let start = 0; start < items.length; start += batchSize) {
    const chunk = items.slice(start, start + batchSize);
    const chunkRows = rows.slice(start, start + batchSize);
    const sb = buildScoreBatch(model, chunkRows, tok.padId, "items", start);
    const picked = tf.tidy(() => {
      const visual = model.visualTokens(chunk);
      const { logits } = targetLogProbs(model, visual, sb);
      // Row i predicts its answer's first token at text position prompt.length - 1.
      const at = tf.tensor1d(
        chunkRows.map((r, i) => i * sb.time + r.prompt.length - 1),
        "int32",
      );
      const last = tf.gather(logits.reshape([sb.batch * sb.time, model.config.vocabSize]), at);
      return tf.gather(tf.logSoftmax(last), tf.tensor1d(choiceIds, "int32"), 1);
    });
    const values = await readAndDispose(picked);
    chunk.forEach((_, i) => out.push(choiceIds.map((_, c) => values[i * choiceIds.length + c] as number)));
  }
  return out;
}
