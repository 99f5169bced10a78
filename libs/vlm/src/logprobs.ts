import * as tf from "@tensorflow/tfjs";
import type { VideoLMM } from "./model.ts";
import { buildScoreBatch, encodeRow, targetLogProbs } from "./sequence.ts";
import type { Tokenizer } from "./tokenizer.ts";

export interface ScoreItem {
  videoId: string;
  frames: Uint8Array;
  prompt: string;
  answer: string;
}

/**
 * log π(answer | video, prompt), summed over the answer's tokens (its <eos> included), and the
 * number of those tokens. Items are scored in batches of `batchSize` with one forward each, so the
 * chosen and rejected answers of a pair, passed side by side, share a forward pass.
 */
export function sequenceLogProbs(
  model: VideoLMM,
  tok: Tokenizer,
  items: readonly ScoreItem[],
  opts: { batchSize?: number } = {},
): { sum: number; count: number }[] {
  const batchSize = opts.batchSize ?? 32;
  const out: { sum: number; count: number }[] = [];
  const rows = items.map((it, i) => {
    if (typeof it.answer !== "string") throw new Error(`items[${i}].answer: must be a string`);
    return encodeRow(tok, it.prompt, it.answer);
  });
  for (let start = 0; start < items.length; start += batchSize) {
    const chunk = items.slice(start, start + batchSize);
    const sb = buildScoreBatch(model, rows.slice(start, start + batchSize), tok.padId, "items", start);
    const sums = tf.tidy(() => {
      const visual = model.visualTokens(chunk);
      return targetLogProbs(model, visual, sb).tokenLogProbs.sum(1);
    });
    const values = sums.dataSync();
    sums.dispose();
    chunk.forEach((_, i) => out.push({ sum: values[i] as number, count: sb.answerLengths[i] as number }));
  }
  return out;
}
